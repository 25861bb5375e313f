//! `POST /admin/triggers/backtest {"triggerId"} | {"definition"}, "from", "to", "limit"?` (SPEC §5.9): what a
//! saved trigger or a draft definition would have made of the events stored in `[from, to]` (on `occurredAt`):
//! how many match, the first `limit` matching ids, how many each predicate removed, the deliveries an idempotency
//! key would have skipped, and how the throttle would have spread the rest. Nothing is delivered or stored.
//!
//! Scope `triggers:read`. On PostgreSQL the database runs it all (type, source and time narrowing and every
//! predicate, counted in one scan) when each predicate has a form whose meaning there is the trigger's own
//! ([`Predicate::portable`]: items compared as the path selects them, not unwrapped as a SQL/JSON filter would)
//! and there is no idempotency key to render. Otherwise (SQLite, `regex`, `contains`, case folding, a key) the
//! database narrows and Herald runs the trigger's own evaluator over the events, oldest first. Either way it is
//! bounded by `HERALD_QUERY_TIMEOUT_MS` as event queries are (`503 query_timeout`). A draft that is not a valid
//! definition gets the 400 create gives.

use std::time::Instant;

use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::triggers::existing;
use crate::auth::Scope;
use crate::domain::{ValidationError, format_timestamp};
use crate::filter::EventFilter;
use crate::http::wire::{Field, WireBody, parse_body, required_time};
use crate::http::{ApiError, AppState, Caller};
use crate::storage::{EventQuery, FunnelCounts, FunnelQuery, StorageError};
use crate::trigger::{
    Backtest, BacktestReport, CompiledTrigger, Definition, Predicate, WebhookSecret, event_json,
    trigger_json,
};
use crate::views::BacktestView;

/// Events read per statement.
const CHUNK_ROWS: u64 = 2_000;
/// Sample ids when `limit` is absent.
const DEFAULT_SAMPLES: u64 = 20;
/// The most sample ids.
const MAX_SAMPLES: u64 = 200;

/// The body as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BacktestBody {
    #[serde(default)]
    trigger_id: Field<String>,
    #[serde(default)]
    definition: Field<Value>,
    #[serde(default)]
    from: Field<String>,
    #[serde(default)]
    to: Field<String>,
    #[serde(default)]
    limit: Field<u64>,
}

impl WireBody for BacktestBody {
    const FIELDS: &'static [&'static str] = &["triggerId", "definition", "from", "to", "limit"];
}

/// The definition to backtest, its `{id, name, version}` for templates, and the saved trigger's id.
async fn definition(
    state: &AppState,
    trigger_id: Option<String>,
    draft: Option<Value>,
) -> Result<(Definition, Value, Option<String>), ApiError> {
    match (trigger_id, draft) {
        (Some(id), None) => {
            let record = existing(state, &id).await?;
            let trigger = CompiledTrigger::compile(&record, &state.triggers.rules)
                .map_err(ApiError::unexpected)?;
            Ok((trigger.definition, trigger.json, Some(id)))
        }
        (None, Some(draft)) => {
            // A draft is never stored, so its secret is never seen: a fixed one spares the random source.
            let parsed = Definition::parse(
                &draft,
                &state.triggers.rules,
                || WebhookSecret::from_random([0; crate::trigger::GENERATED_SECRET_BYTES]),
                Utc::now(),
            )
            .map_err(|e| ApiError::validation(&e))?;
            let json = trigger_json("draft", &parsed.definition.name, 0);
            Ok((parsed.definition, json, None))
        }
        (Some(_), Some(_)) => Err(ApiError::validation(&ValidationError::invalid(
            "definition",
            "give `triggerId` or `definition`, not both",
        ))),
        (None, None) => Err(ApiError::validation(&ValidationError::missing("triggerId"))),
    }
}

