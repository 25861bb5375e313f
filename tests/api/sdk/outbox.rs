//! The transactional outbox: committed events are relayed in order, rolled-back ones never, and a relay killed
//! with SIGKILL mid-drain loses nothing and doubles nothing once restarted.

use std::collections::HashMap;
use std::process::{Command, Stdio};

use fred::prelude::StreamsInterface;

use herald::publisher::outbox::{self, OutboxRelay};
use herald::publisher::{EventPublisher, PublishError};
use sea_orm::{Database, DatabaseConnection, EntityTrait, TransactionTrait};
use serde_json::json;

use super::order;
use crate::helpers::{Db, Mode, TestApp, TestEnv, eventually};

/// The two ways a relay reaches Herald in these tests: HTTP to the embedded default, Redis in production.
const RELAYS: [(Db, Mode); 2] = [(Db::Sqlite, Mode::Inline), (Db::Postgres, Mode::Redis)];

/// A service database with the outbox table: a fresh SQLite file beside the test's, or a schema-less table in
/// the test's own PostgreSQL database (a service and Herald may share a server, never a table).
async fn service_db(env: &TestEnv, dir: &tempfile::TempDir) -> (String, DatabaseConnection) {
    let url = match env.db {
        Db::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("service.db").display()
        ),
        Db::Postgres => env.database_url.clone(),
    };
    let db = Database::connect(&url).await.expect("service database");
    outbox::ensure_table(&db).await.expect("outbox table");
    outbox::ensure_table(&db)
        .await
        .expect("ensure_table is idempotent");
    (url, db)
}

/// The publisher a relay to `app` uses.
async fn relay_publisher(app: &TestApp) -> EventPublisher {
    match app.env.mode {
        Mode::Redis => EventPublisher::redis_stream(&crate::helpers::redis_url(), &app.env.stream)
            .await
            .unwrap(),
        Mode::Inline => EventPublisher::http(&app.address, None).unwrap(),
    }
}

