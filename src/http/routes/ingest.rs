//! `POST /events`: one envelope or a JSON array of up to 500, or CloudEvents (SPEC §1, §2.2).
//!
//! The content type picks a decoder ([`ingest_body`](super::ingest_body)) and every item it yields is validated
//! here, with the envelope's rules, before anything is queued, so a publisher learns at once what is wrong. Valid
//! items of a batch are accepted even when others are rejected; the answer is sent once the accepted ones are
//! durable (on the stream in redis mode, committed in inline mode).

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use chrono::Utc;
use futures::StreamExt;
use serde_json::{Value, json};

use super::ingest_body::{BodyFormat, decode};
use crate::auth::Scope;
use crate::domain::{EventId, ParseContext};
use crate::http::{ApiError, AppState, Caller};
use crate::queue::{PublishOutcome, QueueError};

pub use super::ingest_body::MAX_BATCH;

/// `POST /events`.
#[tracing::instrument(name = "publish_events", skip_all, fields(subject = %caller.0.subject))]
pub async fn publish(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsPublish)?;
    let format = BodyFormat::of(&req)?;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > state.max_body_bytes) {
        return Err(ApiError::body_too_large(state.max_body_bytes));
    }
    let bytes = read_body(body, state.max_body_bytes).await?;
    let decoded = decode(format, &req, &bytes)?;
    let ctx = ParseContext {
        max_payload_bytes: state.max_payload_bytes,
        now: Utc::now(),
    };

    let mut valid = Vec::with_capacity(decoded.items.len());
    let mut valid_index = Vec::with_capacity(decoded.items.len());
    let mut rejected: Vec<(usize, ApiError)> = Vec::new();
    // One catalog for the whole request, so every envelope of a batch meets the same schema versions.
    let schemas = state.schemas.catalog().load();
    for (index, item) in decoded.items.into_iter().enumerate() {
        match item.and_then(|item| item.parse(&ctx, || EventId::from_ulid(state.next_ulid()))) {
            Ok(envelope) => match schemas.check(&envelope.event_type, &envelope.payload) {
                Ok(_) => {
                    valid_index.push(index);
                    valid.push(envelope);
                }
                Err(violation) => rejected.push((index, ApiError::schema(&violation))),
            },
            Err(e) => rejected.push((index, ApiError::validation(&e))),
        }
    }

    let mut accepted = Vec::with_capacity(valid.len());
    if !valid.is_empty() {
        let outcomes = state.queue.publish(valid).await.map_err(queue_error)?;
        for (index, outcome) in valid_index.into_iter().zip(outcomes) {
            match outcome {
                PublishOutcome::Accepted { id, duplicate } => accepted
                    .push(json!({ "index": index, "id": id.as_str(), "duplicate": duplicate })),
                PublishOutcome::Conflict { id } => {
                    rejected.push((index, ApiError::id_conflict(id.as_str())))
                }
            }
        }
    }
    rejected.sort_by_key(|(index, _)| *index);

    if !decoded.is_batch
        && let Some((_, error)) = rejected.pop()
    {
        return Err(error);
    }
    let rejected: Vec<Value> = rejected
        .iter()
        .map(|(index, error)| json!({ "index": index, "error": error.body() }))
        .collect();
    if accepted.is_empty() {
        return Err(ApiError::batch_rejected(Value::Array(rejected)));
    }
    Ok(HttpResponse::Accepted()
        .json(json!({ "data": { "accepted": accepted, "rejected": rejected } })))
}

/// Reads the body up to `limit` bytes.
pub(super) async fn read_body(
    mut body: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => ApiError::body_too_large(limit),
            other => ApiError::parameter("body", format!("could not read the body: {other}")),
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::body_too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

pub(super) fn queue_error(e: QueueError) -> ApiError {
    match e {
        QueueError::ShuttingDown => {
            ApiError::unavailable("Herald is shutting down; retry on another instance", None)
        }
        other => {
            tracing::error!(error.message = %other, error.cause_chain = ?other, "Events could not be made durable.");
            ApiError::unavailable(
                "events could not be made durable; nothing was accepted, retry later",
                None,
            )
        }
    }
}
