//! Dead letters (SPEC §6.6): `GET /admin/dead-letters` (cursor-paginated, newest first),
//! `GET /admin/dead-letters/{id}`, `POST /admin/dead-letters/{id}/redrive` and `DELETE /admin/dead-letters/{id}`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ingest::{queue_error, read_body};
use crate::auth::Scope;
use crate::domain::{
    DeadLetter, Envelope, ErrorCode, EventId, ParseContext, RawEntry, ValidationError,
    format_timestamp,
};
use crate::http::pagination::{QueryParams, page_json};
use crate::http::{ApiError, AppState, Caller};
use crate::ingest::parse_fields;
use crate::queue::PublishOutcome;
use crate::storage::DeadLetterFilter;
use crate::views::DeadLetterView;

const PARAMETERS: &[&str] = &["reason", "source", "from", "to", "limit", "cursor"];

/// `GET /admin/dead-letters?reason&source&from&to&limit&cursor`.
#[tracing::instrument(name = "list_dead_letters", skip_all)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let params = QueryParams::parse(req.query_string(), PARAMETERS)?;
    let limit = params.limit()?;
    let (from, to) = params.range()?;
    let filter = DeadLetterFilter {
        reason: params.get("reason").map(str::to_owned),
        source: params.get("source").map(str::to_owned),
        from,
        to,
    };
    let after: Option<(i64, String)> = params.cursor()?;
    let after = match after {
        Some((millis, id)) => Some((
            DateTime::<Utc>::from_timestamp_millis(millis)
                .ok_or_else(|| ApiError::cursor("bad cursor time"))?,
            id,
        )),
        None => None,
    };
    let mut rows = state
        .storage
        .dead_letters()
        .list(&filter, after, limit)
        .await?;
    let next_cursor = params.next_page(&mut rows, limit, |last| {
        (last.received_at.timestamp_millis(), last.id.clone())
    });
    let letters: Vec<DeadLetterView<'_>> = rows.iter().map(DeadLetterView::of).collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "data": { "deadLetters": letters, "page": page_json(next_cursor, limit) } })))
}

/// `GET /admin/dead-letters/{id}`.
#[tracing::instrument(name = "get_dead_letter", skip(state, caller))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let letter = state
        .storage
        .dead_letters()
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no dead letter {id}")))?;
    Ok(HttpResponse::Ok().json(json!({ "data": DeadLetterView::of(&letter) })))
}

/// `POST /admin/dead-letters/{id}/redrive`, optionally with `{"envelope": {…}}`, a corrected envelope.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedriveBody {
    envelope: Option<Value>,
}

