//! Sources (SPEC §6.5): `GET /admin/sources`, the on-call controls `POST /admin/sources/pause`,
//! `POST /admin/sources/resume` and `POST /admin/sources/discard-backlog`, and their record,
//! `GET /admin/sources/history`.
//!
//! Sources can hold `/` and `:`, so they travel in bodies and query strings, never in paths. Pauses are by name:
//! a source never seen can be paused ahead of its first event. Each control answers the source's new state, the
//! same object the list holds, and is idempotent (pausing again updates reason and end; resuming a running source
//! or discarding an empty backlog changes nothing). Every control, no-ops included, is recorded with the acting
//! token's subject and reason in the source's history.
//!
//! The list is ordered by source name rather than newest first: sources are a set of names whose activity
//! changes all the time, and a page boundary on a moving key would skip or repeat sources.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::actors::{DiscardBacklog, PauseChanged, ReleasedCounts, SourceError};
use crate::auth::Scope;
use crate::domain::{
    MAX_SOURCE_DURATION_MS, RateLimit, SourceName, ValidationError, format_timestamp,
    truncate_to_millis,
};
use crate::http::pagination::{QueryParams, encode_cursor, page_json};
use crate::http::{ApiError, AppState, Caller};
use crate::storage::{ControlAction, PauseKind, SourceControl, SourceOverview, SourcePause};

const LIST_PARAMETERS: &[&str] = &["limit", "cursor"];
/// The longest `reason` accepted, in characters: a sentence or two for the on-call log, not a document.
pub const MAX_REASON_CHARS: usize = 1_000;

/// `GET /admin/sources?limit&cursor`: every source seen (or paused), by name, with its counters, backlog, pause
/// and rate limit.
#[tracing::instrument(name = "list_sources", skip_all)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let params = QueryParams::parse(req.query_string(), LIST_PARAMETERS)?;
    let limit = params.limit()?;
    let after: Option<String> = params.cursor()?;
    let mut rows = state
        .storage
        .sources()
        .list(after.as_deref(), limit)
        .await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|last| encode_cursor(&last.source.as_str(), &params.filter_fingerprint()))
    } else {
        None
    };
    let released = released_counts(&state, rows.iter().map(|o| o.source.clone()).collect()).await;
    let sources: Vec<Value> = rows
        .iter()
        .map(|o| view(&state, o, released.get(&o.source).copied().unwrap_or(0)))
        .collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "data": { "sources": sources, "page": page_json(next_cursor, limit) } })))
}

const HISTORY_PARAMETERS: &[&str] = &["source", "limit", "cursor"];

/// `GET /admin/sources/history?source&limit&cursor`: the source's on-call controls (pause, resume,
/// discard-backlog), newest first, each with the acting token's subject and reason.
#[tracing::instrument(name = "source_history", skip_all)]
pub async fn history(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let params = QueryParams::parse(req.query_string(), HISTORY_PARAMETERS)?;
    let source = params
        .get("source")
        .ok_or_else(|| ApiError::parameter("source", "source is required"))?;
    let source = SourceName::parse(source.to_owned())
        .map_err(|e| ApiError::parameter("source", e.message))?;
    let limit = params.limit()?;
    let before: Option<String> = params.cursor()?;
    let mut rows = state
        .storage
        .sources()
        .controls(&source, before.as_deref(), limit)
        .await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|last| encode_cursor(&last.id, &params.filter_fingerprint()))
    } else {
        None
    };
    let history: Vec<Value> = rows.iter().map(SourceControl::view).collect();
    Ok(HttpResponse::Ok().json(json!({ "data": {
        "source": source.as_str(),
        "history": history,
        "page": page_json(next_cursor, limit),
    } })))
}

/// `POST /admin/sources/pause {"source", "reason", "durationMs"?}`: defers the source's trigger evaluation until
/// resumed, or for `durationMs` (1 ms to 30 days). Pausing a paused source replaces its reason and end.
#[tracing::instrument(name = "pause_source", skip_all, fields(subject = %caller.0.subject))]
pub async fn pause(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.require(Scope::SourcesOperate)?.subject.clone();
    let fields = object(&body, &["source", "reason", "durationMs"])?;
    let source = source(&fields)?;
    let reason = reason(&fields)?.ok_or_else(|| invalid(ValidationError::missing("reason")))?;
    let duration_ms = duration_ms(&fields)?;
    let now = truncate_to_millis(Utc::now());
    let pause = SourcePause {
        source: source.clone(),
        kind: PauseKind::Manual,
        reason,
        actor,
        paused_at: now,
        // At most 30 days, so the sum cannot overflow.
        until: duration_ms.map(|ms| now + chrono::Duration::milliseconds(ms as i64)),
    };
    state
        .storage
        .sources()
        .pause(&pause, state.next_ulid())
        .await?;
    tracing::info!(%source, actor = %pause.actor, reason = %pause.reason, duration_ms, "Source paused by hand.");
    notify(&state, &source).await;
    answer(&state, &source).await
}

