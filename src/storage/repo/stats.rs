//! Writes to `source_stats`, the per-source counters (SPEC §4 metrics). A leaf: every repository that counts
//! something in its own transaction (ingest's dead letters, deferrals, discards) calls these functions, so no
//! repository has to call another.
//!
//! Counters are only ever incremented, with one `INSERT … ON CONFLICT (source) DO UPDATE SET n = n + excluded.n`
//! per write, so every instance adds to the same row and the sums are deployment-wide by construction. The
//! "latest" and "max" columns are merged with `CASE` (portable between SQLite and PostgreSQL, unlike `MAX(a, b)` /
//! `GREATEST`), so concurrent writers may commit in any order.

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::domain::{StatsDelta, truncate_to_millis};
use crate::storage::StorageError;
use crate::storage::entity::source_stats as stats;

/// Adds `deltas` to `source_stats` on `conn` (a transaction of the caller's, or the writer).
///
/// # Errors
/// [`StorageError::Database`].
pub(super) async fn add_stats_in(
    conn: &impl ConnectionTrait,
    deltas: Vec<StatsDelta>,
) -> Result<(), StorageError> {
    if deltas.is_empty() {
        return Ok(());
    }
    let now = truncate_to_millis(Utc::now());
    let rows = deltas.into_iter().map(
        |StatsDelta {
             source,
             counters: c,
         }| stats::ActiveModel {
            source: Set(source.as_str().to_owned()),
            total: Set(c.total),
            throttled: Set(c.throttled),
            failures: Set(c.failures),
            dropped: Set(c.dropped),
            lag_ms_sum: Set(c.lag_ms_sum),
            lag_ms_latest: Set(c.lag_ms_latest),
            lag_ms_max: Set(c.lag_ms_max),
            last_event_at: Set(c.last_event_at.map(truncate_to_millis)),
            updated_at: Set(now),
        },
    );
    let sum = |column: &str| Expr::cust(format!("source_stats.{column} + excluded.{column}"));
    // The newer of the two rows' latest events wins `last_event_at` and `lag_ms_latest`.
    let newer = "excluded.last_event_at IS NOT NULL AND (source_stats.last_event_at IS NULL \
                 OR excluded.last_event_at >= source_stats.last_event_at)";
    let upsert = OnConflict::column(stats::Column::Source)
        .value(stats::Column::Total, sum("total"))
        .value(stats::Column::Throttled, sum("throttled"))
        .value(stats::Column::Failures, sum("failures"))
        .value(stats::Column::Dropped, sum("dropped"))
        .value(stats::Column::LagMsSum, sum("lag_ms_sum"))
        .value(
            stats::Column::LagMsLatest,
            Expr::cust(format!(
                "CASE WHEN {newer} THEN excluded.lag_ms_latest ELSE source_stats.lag_ms_latest END"
            )),
        )
        .value(
            stats::Column::LastEventAt,
            Expr::cust(format!(
                "CASE WHEN {newer} THEN excluded.last_event_at ELSE source_stats.last_event_at END"
            )),
        )
        .value(
            stats::Column::LagMsMax,
            Expr::cust(
                "CASE WHEN source_stats.lag_ms_max IS NULL OR excluded.lag_ms_max > source_stats.lag_ms_max \
                 THEN excluded.lag_ms_max ELSE source_stats.lag_ms_max END",
            ),
        )
        .value(stats::Column::UpdatedAt, Expr::cust("excluded.updated_at"))
        .to_owned();
    stats::Entity::insert_many(rows)
        .on_conflict(upsert)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Counts dead letters per source inside the PostgreSQL ingest transaction (the sqlx hot path).
///
/// # Errors
/// [`StorageError::Sqlx`].
pub(super) async fn add_failures_postgres(
    tx: &mut sqlx::PgConnection,
    sources: Vec<String>,
) -> Result<(), StorageError> {
    if sources.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO source_stats (source, failures, updated_at) \
         SELECT s, COUNT(*), date_trunc('milliseconds', now()) FROM UNNEST($1::text[]) AS s GROUP BY s \
         ON CONFLICT (source) DO UPDATE SET failures = source_stats.failures + excluded.failures, \
         updated_at = excluded.updated_at",
    )
    .bind(sources)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
