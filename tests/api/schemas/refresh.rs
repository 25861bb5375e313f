//! A schema registered on one instance holds on another within the refresh window (SPEC §13: within 1 s).

use serde_json::{Value, json};

use super::{event, order_schema, register};
use crate::helpers::{Db, Mode, TestEnv, eventually};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_schema_registered_on_one_instance_is_enforced_by_another() {
    // Arrange: two instances on one PostgreSQL and one Redis.
    let env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    let a = env.spawn().await;
    let b = env.spawn().await;
    let before = b
        .post_events(&event("x-0", "shop.order.placed", json!({})))
        .await;
    assert_eq!(before.status(), 202, "no schema yet: anything goes");

    // Act
    register(&a, "shop.order.placed", &order_schema()).await;

    // Assert: B refuses what fails the schema once it has caught up (a 202 before then stores the event, so each
    // try uses a fresh id).
    let mut attempt = 0;
    eventually("instance B to enforce the schema registered on A", || {
        attempt += 1;
        let id = format!("x-{attempt}");
        let b = &b;
        async move {
            let response = b
                .post_events(&event(&id, "shop.order.placed", json!({"orderId": "o"})))
                .await;
            if response.status() != 400 {
                return false;
            }
            let body: Value = response.json().await.unwrap();
            body["error"]["code"] == "schema_mismatch"
        }
    })
    .await;
    let ok = b
        .post_events(&event(
            "x-ok",
            "shop.order.placed",
            json!({"orderId": "o", "lines": [{"sku": "s"}]}),
        ))
        .await;
    assert_eq!(ok.status(), 202);
    assert_eq!(a.stored_event("x-ok").await["schemaVersion"], 1);
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn concurrent_registrations_on_two_instances_each_get_a_version_of_their_own() {
    // Arrange
    let env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    let a = env.spawn().await;
    let b = env.spawn().await;

    // Act: eight different schemas for one type at once, half through each instance.
    let puts = (0..8).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        async move {
            let schema = json!({"type": "object", "maxProperties": 100 + i});
            let response = super::put_schema(app, "shop.order.placed", &schema).await;
            assert_eq!(response.status(), 201, "registration {i}");
            let body: Value = response.json().await.unwrap();
            body["data"]["version"].as_i64().unwrap()
        }
    });
    let mut versions = futures::future::join_all(puts).await;

    // Assert
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<i64>>());
}
