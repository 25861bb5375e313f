//! `POST /admin/triggers/{id}/explain {"eventId"}` or `{"event": {...}}` (SPEC §5.9): every step the trigger
//! takes with the event (type, source, each predicate, ttl, pause, throttle, idempotency key), whether it passed,
//! what was found and what was expected, and the outcome the event actually got when one is recorded.
//!
//! Scope `triggers:read`. Explain reads; it never delivers and never changes state. A stored event is explained as
//! the trigger sees it (with its `ingressSequence`); a draft event is checked as `POST /events` checks an envelope
//! (400 naming the field) and explained without storing it. An event of another type is an answer whose `type`
//! step failed, not an error.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::triggers::existing;
use crate::auth::Scope;
use crate::domain::{Envelope, EventId, ParseContext, ValidationError};
use crate::http::wire::{Field, WireBody, parse_body};
use crate::http::{ApiError, AppState, Caller};
use crate::trigger::{
    CompiledTrigger, ExplainedEvent, TriggerContext, event_json, explain as explain_steps,
    idempotency_key,
};
use crate::views::{DeliveryView, ExplainView, StepView};

/// The body as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExplainBody {
    #[serde(default)]
    event_id: Field<String>,
    #[serde(default)]
    event: Field<Value>,
}

impl WireBody for ExplainBody {
    const FIELDS: &'static [&'static str] = &["eventId", "event"];
}

/// The event to explain: a stored one (with its id) or a draft.
struct Subject {
    json: Value,
    envelope: Envelope,
    stored_id: Option<String>,
}

async fn subject(state: &AppState, body: ExplainBody) -> Result<Subject, ApiError> {
    let invalid = |e: ValidationError| ApiError::validation(&e);
    let event_id = body
        .event_id
        .optional(|| ValidationError::invalid("eventId", "must be a string"))
        .map_err(invalid)?;
    let draft = body
        .event
        .optional(never_of_another_type)
        .map_err(invalid)?;
    match (event_id, draft) {
        (Some(id), None) => {
            let stored = state
                .storage
                .events()
                .find(&id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no event {id:?}")))?;
            Ok(Subject {
                json: event_json(&stored),
                stored_id: Some(id),
                envelope: stored.envelope,
            })
        }
        (None, Some(draft)) => {
            let ctx = ParseContext {
                max_payload_bytes: state.max_payload_bytes,
                now: Utc::now(),
            };
            let envelope = Envelope::parse(draft, &ctx, || EventId::from_ulid(state.next_ulid()))
                .map_err(|e| invalid(within_event(e)))?;
            Ok(Subject {
                json: envelope.to_json(),
                envelope,
                stored_id: None,
            })
        }
        (Some(_), Some(_)) => Err(invalid(ValidationError::invalid(
            "event",
            "give `eventId` or `event`, not both",
        ))),
        (None, None) => Err(invalid(ValidationError::missing("eventId"))),
    }
}

/// A draft envelope's error, its field named inside `event` (`event.type`).
fn within_event(e: ValidationError) -> ValidationError {
    let field = match e.field {
        Some(field) => format!("event.{field}"),
        None => "event".to_owned(),
    };
    ValidationError::new(e.code, Some(field), e.message)
}

/// `Field<Value>` takes any JSON value, so it is never of the wrong type.
fn never_of_another_type() -> ValidationError {
    ValidationError::invalid("event", "must be an envelope object")
}

/// The trigger's state as explain needs it, read at `now`.
async fn context(
    state: &AppState,
    trigger: &CompiledTrigger,
    head: &crate::trigger::StateHead,
    key: Option<&str>,
    except_event: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TriggerContext, ApiError> {
    let history = state.storage.delivery_history();
    let started_in_window = match trigger.definition.throttle {
        Some(throttle) => Some(
            history
                .attempts_started_since(
                    &trigger.id,
                    now - TimeDelta::milliseconds(throttle.window_ms()),
                )
                .await?,
        ),
        None => None,
    };
    let key_used_by = match key {
        Some(key) => history.key_used_by(&trigger.id, key, except_event).await?,
        None => None,
    };
    Ok(TriggerContext {
        state: head.state,
        until: head.until,
        reason: head.reason.clone(),
        started_in_window,
        key_used_by,
    })
}

/// `POST /admin/triggers/{id}/explain`.
#[tracing::instrument(name = "explain_trigger", skip(state, caller, body))]
pub async fn explain(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TriggersRead)?;
    let body: ExplainBody = parse_body(&body).map_err(|e| ApiError::validation(&e))?;
    let record = existing(&state, &id).await?;
    let trigger =
        CompiledTrigger::compile(&record, &state.triggers.rules).map_err(ApiError::unexpected)?;
    let subject = subject(&state, body).await?;
    let now = Utc::now();
    let key = idempotency_key(&trigger.definition, &trigger.json, &subject.json, now);
    let context = context(
        &state,
        &trigger,
        &record.head,
        key.as_deref(),
        subject.stored_id.as_deref(),
        now,
    )
    .await?;
    let e = &subject.envelope;
    let steps = explain_steps(
        &trigger.definition,
        &trigger.json,
        ExplainedEvent {
            json: &subject.json,
            event_type: e.event_type.as_str(),
            source: e.source.as_str(),
            occurred_at: e.occurred_at,
            ttl_ms: e.ttl_ms,
        },
        &context,
        now,
    );
    let outcome = match &subject.stored_id {
        Some(event_id) => state
            .storage
            .delivery_history()
            .for_event(event_id)
            .await?
            .into_iter()
            .find(|d| d.trigger_id == trigger.id && d.replay_id.is_empty()),
        None => None,
    };
    let event_id = e.id.as_str();
    let view = ExplainView {
        event_id: Some(event_id),
        failed_step: steps.iter().find(|s| !s.passed).map(StepView::of),
        outcome: outcome.as_ref().map(DeliveryView::of),
        steps: steps.iter().map(StepView::of).collect(),
        trigger: &trigger.json,
        would_deliver: steps.iter().all(|s| s.passed),
    };
    Ok(HttpResponse::Ok().json(json!({ "data": view })))
}
