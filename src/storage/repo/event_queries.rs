//! Reading events back: the events list (SPEC §6.1) with every filter pushed as far into SQL as the database
//! allows, stats buckets, and the events of one correlation id.
//!
//! PostgreSQL evaluates everything: exact names with `=`, patterns with `~` (the pattern's regex, bound), the path
//! with `@@`/`@?` (bound), all inside one transaction with `SET LOCAL statement_timeout`. SQLite has neither regular
//! expressions nor SQL/JSON path, so it narrows patterns by their literal prefix (`GLOB 'prefix*'`, which uses the
//! index and is case-sensitive like the names) and Herald checks the rest row by row with the same
//! [`EventFilter::matches`] that WebSocket sessions use, scanning newest first in chunks until the page is full or
//! the query's time runs out.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Asterisk, BinOper, Condition, Expr, ExprTrait, Func, Query, SelectStatement,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    Order, QueryFilter, QueryOrder, QuerySelect, Select, Statement, TransactionTrait,
};

use super::events::EventsRepo;
use super::rows::{event_from_model as from_model, severity_from_column};
use crate::domain::{NamePattern, Severity, StoredEvent, truncate_to_millis};
use crate::filter::EventFilter;
use crate::storage::StorageError;
use crate::storage::entity::workflow_events as events;

/// Rows SQLite reads per chunk while Herald checks patterns and paths row by row.
const SCAN_CHUNK_ROWS: u64 = 500;

/// The events list's filters: an [`EventFilter`] and inclusive bounds on `occurredAt`.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Type, source, correlation id, severity and path.
    pub filter: EventFilter,
    /// Inclusive lower bound on `occurredAt`.
    pub from: Option<DateTime<Utc>>,
    /// Inclusive upper bound on `occurredAt`.
    pub to: Option<DateTime<Utc>>,
}

/// Where a page starts and which way it runs.
#[derive(Debug, Clone, Copy)]
enum Position {
    /// Newest first, below the sequence (from the newest when `None`).
    Before(Option<i64>),
    /// Oldest first, above the sequence.
    After(i64),
}

impl Position {
    /// The events for `rows` rows from this position that also meet `conditions`.
    fn select(self, conditions: Condition, rows: u64) -> Select<events::Entity> {
        let sequence = events::Column::IngressSequence;
        let (conditions, order) = match self {
            Position::Before(None) => (conditions, Order::Desc),
            Position::Before(Some(before)) => (conditions.add(sequence.lt(before)), Order::Desc),
            Position::After(after) => (conditions.add(sequence.gt(after)), Order::Asc),
        };
        events::Entity::find()
            .filter(conditions)
            .order_by(sequence, order)
            .limit(rows)
    }

    /// The position just past the row with sequence `last`.
    fn past(self, last: i64) -> Position {
        match self {
            Position::Before(_) => Position::Before(Some(last)),
            Position::After(_) => Position::After(last),
        }
    }
}

/// The conditions of `query` that `backend` can evaluate, every value a bound parameter.
///
/// PostgreSQL gets all of them; SQLite gets patterns narrowed to their literal prefix and no path, which Herald
/// then checks row by row.
fn conditions(backend: DbBackend, query: &EventQuery) -> Condition {
    let f = &query.filter;
    let mut all = Condition::all()
        .add_option(
            f.event_type
                .as_ref()
                .and_then(|t| name(backend, events::Column::EventType, t)),
        )
        .add_option(
            f.source
                .as_ref()
                .and_then(|s| name(backend, events::Column::Source, s)),
        )
        .add_option(
            f.correlation_id
                .as_ref()
                .map(|c| events::Column::CorrelationId.eq(c.as_str())),
        )
        .add_option(
            query
                .from
                .map(|from| events::Column::OccurredAt.gte(truncate_to_millis(from))),
        )
        .add_option(
            query
                .to
                .map(|to| events::Column::OccurredAt.lte(truncate_to_millis(to))),
        );
    if !f.severities.is_empty() {
        all = all.add(events::Column::Severity.is_in(f.severities.iter().map(|s| s.as_str())));
    }
    if let Some(path) = &f.json_path
        && backend == DbBackend::Postgres
    {
        // The path is the custom expression's own first parameter; sea-query numbers it in the statement.
        all = all.add(Expr::cust_with_values(
            path.postgres_condition("payload", 1),
            [path.as_str().to_owned()],
        ));
    }
    all
}

