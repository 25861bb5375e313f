//! Source rate limits and pauses (SPEC §4, §6.5, §13): a limited source's events are stored at once while their
//! trigger evaluation waits, durably, across restarts and instances; on-call engineers pause, resume and discard.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use herald::auth::AccessPolicy;
use serde_json::{Value, json};

use crate::helpers::{
    DEPLOYMENTS, Db, Mode, TestApp, TestEnv, eventually, eventually_some, spawn_app, token_registry,
};

const NOISY: &str = "noisy.api";
const CALM: &str = "calm.api";

/// A valid envelope of `source`.
fn event(id: &str, source: &str) -> Value {
    json!({ "id": id, "type": "test.source.checked", "source": source, "payload": { "id": id } })
}

/// Waits until `source`'s `GET /admin/sources` entry satisfies `check`, and returns it.
async fn view_when(
    app: &TestApp,
    source: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    eventually_some(what, || async {
        app.source_view(source).await.filter(|view| check(view))
    })
    .await
}

/// The answer's `data`, insisting on 200.
async fn data(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

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

#[actix_web::test]
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

#[actix_web::test]
async fn pauses_are_announced_to_every_websocket_session_whatever_its_filters() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange: a session that only wants another source's events.
        let app = spawn_app(db, mode).await;
        let mut watcher = app
            .ws_subscribed(json!({ "type": "subscribe", "filters": { "source": "elsewhere" } }))
            .await;

        // Act: pause by hand, change the pause, let it expire; pause again and resume by hand.
        app.pause_source(&json!({ "source": "billing.api", "reason": "deploy" }))
            .await;
        let first = watcher.next_of_type("source.paused").await;
        app.pause_source(
            &json!({ "source": "billing.api", "reason": "deploy, part 2", "durationMs": 1500 }),
        )
        .await;
        let changed = watcher.next_of_type("source.paused").await;
        let expired = watcher.next_of_type("source.resumed").await;
        app.pause_source(&json!({ "source": "billing.api", "reason": "again" }))
            .await;
        watcher.next_of_type("source.paused").await;
        app.resume_source(&json!({ "source": "billing.api" })).await;
        let resumed = watcher.next_of_type("source.resumed").await;

        // Assert
        let data = &first["data"];
        assert_eq!(
            (
                &data["source"],
                &data["kind"],
                &data["reason"],
                &data["actor"],
                &data["until"]
            ),
            (
                &json!("billing.api"),
                &json!("manual"),
                &json!("deploy"),
                &json!("anonymous"),
                &Value::Null
            ),
            "{db:?}/{mode:?}: {first}"
        );
        assert!(
            data["pausedAt"].is_string() && first["emittedAt"].is_string(),
            "{first}"
        );
        assert_eq!(changed["data"]["reason"], "deploy, part 2", "{changed}");
        assert!(changed["data"]["until"].is_string(), "{changed}");
        assert_eq!(
            expired["data"],
            json!({ "source": "billing.api", "ended": "expired" })
        );
        assert_eq!(
            resumed["data"],
            json!({ "source": "billing.api", "ended": "resumed" })
        );
    }
}

#[actix_web::test]
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

