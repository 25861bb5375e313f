//! `GET /admin/events/{id}`: one stored event.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::auth::Scope;
use crate::domain::format_timestamp;
use crate::http::{ApiError, AppState, Caller};
use crate::storage::StoredEvent;

/// `GET /admin/events/{id}` → `{"data": {"event": <view>, "deliveries": []}}`.
#[tracing::instrument(name = "get_event", skip(state, caller))]
pub async fn get_event(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let event = state
        .storage
        .events()
        .find(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {id}")))?;
    Ok(HttpResponse::Ok()
        .json(json!({ "data": { "event": event_view(&event), "deliveries": [] } })))
}

/// The event view of SPEC §6.1 (absent optional fields are `null`; `ingressSequence` is a string so that
/// JavaScript clients never lose precision).
pub fn event_view(event: &StoredEvent) -> Value {
    let e = &event.envelope;
    json!({
        "id": e.id.as_str(),
        "type": e.event_type.as_str(),
        "source": e.source.as_str(),
        "occurredAt": format_timestamp(e.occurred_at),
        "receivedAt": format_timestamp(event.received_at),
        "ingressSequence": event.ingress_sequence.to_string(),
        "payload": e.payload,
        "correlationId": e.correlation_id.as_ref().map(|c| c.as_str()),
        "causationId": e.causation_id.as_ref().map(|c| c.as_str()),
        "ttlMs": e.ttl_ms,
        "metadata": e.metadata,
        "schemaVersion": event.schema_version,
    })
}
