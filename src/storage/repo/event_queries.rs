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
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait, Statement,
    TransactionTrait, Value as SqlValue,
};

use super::events::{EventsRepo, StoredEvent, from_model};
use crate::domain::{NamePattern, truncate_to_millis};
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
    /// The `SELECT` for `rows` rows from this position, with `c`'s conditions.
    fn select(self, c: &mut Conditions, rows: u64) -> String {
        let order = match self {
            Position::Before(None) => "DESC",
            Position::Before(Some(before)) => {
                let p = c.bind(before);
                c.push(format!("ingress_sequence < {p}"));
                "DESC"
            }
            Position::After(after) => {
                let p = c.bind(after);
                c.push(format!("ingress_sequence > {p}"));
                "ASC"
            }
        };
        let l = c.bind(rows as i64);
        format!(
            "SELECT * FROM workflow_events{} ORDER BY ingress_sequence {order} LIMIT {l}",
            c.where_clause()
        )
    }

    /// The position just past the row with sequence `last`.
    fn past(self, last: i64) -> Position {
        match self {
            Position::Before(_) => Position::Before(Some(last)),
            Position::After(_) => Position::After(last),
        }
    }
}

/// A `WHERE` clause under construction, with placeholders in the backend's style.
struct Conditions {
    backend: DbBackend,
    sql: Vec<String>,
    values: Vec<SqlValue>,
}

impl Conditions {
    fn new(backend: DbBackend) -> Conditions {
        Conditions {
            backend,
            sql: Vec::new(),
            values: Vec::new(),
        }
    }

