//! Settings: one typed tree, built in layers (in-code defaults, then the optional TOML file given by `--config`,
//! then environment variables) and parsed once at start-up into typed values (SPEC §11).
//!
//! A bad value stops start-up with a [`ConfigError`] that names the variable and the expected form; nothing is
//! silently ignored, including unknown keys in the TOML file (a typo there would otherwise pass unnoticed).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use keys::{KEYS, expected, toml_key};
pub use triggers::TriggerSettings;

mod keys;
pub mod rate_limits;
mod triggers;

/// Where the settings of one Herald process come from, and what each one means.
///
/// Every field carries its unit in its name (`_ms`, `_bytes`). The README's configuration table is written from
/// these comments.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `DATABASE_URL`: where events are stored. `sqlite://…` for the embedded default, `postgres://…` for
    /// production. Default: `sqlite://herald.db?mode=rwc`, a file in the working directory.
    pub database_url: SecretString,
    /// `REDIS_URL`: the Redis server that carries the ingress stream. When set, the default mode is `redis`.
    pub redis_url: Option<SecretString>,
    /// `HERALD_EVENTS_MODE`: `inline` keeps every queue in-process and durable in the database; `redis` reads the
    /// ingress stream with a consumer group shared by every instance. Default: `redis` when `REDIS_URL` is set,
    /// else `inline`.
    pub events_mode: EventsMode,
    /// `HERALD_LISTEN`: the address the HTTP server binds. Default: `127.0.0.1:8080`. Binding anything but loopback
    /// requires at least one token in `HERALD_TOKENS_FILE`.
    pub listen: SocketAddr,
    /// `HERALD_EVENT_STREAM`: the Redis stream publishers `XADD` to. Default: `herald:events`.
    pub event_stream: String,
    /// `HERALD_CONSUMER_GROUP`: the consumer group every Herald instance reads the stream with. Default:
    /// `herald-ingress`.
    pub consumer_group: String,
    /// `HERALD_CLAIM_IDLE_MS`: how long a stream entry may stay pending on a consumer before another instance
    /// reclaims it (the first one is presumed dead). Default: 30000.
    pub claim_idle_ms: u64,
    /// `EVENT_INGRESS_CONCURRENCY`: how many persistence batches may be in flight at once. Default: 5.
    pub ingress_concurrency: usize,
    /// `HERALD_MAX_PAYLOAD_BYTES`: the largest accepted `payload`, as compact JSON. Default: 262144 (256 KiB).
    pub max_payload_bytes: usize,
    /// `HERALD_MAX_BODY_BYTES`: the largest accepted HTTP request body; larger ones get `413`. Default: 8388608
    /// (8 MiB).
    pub max_body_bytes: usize,
    /// `HERALD_TOKENS_FILE`: a TOML file of `[[token]] subject, scopes, sha256` entries (create them with `herald
    /// token create`). Without it, and only on a loopback address, every caller is the anonymous admin.
    pub tokens_file: Option<PathBuf>,
    /// `HERALD_STREAM_MAXLEN`: Herald trims the ingress stream to about this many entries, never past its own
    /// oldest pending entry. Default: 1000000.
    pub stream_maxlen: u64,
    /// `HERALD_QUERY_TIMEOUT_MS`: how long one admin query (an events page, stats) may run before it is stopped
    /// and answered with `503 query_timeout`. Default: 5000.
    pub query_timeout_ms: u64,
    /// `HERALD_REQUIRE_SCHEMAS`: `true` refuses events of a type that has no registered JSON Schema
    /// (`schema_required`: 400 over HTTP, a dead letter from the stream); `false` accepts them unchecked. Types
    /// with a schema are always checked against its active version. Default: `false`.
    pub require_schemas: bool,
    /// The trigger settings: auto-pause, webhook address allow list, workflow streams.
    pub triggers: triggers::TriggerSettings,
    /// `EVENT_SOURCE_RATE_LIMITS`: per-source rate limits, a JSON array such as
    /// `[{"source":"metastore.api","limit":200,"intervalMs":60000,"pauseMs":60000}]`. A source may pass `limit`
    /// events per sliding `intervalMs` to trigger evaluation; the event that exceeds it pauses the source's
    /// evaluation for `pauseMs` (default: `intervalMs`). Events are always stored and broadcast at once; only their
    /// evaluation waits. `"source": "*"` applies to every source without its own entry, each counted on its own.
    /// Default: no limits.
    pub event_source_rate_limits: rate_limits::RateLimits,
    /// `HERALD_LOG`: a tracing filter such as `info` or `herald=debug,info`. Default: `info`.
    pub log: String,
    /// `HERALD_LOG_FORMAT`: `text` for people, `json` for log collectors. Default: `text`.
    pub log_format: LogFormat,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the base URL of an OpenTelemetry collector's OTLP/HTTP receiver, such as
    /// `http://127.0.0.1:4318`. When set, Herald exports its traces there (protobuf, to `<endpoint>/v1/traces`),
    /// with a span per ingest batch linked to the `traceparent` of its events. Default: unset, no export.
    pub otel_exporter_otlp_endpoint: Option<String>,
}

