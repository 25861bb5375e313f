//! The same-run baseline of `herald bench ingest` (SPEC §14): a plain bulk insert of the same rows into an
//! identical, empty, identically indexed table.

use std::time::Instant;

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::ingest::payload_of;
use crate::domain::format_timestamp;
use crate::storage::Storage;

/// Inserts the same rows into an identical, empty, identically indexed table: COPY in batches of 5,000 on
/// PostgreSQL, 500-row transactions on SQLite. Returns rows per second.
pub(super) async fn measure_baseline(
    events: usize,
    payload_bytes: usize,
    url: &str,
) -> anyhow::Result<f64> {
    let storage = Storage::connect(url).await?;
    let db = storage.write_connection();
    let backend = db.get_database_backend();
    let payload = payload_of(payload_bytes).to_string();
    let now = format_timestamp(chrono::Utc::now());
    match backend {
        DbBackend::Postgres => {
            db.execute_unprepared(
                "CREATE TABLE bench_baseline (LIKE workflow_events INCLUDING ALL)",
            )
            .await?;
            let pool = db.get_postgres_connection_pool();
            let started = Instant::now();
            for start in (0..events).step_by(5_000) {
                let end = (start + 5_000).min(events);
                let mut csv = String::with_capacity((end - start) * (payload.len() + 200));
                for i in start..end {
                    csv.push_str(&format!(
                        "base-{i},{},bench.event.happened,bench.source,{now},{now},\"{}\",{}\n",
                        i + 1,
                        payload.replace('"', "\"\""),
                        "0".repeat(64)
                    ));
                }
                let mut copy = sqlx::postgres::PgPoolCopyExt::copy_in_raw(
                    pool,
                    "COPY bench_baseline (id, ingress_sequence, type, source, occurred_at, received_at, payload, \
                     content_hash) FROM STDIN WITH (FORMAT csv)",
                )
                .await?;
                copy.send(csv.into_bytes()).await?;
                copy.finish().await?;
            }
            Ok(events as f64 / started.elapsed().as_secs_f64())
        }
        _ => {
            let schema = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'workflow_events' AND sql IS NOT NULL",
                ))
                .await?;
            for row in schema {
                let sql: String = row.try_get("", "sql")?;
                db.execute_unprepared(&sql.replace("workflow_events", "bench_baseline"))
                    .await?;
            }
            let started = Instant::now();
            for start in (0..events).step_by(500) {
                let end = (start + 500).min(events);
                let mut sql = String::from(
                    "INSERT INTO bench_baseline (id, ingress_sequence, type, source, occurred_at, received_at, payload, \
                     content_hash) VALUES ",
                );
                let mut values = Vec::with_capacity((end - start) * 3);
                for i in start..end {
                    if i > start {
                        sql.push(',');
                    }
                    sql.push_str("(?, ?, 'bench.event.happened', 'bench.source', ?, ?, ?, '')");
                    values.push(format!("base-{i}").into());
                    values.push(((i + 1) as i64).into());
                    values.push(now.clone().into());
                    values.push(now.clone().into());
                    values.push(payload.clone().into());
                }
                let txn = sea_orm::TransactionTrait::begin(db).await?;
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    sql,
                    values,
                ))
                .await?;
                txn.commit().await?;
            }
            Ok(events as f64 / started.elapsed().as_secs_f64())
        }
    }
}
