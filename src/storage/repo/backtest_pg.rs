//! Backtest counts on PostgreSQL (SPEC §5.9): the type, source and time narrowing and every predicate run in the
//! database, which counts the funnel (how many events pass each prefix of the predicates) in one scan and reads
//! back only the sample ids and, for a throttle, the matching events' arrival times.
//!
//! Each event is rebuilt as the document a trigger's predicates see (the wire envelope with `ingressSequence`,
//! optional fields only when set), and each predicate is one of [`PortablePredicate`]'s forms, whose meaning the
//! trigger module guarantees to be the one Herald gives it. Every value is a bound parameter.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{Postgres, Row};

use super::events::EventsRepo;
use crate::domain::{NamePattern, truncate_to_millis};
use crate::storage::StorageError;
use crate::trigger::{ItemTest, PortablePredicate};

/// What a backtest asks of the database.
#[derive(Debug)]
pub struct FunnelQuery<'a> {
    /// The definition's `eventType`.
    pub event_type: &'a NamePattern,
    /// The definition's `eventSource`.
    pub source: Option<&'a NamePattern>,
    /// Inclusive bounds on `occurredAt`.
    pub range: (DateTime<Utc>, DateTime<Utc>),
    /// The predicates, in order.
    pub predicates: &'a [PortablePredicate],
    /// How many matching ids to return.
    pub samples: u64,
    /// Whether to return the matching events' arrival times (for the throttle's play).
    pub arrivals: bool,
}

/// What the database counted.
#[derive(Debug, Default)]
pub struct FunnelCounts {
    /// Events of the selected types and sources in the range.
    pub scanned: u64,
    /// `passing[i]`: events that passed predicates `0..=i`.
    pub passing: Vec<u64>,
    /// The first matching ids, oldest first.
    pub sample_ids: Vec<String>,
    /// `receivedAt` of every match, oldest first (empty unless asked for).
    pub arrivals: Vec<DateTime<Utc>>,
}

/// A bound value.
enum Bind {
    Text(String),
    Float(f64),
    Time(DateTime<Utc>),
    Values(Vec<Value>),
}

/// The SQL text being built and its parameters.
#[derive(Default)]
struct Statement {
    binds: Vec<Bind>,
}

impl Statement {
    /// Binds `value` and returns its placeholder.
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn query<'q>(&'q self, sql: &'q str) -> Query<'q, Postgres, PgArguments> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for bind in &self.binds {
            query = match bind {
                Bind::Text(text) => query.bind(text.as_str()),
                Bind::Float(n) => query.bind(*n),
                Bind::Time(at) => query.bind(*at),
                Bind::Values(values) => query.bind(values.clone()),
            };
        }
        query
    }
}

/// The event as predicates see it (`event_json`): the wire envelope, optional fields only when set.
const DOCUMENT: &str = "\
jsonb_build_object('id', id, 'type', type, 'source', source, \
  'occurredAt', to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
  'payload', payload, 'ingressSequence', ingress_sequence::text) \
|| CASE WHEN correlation_id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('correlationId', correlation_id) END \
|| CASE WHEN causation_id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('causationId', causation_id) END \
|| CASE WHEN ttl_ms IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('ttl', ttl_ms) END \
|| CASE WHEN jsonb_typeof(metadata) = 'object' THEN jsonb_build_object('metadata', metadata) ELSE '{}'::jsonb END";

fn name_condition(statement: &mut Statement, column: &str, pattern: &NamePattern) -> String {
    match (pattern.exact(), pattern.regex()) {
        (Some(exact), _) => format!(
            "{column} = {}",
            statement.bind(Bind::Text(exact.to_owned()))
        ),
        (None, Some(regex)) => format!(
            "{column} ~ {}",
            statement.bind(Bind::Text(regex.to_owned()))
        ),
        // A pattern that is not exact always has a regex.
        (None, None) => "true".to_owned(),
    }
}

/// `SELECT <columns>, <document> AS doc FROM workflow_events WHERE <narrowing>`.
fn narrowed(statement: &mut Statement, query: &FunnelQuery<'_>, columns: &str) -> String {
    let mut conditions = vec![name_condition(statement, "type", query.event_type)];
    if let Some(source) = query.source {
        conditions.push(name_condition(statement, "source", source));
    }
    let from = statement.bind(Bind::Time(truncate_to_millis(query.range.0)));
    let to = statement.bind(Bind::Time(truncate_to_millis(query.range.1)));
    conditions.push(format!("occurred_at >= {from} AND occurred_at <= {to}"));
    format!(
        "SELECT {columns}{DOCUMENT} AS doc FROM workflow_events WHERE {}",
        conditions.join(" AND ")
    )
}

