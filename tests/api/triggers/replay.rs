//! Replay (SPEC §6.2) against real receivers on every deployment: only the named triggers get the events again,
//! as new deliveries tagged with the replay id; a dry run counts and delivers nothing; a paused trigger holds
//! replayed deliveries; cancel stops a replay; bad input is refused naming the field.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{
    OPERATOR, READER, WRITER, assert_refused, call, create_webhook, env, publish, spawn_on,
    wait_for,
};
use crate::helpers::{DEPLOYMENTS, Receiver, TestApp, eventually_some, run_herald};

/// A range around now, as the events published by these tests occurred.
pub fn around_now() -> (String, String) {
    let now = chrono::Utc::now();
    (
        (now - chrono::TimeDelta::hours(1)).to_rfc3339(),
        (now + chrono::TimeDelta::hours(1)).to_rfc3339(),
    )
}

/// Publishes `n` events of `event_type` with `payload.n` = 0..n, in batches of 100; returns their ids.
pub async fn publish_many(app: &TestApp, event_type: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for start in (0..n).step_by(100) {
        let batch = (start..n.min(start + 100))
            .map(|i| json!({"type": event_type, "source": "replay.test", "payload": {"n": i}}))
            .collect();
        ids.extend(publish(app, batch).await);
    }
    stored(app, &ids).await;
    ids
}

/// Waits until every event of `ids` is stored (in redis mode a publish is answered once queued): events meant to
/// be stored before a trigger exists must not reach it as originals.
pub async fn stored(app: &TestApp, ids: &[String]) {
    for id in ids {
        eventually_some(&format!("event {id} to be stored"), || async {
            let (status, _) = call(
                app,
                Method::GET,
                &format!("/admin/events/{id}"),
                WRITER,
                None,
            )
            .await;
            (status == 200).then_some(())
        })
        .await;
    }
}

/// Asks for a replay; returns the answer's data.
pub async fn start_replay(app: &TestApp, body: Value) -> Value {
    let (status, answer) = call(app, Method::POST, "/admin/replays", OPERATOR, Some(body)).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["data"]["status"], "pending", "{answer}");
    answer["data"].clone()
}