/// `POST /admin/triggers/backtest`.
#[tracing::instrument(name = "backtest_trigger", skip_all)]
pub async fn backtest(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TriggersRead)?;
    let invalid = |e: ValidationError| ApiError::validation(&e);
    let body: BacktestBody = parse_body(&body).map_err(invalid)?;
    let trigger_id = body
        .trigger_id
        .optional(|| ValidationError::invalid("triggerId", "must be a string"))
        .map_err(invalid)?;
    let draft = body
        .definition
        .optional(|| ValidationError::invalid("definition", "must be an object"))
        .map_err(invalid)?;
    let from = required_time(body.from, "from").map_err(invalid)?;
    let to = required_time(body.to, "to").map_err(invalid)?;
    if from > to {
        return Err(invalid(ValidationError::invalid(
            "from",
            "must not be after `to`",
        )));
    }
    let limit = body
        .limit
        .optional(|| {
            ValidationError::invalid(
                "limit",
                format!("must be an integer from 1 to {MAX_SAMPLES}"),
            )
        })
        .map_err(invalid)?
        .unwrap_or(DEFAULT_SAMPLES);
    if !(1..=MAX_SAMPLES).contains(&limit) {
        return Err(invalid(ValidationError::invalid(
            "limit",
            format!("must be an integer from 1 to {MAX_SAMPLES}"),
        )));
    }
    let (definition, trigger, trigger_id) = definition(&state, trigger_id, draft).await?;
    let query = EventQuery {
        filter: EventFilter {
            event_type: Some(definition.event_type.clone()),
            source: definition.event_source.clone(),
            ..EventFilter::default()
        },
        from: Some(from),
        to: Some(to),
    };
    let run = Backtest::new(&definition, trigger, limit as usize);
    let report = match in_database(&state, &definition, (from, to), limit).await {
        Some(counted) => {
            let counts = counted?;
            run.counted(
                counts.scanned,
                &counts.passing,
                counts.sample_ids,
                &counts.arrivals,
            )
        }
        None => scan(&state, run, &query).await?,
    };
    let view = BacktestView::of(
        &report,
        trigger_id.as_deref(),
        (format_timestamp(from), format_timestamp(to)),
    );
    Ok(HttpResponse::Ok().json(json!({ "data": view })))
}

/// The funnel counted by PostgreSQL, when the definition allows it (every predicate portable, no idempotency
/// key); `None` to count in Herald. A statement PostgreSQL refuses (a path it reads differently) is counted in
/// Herald too, and logged.
async fn in_database(
    state: &AppState,
    definition: &Definition,
    range: (chrono::DateTime<Utc>, chrono::DateTime<Utc>),
    samples: u64,
) -> Option<Result<FunnelCounts, ApiError>> {
    let events = state.storage.events();
    if !events.counts_funnels() || definition.idempotency_key.is_some() {
        return None;
    }
    let predicates = definition
        .predicates
        .iter()
        .map(Predicate::portable)
        .collect::<Option<Vec<_>>>()?;
    let query = FunnelQuery {
        event_type: &definition.event_type,
        source: definition.event_source.as_ref(),
        range,
        predicates: &predicates,
        samples,
        arrivals: definition.throttle.is_some(),
    };
    match events.backtest_funnel(&query, state.query_timeout).await {
        Ok(counts) => Some(Ok(counts)),
        Err(StorageError::QueryTimeout) => Some(Err(StorageError::QueryTimeout.into())),
        Err(e) => {
            tracing::warn!(error = %e, "PostgreSQL could not count the backtest; Herald counts it.");
            None
        }
    }
}

/// The funnel counted by Herald: the narrowed events read oldest first, in chunks, within the query timeout.
async fn scan(
    state: &AppState,
    mut run: Backtest<'_>,
    query: &EventQuery,
) -> Result<BacktestReport, ApiError> {
    let deadline = Instant::now() + state.query_timeout;
    let events = state.storage.events();
    let mut after = 0;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(StorageError::QueryTimeout.into());
        }
        let chunk = events
            .list_after(query, after, CHUNK_ROWS, remaining)
            .await?;
        for event in &chunk {
            run.feed(
                event.envelope.id.as_str(),
                &event_json(event),
                event.received_at,
            );
        }
        match chunk.last() {
            Some(last) if chunk.len() as u64 == CHUNK_ROWS => after = last.ingress_sequence,
            _ => break,
        }
        // The predicates run on this task; let others run between chunks.
        tokio::task::yield_now().await;
    }
    Ok(run.report())
}