/// The condition a name filter puts on `column`, if the database can apply it.
fn name(backend: DbBackend, column: events::Column, pattern: &NamePattern) -> Option<Expr> {
    if let Some(exact) = pattern.exact() {
        return Some(column.eq(exact));
    }
    if backend == DbBackend::Postgres {
        // A pattern that is not exact always has a regex.
        return pattern
            .regex()
            .map(|regex| Expr::col(column).binary(BinOper::Custom("~"), regex.to_owned()));
    }
    // Names never contain GLOB's special characters (`*`, `?`, `[`), so the prefix needs no escaping.
    let prefix = pattern.literal_prefix();
    (!prefix.is_empty())
        .then(|| Expr::col(column).binary(BinOper::Custom("GLOB"), format!("{prefix}*")))
}

/// `[from, to]` on `occurredAt`.
fn occurred_within(from: DateTime<Utc>, to: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(events::Column::OccurredAt.gte(truncate_to_millis(from)))
        .add(events::Column::OccurredAt.lte(truncate_to_millis(to)))
}

/// `COUNT(*)`.
fn count_all() -> Expr {
    Func::count(Expr::col(Asterisk)).into()
}

impl EventsRepo<'_> {
    /// One page of the events list: newest first by `ingressSequence`, below `before` (the last sequence of the
    /// previous page), at most `limit + 1` events so the caller can tell whether there is more.
    ///
    /// # Errors
    /// [`StorageError::QueryTimeout`] when the query runs past `timeout` (PostgreSQL's statement timeout, or
    /// SQLite's row-by-row scan); [`StorageError::Database`] otherwise.
    #[tracing::instrument(name = "list_events", skip(self, query), fields(filtered = !query.filter.is_empty()))]
    pub async fn list(
        &self,
        query: &EventQuery,
        before: Option<i64>,
        limit: u64,
        timeout: Duration,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        self.page(query, Position::Before(before), limit + 1, timeout)
            .await
    }

    /// The severities of the newest events that match `query`, at most `rows` of them: the events the list would
    /// answer, without reading their payloads wherever the database applies every filter (PostgreSQL always,
    /// SQLite unless a pattern or a path needs Herald's row check). Saved-view analytics count these.
    ///
    /// # Errors
    /// As [`EventsRepo::list`].
    #[tracing::instrument(name = "newest_severities", skip(self, query))]
    pub async fn newest_severities(
        &self,
        query: &EventQuery,
        rows: u64,
        timeout: Duration,
    ) -> Result<Vec<Severity>, StorageError> {
        let backend = self.read().get_database_backend();
        if backend != DbBackend::Postgres && query.filter.needs_row_check() {
            let events = self
                .page(query, Position::Before(None), rows, timeout)
                .await?;
            return Ok(events.into_iter().map(|e| e.severity).collect());
        }
        let select = Position::Before(None)
            .select(conditions(backend, query), rows)
            .select_only()
            .column(events::Column::Id)
            .column(events::Column::Severity)
            .into_tuple::<(String, String)>();
        let found = if backend == DbBackend::Postgres {
            let txn = begin_with_statement_timeout(self.read(), timeout).await?;
            let found = select.all(&txn).await.map_err(timeout_or)?;
            txn.commit().await?;
            found
        } else {
            tokio::time::timeout(timeout, select.all(self.read()))
                .await
                .map_err(|_| StorageError::QueryTimeout)??
        };
        found
            .iter()
            .map(|(id, severity)| severity_from_column(id, severity))
            .collect()
    }

    /// Events after `after`, oldest first by `ingressSequence`, at most `limit` (WebSocket `since`).
    ///
    /// # Errors
    /// As [`EventsRepo::list`].
    #[tracing::instrument(name = "events_after", skip(self, query))]
    pub async fn list_after(
        &self,
        query: &EventQuery,
        after: i64,
        limit: u64,
        timeout: Duration,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        self.page(query, Position::After(after), limit, timeout)
            .await
    }

    /// How many events were stored after `after`, counting no further than `cap` (so the answer costs at most
    /// `cap` index entries).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn count_after(&self, after: i64, cap: u64) -> Result<u64, StorageError> {
        let backend = self.read().get_database_backend();
        let later = Query::select()
            .expr(Expr::cust("1"))
            .from(events::Entity)
            .and_where(events::Column::IngressSequence.gt(after))
            .limit(cap)
            .to_owned();
        let count = Query::select()
            .expr_as(count_all(), "n")
            .from_subquery(later, "t")
            .to_owned();
        let row = self.read().query_one_raw(backend.build(&count)).await?;
        let n: i64 = match row {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The highest `ingressSequence` stored (0 when there is none).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn max_sequence(&self) -> Result<i64, StorageError> {
        let backend = self.read().get_database_backend();
        let highest = Query::select()
            .expr_as(
                Func::coalesce([
                    Func::max(Expr::col(events::Column::IngressSequence)).into(),
                    Expr::cust("0"),
                ]),
                "m",
            )
            .from(events::Entity)
            .to_owned();
        let row = self.read().query_one_raw(backend.build(&highest)).await?;
        Ok(match row {
            Some(row) => row.try_get("", "m")?,
            None => 0,
        })
    }

    async fn page(
        &self,
        query: &EventQuery,
        position: Position,
        rows: u64,
        timeout: Duration,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        let backend = self.read().get_database_backend();
        if backend == DbBackend::Postgres {
            let select = position.select(conditions(backend, query), rows);
            let txn = begin_with_statement_timeout(self.read(), timeout).await?;
            let rows = select.all(&txn).await.map_err(timeout_or)?;
            txn.commit().await?;
            return rows.into_iter().map(from_model).collect();
        }
        self.scan_sqlite(query, position, rows, timeout).await
    }

    /// SQLite: chunks of [`SCAN_CHUNK_ROWS`] in page order, each checked by [`EventFilter::matches`] when the
    /// filter has a pattern or a path.
    async fn scan_sqlite(
        &self,
        query: &EventQuery,
        mut position: Position,
        rows_wanted: u64,
        timeout: Duration,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        let deadline = Instant::now() + timeout;
        let row_check = query.filter.needs_row_check();
        let chunk = if row_check {
            SCAN_CHUNK_ROWS
        } else {
            rows_wanted
        };
        let mut page = Vec::new();
        loop {
            let select = position.select(conditions(DbBackend::Sqlite, query), chunk);
            let rows = tokio::time::timeout_at(deadline.into(), select.all(self.read()))
                .await
                .map_err(|_| StorageError::QueryTimeout)??;
            let exhausted = (rows.len() as u64) < chunk;
            let Some(last) = rows.last().map(|r| r.ingress_sequence) else {
                return Ok(page);
            };
            position = position.past(last);
            for row in rows {
                let event = from_model(row)?;
                if !row_check || query.filter.matches(&event) {
                    page.push(event);
                    if page.len() as u64 >= rows_wanted {
                        return Ok(page);
                    }
                }
            }
            if exhausted {
                return Ok(page);
            }
            if Instant::now() >= deadline {
                return Err(StorageError::QueryTimeout);
            }
            // The path checks run on this task; let others run between chunks.
            tokio::task::yield_now().await;
        }
    }

    /// Every event of `correlation_id` in `occurredAt` order (then `ingressSequence`), at most `limit`.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    #[tracing::instrument(name = "correlated_events", skip(self))]
    pub async fn correlated(
        &self,
        correlation_id: &str,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        let rows = events::Entity::find()
            .filter(events::Column::CorrelationId.eq(correlation_id))
            .order_by_asc(events::Column::OccurredAt)
            .order_by_asc(events::Column::IngressSequence)
            .limit(limit)
            .all(self.read())
            .await?;
        rows.into_iter().map(from_model).collect()
    }

    /// How many events meet `query`'s database conditions with an `ingressSequence` at most `upto` (a replay's
    /// range). Exact on PostgreSQL; SQLite narrows patterns by their literal prefix and leaves the path out, so it
    /// may count more than a row-by-row check keeps.
    ///
    /// # Errors
    /// [`StorageError::QueryTimeout`] past `timeout`; [`StorageError::Database`].
    pub async fn count_upto(
        &self,
        query: &EventQuery,
        upto: i64,
        timeout: Duration,
    ) -> Result<u64, StorageError> {
        let backend = self.read().get_database_backend();
        let count = Query::select()
            .expr_as(Expr::val(0i64), "k")
            .expr_as(count_all(), "n")
            .from(events::Entity)
            .cond_where(conditions(backend, query).add(events::Column::IngressSequence.lte(upto)))
            .to_owned();
        let counted = self.count_rows(backend, &count, timeout).await?;
        Ok(counted.first().map_or(0, |(_, n)| *n))
    }

    /// Counts of events with `occurredAt` in `[from, to]`: per bucket start (`bucket_seconds` wide, aligned to the
    /// epoch), per type and per source.
    ///
    /// # Errors
    /// [`StorageError::QueryTimeout`] past `timeout`; [`StorageError::Database`].
    #[tracing::instrument(name = "event_stats", skip(self))]
    pub async fn stats(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_seconds: i64,
        timeout: Duration,
    ) -> Result<EventCounts, StorageError> {
        let backend = self.read().get_database_backend();
        let epoch_seconds = match backend {
            // The epoch has a fractional part (milliseconds); a cast to bigint would round 10:59:59.999 up into the
            // next bucket, so floor it first, as SQLite's `unixepoch` does.
            DbBackend::Postgres => "FLOOR(EXTRACT(EPOCH FROM occurred_at))::bigint",
            _ => "CAST(unixepoch(occurred_at) AS INTEGER)",
        };
        let buckets = Query::select()
            .expr_as(
                Expr::cust(epoch_seconds)
                    .div(bucket_seconds)
                    .mul(bucket_seconds),
                "k",
            )
            .expr_as(count_all(), "n")
            .from(events::Entity)
            .cond_where(occurred_within(from, to))
            .add_group_by([Expr::cust("1")])
            .to_owned();
        let buckets = self.count_rows(backend, &buckets, timeout).await?;
        let mut counts = EventCounts::default();
        for (key, n) in buckets {
            let seconds: i64 = key.parse().unwrap_or_default();
            if let Some(at) = DateTime::<Utc>::from_timestamp(seconds, 0) {
                counts.per_bucket.push((at, n));
                counts.total += n;
            }
        }
        for (column, target) in [
            (events::Column::EventType, &mut counts.by_type),
            (events::Column::Source, &mut counts.by_source),
        ] {
            let per_name = Query::select()
                .expr_as(Expr::col(column), "k")
                .expr_as(count_all(), "n")
                .from(events::Entity)
                .cond_where(occurred_within(from, to))
                .add_group_by([Expr::cust("1")])
                .to_owned();
            *target = self.count_rows(backend, &per_name, timeout).await?;
        }
        Ok(counts)
    }

    /// Runs a `SELECT k, n` grouping query within `timeout`.
    async fn count_rows(
        &self,
        backend: DbBackend,
        query: &SelectStatement,
        timeout: Duration,
    ) -> Result<Vec<(String, u64)>, StorageError> {
        let statement: Statement = backend.build(query);
        let rows = if backend == DbBackend::Postgres {
            let txn = begin_with_statement_timeout(self.read(), timeout).await?;
            let rows = txn.query_all_raw(statement).await.map_err(timeout_or)?;
            txn.commit().await?;
            rows
        } else {
            tokio::time::timeout(timeout, self.read().query_all_raw(statement))
                .await
                .map_err(|_| StorageError::QueryTimeout)??
        };
        rows.iter()
            .map(|row| {
                let key = match row.try_get::<i64>("", "k") {
                    Ok(k) => k.to_string(),
                    Err(_) => row.try_get::<String>("", "k")?,
                };
                let n: i64 = row.try_get("", "n")?;
                Ok((key, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }
}

/// What [`EventsRepo::stats`] counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventCounts {
    /// Every event in range.
    pub total: u64,
    /// Non-empty buckets by start, unordered.
    pub per_bucket: Vec<(DateTime<Utc>, u64)>,
    /// Events per type.
    pub by_type: Vec<(String, u64)>,
    /// Events per source.
    pub by_source: Vec<(String, u64)>,
}

/// A PostgreSQL read transaction whose statements stop after `timeout` (`HERALD_QUERY_TIMEOUT_MS`).
async fn begin_with_statement_timeout(
    db: &DatabaseConnection,
    timeout: Duration,
) -> Result<DatabaseTransaction, StorageError> {
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!(
        "SET LOCAL statement_timeout = {}",
        timeout.as_millis()
    ))
    .await?;
    Ok(txn)
}

/// PostgreSQL cancels a statement past `statement_timeout` with SQLSTATE 57014 (`query_canceled`). The code is
/// read from the database error itself: the message text depends on the server's `lc_messages`.
fn timeout_or(e: sea_orm::DbErr) -> StorageError {
    use sea_orm::{DbErr, RuntimeErr};
    let sqlstate = match &e {
        DbErr::Query(RuntimeErr::SqlxError(sqlx_error))
        | DbErr::Exec(RuntimeErr::SqlxError(sqlx_error)) => sqlx_error
            .as_database_error()
            .and_then(|db| db.code())
            .map(|code| code.into_owned()),
        _ => None,
    };
    if sqlstate.as_deref() == Some(QUERY_CANCELED) {
        StorageError::QueryTimeout
    } else {
        StorageError::Database(e)
    }
}

/// SQLSTATE `query_canceled`, which a `statement_timeout` raises.
const QUERY_CANCELED: &str = "57014";

#[cfg(test)]
mod tests {
    use sea_orm::QueryTrait;

    use super::*;
    use crate::domain::{NameKind, Severity};
    use crate::jsonpath::JsonPath;

    fn query() -> EventQuery {
        let path = "$.version > 10 && $.name == \"'; DROP TABLE x; --\"";
        EventQuery {
            filter: EventFilter {
                event_type: Some(
                    NamePattern::parse("metastore.*", NameKind::Type, "type").expect("a pattern"),
                ),
                source: Some(
                    NamePattern::parse("metastore.api", NameKind::Source, "source")
                        .expect("a source"),
                ),
                severities: vec![Severity::Error, Severity::Warning],
                json_path: Some(JsonPath::parse(path).expect("a path")),
                ..EventFilter::default()
            },
            from: DateTime::from_timestamp(1_800_000_000, 0),
            to: None,
        }
    }

    #[test]
    fn every_value_is_a_bound_parameter_and_the_path_is_never_spliced() {
        let select =
            Position::Before(Some(42)).select(conditions(DbBackend::Postgres, &query()), 11);
        let statement = select.build(DbBackend::Postgres);
        let sql = statement.sql;
        assert!(sql.contains("(payload @@ $6::jsonpath)"), "{sql}");
        assert!(!sql.contains("DROP"), "{sql}");
        assert!(sql.contains(r#""type" ~ $"#), "{sql}");
        assert!(sql.contains(r#""source" = $"#), "{sql}");
        assert!(sql.contains(r#""severity" IN ($"#), "{sql}");
        assert!(
            sql.contains(r#"ORDER BY "workflow_events"."ingress_sequence" DESC LIMIT $"#),
            "{sql}"
        );
        let values = statement.values.expect("bound values").0;
        // type regex, source, from, two severities, path, the position, the limit.
        assert_eq!(values.len(), 8, "{sql} {values:?}");
        for n in 1..=8 {
            assert!(sql.contains(&format!("${n}")), "${n} missing in {sql}");
        }
    }

    #[test]
    fn sqlite_narrows_patterns_by_prefix_and_leaves_the_path_to_herald() {
        let select = Position::After(7).select(conditions(DbBackend::Sqlite, &query()), 500);
        let statement = select.build(DbBackend::Sqlite);
        let sql = statement.sql;
        assert!(sql.contains(r#""type" GLOB ?"#), "{sql}");
        assert!(!sql.contains("@@") && !sql.contains("@?"), "{sql}");
        assert!(sql.contains(r#""ingress_sequence" > ?"#), "{sql}");
        assert!(sql.contains("ASC LIMIT ?"), "{sql}");
        let values = statement.values.expect("bound values").0;
        assert!(
            values.contains(&"metastore.*".to_owned().into()),
            "{values:?}"
        );
    }
}