/// How events travel from the ingress to storage (SPEC §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsMode {
    /// In-process queue, durable in the database; no Redis needed.
    Inline,
    /// Redis Streams with a consumer group shared by every instance.
    Redis,
}

impl EventsMode {
    /// The configuration spelling of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            EventsMode::Inline => "inline",
            EventsMode::Redis => "redis",
        }
    }
}

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A configuration value that Herald cannot start with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value did not parse.
    #[error("invalid {variable}: {message} (expected {expected})")]
    Invalid {
        /// The environment variable (or TOML key) at fault.
        variable: String,
        /// What is wrong with it.
        message: String,
        /// The expected form.
        expected: &'static str,
    },
    /// The TOML file could not be read or parsed.
    #[error("cannot use config file {path}: {message}")]
    File {
        /// The file given with `--config`.
        path: PathBuf,
        /// Why it cannot be used.
        message: String,
    },
}

impl Settings {
    /// Builds the settings from the process environment and an optional TOML file.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first variable that is malformed, or the file that cannot be read.
    pub fn load(config_file: Option<&Path>) -> Result<Settings, ConfigError> {
        Settings::from_sources(config_file, |name| std::env::var(name).ok())
    }

    /// Builds the settings from an explicit lookup, so that tests never touch the process environment.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn from_sources(
        config_file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let mut raw: BTreeMap<&'static str, String> = BTreeMap::new();
        if let Some(path) = config_file {
            read_toml(path, &mut raw)?;
        }
        for key in KEYS {
            if let Some(value) = env(key.env) {
                raw.insert(key.env, value);
            }
        }
        Settings::from_raw(&raw)
    }

    fn from_raw(raw: &BTreeMap<&'static str, String>) -> Result<Settings, ConfigError> {
        let get = |name: &str| {
            raw.get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let database_url =
            get("DATABASE_URL").unwrap_or_else(|| "sqlite://herald.db?mode=rwc".to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(invalid("DATABASE_URL", "unsupported scheme"));
        }
        let redis_url = get("REDIS_URL");
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(invalid("REDIS_URL", "unsupported scheme"));
        }
        let events_mode = match get("HERALD_EVENTS_MODE").as_deref() {
            None if redis_url.is_some() => EventsMode::Redis,
            None | Some("inline") => EventsMode::Inline,
            Some("redis") if redis_url.is_some() => EventsMode::Redis,
            Some("redis") => {
                return Err(invalid(
                    "HERALD_EVENTS_MODE",
                    "redis mode needs REDIS_URL to be set",
                ));
            }
            Some(other) => {
                return Err(invalid(
                    "HERALD_EVENTS_MODE",
                    &format!("unknown mode {other:?}"),
                ));
            }
        };
        let listen = match get("HERALD_LISTEN") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(v) => v
                .parse()
                .map_err(|e| invalid("HERALD_LISTEN", &format!("{e}")))?,
        };
        let log = get("HERALD_LOG").unwrap_or_else(|| "info".to_owned());
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log) {
            return Err(invalid("HERALD_LOG", &e.to_string()));
        }
        let log_format = match get("HERALD_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "HERALD_LOG_FORMAT",
                    &format!("unknown format {other:?}"),
                ));
            }
        };
        let require_schemas = match get("HERALD_REQUIRE_SCHEMAS").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(invalid(
                    "HERALD_REQUIRE_SCHEMAS",
                    &format!("{other:?} is not a boolean"),
                ));
            }
        };
        let otel_exporter_otlp_endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT");
        if let Some(endpoint) = &otel_exporter_otlp_endpoint {
            check_http_url("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)?;
        }
        let event_stream = non_empty(&get, "HERALD_EVENT_STREAM", "herald:events");
        let triggers = triggers::parse(&get, events_mode, &event_stream)?;
        Ok(Settings {
            database_url: SecretString::from(database_url),
            redis_url: redis_url.map(SecretString::from),
            events_mode,
            listen,
            event_stream,
            consumer_group: non_empty(&get, "HERALD_CONSUMER_GROUP", "herald-ingress"),
            claim_idle_ms: int(&get, "HERALD_CLAIM_IDLE_MS", 30_000, 100, 86_400_000)?,
            ingress_concurrency: int(&get, "EVENT_INGRESS_CONCURRENCY", 5, 1, 64)? as usize,
            max_payload_bytes: int(&get, "HERALD_MAX_PAYLOAD_BYTES", 262_144, 1024, 16 << 20)?
                as usize,
            max_body_bytes: int(&get, "HERALD_MAX_BODY_BYTES", 8 << 20, 1024, 1 << 30)? as usize,
            tokens_file: get("HERALD_TOKENS_FILE").map(PathBuf::from),
            stream_maxlen: int(&get, "HERALD_STREAM_MAXLEN", 1_000_000, 1000, u64::MAX)?,
            query_timeout_ms: int(&get, "HERALD_QUERY_TIMEOUT_MS", 5_000, 100, 600_000)?,
            require_schemas,
            triggers,
            event_source_rate_limits: match get(rate_limits::VARIABLE) {
                None => rate_limits::RateLimits::default(),
                Some(value) => rate_limits::RateLimits::parse(&value)?,
            },
            log,
            log_format,
            otel_exporter_otlp_endpoint,
        })
    }

    /// True when the database is SQLite (the embedded default).
    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose_secret().starts_with("sqlite:")
    }
}

