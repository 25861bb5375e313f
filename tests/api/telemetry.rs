//! Metrics and traces: `/metrics/prometheus` (Prometheus text, per-source series, the `metrics:read` scope) and
//! OTLP/HTTP trace export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use std::sync::{Arc, Mutex};

use herald::auth::AccessPolicy;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{DEPLOYMENTS, Db, Mode, TestEnv, eventually_some, token_registry};

/// A valid envelope of `source`.
fn event(id: &str, source: &str) -> Value {
    json!({ "id": id, "type": "test.metrics.counted", "source": source })
}

/// Checks every line of a Prometheus text exposition strictly: `# HELP name text`, `# TYPE name kind`, or
/// `name{label="value",…} number`, with valid metric and label names.
fn assert_strict_exposition(text: &str) {
    let name = r"[a-zA-Z_:][a-zA-Z0-9_:]*";
    let label = r#"[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*""#;
    let number = r"(?:[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|Inf|NaN))";
    let sample = regex::Regex::new(&format!(
        r"^{name}(?:\{{(?:{label})(?:,{label})*\}})? {number}$"
    ))
    .unwrap();
    let help = regex::Regex::new(&format!(r"^# HELP {name} .*$")).unwrap();
    let kind = regex::Regex::new(&format!(
        r"^# TYPE {name} (?:counter|gauge|histogram|summary|untyped)$"
    ))
    .unwrap();
    for line in text.lines().filter(|l| !l.is_empty()) {
        assert!(
            sample.is_match(line) || help.is_match(line) || kind.is_match(line),
            "not Prometheus text: {line:?}"
        );
    }
}

