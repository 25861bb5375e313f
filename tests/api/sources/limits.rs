//! Rate limits: a limited source's evaluations wait, durably across a restart, until discarded or released; a
//! malformed limit configuration stops `herald serve`.

use std::io::Read;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::helpers::{DEPLOYMENTS, Db, Mode, TestEnv, eventually_some};

use super::{data, event, view_when};

const NOISY: &str = "noisy.api";

const CALM: &str = "calm.api";

/// A `herald serve` process, killed and reaped when dropped (also when the test panics).
struct Serving(Child);

impl Serving {
    /// SIGKILL, then reap: a crash.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.kill();
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_limited_sources_events_are_stored_at_once_while_only_their_evaluation_waits() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange: 3 per second; the fourth event pauses the source's evaluation for 2 s.
        let mut env = TestEnv::new(db, mode).await;
        env.set(
            "EVENT_SOURCE_RATE_LIMITS",
            r#"[{"source":"noisy.api","limit":3,"intervalMs":1000,"pauseMs":2000}]"#,
        );
        let app = env.spawn().await;
        let mut batch: Vec<Value> = (1..=10)
            .map(|i| event(&format!("noisy-{i}"), NOISY))
            .collect();
        batch.extend((1..=5).map(|i| event(&format!("calm-{i}"), CALM)));
        let mut watcher = app.ws_connect().await;

        // Act
        app.publish_ok(&batch).await;