/// `POST /admin/sources/resume {"source", "reason"?}`: ends any pause, manual or automatic; the deferred backlog
/// is then released at the source's rate. Resuming a running source changes nothing.
#[tracing::instrument(name = "resume_source", skip_all, fields(subject = %caller.0.subject))]
pub async fn resume(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.require(Scope::SourcesOperate)?.subject.clone();
    let fields = object(&body, &["source", "reason"])?;
    let source = source(&fields)?;
    let reason = reason(&fields)?;
    let ended = state
        .storage
        .sources()
        .resume(&source, state.next_ulid(), &actor, reason.as_deref())
        .await?;
    tracing::info!(%source, %actor, reason = reason.as_deref().unwrap_or(""), was_paused = ended.is_some(), "Source resumed by hand.");
    notify(&state, &source).await;
    answer(&state, &source).await
}

/// `POST /admin/sources/discard-backlog {"source", "reason"}`: drops the source's deferred trigger evaluations
/// (the events stay stored), counted as `dropped`.
#[tracing::instrument(name = "discard_source_backlog", skip_all, fields(subject = %caller.0.subject))]
pub async fn discard_backlog(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.require(Scope::SourcesOperate)?.subject.clone();
    let fields = object(&body, &["source", "reason"])?;
    let source = source(&fields)?;
    let reason = reason(&fields)?.ok_or_else(|| invalid(ValidationError::missing("reason")))?;
    let discarded = state
        .sources
        .discard
        .send(DiscardBacklog {
            source: source.clone(),
        })
        .await
        .map_err(|e| {
            ApiError::unavailable(format!("the source directory is not running: {e}"), None)
        })?
        .map_err(|e| match e {
            SourceError::Storage(message) => ApiError::unexpected(message),
            SourceError::Gone => ApiError::unavailable(
                "the source's rate limiter restarted before answering; try again",
                None,
            ),
        })?;
    tracing::info!(%source, %actor, %reason, discarded, "Source backlog discarded by hand.");
    let mut control = SourceControl::new(
        state.next_ulid(),
        source.clone(),
        ControlAction::DiscardBacklog,
        actor,
        Some(reason),
    );
    control.discarded = Some(i64::try_from(discarded).unwrap_or(i64::MAX));
    // The discard is done and counted (`dropped`); a failure to record who did it is logged, not answered as
    // a failure of the discard, which a retry would not repeat.
    if let Err(e) = state.storage.sources().record_control(&control).await {
        tracing::error!(%source, error.message = %e, "Could not record a backlog discard in the source's history.");
    }
    answer(&state, &source).await
}

/// Tells this instance's directory (the others poll storage). The pause is already durable, so a directory
/// that cannot be reached only delays this instance's limiter; it is logged, not answered as an error.
async fn notify(state: &AppState, source: &SourceName) {
    if let Err(e) = state
        .sources
        .pause_changed
        .send(PauseChanged {
            source: source.clone(),
        })
        .await
    {
        tracing::error!(%source, error.message = %e, "Could not tell the source directory about a pause change.");
    }
}

async fn answer(state: &AppState, source: &SourceName) -> Result<HttpResponse, ApiError> {
    let overview = state.storage.sources().overview(source).await?;
    let released = released_counts(state, vec![source.clone()]).await;
    let view = view(state, &overview, released.get(source).copied().unwrap_or(0));
    Ok(HttpResponse::Ok().json(json!({ "data": view })))
}

async fn released_counts(state: &AppState, sources: Vec<SourceName>) -> HashMap<SourceName, u64> {
    match state
        .sources
        .released
        .send(ReleasedCounts { sources })
        .await
    {
        Ok(counts) => counts,
        Err(e) => {
            tracing::warn!(error.message = %e, "Could not read release counts; answering 0.");
            HashMap::new()
        }
    }
}

/// One source's SPEC §4 metrics, summed across instances (also the `sources` of `/admin/event-health`).
pub fn source_metrics(o: &SourceOverview) -> Value {
    let c = &o.counters;
    json!({
        "source": o.source.as_str(),
        "total": c.total,
        "throttled": c.throttled,
        "failures": c.failures,
        "dropped": c.dropped,
        "lagMs": {
            "avg": (c.total > 0).then(|| c.lag_ms_sum / c.total),
            "latest": c.lag_ms_latest,
            "max": c.lag_ms_max,
        },
        "lastEventAt": c.last_event_at.map(format_timestamp),
        "backlog": o.backlog,
    })
}

