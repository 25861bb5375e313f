//! Direct database access: reading stored events without the API, and seeding events in bulk.

use serde_json::{Value, json};
use sqlx::Connection;

use super::{Db, TestEnv};

/// Reads the database directly, to check exactly-once without paging through the API.
impl TestEnv {
    /// How many events are stored.
    pub async fn stored_count(&self) -> i64 {
        self.stored_ids().await.len() as i64
    }

    /// The event ids of every outcome row (one per trigger and event, `event_trigger_deliveries`).
    pub async fn outcome_event_ids(&self) -> Vec<String> {
        self.strings("SELECT event_id FROM event_trigger_deliveries")
            .await
    }

    /// The id of every stored event.
    pub async fn stored_ids(&self) -> Vec<String> {
        self.strings("SELECT id FROM workflow_events").await
    }

    async fn strings(&self, sql: &'static str) -> Vec<String> {
        match self.db {
            Db::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.database_url)
                    .await
                    .expect("connect");
                sqlx::query_scalar(sql)
                    .fetch_all(&mut conn)
                    .await
                    .expect("event ids")
            }
            Db::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.database_url)
                    .await
                    .expect("connect");
                sqlx::query_scalar(sql)
                    .fetch_all(&mut conn)
                    .await
                    .expect("event ids")
            }
        }
    }
}

impl TestEnv {
    /// Writes `n` events straight into `workflow_events` (sequences from 1,000,001), each with a payload of 20
    /// items, for tests about query volume rather than ingest.
    pub async fn seed_bulk_events(&self, n: u64) {
        let items: Vec<Value> = (0..20)
            .map(|i| json!({ "name": format!("abcd-efgh-{i}-ijkl-mnop-qrst"), "qty": i }))
            .collect();
        let payload = json!({ "items": items }).to_string();
        match self.db {
            Db::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.database_url)
                    .await
                    .expect("connect");
                sqlx::query(
                    "INSERT INTO workflow_events (id, ingress_sequence, type, source, occurred_at, received_at, \
                     payload, content_hash, severity) \
                     SELECT 'bulk-' || i, 1000000 + i, 'bulk.event.seeded', 'tests.bulk', now(), now(), \
                     $1::jsonb, '', 'info' FROM generate_series(1, $2::bigint) AS i",
                )
                .bind(&payload)
                .bind(n as i64)
                .execute(&mut conn)
                .await
                .expect("seed events");
            }
            Db::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.database_url)
                    .await
                    .expect("connect");
                sqlx::query(
                    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2) \
                     INSERT INTO workflow_events (id, ingress_sequence, type, source, occurred_at, received_at, \
                     payload, content_hash, severity) \
                     SELECT 'bulk-' || i, 1000000 + i, 'bulk.event.seeded', 'tests.bulk', \
                     '2026-11-20T00:00:00+00:00', '2026-11-20T00:00:00+00:00', ?1, '', 'info' FROM s",
                )
                .bind(&payload)
                .bind(n as i64)
                .execute(&mut conn)
                .await
                .expect("seed events");
            }
        }
    }
}