#[actix_web::test]
async fn an_on_call_pause_and_resume_record_actor_and_reason_and_are_idempotent() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let env = TestEnv::new(db, mode).await;
        let mut app = env
            .spawn_with(
                AccessPolicy::Tokens(token_registry()),
                Some("t-sources:operate".into()),
            )
            .await;
        let sensor = "/sensors/tn-1";

        // Act: pause a source never seen (pauses are by name), then pause it again.
        let first = data(
            app.pause_source(
                &json!({ "source": sensor, "reason": "noisy sensor", "durationMs": 60000 }),
            )
            .await,
        )
        .await;
        let again = data(
            app.pause_source(&json!({ "source": sensor, "reason": "still noisy" }))
                .await,
        )
        .await;

        // Assert
        assert_eq!(first["source"], sensor);
        assert_eq!(first["total"], 0, "{first}");
        assert_eq!(first["paused"]["kind"], "manual", "{first}");
        assert_eq!(first["paused"]["reason"], "noisy sensor", "{first}");
        assert_eq!(first["paused"]["actor"], "sources:operate", "{first}");
        assert!(first["paused"]["until"].is_string(), "{first}");
        assert_eq!(again["paused"]["reason"], "still noisy", "{again}");
        assert!(
            again["paused"]["until"].is_null(),
            "no duration: until resumed. {again}"
        );

        app.token = Some("t-events:read".into());
        let listed = app
            .source_view(sensor)
            .await
            .expect("a paused source is listed");
        assert_eq!(listed["paused"]["reason"], "still noisy");
        let refused = app
            .pause_source(&json!({ "source": sensor, "reason": "x" }))
            .await;
        assert_eq!(refused.status(), 403);
        let refused: Value = refused.json().await.unwrap();
        assert_eq!(
            refused["error"]["details"]["requiredScope"],
            "sources:operate"
        );

        // Events of the paused source are stored, their evaluation waits...
        app.token = Some("t-admin".into());
        app.publish_ok(&[event("tn-1", sensor), event("tn-2", sensor)])
            .await;
        view_when(&app, sensor, "2 held evaluations", |v| v["backlog"] == 2).await;
        app.stored_event("tn-2").await;

        // ... until resumed; resuming twice is the same as once.
        app.token = Some("t-sources:operate".into());
        let resumed = data(
            app.resume_source(&json!({ "source": sensor, "reason": "fixed" }))
                .await,
        )
        .await;
        let resumed_again = data(app.resume_source(&json!({ "source": sensor })).await).await;
        assert!(resumed["paused"].is_null(), "{resumed}");
        assert!(resumed_again["paused"].is_null(), "{resumed_again}");
        app.token = Some("t-events:read".into());
        view_when(&app, sensor, "the release after resume", |v| {
            v["backlog"] == 0 && v["released"] == 2
        })
        .await;

        // Every control is on record, newest first, with who did it and why, even after the pause row is gone.
        app.token = Some("t-sources:operate".into());
        let discarded = data(
            app.discard_source_backlog(&json!({ "source": sensor, "reason": "nothing left" }))
                .await,
        )
        .await;
        assert_eq!(
            discarded["lastControl"]["action"], "discard_backlog",
            "{discarded}"
        );
        assert_eq!(resumed["lastControl"]["action"], "resume", "{resumed}");
        assert_eq!(resumed["lastControl"]["endedPause"], true, "{resumed}");
        assert_eq!(
            resumed_again["lastControl"]["endedPause"], false,
            "{resumed_again}"
        );
        app.token = Some("t-events:read".into());
        let page_one: Value = app
            .source_history(&format!("source={sensor}&limit=3"))
            .await
            .json()
            .await
            .unwrap();
        let cursor = page_one["data"]["page"]["nextCursor"]
            .as_str()
            .expect("two more controls")
            .to_owned();
        let page_two: Value = app
            .source_history(&format!("source={sensor}&limit=3&cursor={cursor}"))
            .await
            .json()
            .await
            .unwrap();
        let history: Vec<&Value> = page_one["data"]["history"]
            .as_array()
            .unwrap()
            .iter()
            .chain(page_two["data"]["history"].as_array().unwrap())
            .collect();
        let actions: Vec<&str> = history
            .iter()
            .map(|c| c["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["discard_backlog", "resume", "resume", "pause", "pause"],
            "{db:?}/{mode:?}"
        );
        assert!(
            page_two["data"]["page"]["nextCursor"].is_null(),
            "{page_two}"
        );
        assert!(history.iter().all(|c| c["actor"] == "sources:operate"));
        assert_eq!(
            (&history[0]["reason"], &history[0]["discarded"]),
            (&json!("nothing left"), &json!(0))
        );
        assert_eq!(
            (&history[1]["reason"], &history[1]["endedPause"]),
            (&Value::Null, &json!(false))
        );
        assert_eq!(
            (&history[2]["reason"], &history[2]["endedPause"]),
            (&json!("fixed"), &json!(true))
        );
        assert_eq!(
            (&history[3]["reason"], &history[3]["durationMs"]),
            (&json!("still noisy"), &Value::Null)
        );
        assert_eq!(
            (&history[4]["reason"], &history[4]["durationMs"]),
            (&json!("noisy sensor"), &json!(60000))
        );
        assert!(history.iter().all(|c| c["at"].is_string()));
    }
}

#[actix_web::test]
async fn the_source_history_needs_a_valid_source_and_refuses_a_cursor_of_another_source() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    app.pause_source(&json!({ "source": "a.api", "reason": "r1" }))
        .await;
    app.pause_source(&json!({ "source": "a.api", "reason": "r2" }))
        .await;
    let page: Value = app
        .source_history("source=a.api&limit=1")
        .await
        .json()
        .await
        .unwrap();
    let cursor = page["data"]["page"]["nextCursor"]
        .as_str()
        .expect("a second page")
        .to_owned();

    for (query, parameter) in [
        ("", "source"),
        ("source=", "source"),
        ("source=a%20b", "source"),
        ("source=a.api&limit=0", "limit"),
        ("source=a.api&since=1", "since"),
    ] {
        let response = app.source_history(query).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["error"]["details"]["parameter"], parameter,
            "{query}: {body}"
        );
    }
    let reused = app
        .source_history(&format!("source=b.api&cursor={cursor}"))
        .await;
    assert_eq!(reused.status(), 400);
    let body: Value = reused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_cursor", "{body}");
}

