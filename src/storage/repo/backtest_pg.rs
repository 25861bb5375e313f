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
    Time(DateTime<Utc>),
    Json(Value),
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
                Bind::Time(at) => query.bind(*at),
                Bind::Json(value) => query.bind(value.clone()),
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

/// A name filter: `=` for an exact name; for a pattern, `LIKE` and a count of separators, which match exactly its
/// names and cost a scan of a million rows a fraction of what the pattern's regex costs.
fn name_condition(statement: &mut Statement, column: &str, pattern: &NamePattern) -> String {
    let Some(like) = pattern.like() else {
        let exact = pattern.as_str().to_owned();
        return format!("{column} = {}", statement.bind(Bind::Text(exact)));
    };
    let like_param = statement.bind(Bind::Text(like.pattern));
    let separators = statement.bind(Bind::Text(like.separator_chars));
    let relation = if like.at_least { ">=" } else { "=" };
    format!(
        "{column} LIKE {like_param} AND length({column}) - length(translate({column}, {separators}, '')) \
         {relation} {}",
        like.separators
    )
}

/// `SELECT <columns>, <document> AS doc FROM workflow_events WHERE <narrowing>`.
fn narrowed(
    statement: &mut Statement,
    query: &FunnelQuery<'_>,
    columns: &str,
    document: &str,
) -> String {
    let mut conditions = vec![name_condition(statement, "type", query.event_type)];
    if let Some(source) = query.source {
        conditions.push(name_condition(statement, "source", source));
    }
    let from = statement.bind(Bind::Time(truncate_to_millis(query.range.0)));
    let to = statement.bind(Bind::Time(truncate_to_millis(query.range.1)));
    conditions.push(format!("occurred_at >= {from} AND occurred_at <= {to}"));
    format!(
        "SELECT {columns}{document} AS doc FROM workflow_events WHERE {}",
        conditions.join(" AND ")
    )
}

/// `text` (a path or a predicate) read from the payload instead of the event, when it only ever reads the payload:
/// every `$` in it starts `$.payload` followed by an accessor or the end (and no string literal could hold one).
/// Every event has a payload, so `$.payload.x` on the event selects what `$.x` selects on the payload.
fn on_payload(text: &str) -> Option<String> {
    if text.contains('"') {
        return None;
    }
    let mut rest = text;
    let mut out = String::with_capacity(text.len());
    while let Some(at) = rest.find('$') {
        let after = rest[at..].strip_prefix("$.payload")?;
        if !(after.is_empty() || after.starts_with(['.', '[', ' ', ')'])) {
            return None;
        }
        out.push_str(&rest[..at]);
        out.push('$');
        rest = after;
    }
    out.push_str(rest);
    Some(out)
}

/// The predicates rewritten to run on the payload column alone ([`on_payload`]), when all of them can.
fn payload_only(predicates: &[PortablePredicate]) -> Option<Vec<PortablePredicate>> {
    predicates
        .iter()
        .map(|p| {
            let mut p = p.clone();
            match &mut p.test {
                // The whole event is the item: the predicate must read only the payload.
                ItemTest::Matches(predicate) if p.path == "$" => {
                    *predicate = on_payload(predicate)?;
                    return Some(p);
                }
                _ => p.path = on_payload(&p.path)?,
            }
            Some(p)
        })
        .collect()
}

