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
use serde_json::json;

use super::source_bodies::{
    DiscardRequest, PauseBody, PauseRequest, ResumeRequest, SourceReasonBody,
};
use crate::actors::{DiscardBacklog, PauseChanged, ReleasedCounts, SourceError};
use crate::auth::Scope;
use crate::domain::{
    ControlAction, PauseKind, SourceControl, SourceName, SourceOverview, SourcePause,
    ValidationError, truncate_to_millis,
};
use crate::http::pagination::{QueryParams, page_json};
use crate::http::wire::{WireBody, parse_body};
use crate::http::{ApiError, AppState, Caller};
use crate::views::{SourceControlView, SourceView};

const LIST_PARAMETERS: &[&str] = &["limit", "cursor"];

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
    let next_cursor = params.next_page(&mut rows, limit, |last| last.source.to_string());
    let released = released_counts(&state, rows.iter().map(|o| o.source.clone()).collect()).await;
    let sources: Vec<SourceView<'_>> = rows
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
    let next_cursor = params.next_page(&mut rows, limit, |last| last.id.clone());
    let history: Vec<SourceControlView<'_>> = rows.iter().map(SourceControlView::of).collect();
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
    let PauseRequest {
        source,
        reason,
        duration_ms,
    } = request::<PauseBody, _>(&body)?;
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
    let ResumeRequest { source, reason } = request::<SourceReasonBody, _>(&body)?;
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
    let DiscardRequest { source, reason } = request::<SourceReasonBody, _>(&body)?;
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

/// The SPEC §4 metrics of one source, with this instance's releases, its pause and rate limit.
fn view<'a>(state: &AppState, o: &'a SourceOverview, released: u64) -> SourceView<'a> {
    SourceView::of(o, released, state.sources.rate_limits.for_source(&o.source))
}

/// The body read as the wire struct `W` and checked into the request `R`.
fn request<W, R>(body: &[u8]) -> Result<R, ApiError>
where
    W: WireBody,
    R: TryFrom<W, Error = ValidationError>,
{
    parse_body::<W>(body)
        .and_then(R::try_from)
        .map_err(|e| ApiError::validation(&e))
}