#[actix_web::test]
async fn a_pause_made_on_one_instance_holds_on_another_within_a_second() {
    // Arrange: two instances sharing PostgreSQL and Redis, each with a live limiter for the source.
    let env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    let a = env.spawn().await;
    let b = env.spawn().await;
    let shared = "shared.api";
    let released = |view: Option<Value>| view.and_then(|v| v["released"].as_u64()).unwrap_or(0);
    let warm = AtomicU64::new(0);
    eventually(
        "both instances to have released events of the source",
        || async {
            let n = warm.fetch_add(1, Ordering::SeqCst);
            a.publish_ok(&[event(&format!("warm-{n}"), shared)]).await;
            released(a.source_view(shared).await) > 0 && released(b.source_view(shared).await) > 0
        },
    )
    .await;
    let warmed = warm.load(Ordering::SeqCst);
    let before = view_when(&a, shared, "every warm-up event released", |_| true).await;
    eventually("every warm-up event to be released", || async {
        released(a.source_view(shared).await) + released(b.source_view(shared).await) == warmed
    })
    .await;
    assert_eq!(before["throttled"], 0);
    let mut watcher_on_b = b.ws_connect().await;

    // Act: pause on A; once B has seen it, publish through B.
    let paused = data(
        a.pause_source(&json!({ "source": shared, "reason": "incident 42" }))
            .await,
    )
    .await;
    assert_eq!(paused["paused"]["reason"], "incident 42");
    // B's notice is the sign that B's pause poll (every 500 ms, hence "within a second") saw the pause: its
    // directory queues the limiter's pause reload before it sends the notice, and the limiter handles every step
    // in order, so the events published from here on find B's limiter paused (A's had its reload queued before
    // A answered the pause).
    let notice = watcher_on_b.next_of_type("source.paused").await;
    assert_eq!(notice["data"]["reason"], "incident 42", "{notice}");
    // One at a time, each stored before the next, so both instances' readers take some of them.
    for i in 1..=10 {
        let id = format!("held-{i}");
        b.publish_ok(&[event(&id, shared)]).await;
        b.stored_event(&id).await;
    }

    // Assert: wherever they were stored, every one of them waits.
    let held = view_when(&b, shared, "10 deferred evaluations", |v| {
        v["total"].as_u64() == Some(warmed + 10) && v["backlog"] == 10
    })
    .await;
    assert_eq!(held["throttled"], 10, "{held}");
    assert_eq!(held["paused"]["actor"], "anonymous", "{held}");
    assert_eq!(
        released(a.source_view(shared).await) + released(b.source_view(shared).await),
        warmed,
        "nothing was released while paused"
    );

    // A resume on B releases them, once, across both instances.
    let resumed = data(b.resume_source(&json!({ "source": shared })).await).await;
    assert!(resumed["paused"].is_null());
    eventually("the held events to be released once", || async {
        let total = released(a.source_view(shared).await) + released(b.source_view(shared).await);
        assert!(total <= warmed + 10, "released more than once: {total}");
        total == warmed + 10
    })
    .await;
    a.delete_stream().await;
}

#[actix_web::test]
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