        // Assert: every event is stored and broadcast at once...
        for i in 1..=10 {
            app.stored_event(&format!("noisy-{i}")).await;
        }
        let broadcast: Vec<Value> = watcher.events(15).await;
        let broadcast_ids: Vec<&str> = broadcast.iter().filter_map(|e| e["id"].as_str()).collect();
        let published_ids: Vec<&str> = batch.iter().filter_map(|e| e["id"].as_str()).collect();
        assert_eq!(broadcast_ids, published_ids, "{db:?}/{mode:?}");
        // ... the limited source's evaluation is deferred, durably, past the first three...
        let deferred =
            view_when(&app, NOISY, "7 deferred evaluations", |v| v["backlog"] == 7).await;
        assert_eq!(deferred["total"], 10, "{db:?}/{mode:?}: {deferred}");
        assert_eq!(deferred["throttled"], 7, "{deferred}");
        assert_eq!(deferred["released"], 3, "{deferred}");
        assert_eq!(deferred["paused"]["kind"], "rate_limit", "{deferred}");
        assert_eq!(deferred["paused"]["actor"], "herald", "{deferred}");
        assert!(deferred["paused"]["until"].is_string(), "{deferred}");
        assert_eq!(
            deferred["rateLimit"],
            json!({ "limit": 3, "intervalMs": 1000, "pauseMs": 2000 })
        );
        assert!(deferred["lagMs"]["max"].is_i64(), "{deferred}");
        assert!(deferred["lastEventAt"].is_string(), "{deferred}");
        // ... another source is unaffected...
        let calm = view_when(&app, CALM, "the calm source's release", |v| {
            v["released"] == 5
        })
        .await;
        assert_eq!(
            (&calm["total"], &calm["throttled"], &calm["backlog"]),
            (&json!(5), &json!(0), &json!(0)),
            "{calm}"
        );
        assert!(
            calm["paused"].is_null() && calm["rateLimit"].is_null(),
            "{calm}"
        );
        // ... and once the pause is over the backlog is released, each event once.
        let done = view_when(&app, NOISY, "the backlog's release", |v| {
            v["backlog"] == 0 && v["released"] == 10
        })
        .await;
        assert_eq!(done["throttled"], 7, "{done}");
        assert!(done["paused"].is_null(), "{done}");
        // The WebSocket announced the automatic pause, and its end.
        let paused = watcher.next_of_type("source.paused").await;
        assert_eq!(paused["data"]["source"], NOISY, "{paused}");
        assert_eq!(paused["data"]["kind"], "rate_limit", "{paused}");
        assert!(paused["data"]["until"].is_string(), "{paused}");
        let resumed = watcher.next_of_type("source.resumed").await;
        assert_eq!(
            resumed["data"],
            json!({ "source": NOISY, "ended": "expired" }),
            "{db:?}/{mode:?}"
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_restart_mid_pause_releases_every_deferred_event_exactly_once() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange: one source paused by its rate limit, one by hand, each with 3 deferred evaluations.
        let mut env = TestEnv::new(db, mode).await;
        env.set(
            "EVENT_SOURCE_RATE_LIMITS",
            r#"[{"source":"noisy.api","limit":1,"intervalMs":1000,"pauseMs":3000}]"#,
        );
        let (child, app) = env.spawn_process().await;
        let mut first = Serving(child);
        let paused = app
            .pause_source(&json!({ "source": "held.api", "reason": "deploy" }))
            .await;
        assert_eq!(paused.status(), 200);
        let mut batch: Vec<Value> = (1..=4)
            .map(|i| event(&format!("noisy-{i}"), NOISY))
            .collect();
        batch.extend((1..=3).map(|i| event(&format!("held-{i}"), "held.api")));
        app.publish_ok(&batch).await;
        view_when(&app, NOISY, "3 deferred", |v| v["backlog"] == 3).await;
        view_when(&app, "held.api", "3 held", |v| v["backlog"] == 3).await;

        // Act: a crash mid-pause, then a start on the same database (and Redis).
        first.kill();
        let (child, app) = env.spawn_process().await;
        let _second = Serving(child);

        // Assert: the rate-limited backlog is released by itself, in this process, exactly once...
        let noisy = view_when(&app, NOISY, "the rate-limited backlog's release", |v| {
            v["backlog"] == 0 && v["released"] == 3
        })
        .await;
        assert_eq!(noisy["throttled"], 3, "{db:?}/{mode:?}: {noisy}");
        // ... the hand-paused one stays held across the restart...
        let held = app.source_view("held.api").await.expect("listed");
        assert_eq!(held["backlog"], 3, "{held}");
        assert_eq!(held["released"], 0, "{held}");
        assert_eq!(held["paused"]["reason"], "deploy", "{held}");
        // ... until resumed.
        let resumed = data(app.resume_source(&json!({ "source": "held.api" })).await).await;
        assert!(resumed["paused"].is_null(), "{resumed}");
        view_when(&app, "held.api", "the held backlog's release", |v| {
            v["backlog"] == 0 && v["released"] == 3
        })
        .await;
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn discarding_a_backlog_drops_the_deferred_evaluations_and_counts_them_as_dropped() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let env = TestEnv::new(db, mode).await;
        let app = env.spawn().await;
        let source = "replayed.api";
        data(
            app.pause_source(&json!({ "source": source, "reason": "bad deploy" }))
                .await,
        )
        .await;
        let batch: Vec<Value> = (1..=4)
            .map(|i| event(&format!("replayed-{i}"), source))
            .collect();
        app.publish_ok(&batch).await;
        view_when(&app, source, "4 held", |v| v["backlog"] == 4).await;

        // Act
        let body = json!({ "source": source, "reason": "replayed by hand" });
        let discarded = data(app.discard_source_backlog(&body).await).await;
        let again = data(app.discard_source_backlog(&body).await).await;
        let resumed = data(app.resume_source(&json!({ "source": source })).await).await;

        // Assert
        assert_eq!(
            (
                &discarded["backlog"],
                &discarded["dropped"],
                &discarded["throttled"]
            ),
            (&json!(0), &json!(4), &json!(4)),
            "{db:?}/{mode:?}: {discarded}"
        );
        assert_eq!(
            again["dropped"], 4,
            "discarding an empty backlog changes nothing"
        );
        assert!(resumed["paused"].is_null());
        assert_eq!(resumed["released"], 0, "{resumed}");
        app.stored_event("replayed-4").await;
        assert_eq!(
            app.source_view(source).await.expect("listed")["released"],
            0
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_malformed_rate_limit_configuration_stops_herald_serve_naming_the_entry() {
    let cases = [
        ("[{", "not valid JSON"),
        (r#"{"source":"a"}"#, "JSON array"),
        (
            r#"[{"source":"a","limit":1,"intervalMs":1},{"source":"b","limit":0,"intervalMs":1}]"#,
            r#"entry #2 ("b")"#,
        ),
        (r#"[{"source":"a","limit":1}]"#, "intervalMs"),
        (
            r#"[{"source":"a","limit":1,"intervalMs":1,"pauseMs":-5}]"#,
            "pauseMs",
        ),
        (
            r#"[{"source":"a","limit":1,"intervalMs":2592000001}]"#,
            "intervalMs",
        ),
        (r#"[{"source":"a b","limit":1,"intervalMs":1}]"#, "entry #1"),
        (
            r#"[{"source":"a","limit":1,"intervalMs":1,"burst":2}]"#,
            "burst",
        ),
    ];
    for (value, named) in cases {
        // Arrange
        let mut env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
        env.set("EVENT_SOURCE_RATE_LIMITS", value);
        let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HERALD_LOG", "warn")
            .envs(&env.vars)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());

        // Act
        let mut process = Serving(command.spawn().expect("spawn herald"));
        let status = eventually_some("herald serve to exit", || {
            let status = process.0.try_wait().expect("try_wait");
            async move { status }
        })
        .await;
        let mut stderr = String::new();
        if let Some(mut pipe) = process.0.stderr.take() {
            pipe.read_to_string(&mut stderr).expect("read stderr");
        }

        // Assert
        assert!(!status.success(), "{value}: {status}");
        assert!(
            stderr.contains("EVENT_SOURCE_RATE_LIMITS"),
            "{value}: {stderr}"
        );
        assert!(
            stderr.contains(named),
            "{value} should name {named}: {stderr}"
        );
    }
}