/// The `order` numbers of the events as the relay sent them: the stream's entries in redis mode; in inline mode
/// the stored events by ingress sequence (each HTTP publish is committed before it is answered).
async fn sent_orders(app: &TestApp) -> Vec<u64> {
    if let Some(redis) = &app.redis {
        let entries: Vec<(String, HashMap<String, String>)> = redis
            .xrange(app.env.stream.as_str(), "-", "+", None)
            .await
            .unwrap();
        return entries
            .iter()
            .map(|(_, fields)| {
                let envelope: serde_json::Value =
                    serde_json::from_str(&fields["envelope"]).unwrap();
                envelope["payload"]["order"].as_u64().unwrap()
            })
            .collect();
    }
    let body: serde_json::Value = app
        .get("/admin/events?type=shop.order.created&limit=200")
        .await
        .json()
        .await
        .unwrap();
    let mut orders: Vec<u64> = body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["order"].as_u64().unwrap())
        .collect();
    orders.reverse(); // newest first on the wire
    orders
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn committed_events_are_relayed_in_order_and_rolled_back_ones_never() {
    for (db, mode) in RELAYS {
        let case = format!("{db:?}/{mode:?}");
        let env = TestEnv::new(db, mode).await;
        let app = env.spawn().await;
        let dir = tempfile::tempdir().unwrap();
        let (_, service) = service_db(&env, &dir).await;

        let txn = service.begin().await.unwrap();
        let mut ids = Vec::new();
        for n in 0..30 {
            ids.push(outbox::publish_in(&txn, order(n)).await.unwrap().id);
        }
        txn.commit().await.unwrap();
        let rolled_back = service.begin().await.unwrap();
        outbox::publish_in(&rolled_back, order(1000)).await.unwrap();
        rolled_back.rollback().await.unwrap();
        // An invalid envelope is refused before anything is written.
        let invalid = outbox::publish_in(&service, json!({"type": "x", "source": "s"})).await;
        assert!(matches!(invalid, Err(PublishError::Invalid(_))), "{case}");
        assert_eq!(outbox::pending_count(&service).await.unwrap(), 30, "{case}");

        let relay = OutboxRelay::new(service.clone(), relay_publisher(&app).await).with_batch(7);
        let mut sent = 0;
        loop {
            let n = relay.drain_once().await.expect(&case);
            sent += n;
            if n < 7 {
                break;
            }
        }
        assert_eq!(sent, 30, "{case}");
        assert_eq!(outbox::pending_count(&service).await.unwrap(), 0, "{case}");
        for id in &ids {
            app.stored_event(id.as_ref()).await;
        }
        let orders = sent_orders(&app).await;
        assert_eq!(orders, (0..30).collect::<Vec<_>>(), "{case}: order kept");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_relay_that_cannot_send_keeps_the_row_first_in_line_and_records_why() {
    let env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, service) = service_db(&env, &dir).await;
    outbox::publish_in(&service, order(1)).await.unwrap();
    let down = format!("http://127.0.0.1:{}", crate::helpers::free_port());
    let relay = OutboxRelay::new(service.clone(), EventPublisher::http(&down, None).unwrap());
    assert!(matches!(
        relay.drain_once().await,
        Err(PublishError::Transport { attempts: 3, .. })
    ));
    let rows = outbox::OutboxEntity::find().all(&service).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempts, 1);
    assert!(
        rows[0].last_error.as_deref().unwrap().contains("3 attempt"),
        "{:?}",
        rows[0].last_error
    );
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_event_herald_refuses_stops_the_relay_at_that_row_with_the_reason() {
    let env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
    let app = env.spawn().await;
    let put = app
        .client
        .put(format!("{}/admin/event-schemas/shop.order.created", app.address))
        .json(&json!({"type": "object", "properties": {"order": {"type": "integer", "maximum": 100}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let dir = tempfile::tempdir().unwrap();
    let (_, service) = service_db(&env, &dir).await;
    for n in [1, 2, 500, 3] {
        outbox::publish_in(&service, order(n)).await.unwrap();
    }
    let relay = OutboxRelay::new(service.clone(), relay_publisher(&app).await);
    match relay.drain_once().await {
        Err(PublishError::Refused { code, .. }) => assert_eq!(code, "schema_mismatch"),
        other => panic!("expected the schema refusal, got {other:?}"),
    }
    let rows = outbox::OutboxEntity::find().all(&service).await.unwrap();
    let left: Vec<_> = rows
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.envelope).unwrap()["payload"]["order"]
                .clone()
        })
        .collect();
    // The two before it are sent and gone; the refused row stays first in line with the reason.
    assert_eq!(left, vec![json!(500), json!(3)]);
    assert_eq!(rows[0].attempts, 1);
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("schema_mismatch")
    );
    assert_eq!(
        app.env.stored_count().await,
        3,
        "1 and 2, and 3 which the batch accepted"
    );
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_relay_killed_mid_drain_loses_nothing_and_doubles_nothing() {
    const EVENTS: u64 = 1000;
    for (db, mode) in RELAYS {
        let case = format!("{db:?}/{mode:?}");
        let env = TestEnv::new(db, mode).await;
        let app = env.spawn().await;
        let dir = tempfile::tempdir().unwrap();
        let (url, service) = service_db(&env, &dir).await;
        let txn = service.begin().await.unwrap();
        for n in 0..EVENTS {
            outbox::publish_in(&txn, order(n)).await.unwrap();
        }
        txn.commit().await.unwrap();

        let relay_command = |once: bool| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
            command
                .args(["outbox", "relay", "--database-url", &url, "--batch", "10"])
                .env_clear()
                .env("HERALD_LOG", "error")
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            match mode {
                Mode::Redis => command.args([
                    "--redis-url",
                    &crate::helpers::redis_url(),
                    "--stream",
                    &env.stream,
                ]),
                Mode::Inline => command.args(["--url", &app.address]),
            };
            if once {
                command.arg("--once");
            }
            command
        };
        let mut relay = relay_command(false).spawn().expect("spawn the relay");
        eventually("the relay to start deleting sent rows", || async {
            outbox::pending_count(&service).await.unwrap() < EVENTS
        })
        .await;
        relay.kill().expect("SIGKILL the relay");
        relay.wait().unwrap();
        let left = outbox::pending_count(&service).await.unwrap();
        assert!(left > 0, "{case}: the relay finished before it was killed");

        // Waited for off this thread: the Herald under test answers on it.
        let mut again = relay_command(true);
        again.stderr(Stdio::piped());
        let output = actix_rt::task::spawn_blocking(move || again.output())
            .await
            .unwrap()
            .expect("run the relay again");
        assert!(
            output.status.success(),
            "{case}: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(outbox::pending_count(&service).await.unwrap(), 0, "{case}");
        eventually("every outbox event to be stored", || async {
            app.env.stored_count().await == EVENTS as i64
        })
        .await;
        // Exactly once by id: events resent after the kill were duplicates, not conflicts or new events.
        let mut ids = app.env.stored_ids().await;
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len() as u64, EVENTS, "{case}");
        assert!(app.all_dead_letters("").await.is_empty(), "{case}");
    }
}
