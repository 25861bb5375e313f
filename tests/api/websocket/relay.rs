//! The relay across instances sharing Redis (SPEC §13): every client gets every event once, also after a Redis
//! restart.

use std::collections::HashSet;

use serde_json::json;

use crate::helpers::{Db, Mode, PrivateRedis, TestEnv, WsClient, eventually, free_port};

use super::event;

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn clients_on_two_instances_sharing_redis_each_receive_every_event_exactly_once() {
    let env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    let a = env.spawn().await;
    let b = env.spawn().await;
    let mut on_a = a.ws_connect().await;
    let mut on_b = b.ws_connect().await;

    // Both instances read the shared stream, so each stores some of these: every event reaches the client of
    // the other instance only through the relay.
    for i in 0..60 {
        let app = if i % 2 == 0 { &a } else { &b };
        app.publish_ok(&[event(
            &format!("x-{i}"),
            "tests.relay.crossed",
            "tests",
            json!({"i": i}),
        )])
        .await;
    }
    let expected: HashSet<String> = (0..60).map(|i| format!("x-{i}")).collect();
    for (name, client) in [("A", &mut on_a), ("B", &mut on_b)] {
        let ids: Vec<String> = client
            .events(60)
            .await
            .iter()
            .map(|e| e["id"].as_str().expect("id").to_owned())
            .collect();
        let unique: HashSet<String> = ids.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            60,
            "client on {name}: no duplicate among {ids:?}"
        );
        assert_eq!(unique, expected, "client on {name}");
    }
    // Nothing comes twice later either: the next event is the sentinel itself.
    b.publish_ok(&[event("sentinel", "tests.relay.done", "tests", json!({}))])
        .await;
    assert_eq!(on_a.events(1).await[0]["id"], "sentinel");
    assert_eq!(on_b.events(1).await[0]["id"], "sentinel");
    a.shutdown();
    b.shutdown();
    a.delete_stream().await;
}

/// Whether the event `id` reaches `client` within `within` (frames of other events are skipped).
async fn receives(client: &mut WsClient, id: &str, within: std::time::Duration) -> bool {
    tokio::time::timeout(within, async {
        loop {
            let frame = client.next_json().await;
            if frame["type"] == "workflow.event.received" && frame["data"]["event"]["id"] == id {
                return;
            }
        }
    })
    .await
    .is_ok()
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn after_a_redis_restart_the_relay_subscribes_again_and_clients_get_the_other_instances_events()
 {
    // Arrange: two instances on a Redis of the test's own, a client on B.
    let port = free_port();
    let redis = PrivateRedis::start(port).await;
    let mut env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    env.set("REDIS_URL", &redis.url());
    let a = env.spawn().await;
    let b = env.spawn().await;
    let mut on_b = b.ws_connect().await;

    // Act: Redis restarts, empty; both instances recover.
    drop(redis);
    eventually("A to notice Redis is gone", || async {
        a.get("/readyz").await.status() == 503
    })
    .await;
    let _redis = PrivateRedis::start(port).await;
    eventually("both instances to be ready again", || async {
        a.get("/readyz").await.status() == 200 && b.get("/readyz").await.status() == 200
    })
    .await;

    // Assert: once the relay is back, every event published through A reaches B's client, whichever instance
    // stored it. Both instances read the stream, so about half are stored by A and reach B only through the
    // relay: ten in a row arriving means it subscribed again (a dead relay passes that 1 time in 1,024).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut streak = 0;
    for n in 1.. {
        assert!(
            std::time::Instant::now() < deadline,
            "B's client still misses events stored by A 30 s after Redis came back"
        );
        let id = format!("back-{n}");
        a.publish_ok(&[event(&id, "tests.relay.back", "tests", json!({}))])
            .await;
        streak = if receives(&mut on_b, &id, std::time::Duration::from_secs(1)).await {
            streak + 1
        } else {
            0
        };
        if streak == 10 {
            break;
        }
    }
    a.shutdown();
    b.shutdown();
}
