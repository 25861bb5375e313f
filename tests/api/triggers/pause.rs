//! Auto-pause (SPEC §5.7): five failing deliveries pause a trigger, matches are held, the half-open probe resumes
//! it (held deliveries go in order) or pauses it again (the probe stays first in line). On-call pause and resume,
//! the state log, and restarts: a paused trigger stays paused, a scheduled retry resumes.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{
    OPERATOR, READER, call, create_webhook, delivery, env, publish, respawn_on, spawn_on, wait_for,
};
use crate::helpers::{DEPLOYMENTS, Receiver, Reply, TestApp, eventually};

async fn state(app: &TestApp, id: &str) -> Value {
    let (status, answer) = call(
        app,
        Method::GET,
        &format!("/admin/triggers/{id}"),
        READER,
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer["data"].clone()
}

async fn wait_state(app: &TestApp, id: &str, wanted: &str) -> Value {
    crate::helpers::eventually_some(&format!("the trigger to be {wanted}"), || async {
        let t = state(app, id).await;
        (t["state"] == wanted).then_some(t)
    })
    .await
}

fn orders(receiver: &Receiver) -> Vec<i64> {
    receiver
        .accepted()
        .iter()
        .map(|r| r.json()["event"]["payload"]["n"].as_i64().unwrap())
        .collect()
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn five_failures_pause_the_trigger_and_a_half_open_success_drains_the_held_in_order() {
    for (db, mode) in DEPLOYMENTS {
        let mut env = env(db, mode).await;
        env.set("EVENT_TRIGGER_PAUSE_MS", "1500");
        let app = spawn_on(&env).await;
        let receiver = Receiver::start().await;
        receiver.script((0..5).map(|_| Reply::Status(500, None)));
        let (trigger, _) = create_webhook(
            &app,
            "p.e",
            &receiver.url,
            json!({"retry": {"maxAttempts": 1, "initialDelayMs": 10, "multiplier": 1, "maxDelayMs": 10},
                   "maxConcurrency": 1}),
        )
        .await;
        let id = trigger["id"].as_str().unwrap();
        publish(
            &app,
            (0..5)
                .map(|n| json!({"type": "p.e", "source": "s", "payload": {"n": n}}))
                .collect(),
        )
        .await;
        wait_for(&app, id, "failed", 5).await;
        let paused = wait_state(&app, id, "paused").await;
        assert_eq!(
            paused["pause"]["actor"], "herald",
            "{db:?}/{mode:?}: {paused}"
        );
        assert!(paused["pause"]["until"].is_string());

        publish(
            &app,
            (10..13)
                .map(|n| json!({"type": "p.e", "source": "s", "payload": {"n": n}}))
                .collect(),
        )
        .await;
        wait_for(&app, id, "held", 3).await;
        assert_eq!(receiver.accepted().len(), 0, "no attempt while paused");

        wait_for(&app, id, "delivered", 3).await;
        assert_eq!(
            orders(&receiver),
            vec![10, 11, 12],
            "held deliveries go in event order after the probe"
        );
        // The probe's success is recorded as it is judged; the held ones may go out before that write lands.
        wait_state(&app, id, "running").await;

        let (_, history) = call(
            &app,
            Method::GET,
            &format!("/admin/triggers/{id}/history"),
            READER,
            None,
        )
        .await;
        let moves: Vec<(Value, Value)> = history["data"]["history"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .map(|c| (c["from"].clone(), c["to"].clone()))
            .collect();
        assert_eq!(
            moves,
            vec![
                (json!("running"), json!("paused")),
                (json!("paused"), json!("halfOpen")),
                (json!("halfOpen"), json!("running")),
            ]
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_failed_probe_pauses_again_and_the_probe_stays_first_in_line() {
    let mut env = env(crate::helpers::Db::Sqlite, crate::helpers::Mode::Inline).await;
    env.set("EVENT_TRIGGER_PAUSE_MS", "1000");
    env.set("EVENT_TRIGGER_ERROR_THRESHOLD", "2");
    let app = spawn_on(&env).await;
    let receiver = Receiver::start().await;
    receiver.script((0..3).map(|_| Reply::Status(500, None)));
    let (trigger, _) = create_webhook(
        &app,
        "p.f",
        &receiver.url,
        json!({"retry": {"maxAttempts": 1, "initialDelayMs": 10, "multiplier": 1, "maxDelayMs": 10}, "maxConcurrency": 1}),
    )
    .await;
    let id = trigger["id"].as_str().unwrap();
    publish(
        &app,
        (0..2)
            .map(|n| json!({"type": "p.f", "source": "s", "payload": {"n": n}}))
            .collect(),
    )
    .await;
    wait_state(&app, id, "paused").await;
    let held = publish(
        &app,
        (5..7)
            .map(|n| json!({"type": "p.f", "source": "s", "payload": {"n": n}}))
            .collect(),
    )
    .await;
    // The probe (event 5) fails with the third scripted 500: paused again.
    eventually("the probe to fail", || async {
        receiver.received().len() == 3
    })
    .await;
    let again = wait_state(&app, id, "paused").await;
    assert_eq!(again["pause"]["reason"], "the half-open probe failed");
    let probe = super::deliveries(&app, id, &format!("&eventId={}", held[0])).await;
    assert_eq!(
        probe[0]["status"], "held",
        "the probe goes back in line: {probe:?}"
    );
    // The next probe succeeds: 5 then 6.
    wait_for(&app, id, "delivered", 2).await;
    assert_eq!(orders(&receiver), vec![5, 6]);
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_on_call_pause_holds_retries_and_matches_until_resumed_and_survives_a_restart() {
    for (db, mode) in DEPLOYMENTS {
        let env = env(db, mode).await;
        let app = spawn_on(&env).await;
        let receiver = Receiver::start().await;
        receiver.script([Reply::Status(503, None)]);
        let (trigger, _) = create_webhook(
            &app,
            "q.r",
            &receiver.url,
            json!({"retry": {"maxAttempts": 4, "initialDelayMs": 800, "multiplier": 1, "maxDelayMs": 800},
                   "maxConcurrency": 1}),
        )
        .await;
        let id = trigger["id"].as_str().unwrap().to_owned();
        publish(
            &app,
            vec![json!({"type": "q.r", "source": "s", "payload": {"n": 1}})],
        )
        .await;
        wait_for(&app, &id, "retrying", 1).await;

        let (status, paused) = call(
            &app,
            Method::POST,
            &format!("/admin/triggers/{id}/pause"),
            OPERATOR,
            Some(json!({"reason": "receiver migration"})),
        )
        .await;
        assert_eq!(status, 200, "{paused}");
        assert_eq!(paused["data"]["state"], "paused", "{db:?}/{mode:?}");
        assert_eq!(paused["data"]["pause"]["actor"], "oncall");
        assert_eq!(paused["data"]["pause"]["until"], Value::Null);
        let (status, again) = call(
            &app,
            Method::POST,
            &format!("/admin/triggers/{id}/pause"),
            OPERATOR,
            Some(json!({"reason": "receiver migration"})),
        )
        .await;
        assert_eq!(
            (status, again["data"]["state"].clone()),
            (200, json!("paused")),
            "idempotent"
        );

        // The retry falls due during the pause: no attempt.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(receiver.received().len(), 1, "no attempt while paused");

        // Restart: still paused; new matches are held.
        app.shutdown();
        let app = respawn_on(&env).await;
        assert_eq!(state(&app, &id).await["state"], "paused");
        publish(
            &app,
            vec![json!({"type": "q.r", "source": "s", "payload": {"n": 2}})],
        )
        .await;
        wait_for(&app, &id, "held", 1).await;
        assert_eq!(receiver.received().len(), 1);

        let (status, resumed) = call(
            &app,
            Method::POST,
            &format!("/admin/triggers/{id}/resume"),
            OPERATOR,
            Some(json!({"reason": "done"})),
        )
        .await;
        assert_eq!(status, 200, "{resumed}");
        assert_eq!(resumed["data"]["state"], "running");
        assert_eq!(resumed["data"]["pause"], Value::Null);
        wait_for(&app, &id, "delivered", 2).await;
        assert_eq!(orders(&receiver), vec![1, 2]);
        let (_, history) = call(
            &app,
            Method::GET,
            &format!("/admin/triggers/{id}/history"),
            READER,
            None,
        )
        .await;
        let last = &history["data"]["history"][0];
        assert_eq!(
            (
                last["to"].clone(),
                last["actor"].clone(),
                last["reason"].clone()
            ),
            (json!("running"), json!("oncall"), json!("done"))
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_retry_scheduled_before_a_restart_is_made_after_it() {
    for (db, mode) in DEPLOYMENTS {
        let env = env(db, mode).await;
        let app = spawn_on(&env).await;
        let receiver = Receiver::start().await;
        receiver.script([Reply::Status(500, None)]);
        let (trigger, _) = create_webhook(
            &app,
            "r.s",
            &receiver.url,
            json!({"retry": {"maxAttempts": 3, "initialDelayMs": 1500, "multiplier": 1, "maxDelayMs": 1500}}),
        )
        .await;
        let id = trigger["id"].as_str().unwrap().to_owned();
        publish(&app, vec![json!({"type": "r.s", "source": "s"})]).await;
        let retrying = wait_for(&app, &id, "retrying", 1).await;
        app.shutdown();
        let app = respawn_on(&env).await;
        let delivered = wait_for(&app, &id, "delivered", 1).await;
        assert_eq!(delivered[0]["id"], retrying[0]["id"], "{db:?}/{mode:?}");
        let detail = delivery(&app, delivered[0]["id"].as_str().unwrap()).await;
        assert_eq!(detail["attempts"], 2);
    }
}
