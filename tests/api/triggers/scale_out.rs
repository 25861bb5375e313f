//! Several instances on one PostgreSQL and Redis (SPEC §13): a pause made on one holds on the other within a
//! second, the throttle counts across both, the deliveries in flight at a killed instance are made by the other,
//! and the trigger frames recorded on one reach the WebSocket sessions of every instance once.

use std::collections::BTreeSet;
use std::process::Child;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{OPERATOR, call, create_webhook, env, publish, spawn_on, wait_for};
use crate::helpers::{Db, Mode, Receiver, Reply, TestApp, eventually};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_pause_made_on_one_instance_holds_on_the_other_and_the_throttle_counts_across_both() {
    let env = env(Db::Postgres, Mode::Redis).await;
    let a = spawn_on(&env).await;
    let b = spawn_on(&env).await;
    let receiver = Receiver::start().await;
    let (trigger, _) = create_webhook(
        &a,
        "two.e",
        &receiver.url,
        json!({"throttle": {"windowMs": 60000, "count": 3}}),
    )
    .await;
    let id = trigger["id"].as_str().unwrap().to_owned();
    // Both instances publish; both read the stream; deliveries are made by the lease holder only.
    publish(
        &a,
        (0..3)
            .map(|n| json!({"type": "two.e", "source": "s", "payload": {"n": n}}))
            .collect(),
    )
    .await;
    publish(
        &b,
        (3..6)
            .map(|n| json!({"type": "two.e", "source": "s", "payload": {"n": n}}))
            .collect(),
    )
    .await;
    wait_for(&a, &id, "delivered", 3).await;
    wait_for(&b, &id, "throttled", 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        3,
        "3 per window across the deployment"
    );

    // Paused on B (whichever instance holds the lease), new matches are held everywhere within a second; the
    // throttled ones keep their place. Dropping the throttle makes them due at once (after the resume).
    let (status, paused) = call(
        &b,
        Method::POST,
        &format!("/admin/triggers/{id}/pause"),
        OPERATOR,
        Some(json!({"reason": "deploy"})),
    )
    .await;
    assert_eq!(
        (status, paused["data"]["state"].clone()),
        (200, json!("paused")),
        "{paused}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (patched_status, _) = call(
        &a,
        Method::PATCH,
        &format!("/admin/triggers/{id}"),
        super::WRITER,
        Some(json!({"throttle": null})),
    )
    .await;
    assert_eq!(patched_status, 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    publish(
        &a,
        vec![json!({"type": "two.e", "source": "s", "payload": {"n": 6}})],
    )
    .await;
    wait_for(&b, &id, "held", 1).await;
    wait_for(&b, &id, "throttled", 3).await;
    assert_eq!(
        receiver.received().len(),
        3,
        "nothing goes while paused, on either instance"
    );

    call(
        &a,
        Method::POST,
        &format!("/admin/triggers/{id}/resume"),
        OPERATOR,
        Some(json!({})),
    )
    .await;
    wait_for(&a, &id, "delivered", 7).await;
    let delivered: BTreeSet<i64> = receiver
        .accepted()
        .iter()
        .map(|r| r.json()["event"]["payload"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(delivered, (0..7).collect(), "each event delivered once");
    assert_eq!(receiver.received().len(), 7);
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn lease_holder(app: &TestApp) -> bool {
    let response = app.get("/admin/event-health").await;
    let health: serde_json::Value = response.json().await.unwrap();
    health["data"]["queues"]["triggers"]["consumers"] == 1
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn deliveries_in_flight_at_a_killed_instance_are_made_by_the_other() {
    let env = env(Db::Postgres, Mode::Redis).await;
    let (first, a) = env.spawn_process().await;
    let mut first = Running(first);
    eventually("the first instance to hold the delivery lease", || {
        lease_holder(&a)
    })
    .await;
    let (second, b) = env.spawn_process().await;
    let _second = Running(second);
    let receiver = Receiver::start().await;
    // Every first attempt hangs: the killed instance has them all in flight.
    receiver.script((0..5).map(|_| Reply::Hang(Duration::from_secs(5))));
    let response = a
        .post_json(
            "/admin/triggers",
            &json!({"name": "slow", "eventType": "k.e",
                    "target": {"kind": "webhook", "url": receiver.url, "timeoutMs": 10000}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let id = response.json::<serde_json::Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let events: Vec<_> = (0..5)
        .map(|n| json!({"id": format!("inflight-{n}"), "type": "k.e", "source": "s", "payload": {"n": n}}))
        .collect();
    a.publish_ok(&events).await;
    eventually("five attempts in flight", || async {
        receiver.received().len() == 5
    })
    .await;
    let _ = first.0.kill();
    let _ = first.0.wait();

    eventually("every delivery made by the surviving instance", || async {
        let response = b
            .get(&format!("/admin/triggers/{id}/deliveries?status=delivered"))
            .await;
        let body: serde_json::Value = response.json().await.unwrap();
        body["data"]["deliveries"].as_array().map(Vec::len) == Some(5)
    })
    .await;
    let ids: BTreeSet<String> = receiver
        .accepted()
        .iter()
        .filter(|r| r.answered == 200)
        .map(|r| r.json()["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids.len(),
        5,
        "every event reached the receiver (at least once: SPEC §5.5)"
    );
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn trigger_frames_recorded_on_one_instance_reach_sessions_on_every_instance_once() {
    let env = env(Db::Postgres, Mode::Redis).await;
    let mut a = spawn_on(&env).await;
    let mut b = spawn_on(&env).await;
    a.token = Some(super::WRITER.into());
    b.token = Some(super::WRITER.into());
    let mut on_a = a.ws_connect().await;
    let mut on_b = b.ws_connect().await;
    let (trigger, _) = create_webhook(&a, "frames.e", "http://127.0.0.1:9/", json!({})).await;
    let id = trigger["id"].as_str().unwrap().to_owned();
    // Paused through A, resumed through B: each change is recorded (and announced) by one instance.
    // B may answer 503 until it has loaded the trigger created on A (it says to try again).
    for (app, action) in [(&a, "pause"), (&b, "resume")] {
        crate::helpers::eventually_some(&format!("{action} answered"), || async {
            let (status, answer) = call(
                app,
                Method::POST,
                &format!("/admin/triggers/{id}/{action}"),
                OPERATOR,
                Some(json!({"reason": format!("{action} by hand")})),
            )
            .await;
            assert!(status == 200 || status == 503, "{status} {answer}");
            (status == 200).then_some(())
        })
        .await;
    }
    for (name, ws) in [("A", &mut on_a), ("B", &mut on_b)] {
        let paused = ws.next_of_type("trigger.paused").await;
        assert_eq!(
            paused["data"]["triggerId"],
            json!(id),
            "session on {name}: {paused}"
        );
        assert_eq!(paused["data"]["change"]["reason"], "pause by hand");
        let resumed = ws.next_of_type("trigger.resumed").await;
        assert_eq!(
            resumed["data"]["change"]["reason"], "resume by hand",
            "session on {name}"
        );
    }
    // Once each: nothing else about the trigger was queued before the answer to a ping.
    for ws in [&mut on_a, &mut on_b] {
        let frames = ws.drain_until_pong().await;
        assert!(
            frames.iter().all(|f| !f["type"]
                .as_str()
                .unwrap_or_default()
                .starts_with("trigger.")),
            "no second copy: {frames:?}"
        );
    }
}