/// `GET /admin/replays/{id}`.
pub async fn replay(app: &TestApp, id: &str) -> Value {
    let (status, answer) = call(
        app,
        Method::GET,
        &format!("/admin/replays/{id}"),
        READER,
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer["data"].clone()
}

/// Waits until the replay `id` satisfies `done`, and returns it.
pub async fn replay_until(
    app: &TestApp,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    eventually_some(what, || async {
        let r = replay(app, id).await;
        done(&r).then_some(r)
    })
    .await
}

fn event_ids(received: &[crate::helpers::Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.json()["event"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_replay_delivers_every_event_of_its_range_to_the_named_trigger_only() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_on(&env(db, mode).await).await;
        let (from, to) = around_now();
        // Stored before either trigger existed: neither delivers them unless replayed.
        let ids = publish_many(&app, "replay.e", 1_000).await;
        let (a, b) = (Receiver::start().await, Receiver::start().await);
        let (trigger_a, _) = create_webhook(&app, "replay.*", &a.url, json!({})).await;
        let (trigger_b, _) = create_webhook(&app, "replay.*", &b.url, json!({})).await;
        let (a_id, b_id) = (
            trigger_a["id"].as_str().unwrap(),
            trigger_b["id"].as_str().unwrap(),
        );
        // B's own deliveries of a later event, which the replay to A must leave as they are.
        let later = publish(
            &app,
            vec![json!({"type": "replay.e", "source": "replay.test"})],
        )
        .await;
        let b_original = wait_for(&app, b_id, "delivered", 1).await;

        let asked = start_replay(
            &app,
            json!({"from": from, "to": to, "type": "replay.*", "triggerIds": [a_id],
                   "dryRun": false, "ratePerSecond": 100000}),
        )
        .await;
        let replay_id = asked["id"].as_str().unwrap();
        let done = replay_until(
            &app,
            replay_id,
            "1,001 replayed deliveries delivered",
            |r| r["status"] == "completed" && r["counts"]["delivered"] == 1_001,
        )
        .await;
        assert_eq!(done["counts"]["scanned"], 1_001, "{db:?}/{mode:?}: {done}");
        assert_eq!(done["counts"]["matched"], 1_001, "{done}");
        assert_eq!(done["counts"]["waiting"], 0, "{done}");
        assert_eq!(done["total"], 1_001, "{done}");
        assert_eq!(done["progress"], 1.0, "{done}");
        assert_eq!(done["triggerIds"], json!([a_id]));
        assert!(
            done["startedAt"].is_string() && done["finishedAt"].is_string(),
            "{done}"
        );

        // A got every event once, each tagged with the replay; its original delivery of the later event stands
        // beside the replayed one.
        let requests = eventually_some("A's receiver to see 1,002 requests", || async {
            let r = a.accepted();
            (r.len() >= 1_002).then_some(r)
        })
        .await;
        let replayed: Vec<_> = requests
            .iter()
            .filter(|r| r.json()["replayId"] == replay_id)
            .cloned()
            .collect();
        assert_eq!(replayed.len(), 1_001, "{db:?}/{mode:?}");
        let got: BTreeSet<String> = event_ids(&replayed).into_iter().collect();
        let expected: BTreeSet<String> = ids.iter().chain(&later).cloned().collect();
        assert_eq!(got, expected, "each event of the range, once");
        let webhook_ids: BTreeSet<&str> = replayed
            .iter()
            .filter_map(|r| r.header("webhook-id"))
            .collect();
        assert_eq!(
            webhook_ids.len(),
            1_001,
            "a new delivery (webhook-id) per event"
        );

        // B: only its original delivery, untouched.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            b.received().len(),
            1,
            "{db:?}/{mode:?}: nothing replayed to B"
        );
        let (_, b_now) = call(
            &app,
            Method::GET,
            &format!("/admin/triggers/{b_id}/deliveries?limit=200"),
            READER,
            None,
        )
        .await;
        assert_eq!(b_now["data"]["deliveries"], json!(b_original));
        let (_, a_replayed) = call(
            &app,
            Method::GET,
            &format!(
                "/admin/deliveries/{}",
                replayed[0].header("webhook-id").unwrap()
            ),
            READER,
            None,
        )
        .await;
        assert_eq!(a_replayed["data"]["replayId"], replay_id, "{a_replayed}");
        assert_eq!(a_replayed["data"]["triggerId"], a_id);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_dry_run_counts_what_would_be_delivered_and_delivers_nothing() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_on(&env(db, mode).await).await;
        let (from, to) = around_now();
        publish_many(&app, "dry.e", 60).await;
        let other = publish(
            &app,
            vec![json!({"type": "other.e", "source": "replay.test"})],
        )
        .await;
        stored(&app, &other).await;
        let receiver = Receiver::start().await;
        let (trigger, _) = create_webhook(
            &app,
            "dry.*",
            &receiver.url,
            json!({"predicates": [{"path": "$.payload.n", "operator": "gte", "value": 20}]}),
        )
        .await;
        let asked = start_replay(
            &app,
            json!({"from": from, "to": to, "triggerIds": [trigger["id"]], "dryRun": true}),
        )
        .await;
        let done = replay_until(
            &app,
            asked["id"].as_str().unwrap(),
            "the dry run to complete",
            |r| r["status"] == "completed",
        )
        .await;
        assert_eq!(done["dryRun"], true);
        assert_eq!(
            done["counts"]["scanned"], 61,
            "{db:?}/{mode:?}: every event of the range is read: {done}"
        );
        assert_eq!(
            done["counts"]["matched"], 40,
            "only those the predicate lets through: {done}"
        );
        for count in ["delivered", "failed", "waiting", "cancelled"] {
            assert_eq!(done["counts"][count], 0, "{count}: {done}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            receiver.received().is_empty(),
            "{db:?}/{mode:?}: a dry run delivers nothing"
        );
        let rows = super::deliveries(&app, trigger["id"].as_str().unwrap(), "").await;
        assert!(rows.is_empty(), "and records no delivery: {rows:?}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_paused_trigger_holds_replayed_deliveries_until_it_resumes() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_on(&env(db, mode).await).await;
        let (from, to) = around_now();
        publish_many(&app, "held.e", 30).await;
        let receiver = Receiver::start().await;
        let (trigger, _) = create_webhook(&app, "held.e", &receiver.url, json!({})).await;
        let id = trigger["id"].as_str().unwrap();
        let (status, _) = call(
            &app,
            Method::POST,
            &format!("/admin/triggers/{id}/pause"),
            OPERATOR,
            Some(json!({"reason": "maintenance"})),
        )
        .await;
        assert_eq!(status, 200);
        let asked = start_replay(
            &app,
            json!({"from": from, "to": to, "triggerIds": [id], "dryRun": false, "ratePerSecond": 10000}),
        )
        .await;
        let replay_id = asked["id"].as_str().unwrap();
        replay_until(&app, replay_id, "the replay to complete", |r| {
            r["status"] == "completed"
        })
        .await;
        let held = wait_for(&app, id, "held", 30).await;
        assert!(held.iter().all(|d| d["replayId"] == replay_id), "{held:?}");
        assert_eq!(replay(&app, replay_id).await["counts"]["waiting"], 30);
        assert!(
            receiver.received().is_empty(),
            "{db:?}/{mode:?}: held while paused"
        );

        let (status, _) = call(
            &app,
            Method::POST,
            &format!("/admin/triggers/{id}/resume"),
            OPERATOR,
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 200);
        replay_until(&app, replay_id, "30 delivered after the resume", |r| {
            r["counts"]["delivered"] == 30 && r["counts"]["waiting"] == 0
        })
        .await;
        assert_eq!(receiver.accepted().len(), 30, "{db:?}/{mode:?}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn cancel_stops_a_replay_and_cancels_what_it_has_not_delivered() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_on(&env(db, mode).await).await;
        let (from, to) = around_now();
        publish_many(&app, "slow.e", 200).await;
        let receiver = Receiver::start().await;
        // One delivery at a time and a slow receiver, so the replay has recorded more than it delivered.
        let (trigger, _) =
            create_webhook(&app, "slow.e", &receiver.url, json!({"maxConcurrency": 1})).await;
        let asked = start_replay(
            &app,
            json!({"from": from, "to": to, "triggerIds": [trigger["id"]], "dryRun": false, "ratePerSecond": 20}),
        )
        .await;
        let id = asked["id"].as_str().unwrap();
        replay_until(&app, id, "a first delivery", |r| {
            r["counts"]["delivered"].as_u64() >= Some(1)
        })
        .await;
        let (status, cancelled) = call(
            &app,
            Method::POST,
            &format!("/admin/replays/{id}/cancel"),
            OPERATOR,
            None,
        )
        .await;
        assert_eq!(status, 200, "{cancelled}");
        assert_eq!(cancelled["data"]["status"], "cancelled");
        assert!(cancelled["data"]["finishedAt"].is_string());
        // Once what was in flight has finished, nothing moves any more.
        let settled = replay_until(&app, id, "no delivery left waiting", |r| {
            r["counts"]["waiting"] == 0
        })
        .await;
        let delivered = settled["counts"]["delivered"].as_u64().unwrap();
        let scanned = settled["counts"]["scanned"].as_u64().unwrap();
        assert!(
            scanned < 200,
            "{db:?}/{mode:?}: the read stopped: {settled}"
        );
        assert!(delivered < 200, "{settled}");
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let after = replay(&app, id).await;
        assert_eq!(after["counts"]["scanned"], scanned, "{after}");
        assert_eq!(after["counts"]["delivered"], delivered, "{after}");
        assert_eq!(after["status"], "cancelled");
        assert_eq!(
            receiver.accepted().len() as u64,
            delivered,
            "{db:?}/{mode:?}"
        );
        // Cancelling again answers the same replay.
        let (status, again) = call(
            &app,
            Method::POST,
            &format!("/admin/replays/{id}/cancel"),
            OPERATOR,
            None,
        )
        .await;
        assert_eq!(
            (status, &again["data"]["status"]),
            (200, &json!("cancelled"))
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn bad_replay_requests_are_refused_naming_the_field_and_unknown_ids_are_404() {
    let (db, mode) = DEPLOYMENTS[1];
    let app = spawn_on(&env(db, mode).await).await;
    let (trigger, _) = create_webhook(&app, "any.e", "http://127.0.0.1:9/", json!({})).await;
    let id = trigger["id"].clone();
    let base =
        json!({"from": "2026-11-01", "to": "2026-11-02", "triggerIds": [id], "dryRun": true});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        if value.is_null() {
            body.as_object_mut().unwrap().remove(key);
        } else {
            body[key] = value;
        }
        body
    };
    let cases = [
        (
            with("triggerIds", Value::Null),
            "missing_field",
            "triggerIds",
        ),
        (with("triggerIds", json!([])), "invalid_field", "triggerIds"),
        (
            with("triggerIds", json!("x")),
            "invalid_field",
            "triggerIds",
        ),
        (with("from", json!("2026-11-03")), "invalid_field", "from"),
        (with("to", json!("2026-12-03")), "invalid_field", "from"),
        (with("from", Value::Null), "missing_field", "from"),
        (with("to", json!("yesterday")), "invalid_field", "to"),
        (
            with("ratePerSecond", json!(0)),
            "invalid_field",
            "ratePerSecond",
        ),
        (
            with("ratePerSecond", json!(-5)),
            "invalid_field",
            "ratePerSecond",
        ),
        (with("type", json!("a..b")), "invalid_pattern", "type"),
        (with("dryRun", json!("yes")), "invalid_field", "dryRun"),
        (with("speed", json!(1)), "unknown_field", "speed"),
    ];
    assert_refused(&app, "/admin/replays", OPERATOR, &cases).await;
    let (status, answer) = call(
        &app,
        Method::POST,
        "/admin/replays",
        OPERATOR,
        Some(with(
            "triggerIds",
            json!([id, "01JZZZZZZZZZZZZZZZZZZZZZZZ"]),
        )),
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("01JZZZZZZZZZZZZZZZZZZZZZZZ")
    );
    for (method, path) in [
        (Method::GET, "/admin/replays/01JZZZZZZZZZZZZZZZZZZZZZZZ"),
        (
            Method::POST,
            "/admin/replays/01JZZZZZZZZZZZZZZZZZZZZZZZ/cancel",
        ),
    ] {
        let (status, answer) = call(&app, method, path, OPERATOR, None).await;
        assert_eq!(status, 404, "{path}: {answer}");
    }
    let (status, _) = call(
        &app,
        Method::POST,
        "/admin/replays",
        READER,
        Some(base.clone()),
    )
    .await;
    assert_eq!(status, 403, "asking for a replay needs triggers:operate");
    let (status, _) = call(&app, Method::POST, "/admin/replays", OPERATOR, Some(base)).await;
    assert_eq!(status, 202, "the base request is valid");
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn herald_replay_starts_follows_shows_and_cancels_from_the_command_line() {
    let (db, mode) = DEPLOYMENTS[0];
    let app = spawn_on(&env(db, mode).await).await;
    let url = app.address.clone();
    let (from, to) = around_now();
    let ids = publish_many(&app, "cli.e", 25).await;
    let receiver = Receiver::start().await;
    let (trigger, _) = create_webhook(&app, "cli.e", &receiver.url, json!({})).await;
    let trigger_id = trigger["id"].as_str().unwrap();

    // start --wait: follows the replay until every delivery has finished, then one sentence.
    let (ok, out, err) = run_herald(
        &[
            "replay",
            "start",
            "--trigger",
            trigger_id,
            "--from",
            &from,
            "--to",
            &to,
            "--type",
            "cli.*",
            "--rate",
            "1000",
            "--wait",
        ],
        &url,
        Some(OPERATOR),
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains(
            "completed: 25 events read (100 %), 25 matched, 25 delivered, 0 failed, 0 waiting"
        ),
        "{out}"
    );
    assert_eq!(receiver.accepted().len(), ids.len());
    let replay_id = out.split_whitespace().nth(1).unwrap().to_owned();

    // status --json: the API's view.
    let (ok, out, err) = run_herald(
        &["replay", "status", &replay_id, "--json"],
        &url,
        Some(READER),
    )
    .await;
    assert!(ok, "{err}");
    let shown: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(shown["id"], replay_id.as_str());
    assert_eq!(shown["counts"]["delivered"], 25);

    // A dry run without --wait answers at once with the id to follow.
    let (ok, out, err) = run_herald(
        &[
            "replay",
            "start",
            "--trigger",
            trigger_id,
            "--from",
            &from,
            "--to",
            &to,
            "--dry-run",
        ],
        &url,
        Some(OPERATOR),
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("(dry run)") && out.contains("herald replay status"),
        "{out}"
    );

    // cancel: the replay, cancelled; unknown ids and bad input are one line on stderr and exit 1.
    let (ok, out, err) = run_herald(&["replay", "cancel", &replay_id], &url, Some(OPERATOR)).await;
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("Replay {replay_id} cancelled")),
        "{out}"
    );
    let (ok, _, err) = run_herald(
        &["replay", "status", "01JZZZZZZZZZZZZZZZZZZZZZZZ"],
        &url,
        Some(READER),
    )
    .await;
    assert!(!ok);
    assert!(err.contains("replay 01JZZZZZZZZZZZZZZZZZZZZZZZ"), "{err}");
    let (ok, _, err) = run_herald(
        &[
            "replay",
            "start",
            "--trigger",
            trigger_id,
            "--from",
            &to,
            "--to",
            &from,
        ],
        &url,
        Some(OPERATOR),
    )
    .await;
    assert!(!ok);
    assert!(err.contains("from"), "{err}");
}