#[actix_web::test]
async fn every_malformed_source_control_is_refused_naming_the_field() {
    // Arrange
    let app = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;
    let long_reason = "x".repeat(1_001);
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "pause",
            json!({ "source": "a.b", "reason": "r", "duration": 5 }),
            "unknown_field",
            "duration",
        ),
        (
            "pause",
            json!({ "source": "a.b" }),
            "missing_field",
            "reason",
        ),
        (
            "pause",
            json!({ "source": "a.b", "reason": null }),
            "missing_field",
            "reason",
        ),
        ("pause", json!({ "reason": "r" }), "missing_field", "source"),
        (
            "pause",
            json!({ "source": "has space", "reason": "r" }),
            "invalid_field",
            "source",
        ),
        (
            "pause",
            json!({ "source": "", "reason": "r" }),
            "invalid_field",
            "source",
        ),
        (
            "pause",
            json!({ "source": 7, "reason": "r" }),
            "invalid_field",
            "source",
        ),
        (
            "pause",
            json!({ "source": "a.b", "reason": "  " }),
            "invalid_field",
            "reason",
        ),
        (
            "pause",
            json!({ "source": "a.b", "reason": long_reason }),
            "invalid_field",
            "reason",
        ),
        (
            "pause",
            json!({ "source": "a.b", "reason": "r", "durationMs": 0 }),
            "invalid_field",
            "durationMs",
        ),
        (
            "pause",
            json!({ "source": "a.b", "reason": "r", "durationMs": -1000 }),
            "invalid_field",
            "durationMs",
        ),
        (
            "pause",
            json!({ "source": "a.b", "reason": "r", "durationMs": 1.5 }),
            "invalid_field",
            "durationMs",
        ),
        (
            "pause",
            json!({ "source": "a.b", "reason": "r", "durationMs": "60000" }),
            "invalid_field",
            "durationMs",
        ),
        (
            "pause",
            json!({ "source": "a.b", "reason": "r", "durationMs": 2_592_000_001u64 }),
            "invalid_field",
            "durationMs",
        ),
        (
            "resume",
            json!({ "source": "a.b", "why": "r" }),
            "unknown_field",
            "why",
        ),
        (
            "resume",
            json!({ "source": "a b" }),
            "invalid_field",
            "source",
        ),
        (
            "resume",
            json!({ "source": "a.b", "reason": 5 }),
            "invalid_field",
            "reason",
        ),
        (
            "discard-backlog",
            json!({ "source": "a.b" }),
            "missing_field",
            "reason",
        ),
        (
            "discard-backlog",
            json!({ "reason": "r" }),
            "missing_field",
            "source",
        ),
        (
            "discard-backlog",
            json!({ "source": "a.b", "reason": "r", "all": true }),
            "unknown_field",
            "all",
        ),
    ];

    for (action, body, code, field) in cases {
        // Act
        let response = app
            .post_json(&format!("/admin/sources/{action}"), &body)
            .await;

        // Assert
        assert_eq!(response.status(), 400, "{action} {body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{action} {body}: {error}");
        assert_eq!(
            error["error"]["details"]["field"], field,
            "{action} {body}: {error}"
        );
    }
    for raw in ["{", "[]", "\"a.b\""] {
        let response = app
            .client
            .post(format!("{}/admin/sources/pause", app.address))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{raw}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "invalid_json", "{raw}");
    }
    assert!(app.source_view("a.b").await.is_none(), "nothing was paused");
    // The longest pause is accepted.
    let longest = app
        .pause_source(&json!({ "source": "a.b", "reason": "r", "durationMs": 2_592_000_000u64 }))
        .await;
    assert_eq!(longest.status(), 200);
}

#[actix_web::test]
async fn the_source_list_pages_by_name_and_refuses_bad_parameters() {
    // Arrange
    let app = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;
    for source in ["c.three", "a.one", "b.two"] {
        data(
            app.pause_source(&json!({ "source": source, "reason": "r" }))
                .await,
        )
        .await;
    }

    // Act
    let first = data(app.list_sources("limit=2").await).await;
    let cursor = first["page"]["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = data(app.list_sources(&format!("limit=2&cursor={cursor}")).await).await;

    // Assert
    let names = |page: &Value| -> Vec<String> {
        page["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["source"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&first), ["a.one", "b.two"]);
    assert_eq!(first["page"]["hasMore"], true);
    assert_eq!(names(&second), ["c.three"]);
    assert!(second["page"]["nextCursor"].is_null());
    for (query, code) in [
        ("limit=0", "invalid_parameter"),
        ("limit=201", "invalid_parameter"),
        ("cursor=nonsense", "invalid_cursor"),
        ("source=a.one", "invalid_parameter"),
    ] {
        let response = app.list_sources(query).await;
        assert_eq!(response.status(), 400, "{query}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{query}");
    }
}

#[actix_web::test]
async fn dead_letters_count_as_failures_of_their_source() {
    for db in [Db::Sqlite, Db::Postgres] {
        // Arrange
        let app = TestEnv::new(db, Mode::Redis).await.spawn().await;

        // Act: two entries that cannot become events, one valid, and one whose source is itself invalid.
        app.xadd_envelope(r#"{"type":"nodots","source":"broken.api"}"#)
            .await;
        app.xadd_envelope(r#"{"type":"a.b","source":"broken.api","extra":1}"#)
            .await;
        app.xadd_envelope(&event("fine-1", "broken.api").to_string())
            .await;
        app.xadd_envelope(r#"{"type":"nodots","source":"not a source"}"#)
            .await;

        // Assert
        let view = view_when(&app, "broken.api", "2 failures", |v| {
            v["failures"] == 2 && v["total"] == 1
        })
        .await;
        assert_eq!(view["throttled"], 0, "{db:?}: {view}");
        app.dead_letters_eventually(3).await;
        assert!(app.source_view("not a source").await.is_none());
        app.delete_stream().await;
    }
}

#[actix_web::test]
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
