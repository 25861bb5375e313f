//! On-call source control: pause and resume, announced to every WebSocket session and held across instances,
//! and the refusal of malformed controls.

use std::sync::atomic::{AtomicU64, Ordering};

use herald::auth::AccessPolicy;
use serde_json::{Value, json};

use crate::helpers::{DEPLOYMENTS, Db, Mode, TestEnv, eventually, spawn_app, token_registry};

use super::{data, event, view_when};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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