/// The condition for one predicate over `doc`.
fn predicate(statement: &mut Statement, p: &PortablePredicate) -> String {
    let path = statement.bind(Bind::Text(p.path.clone()));
    let items = format!("jsonb_path_query(doc, {path}::jsonpath, '{{}}'::jsonb, true) AS t(item)");
    let condition = match &p.test {
        ItemTest::Any => {
            return format!(
                "COALESCE(jsonb_path_exists(doc, {path}::jsonpath, '{{}}'::jsonb, true), false)"
            );
        }
        ItemTest::EqualsAny(values) => {
            format!(
                "item = ANY({}::jsonb[])",
                statement.bind(Bind::Values(values.clone()))
            )
        }
        ItemTest::Number(operator, bound) => format!(
            "jsonb_typeof(item) = 'number' AND item::float8 {operator} {}",
            statement.bind(Bind::Float(*bound))
        ),
        ItemTest::Matches(predicate) => format!(
            "COALESCE(jsonb_path_match(item, {}::jsonpath, '{{}}'::jsonb, true), false)",
            statement.bind(Bind::Text(predicate.clone()))
        ),
    };
    let exists = format!("EXISTS (SELECT 1 FROM {items} WHERE {condition})");
    if p.negated {
        format!("NOT {exists}")
    } else {
        exists
    }
}

/// PostgreSQL's `query_canceled` (the statement timeout) is the query's timeout; anything else a database error.
fn timeout_or(e: sqlx::Error) -> StorageError {
    match e.as_database_error().and_then(|d| d.code()) {
        Some(code) if code == "57014" => StorageError::QueryTimeout,
        _ => StorageError::from(e),
    }
}

impl EventsRepo<'_> {
    /// Whether [`EventsRepo::backtest_funnel`] can run here (PostgreSQL).
    pub fn counts_funnels(&self) -> bool {
        self.read().get_database_backend() == sea_orm::DbBackend::Postgres
    }

    /// Counts a backtest's funnel on PostgreSQL within `timeout`.
    ///
    /// # Errors
    /// [`StorageError::QueryTimeout`] past `timeout`; [`StorageError::Database`] otherwise (for example a path
    /// PostgreSQL does not accept).
    #[tracing::instrument(name = "backtest_funnel", skip_all, fields(predicates = query.predicates.len()))]
    pub async fn backtest_funnel(
        &self,
        query: &FunnelQuery<'_>,
        timeout: Duration,
    ) -> Result<FunnelCounts, StorageError> {
        let pool = self.read().get_postgres_connection_pool();
        let mut tx = pool.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SET LOCAL statement_timeout = {}",
            timeout.as_millis()
        )))
        .execute(&mut *tx)
        .await?;

        // The funnel: each predicate evaluated once per event (OFFSET 0 keeps the planner from copying the
        // expressions into every FILTER), counted cumulatively.
        let mut counting = Statement::default();
        let inner = narrowed(&mut counting, query, "");
        let mut passes = vec!["1 AS one".to_owned()];
        let mut counts = vec!["count(*)::bigint".to_owned()];
        for (i, p) in query.predicates.iter().enumerate() {
            passes.push(format!("{} AS b{i}", predicate(&mut counting, p)));
            let prefix: Vec<String> = (0..=i).map(|j| format!("b{j}")).collect();
            counts.push(format!(
                "count(*) FILTER (WHERE {})::bigint",
                prefix.join(" AND ")
            ));
        }
        let sql = format!(
            "SELECT {} FROM (SELECT {} FROM ({inner} OFFSET 0) AS e OFFSET 0) AS r",
            counts.join(", "),
            passes.join(", ")
        );
        let row = counting
            .query(&sql)
            .fetch_one(&mut *tx)
            .await
            .map_err(timeout_or)?;
        let mut funnel = FunnelCounts::default();
        for i in 0..=query.predicates.len() {
            let n: i64 = row.try_get(i)?;
            let n = u64::try_from(n).unwrap_or(0);
            if i == 0 {
                funnel.scanned = n;
            } else {
                funnel.passing.push(n);
            }
        }

        // The matches themselves, oldest first: the sample ids, and the arrival times when asked for.
        let mut matching = Statement::default();
        let inner = narrowed(&mut matching, query, "ingress_sequence, id, received_at, ");
        let all: Vec<String> = query
            .predicates
            .iter()
            .map(|p| predicate(&mut matching, p))
            .collect();
        let filter = if all.is_empty() {
            "true".to_owned()
        } else {
            all.join(" AND ")
        };
        let limit = if query.arrivals {
            String::new()
        } else {
            format!(" LIMIT {}", query.samples)
        };
        let sql = format!(
            "SELECT id, received_at FROM ({inner}) AS e WHERE {filter} ORDER BY ingress_sequence{limit}"
        );
        let rows = matching
            .query(&sql)
            .fetch_all(&mut *tx)
            .await
            .map_err(timeout_or)?;
        for row in rows {
            if (funnel.sample_ids.len() as u64) < query.samples {
                funnel.sample_ids.push(row.try_get("id")?);
            }
            if query.arrivals {
                funnel.arrivals.push(row.try_get("received_at")?);
            }
        }
        tx.commit().await?;
        Ok(funnel)
    }
}
