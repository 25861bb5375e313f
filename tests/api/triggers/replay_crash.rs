//! SPEC §3 for replays: a Herald killed with SIGKILL in the middle of a replay finishes it once restarted, from
//! where its last recorded step ended, with one delivery per (trigger, event) of the replay and every event
//! delivered.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;

use reqwest::Method;
use serde_json::{Value, json};

use super::replay::around_now;
use crate::helpers::{Db, Mode, Receiver, TestApp, TestEnv, call_as, eventually_some};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, answer) = call_as(app, Method::POST, path, None, Some(body)).await;
    assert!((200..300).contains(&status), "{path}: {status} {answer}");
    answer["data"].clone()
}

async fn replay(app: &TestApp, id: &str) -> Value {
    let (status, answer) = call_as(
        app,
        Method::GET,
        &format!("/admin/replays/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer["data"].clone()
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_kill_mid_replay_resumes_after_a_restart_and_delivers_each_event_once() {
    for (db, mode) in [(Db::Postgres, Mode::Redis), (Db::Sqlite, Mode::Inline)] {
        let mut env = TestEnv::new(db, mode).await;
        env.set("HERALD_WEBHOOK_ALLOW_CIDRS", "127.0.0.0/8");
        let receiver = Receiver::start().await;
        let (child, app) = env.spawn_process().await;
        let herald = Running(child);
        let (from, to) = around_now();
        let mut ids = Vec::new();
        for batch in 0..3 {
            let events: Vec<Value> = (0..100)
                .map(|i| {
                    json!({"id": ulid::Ulid::generate().to_string(), "type": "crash.replay",
                                "source": "replay.test", "payload": {"n": batch * 100 + i}})
                })
                .collect();
            ids.extend(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
            post(&app, "/events", Value::Array(events)).await;
        }
        // Stored before the trigger exists, so only the replay delivers them.
        for id in &ids {
            app.stored_event(id).await;
        }
        let trigger = post(
            &app,
            "/admin/triggers",
            json!({"name": "replayed", "eventType": "crash.replay",
                   "target": {"kind": "webhook", "url": receiver.url, "timeoutMs": 1000}}),
        )
        .await;
        let trigger_id = trigger["id"].as_str().unwrap().to_owned();
        // 50 deliveries a second: 300 events take six seconds, so the kill lands mid-way.
        let asked = post(
            &app,
            "/admin/replays",
            json!({"from": from, "to": to, "triggerIds": [trigger_id], "dryRun": false, "ratePerSecond": 50}),
        )
        .await;
        let id = asked["id"].as_str().unwrap().to_owned();
        let at_kill = eventually_some("the replay to be under way", || async {
            let r = replay(&app, &id).await;
            (r["counts"]["delivered"].as_u64() >= Some(40)).then_some(r)
        })
        .await;
        drop(herald);
        assert_eq!(
            at_kill["status"], "running",
            "{db:?}/{mode:?}: killed mid-replay: {at_kill}"
        );
        let received_at_kill = receiver.accepted().len();
        assert!(
            received_at_kill < 300,
            "{db:?}/{mode:?}: {received_at_kill}"
        );

        let (child, app) = env.spawn_process().await;
        let _herald = Running(child);
        let done = eventually_some(
            &format!("{db:?}/{mode:?}: the replay to finish after the restart"),
            || async {
                let r = replay(&app, &id).await;
                (r["status"] == "completed"
                    && r["counts"]["delivered"] == 300
                    && r["counts"]["waiting"] == 0)
                    .then_some(r)
            },
        )
        .await;
        assert_eq!(done["counts"]["scanned"], 300, "{db:?}/{mode:?}: {done}");
        assert_eq!(
            done["counts"]["matched"], 300,
            "counted once across the restart: {done}"
        );

        // One delivery row per event of the replay.
        let mut per_event: BTreeMap<String, usize> = BTreeMap::new();
        for event in env.outcome_event_ids().await {
            *per_event.entry(event).or_default() += 1;
        }
        assert_eq!(per_event.len(), 300, "{db:?}/{mode:?}");
        assert!(
            per_event.values().all(|&n| n == 1),
            "{db:?}/{mode:?}: one delivery per event"
        );
        // Every event reached the receiver; a repeat (the kill cut an attempt whose POST had landed) carries
        // the same webhook-id, as SPEC §5.5 at-least-once allows.
        let accepted = receiver.accepted();
        let events: BTreeSet<String> = accepted
            .iter()
            .map(|r| r.json()["event"]["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(events, ids.iter().cloned().collect(), "{db:?}/{mode:?}");
        let webhook_ids: BTreeSet<&str> = accepted
            .iter()
            .filter_map(|r| r.header("webhook-id"))
            .collect();
        assert_eq!(
            webhook_ids.len(),
            300,
            "{db:?}/{mode:?}: one delivery id per event"
        );
    }
}