/// The condition for one predicate over `doc`.
///
/// The items a path selects are gathered as they are (`jsonb_path_query_array`), then tested with a `strict`
/// filter over that array's elements, which never unwraps an item that is itself an array (a lax filter would);
/// a comparison with an array or object is unknown there, so it fails, as it does in Herald.
fn predicate(statement: &mut Statement, p: &PortablePredicate) -> String {
    let path = statement.bind(Bind::Text(p.path.clone()));
    let condition = match &p.test {
        ItemTest::Any => {
            format!(
                "COALESCE(jsonb_path_exists(doc, {path}::jsonpath, '{{}}'::jsonb, true), false)"
            )
        }
        // The whole event is the one item: the predicate runs on it directly.
        ItemTest::Matches(predicate) if p.path == "$" => format!(
            "COALESCE(jsonb_path_match(doc, {}::jsonpath, '{{}}'::jsonb, true), false)",
            statement.bind(Bind::Text(predicate.clone()))
        ),
        ItemTest::Matches(predicate) => format!(
            "EXISTS (SELECT 1 FROM jsonb_path_query(doc, {path}::jsonpath, '{{}}'::jsonb, true) AS t(item) \
             WHERE COALESCE(jsonb_path_match(item, {}::jsonpath, '{{}}'::jsonb, true), false))",
            statement.bind(Bind::Text(predicate.clone()))
        ),
        ItemTest::EqualsAny(values) => {
            let tests: Vec<String> = (0..values.len()).map(|i| format!("@ == $v{i}")).collect();
            let vars: serde_json::Map<String, Value> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("v{i}"), v.clone()))
                .collect();
            items_pass(statement, &path, &tests.join(" || "), Value::Object(vars))
        }
        ItemTest::Number(operator, bound) => items_pass(
            statement,
            &path,
            &format!("@.type() == \"number\" && @ {operator} $b"),
            serde_json::json!({ "b": bound }),
        ),
    };
    if p.negated {
        format!("NOT {condition}")
    } else {
        condition
    }
}

/// Whether some item `path` selects passes `filter` (over `@`, with `vars`).
fn items_pass(statement: &mut Statement, path: &str, filter: &str, vars: Value) -> String {
    let test = statement.bind(Bind::Text(format!("strict $[*] ? ({filter})")));
    let vars = statement.bind(Bind::Json(vars));
    format!(
        "COALESCE(jsonb_path_exists(jsonb_path_query_array(doc, {path}::jsonpath, '{{}}'::jsonb, true), \
         {test}::jsonpath, {vars}::jsonb, true), false)"
    )
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

        // Predicates that read only the payload run on that column; otherwise on the event rebuilt once per row
        // (OFFSET 0 keeps the planner from copying the document into every FILTER, at the price of parallel
        // workers). Counted cumulatively, one FILTER per prefix of the predicates.
        let (document, predicates, fence) = match payload_only(query.predicates) {
            Some(rewritten) => ("payload", rewritten, ""),
            None => (DOCUMENT, query.predicates.to_vec(), " OFFSET 0"),
        };
        let mut counting = Statement::default();
        let inner = narrowed(&mut counting, query, "", document);
        let mut passes = vec!["1 AS one".to_owned()];
        let mut counts = vec!["count(*)::bigint".to_owned()];
        for (i, p) in predicates.iter().enumerate() {
            passes.push(format!("{} AS b{i}", predicate(&mut counting, p)));
            let prefix: Vec<String> = (0..=i).map(|j| format!("b{j}")).collect();
            counts.push(format!(
                "count(*) FILTER (WHERE {})::bigint",
                prefix.join(" AND ")
            ));
        }
        let sql = format!(
            "SELECT {} FROM (SELECT {} FROM ({inner}{fence}) AS e{fence}) AS r",
            counts.join(", "),
            passes.join(", ")
        );
        let row = counting
            .query(&sql)
            .fetch_one(&mut *tx)
            .await
            .map_err(timeout_or)?;
        let mut funnel = FunnelCounts::default();
        for i in 0..=predicates.len() {
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
        let inner = narrowed(
            &mut matching,
            query,
            "ingress_sequence, id, received_at, ",
            document,
        );
        let all: Vec<String> = predicates
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_that_reads_the_payload_alone_moves_onto_it() {
        assert_eq!(on_payload("$.payload.n").as_deref(), Some("$.n"));
        assert_eq!(on_payload("$.payload").as_deref(), Some("$"));
        assert_eq!(on_payload("$.payload[*].a").as_deref(), Some("$[*].a"));
        assert_eq!(
            on_payload("$.payload.total > 20 && $.payload.total < 30").as_deref(),
            Some("$.total > 20 && $.total < 30")
        );
        for other in [
            "$.metadata.level",
            "$.payloads",
            "$",
            "$.payload.a == \"$.payload\"",
            "$.payload.n > 1 && $.type == \"x\"",
        ] {
            assert_eq!(on_payload(other), None, "{other}");
        }
    }
}
