//! Every configuration key Herald reads (SPEC §11): its environment variable and the form it expects, which is
//! also what a start-up error prints. The TOML file (`--config`) uses the same keys, lowercase, without `HERALD_`.

/// One configurable key: its environment variable, and the lowercase TOML key without the `HERALD_` prefix.
pub(super) struct Key {
    pub(super) env: &'static str,
    pub(super) expected: &'static str,
}

pub(super) const KEYS: &[Key] = &[
    Key {
        env: "DATABASE_URL",
        expected: "a sqlite:// or postgres:// URL",
    },
    Key {
        env: "REDIS_URL",
        expected: "a redis:// or rediss:// URL",
    },
    Key {
        env: "HERALD_EVENTS_MODE",
        expected: "inline or redis",
    },
    Key {
        env: "HERALD_LISTEN",
        expected: "an address such as 127.0.0.1:8080",
    },
    Key {
        env: "HERALD_EVENT_STREAM",
        expected: "a non-empty Redis key",
    },
    Key {
        env: "HERALD_CONSUMER_GROUP",
        expected: "a non-empty group name",
    },
    Key {
        env: "HERALD_CLAIM_IDLE_MS",
        expected: "milliseconds, an integer from 100 to 86400000",
    },
    Key {
        env: "EVENT_INGRESS_CONCURRENCY",
        expected: "an integer from 1 to 64",
    },
    Key {
        env: "HERALD_MAX_PAYLOAD_BYTES",
        expected: "bytes, an integer from 1024 to 16777216",
    },
    Key {
        env: "HERALD_MAX_BODY_BYTES",
        expected: "bytes, an integer from 1024 to 1073741824",
    },
    Key {
        env: "HERALD_TOKENS_FILE",
        expected: "the path of a TOML tokens file",
    },
    Key {
        env: "HERALD_STREAM_MAXLEN",
        expected: "an integer of at least 1000",
    },
    Key {
        env: "HERALD_QUERY_TIMEOUT_MS",
        expected: "milliseconds, an integer from 100 to 600000",
    },
    Key {
        env: "HERALD_REQUIRE_SCHEMAS",
        expected: "true or false",
    },
    Key {
        env: "EVENT_SOURCE_RATE_LIMITS",
        expected: r#"a JSON array of {"source", "limit", "intervalMs", "pauseMs"?} objects"#,
    },
    Key {
        env: "HERALD_LOG",
        expected: "a tracing filter such as info or herald=debug,info",
    },
    Key {
        env: "HERALD_LOG_FORMAT",
        expected: "text or json",
    },
    Key {
        env: "EVENT_TRIGGER_ERROR_THRESHOLD",
        expected: "an integer from 1 to 1000",
    },
    Key {
        env: "EVENT_TRIGGER_ERROR_WINDOW_MS",
        expected: "milliseconds, an integer from 1000 to 86400000",
    },
    Key {
        env: "EVENT_TRIGGER_PAUSE_MS",
        expected: "milliseconds, an integer from 1000 to 86400000",
    },
    Key {
        env: "HERALD_WEBHOOK_ALLOW_CIDRS",
        expected: "comma-separated CIDRs or addresses such as 10.0.0.0/8,127.0.0.1",
    },
    Key {
        env: "HERALD_WORKFLOW_STREAM",
        expected: "a Redis key starting with HERALD_WORKFLOW_STREAM_PREFIX, not the event stream",
    },
    Key {
        env: "HERALD_WORKFLOW_STREAM_PREFIX",
        expected: "a non-empty Redis key prefix",
    },
    Key {
        env: "OTEL_EXPORTER_OTLP_ENDPOINT",
        expected: "an http:// or https:// URL such as http://127.0.0.1:4318",
    },
];

pub(super) fn toml_key(env: &str) -> String {
    env.strip_prefix("HERALD_")
        .unwrap_or(env)
        .to_ascii_lowercase()
}

pub(super) fn expected(env: &str) -> &'static str {
    KEYS.iter()
        .find(|k| k.env == env)
        .map_or("a valid value", |k| k.expected)
}
