//! Failure paths, by sabotaging a real dependency: a private Redis server that the test stops and restarts.

use fred::prelude::{ClientLike, StreamsInterface};
use serde_json::Value;
use sqlx::Connection as _;

use crate::helpers::{Db, Mode, PrivateRedis, TestEnv, envelope, eventually, free_port};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn herald_reports_unready_while_redis_is_down_and_resumes_ingest_when_it_returns() {
    // Arrange
    let port = free_port();
    let redis = PrivateRedis::start(port).await;
    let mut env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    env.set("REDIS_URL", &redis.url());
    let app = env.spawn().await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    // Act: Redis goes away.
    drop(redis);

    // Assert: not ready, naming the queue; publishing fails cleanly with 503 and nothing is accepted.
    eventually("readyz to report Redis down", || async {
        app.get("/readyz").await.status() == 503
    })
    .await;
    let body: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert_ne!(body["error"]["details"]["queue"], "ok");
    assert_eq!(body["error"]["details"]["database"], "ok");
    let refused = app.post_events(&envelope("during-outage")).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["code"],
        "unavailable"
    );

    // Act: Redis comes back empty (no persistence), so the stream and the group are gone too.
    let redis = PrivateRedis::start(port).await;

    // Assert: ready again; the reader recreates the group and ingest resumes, over HTTP and XADD.
    eventually("readyz to recover", || async {
        app.get("/readyz").await.status() == 200
    })
    .await;
    let accepted = app.post_events(&envelope("after-outage")).await;
    assert_eq!(accepted.status(), 202);
    app.stored_event("after-outage").await;
    let client =
        fred::prelude::Builder::from_config(fred::prelude::Config::from_url(&redis.url()).unwrap())
            .build()
            .unwrap();
    client.init().await.unwrap();
    let _: String = client
        .xadd(
            env.stream.as_str(),
            false,
            None,
            "*",
            vec![("envelope", envelope("xadd-after-outage").to_string())],
        )
        .await
        .unwrap();
    app.stored_event("xadd-after-outage").await;
    assert_eq!(
        app.get_event("during-outage").await.status(),
        404,
        "a refused event was not stored"
    );
}

/// PostgreSQL closes every connection Herald has (as a restart or `pg_terminate_backend` does) right after a
/// write: the next batch is written on a new connection, and the publisher never sees the loss.
#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn ingest_goes_on_when_postgresql_closes_heralds_connections() {
    for mode in [Mode::Inline, Mode::Redis] {
        // Arrange
        let app = TestEnv::new(Db::Postgres, mode).await.spawn().await;
        assert_eq!(
            app.post_events(&envelope("before-loss")).await.status(),
            202
        );
        app.stored_event("before-loss").await;

        // Act
        let mut admin = sqlx::PgConnection::connect(&app.env.database_url)
            .await
            .expect("connect");
        let closed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut admin)
        .await
        .expect("terminate");
        let response = app.post_events(&envelope("after-loss")).await;

        // Assert
        assert!(!closed.is_empty(), "{mode:?}: Herald had connections");
        assert_eq!(response.status(), 202, "{mode:?}");
        let stored = app.stored_event("after-loss").await;
        assert_eq!(stored["id"], "after-loss", "{mode:?}");
    }
}