/// The value of the sample `metric{labels}` (labels given must match; others are ignored).
fn sample_value(
    scrape: &prometheus_parse::Scrape,
    metric: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        })
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn the_prometheus_endpoint_parses_and_carries_per_source_series_after_publishing() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let case = format!("{db:?}/{mode:?}");
        let app = TestEnv::new(db, mode).await.spawn().await;
        app.publish_ok(&[
            event("m-1", "billing.api"),
            event("m-2", "billing.api"),
            event("m-3", "/sensors/tn-1"),
        ])
        .await;
        // The same event again: a duplicate. In redis mode an HTTP re-send is answered from the store before the
        // XADD and never reaches the pipeline, so the duplicate comes through the stream; so does a dead letter.
        if mode == Mode::Redis {
            app.stored_event("m-1").await;
            app.xadd_envelope(&event("m-1", "billing.api").to_string())
                .await;
            app.xadd_envelope("{not json").await;
        } else {
            app.publish_ok(&[event("m-1", "billing.api")]).await;
        }

        // Act
        let (content_type, text, scrape) = eventually_some("per-source series", || async {
            let response = app.prometheus().await;
            assert_eq!(response.status(), 200, "{case}");
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let text = response.text().await.unwrap();
            let scrape =
                prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
            let stored = sample_value(
                &scrape,
                "herald_events_stored_total",
                &[("source", "billing.api")],
            );
            let duplicate = sample_value(&scrape, "herald_events_duplicate_total", &[]);
            let dead = mode == Mode::Inline
                || sample_value(
                    &scrape,
                    "herald_events_dead_lettered_total",
                    &[("reason", "invalid_json")],
                )
                .is_some();
            (stored == Some(2.0) && duplicate == Some(1.0) && dead).then_some((
                content_type,
                text,
                scrape,
            ))
        })
        .await;

        // Assert
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{case}: {content_type}"
        );
        assert_strict_exposition(&text);
        assert_eq!(
            sample_value(
                &scrape,
                "herald_events_stored_total",
                &[("source", "/sensors/tn-1")]
            ),
            Some(1.0),
            "{case}"
        );
        assert_eq!(
            sample_value(&scrape, "herald_events_duplicate_total", &[]),
            Some(1.0),
            "{case}"
        );
        assert_eq!(
            sample_value(&scrape, "herald_sources_paused", &[]),
            Some(0.0),
            "{case}"
        );
        assert_eq!(
            sample_value(&scrape, "herald_websocket_sessions", &[]),
            Some(0.0),
            "{case}"
        );
        for histogram in [
            "herald_ingest_batch_duration_seconds",
            "herald_event_lag_milliseconds",
        ] {
            assert!(
                text.contains(&format!("# TYPE {histogram} histogram")),
                "{case}: {histogram}"
            );
            assert!(
                text.contains(&format!("{histogram}_count ")),
                "{case}: {histogram}"
            );
        }
        if mode == Mode::Redis {
            assert_eq!(
                sample_value(
                    &scrape,
                    "herald_events_dead_lettered_total",
                    &[("reason", "invalid_json")]
                ),
                Some(1.0),
                "{case}"
            );
            app.delete_stream().await;
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn throttled_sources_and_their_backlog_appear_in_the_metrics() {
    // Arrange: one evaluation a minute, so two of three events are deferred.
    let mut env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
    env.set(
        "EVENT_SOURCE_RATE_LIMITS",
        r#"[{"source":"noisy.api","limit":1,"intervalMs":60000}]"#,
    );
    let app = env.spawn().await;

    // Act
    app.publish_ok(&[
        event("t-1", "noisy.api"),
        event("t-2", "noisy.api"),
        event("t-3", "noisy.api"),
    ])
    .await;

    // Assert
    eventually_some("throttled and backlog series", || async {
        let text = app.prometheus().await.text().await.unwrap();
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
        let throttled = sample_value(
            &scrape,
            "herald_events_throttled_total",
            &[("source", "noisy.api")],
        );
        let backlog = sample_value(
            &scrape,
            "herald_source_backlog_events",
            &[("source", "noisy.api")],
        );
        let paused = sample_value(&scrape, "herald_sources_paused", &[]);
        (throttled == Some(2.0) && backlog == Some(2.0) && paused == Some(1.0)).then_some(())
    })
    .await;
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn the_metrics_endpoint_needs_a_token_with_the_metrics_read_scope() {
    // Arrange
    let env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
    let mut app = env
        .spawn_with(AccessPolicy::Tokens(token_registry()), None)
        .await;

    // Act and assert
    let anonymous = app.prometheus().await;
    assert_eq!(anonymous.status(), 401);
    app.token = Some("t-events:read".into());
    let wrong_scope = app.prometheus().await;
    assert_eq!(wrong_scope.status(), 403);
    let body: Value = wrong_scope.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(body["error"]["details"]["requiredScope"], "metrics:read");
    for token in ["t-metrics:read", "t-admin"] {
        app.token = Some(token.into());
        assert_eq!(app.prometheus().await.status(), 200, "{token}");
    }
}

/// One request received by the fake collector.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// A minimal HTTP/1.1 server that records every request and answers `200` with an empty body.
async fn fake_collector() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    actix_rt::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let log = log.clone();
            actix_rt::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut reader = BufReader::new(read);
                // Keep-alive: several requests may come over one connection.
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
                    let (mut length, mut content_type) = (0usize, String::new());
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            match name.trim().to_ascii_lowercase().as_str() {
                                "content-length" => length = value.trim().parse().unwrap_or(0),
                                "content-type" => content_type = value.trim().to_owned(),
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    log.lock().unwrap().push(Received {
                        path,
                        content_type,
                        body,
                    });
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if write.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, received)
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn traces_are_exported_over_otlp_http_with_a_link_to_the_publishers_trace() {
    // Arrange: a collector, and Herald (the real binary) exporting to it.
    let (port, received) = fake_collector().await;
    let mut env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
    env.set(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        &format!("http://127.0.0.1:{port}"),
    );
    env.set("OTEL_BSP_SCHEDULE_DELAY", "200");
    let (mut child, app) = env.spawn_process().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut traced = event("otel-1", "traced.api");
    traced["metadata"] = json!({ "traceparent": format!("00-{trace_id}-00f067aa0ba902b7-01") });

    // Act
    app.publish_ok(&[traced]).await;
    app.stored_event("otel-1").await;

    // Assert: a protobuf export to /v1/traces that carries the publisher's trace id (the batch span's link).
    let trace_id_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let exports = eventually_some("a trace export linking the publisher's trace", || {
        let received = received.clone();
        let trace_id_bytes = trace_id_bytes.clone();
        async move {
            let exports = received.lock().unwrap().clone();
            exports
                .iter()
                .any(|r| r.body.windows(16).any(|w| w == trace_id_bytes.as_slice()))
                .then_some(exports)
        }
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(!exports.is_empty());
    for export in &exports {
        assert_eq!(export.path, "/v1/traces");
        assert_eq!(export.content_type, "application/x-protobuf");
        assert!(!export.body.is_empty());
    }
}