    /// The next placeholder, bound to `value`.
    fn bind(&mut self, value: impl Into<SqlValue>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    fn push(&mut self, condition: String) {
        self.sql.push(condition);
    }

    fn name(&mut self, column: &str, pattern: &NamePattern) {
        if let Some(exact) = pattern.exact() {
            let p = self.bind(exact.to_owned());
            self.push(format!("{column} = {p}"));
        } else if self.backend == DbBackend::Postgres {
            // unwrap-free: a pattern that is not exact always has a regex.
            if let Some(regex) = pattern.regex() {
                let p = self.bind(regex.to_owned());
                self.push(format!("{column} ~ {p}"));
            }
        } else if !pattern.literal_prefix().is_empty() {
            // Names never contain GLOB's special characters (`*`, `?`, `[`), so the prefix needs no escaping.
            let p = self.bind(format!("{}*", pattern.literal_prefix()));
            self.push(format!("{column} GLOB {p}"));
        }
    }

    fn query(&mut self, query: &EventQuery) {
        let f = &query.filter;
        if let Some(t) = &f.event_type {
            self.name("type", t);
        }
        if let Some(s) = &f.source {
            self.name("source", s);
        }
        if let Some(c) = &f.correlation_id {
            let p = self.bind(c.as_str().to_owned());
            self.push(format!("correlation_id = {p}"));
        }
        if let Some(from) = query.from {
            let p = self.bind(truncate_to_millis(from));
            self.push(format!("occurred_at >= {p}"));
        }
        if let Some(to) = query.to {
            let p = self.bind(truncate_to_millis(to));
            self.push(format!("occurred_at <= {p}"));
        }
        if !f.severities.is_empty() {
            let list: Vec<String> = f
                .severities
                .iter()
                .map(|s| self.bind(s.as_str().to_owned()))
                .collect();
            self.push(format!("severity IN ({})", list.join(", ")));
        }
        if let Some(path) = &f.json_path
            && self.backend == DbBackend::Postgres
        {
            self.values.push(path.as_str().to_owned().into());
            let condition = path.postgres_condition("payload", self.values.len());
            self.push(condition);
        }
    }

    fn where_clause(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.sql.join(" AND "))
        }
    }
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
        let mut c = Conditions::new(backend);
        let a = c.bind(after);
        let l = c.bind(cap as i64);
        let sql = format!(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM workflow_events WHERE ingress_sequence > {a} LIMIT {l}) AS t"
        );
        let row = self
            .read()
            .query_one_raw(Statement::from_sql_and_values(backend, sql, c.values))
            .await?;
        let n: i64 = match row {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        Ok(n.max(0) as u64)
    }

    /// The highest `ingressSequence` stored (0 when there is none).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn max_sequence(&self) -> Result<i64, StorageError> {
        let backend = self.read().get_database_backend();
        let row = self
            .read()
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT COALESCE(MAX(ingress_sequence), 0) AS m FROM workflow_events",
            ))
            .await?;
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
            let mut c = Conditions::new(backend);
            c.query(query);
            let sql = position.select(&mut c, rows);
            let rows = with_statement_timeout(self.read(), timeout, sql, c.values).await?;
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
            let mut c = Conditions::new(DbBackend::Sqlite);
            c.query(query);
            let sql = position.select(&mut c, chunk);
            let statement = Statement::from_sql_and_values(DbBackend::Sqlite, sql, c.values);
            let rows = tokio::time::timeout_at(
                deadline.into(),
                events::Entity::find()
                    .from_raw_sql(statement)
                    .all(self.read()),
            )
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
        let backend = self.read().get_database_backend();
        let mut c = Conditions::new(backend);
        let p = c.bind(correlation_id.to_owned());
        let l = c.bind(limit as i64);
        let sql = format!(
            "SELECT * FROM workflow_events WHERE correlation_id = {p} \
             ORDER BY occurred_at, ingress_sequence LIMIT {l}"
        );
        let rows = events::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(backend, sql, c.values))
            .all(self.read())
            .await?;
        rows.into_iter().map(from_model).collect()
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
        let range = |c: &mut Conditions| {
            let f = c.bind(truncate_to_millis(from));
            let t = c.bind(truncate_to_millis(to));
            format!("occurred_at >= {f} AND occurred_at <= {t}")
        };
        let mut c = Conditions::new(backend);
        let b = c.bind(bucket_seconds);
        let b2 = c.bind(bucket_seconds);
        let within = range(&mut c);
        let buckets = format!(
            "SELECT ({epoch_seconds} / {b}) * {b2} AS k, COUNT(*) AS n FROM workflow_events \
             WHERE {within} GROUP BY 1"
        );
        let buckets = self.count_rows(backend, buckets, c.values, timeout).await?;
        let mut counts = EventCounts::default();
        for (key, n) in buckets {
            let seconds: i64 = key.parse().unwrap_or_default();
            if let Some(at) = DateTime::<Utc>::from_timestamp(seconds, 0) {
                counts.per_bucket.push((at, n));
                counts.total += n;
            }
        }
        for (column, target) in [
            ("type", &mut counts.by_type),
            ("source", &mut counts.by_source),
        ] {
            let mut c = Conditions::new(backend);
            let within = range(&mut c);
            let sql = format!(
                "SELECT {column} AS k, COUNT(*) AS n FROM workflow_events WHERE {within} GROUP BY 1"
            );
            *target = self.count_rows(backend, sql, c.values, timeout).await?;
        }
        Ok(counts)
    }

    async fn count_rows(
        &self,
        backend: DbBackend,
        sql: String,
        values: Vec<SqlValue>,
        timeout: Duration,
    ) -> Result<Vec<(String, u64)>, StorageError> {
        let statement = Statement::from_sql_and_values(backend, sql, values);
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
                Ok((key, n.max(0) as u64))
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

/// Runs `sql` on PostgreSQL inside a transaction whose statements stop after `timeout`.
async fn with_statement_timeout(
    db: &DatabaseConnection,
    timeout: Duration,
    sql: String,
    values: Vec<SqlValue>,
) -> Result<Vec<events::Model>, StorageError> {
    let txn = begin_with_statement_timeout(db, timeout).await?;
    let rows = events::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .all(&txn)
        .await
        .map_err(timeout_or)?;
    txn.commit().await?;
    Ok(rows)
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

/// PostgreSQL cancels a statement past `statement_timeout` with SQLSTATE 57014 (`query_canceled`).
fn timeout_or(e: sea_orm::DbErr) -> StorageError {
    if e.to_string()
        .contains("canceling statement due to statement timeout")
    {
        StorageError::QueryTimeout
    } else {
        StorageError::Database(e)
    }
}