/// `POST /admin/dead-letters/{id}/redrive`: the raw entry (or the corrected envelope) goes back through the checks
/// `POST /events` makes and onto the same queue, so the event is stored, streamed and evaluated like any other.
/// `202` with the dead letter (now `redrivenAt`) and the event's id once the event is durable; a dead letter whose
/// entry fails again stays, with the new reason and message, and the answer is that failure; one already
/// redriven is `409 invalid_state`.
#[tracing::instrument(name = "redrive_dead_letter", skip(state, caller, body), fields(subject = %caller.0.subject))]
pub async fn redrive(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::SourcesOperate)?;
    let bytes = read_body(body, state.max_body_bytes).await?;
    let corrected = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<RedriveBody>(&bytes)
            .map_err(|e| ApiError::parameter("body", format!("not a redrive body: {e}")))?
            .envelope
    };
    let repo = state.storage.dead_letters();
    let letter = repo
        .get_written(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no dead letter {id}")))?;
    if let Some(at) = letter.redriven_at {
        return Err(already_redriven(&id, at));
    }

    let envelope = match checked_envelope(&state, &letter, corrected) {
        Ok(envelope) => envelope,
        Err((reason, message, error)) => {
            repo.failed_again(&id, reason, &message).await?;
            tracing::info!(dead_letter = %id, reason = reason.as_str(), "Redriven entry refused again.");
            return Err(error);
        }
    };
    let now = Utc::now();
    if !repo.mark_redriven(&id, now).await? {
        return Err(already_redriven(&id, now));
    }
    let outcome = match state.queue.publish(vec![envelope]).await {
        Ok(mut outcomes) => outcomes.pop(),
        Err(e) => {
            repo.clear_redriven(&id).await?;
            return Err(queue_error(e));
        }
    };
    match outcome {
        Some(PublishOutcome::Accepted {
            id: event_id,
            duplicate,
        }) => {
            let letter = repo.get_written(&id).await?.unwrap_or(letter);
            tracing::info!(dead_letter = %id, event_id = %event_id.as_str(), duplicate, "Dead letter redriven.");
            Ok(HttpResponse::Accepted().json(json!({ "data": {
                "deadLetter": DeadLetterView::of(&letter),
                "event": { "id": event_id.as_str(), "duplicate": duplicate },
            }})))
        }
        Some(PublishOutcome::Conflict { id: event_id }) => {
            let message = format!(
                "id {} is already stored with a different type, source or payload",
                event_id.as_str()
            );
            repo.clear_redriven(&id).await?;
            repo.failed_again(&id, ErrorCode::IdConflict, &message)
                .await?;
            Err(ApiError::id_conflict(event_id.as_str()))
        }
        None => Err(ApiError::unexpected("the queue answered no outcome")),
    }
}

/// The envelope a redrive sends: the corrected one, else the raw entry read back, checked as `POST /events` checks
/// (envelope rules, then the type's active schema). An envelope without an id gets the id its stream entry would
/// have had, so redriving an entry whose first read was stored under that id is a duplicate, not a second event.
/// On refusal: the reason and message to record, and the answer.
fn checked_envelope(
    state: &AppState,
    letter: &DeadLetter,
    corrected: Option<Value>,
) -> Result<Envelope, (ErrorCode, String, ApiError)> {
    let ctx = ParseContext {
        max_payload_bytes: state.max_payload_bytes,
        now: Utc::now(),
    };
    let fallback = || match (state.queue.stream_key(), &letter.stream_id) {
        (Some(key), Some(entry)) => EventId::from_stream_entry(key, entry),
        _ => EventId::from_ulid(state.next_ulid()),
    };
    let parsed = match corrected {
        Some(value) => Envelope::parse(value, &ctx, fallback),
        None => match RawEntry::from_json_str(&letter.raw) {
            Some(fields) => parse_fields(&fields, &ctx, fallback),
            None => Err(ValidationError::new(
                ErrorCode::InvalidJson,
                None,
                "the raw entry cannot be read back as stream fields (it may have been cut at the 1 MiB \
                 limit); redrive it with a corrected `envelope`",
            )),
        },
    };
    let envelope = parsed.map_err(|e| (e.code, e.message.clone(), ApiError::validation(&e)))?;
    let schemas = state.schemas.catalog().load();
    if let Err(violation) = schemas.check(&envelope.event_type, &envelope.payload) {
        return Err((
            violation.code(),
            violation.to_string(),
            ApiError::schema(&violation),
        ));
    }
    Ok(envelope)
}

fn already_redriven(id: &str, at: DateTime<Utc>) -> ApiError {
    ApiError::invalid_state(
        format!("dead letter {id} was already redriven"),
        Some(json!({ "redrivenAt": format_timestamp(at) })),
    )
}

/// `DELETE /admin/dead-letters/{id}` → `204`; `404` when there is none.
#[tracing::instrument(name = "delete_dead_letter", skip(state, caller), fields(subject = %caller.0.subject))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::SourcesOperate)?;
    if !state.storage.dead_letters().delete(&id).await? {
        return Err(ApiError::not_found(format!("no dead letter {id}")));
    }
    tracing::info!(dead_letter = %id, "Dead letter deleted.");
    Ok(HttpResponse::NoContent().finish())
}