impl fmt::Display for EventsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn invalid(variable: &str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        variable: variable.to_owned(),
        message: message.to_owned(),
        expected: expected(variable),
    }
}

/// An absolute `http`/`https` URL with a host, without credentials (they would end up in logs) or a query.
fn check_http_url(name: &str, value: &str) -> Result<(), ConfigError> {
    let url = reqwest::Url::parse(value).map_err(|e| invalid(name, &format!("{value:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            name,
            &format!("unsupported scheme {:?}", url.scheme()),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(name, "the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(invalid(
            name,
            "the URL must not carry credentials or a query",
        ));
    }
    Ok(())
}

fn non_empty(get: &impl Fn(&str) -> Option<String>, name: &str, default: &str) -> String {
    get(name).unwrap_or_else(|| default.to_owned())
}

fn int(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(value) = get(name) else {
        return Ok(default);
    };
    let parsed: u64 = value
        .parse()
        .map_err(|_| invalid(name, &format!("{value:?} is not a whole number")))?;
    if parsed < min || parsed > max {
        return Err(invalid(name, &format!("{parsed} is out of range")));
    }
    Ok(parsed)
}

fn read_toml(path: &Path, raw: &mut BTreeMap<&'static str, String>) -> Result<(), ConfigError> {
    let file_error = |message: String| ConfigError::File {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| file_error(e.to_string()))?;
    for (name, value) in table {
        let Some(key) = KEYS.iter().find(|k| toml_key(k.env) == name) else {
            return Err(file_error(format!("unknown key {name:?}")));
        };
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => return Err(invalid(key.env, &format!("unsupported TOML value {other}"))),
        };
        raw.insert(key.env, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_sources(None, |name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_are_the_embedded_deployment() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.events_mode, EventsMode::Inline);
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            s.database_url.expose_secret(),
            "sqlite://herald.db?mode=rwc"
        );
        assert_eq!(s.event_stream, "herald:events");
        assert_eq!(s.consumer_group, "herald-ingress");
        assert_eq!(s.claim_idle_ms, 30_000);
        assert_eq!(s.ingress_concurrency, 5);
        assert_eq!(s.max_payload_bytes, 262_144);
        assert_eq!(s.max_body_bytes, 8 * 1024 * 1024);
        assert_eq!(s.stream_maxlen, 1_000_000);
        assert_eq!(s.otel_exporter_otlp_endpoint, None);
        let s = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otel.example:4318/")]).unwrap();
        assert_eq!(
            s.otel_exporter_otlp_endpoint.as_deref(),
            Some("https://otel.example:4318/")
        );
    }

    #[test]
    fn require_schemas_is_false_by_default_and_takes_only_true_or_false() {
        assert!(!settings(&[]).unwrap().require_schemas);
        assert!(
            settings(&[("HERALD_REQUIRE_SCHEMAS", "true")])
                .unwrap()
                .require_schemas
        );
        assert!(
            !settings(&[("HERALD_REQUIRE_SCHEMAS", "false")])
                .unwrap()
                .require_schemas
        );
        let message = settings(&[("HERALD_REQUIRE_SCHEMAS", "yes")])
            .unwrap_err()
            .to_string();
        assert!(message.contains("HERALD_REQUIRE_SCHEMAS"), "{message}");
        assert!(message.contains("true or false"), "{message}");
    }

    #[test]
    fn redis_url_makes_redis_the_default_mode() {
        let s = settings(&[("REDIS_URL", "redis://127.0.0.1:6379")]).unwrap();
        assert_eq!(s.events_mode, EventsMode::Redis);
        let s = settings(&[("REDIS_URL", "redis://x"), ("HERALD_EVENTS_MODE", "inline")]).unwrap();
        assert_eq!(s.events_mode, EventsMode::Inline);
    }

    #[test]
    fn a_bad_value_names_the_variable_and_the_expected_form() {
        for (var, value) in [
            ("HERALD_CLAIM_IDLE_MS", "soon"),
            ("HERALD_CLAIM_IDLE_MS", "5"),
            ("EVENT_INGRESS_CONCURRENCY", "0"),
            ("HERALD_LISTEN", "localhost"),
            ("HERALD_EVENTS_MODE", "kafka"),
            ("HERALD_EVENTS_MODE", "redis"),
            ("HERALD_LOG_FORMAT", "xml"),
            ("HERALD_LOG", "=="),
            ("DATABASE_URL", "mysql://x"),
            ("HERALD_MAX_BODY_BYTES", "-1"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://collector:4317"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://user:secret@collector:4318",
            ),
        ] {
            let err = settings(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(var), "{var}={value}: {err}");
            assert!(err.contains("expected"), "{var}={value}: {err}");
        }
    }

    #[test]
    fn event_source_rate_limits_are_parsed_at_start_up_and_a_malformed_entry_is_named() {
        let s = settings(&[(
            "EVENT_SOURCE_RATE_LIMITS",
            r#"[{"source":"metastore.api","limit":200,"intervalMs":60000}]"#,
        )])
        .unwrap();
        let source = crate::domain::SourceName::parse("metastore.api".into()).unwrap();
        let limit = s.event_source_rate_limits.for_source(&source).unwrap();
        assert_eq!((limit.limit(), limit.pause_ms()), (200, 60_000));
        assert_eq!(
            settings(&[]).unwrap().event_source_rate_limits,
            rate_limits::RateLimits::default()
        );

        let err = settings(&[(
            "EVENT_SOURCE_RATE_LIMITS",
            r#"[{"source":"a","limit":1,"intervalMs":1},{"source":"b","limit":0,"intervalMs":1}]"#,
        )])
        .unwrap_err()
        .to_string();
        assert!(err.contains("EVENT_SOURCE_RATE_LIMITS"), "{err}");
        assert!(err.contains(r#"entry #2 ("b")"#), "{err}");
        assert!(err.contains("limit"), "{err}");
    }

    #[test]
    fn the_toml_file_is_overridden_by_the_environment_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("herald.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nclaim_idle_ms = 1000\n").unwrap();
        let s = Settings::from_sources(Some(&path), |n| {
            (n == "HERALD_CLAIM_IDLE_MS").then(|| "2000".into())
        })
        .unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.claim_idle_ms, 2000);
        std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let err = Settings::from_sources(Some(&path), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen"), "{err}");
    }
}