/// The SPEC §4 metrics of one source, with this instance's releases, its pause and rate limit.
fn view(state: &AppState, o: &SourceOverview, released: u64) -> Value {
    let limit: Option<RateLimit> = state.sources.rate_limits.for_source(&o.source);
    let mut view = source_metrics(o);
    view["released"] = json!(released);
    view["paused"] = json!(o.pause.as_ref().map(SourcePause::view));
    view["lastControl"] = json!(o.last_control.as_ref().map(SourceControl::view));
    view["rateLimit"] = json!(limit.map(|l| json!({
        "limit": l.limit(),
        "intervalMs": l.interval_ms(),
        "pauseMs": l.pause_ms(),
    })));
    view
}

fn invalid(e: ValidationError) -> ApiError {
    ApiError::validation(&e)
}

/// The body as a JSON object with only `known` keys.
fn object(body: &[u8], known: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        invalid(ValidationError::invalid_json(format!(
            "the body is not valid JSON: {e}"
        )))
    })?;
    let Value::Object(fields) = value else {
        return Err(invalid(ValidationError::invalid_json(
            "the body must be a JSON object",
        )));
    };
    if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(ValidationError::unknown(unknown.as_str())));
    }
    Ok(fields)
}

/// `source`: required, a valid source name.
fn source(fields: &Map<String, Value>) -> Result<SourceName, ApiError> {
    match fields.get("source") {
        None | Some(Value::Null) => Err(invalid(ValidationError::missing("source"))),
        Some(Value::String(s)) => SourceName::parse(s.clone()).map_err(invalid),
        Some(_) => Err(invalid(ValidationError::invalid(
            "source",
            "must be a string",
        ))),
    }
}

/// `reason`: a non-blank string of at most [`MAX_REASON_CHARS`]; `None` when absent or `null`.
fn reason(fields: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match fields.get("reason") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err(invalid(ValidationError::invalid(
            "reason",
            "must not be blank",
        ))),
        Some(Value::String(s)) if s.chars().count() > MAX_REASON_CHARS => {
            Err(invalid(ValidationError::invalid(
                "reason",
                format_args!("must be at most {MAX_REASON_CHARS} characters"),
            )))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(invalid(ValidationError::invalid(
            "reason",
            "must be a string",
        ))),
    }
}

/// `durationMs`: a whole number of milliseconds from 1 to 30 days; `None` when absent or `null`.
fn duration_ms(fields: &Map<String, Value>) -> Result<Option<u64>, ApiError> {
    match fields.get("durationMs") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_u64() {
            Some(ms) if (1..=MAX_SOURCE_DURATION_MS).contains(&ms) => Ok(Some(ms)),
            _ => Err(invalid(ValidationError::invalid(
                "durationMs",
                format_args!(
                    "must be a whole number of milliseconds from 1 to {MAX_SOURCE_DURATION_MS} (30 days)"
                ),
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: Result<impl std::fmt::Debug, ApiError>) -> (String, Value) {
        let e = result.expect_err("a refusal");
        let body = e.body();
        (e.code().to_owned(), body["details"]["field"].clone())
    }

    #[test]
    fn bodies_are_refused_naming_the_field_at_fault() {
        let known = &["source", "reason", "durationMs"];
        assert_eq!(code(object(b"{", known)).0, "invalid_json");
        assert_eq!(code(object(b"[]", known)).0, "invalid_json");
        assert_eq!(
            code(object(br#"{"source":"a","resaon":"x"}"#, known)),
            ("unknown_field".into(), json!("resaon"))
        );
        let fields = |text: &str| object(text.as_bytes(), known).unwrap();
        assert_eq!(
            code(source(&fields(r#"{"reason":"x"}"#))),
            ("missing_field".into(), json!("source"))
        );
        assert_eq!(
            code(source(&fields(r#"{"source":"has space"}"#))),
            ("invalid_field".into(), json!("source"))
        );
        assert_eq!(
            code(reason(&fields(r#"{"reason":"  "}"#))),
            ("invalid_field".into(), json!("reason"))
        );
        for bad in ["0", "-5", "1.5", "\"60000\"", "2592000001", "true"] {
            assert_eq!(
                code(duration_ms(&fields(&format!(r#"{{"durationMs":{bad}}}"#)))),
                ("invalid_field".into(), json!("durationMs")),
                "{bad}"
            );
        }
        assert_eq!(
            duration_ms(&fields(r#"{"durationMs":2592000000}"#)).unwrap(),
            Some(MAX_SOURCE_DURATION_MS)
        );
        assert_eq!(
            duration_ms(&fields(r#"{"durationMs":null}"#)).unwrap(),
            None
        );
    }
}
