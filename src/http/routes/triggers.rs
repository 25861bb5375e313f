//! Triggers (SPEC §6.3, §6.4): `GET/POST /admin/triggers`, `GET/PATCH/DELETE /admin/triggers/{id}`,
//! `POST /admin/triggers/{id}/pause`, `…/resume` and `GET …/history`.
//!
//! Scopes (§10): reading needs `triggers:read`, creating, changing and deleting `triggers:write`, pausing and
//! resuming `triggers:operate`. A definition is checked whole before anything is stored (400 with the SPEC code
//! and the field, `predicates[2].value`); the webhook secret is returned once, in the create answer, and never
//! logged. After a write on this instance the directory reloads the trigger before the answer goes out, so the
//! next event is evaluated by the new definition.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{TimeDelta, Utc};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};

use super::source_bodies::{duration_ms, reason};
use crate::actors::{Command, Control, ControlTrigger, TriggerChanged};
use crate::auth::Scope;
use crate::domain::ValidationError;
use crate::http::pagination::{QueryParams, page_json};
use crate::http::wire::{Field, WireBody, parse_body};
use crate::http::{ApiError, AppState, Caller};
use crate::trigger::{
    Definition, GENERATED_SECRET_BYTES, TriggerRecord, TriggerWrite, WebhookSecret,
};
use crate::views::{StateChangeView, trigger_view};

const LIST_PARAMETERS: &[&str] = &["limit", "cursor"];

/// `POST /admin/triggers/{id}/pause` as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PauseBody {
    #[serde(default)]
    reason: Field<String>,
    #[serde(default)]
    duration_ms: Field<u64>,
}

impl WireBody for PauseBody {
    const FIELDS: &'static [&'static str] = &["reason", "durationMs"];
}

/// `POST /admin/triggers/{id}/resume` as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResumeBody {
    #[serde(default)]
    reason: Field<String>,
}

impl WireBody for ResumeBody {
    const FIELDS: &'static [&'static str] = &["reason"];
}

fn generate_secret() -> WebhookSecret {
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    WebhookSecret::from_random(bytes)
}

fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::validation(&ValidationError::invalid_json(format!(
            "the body is not valid JSON: {e}"
        )))
    })
}

fn missing(id: &str) -> ApiError {
    ApiError::not_found(format!("no trigger {id:?}"))
}

/// The trigger `id`, or 404.
pub(crate) async fn existing(state: &AppState, id: &str) -> Result<TriggerRecord, ApiError> {
    state
        .storage
        .triggers()
        .find_fresh(id)
        .await?
        .ok_or_else(|| missing(id))
}

async fn reload(state: &AppState, id: &str) {
    if let Err(e) = state
        .triggers
        .directory
        .send(TriggerChanged { id: id.to_owned() })
        .await
    {
        tracing::warn!(trigger_id = %id, error = %e, "The trigger directory did not take the change; its poll will.");
    }
}

/// `GET /admin/triggers?limit&cursor`: newest first.
#[tracing::instrument(name = "list_triggers", skip_all)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TriggersRead)?;
    let params = QueryParams::parse(req.query_string(), LIST_PARAMETERS)?;
    let limit = params.limit()?;
    let before: Option<String> = params.cursor()?;
    let mut rows = state
        .storage
        .triggers()
        .list(before.as_deref(), limit)
        .await?;
    let next_cursor = params.next_page(&mut rows, limit, |last| last.id.clone());
    let triggers: Vec<Value> = rows.iter().map(trigger_view).collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "data": { "triggers": triggers, "page": page_json(next_cursor, limit) } })))
}

/// `POST /admin/triggers` → `201 {"data": trigger, "secret"}` (the secret only here, for webhook targets).
#[tracing::instrument(name = "create_trigger", skip_all, fields(subject = %caller.0.subject))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.require(Scope::TriggersWrite)?.subject.clone();
    let body = json_body(&body)?;
    let now = Utc::now();
    let parsed = Definition::parse(&body, &state.triggers.rules, generate_secret, now)
        .map_err(|e| ApiError::validation(&e))?;
    let id = state.next_ulid().to_string();
    let secret = parsed.secret.as_ref().map(|s| s.expose().to_owned());
    let record = state
        .storage
        .triggers()
        .create(&TriggerWrite {
            id: &id,
            definition: &parsed.definition.normalized,
            secret: secret.as_deref(),
            actor: &actor,
            at: now,
        })
        .await?;
    reload(&state, &id).await;
    tracing::info!(trigger_id = %id, name = %record.name(), actor = %actor, "Trigger created.");
    let mut answer = json!({ "data": trigger_view(&record) });
    if let Some(secret) = secret {
        answer["secret"] = json!(secret);
    }
    Ok(HttpResponse::Created().json(answer))
}

/// `GET /admin/triggers/{id}`.
#[tracing::instrument(name = "get_trigger", skip(state, caller))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TriggersRead)?;
    let record = existing(&state, &id).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": trigger_view(&record) })))
}

/// `PATCH /admin/triggers/{id}`: the fields given replace the stored ones (at least one); every create rule
/// applies again; the version goes up by one.
#[tracing::instrument(name = "update_trigger", skip(state, caller, body))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.require(Scope::TriggersWrite)?.subject.clone();
    let patch = json_body(&body)?;
    let current = existing(&state, &id).await?;
    let current_secret = current
        .secret
        .as_deref()
        .map(WebhookSecret::parse)
        .transpose()
        .map_err(ApiError::unexpected)?;
    let now = Utc::now();
    let parsed = Definition::patch(
        &current.definition,
        &patch,
        &state.triggers.rules,
        current_secret,
        generate_secret,
        now,
    )
    .map_err(|e| ApiError::validation(&e))?;
    let secret = parsed.secret.as_ref().map(|s| s.expose().to_owned());
    let record = state
        .storage
        .triggers()
        .update(&TriggerWrite {
            id: &id,
            definition: &parsed.definition.normalized,
            secret: secret.as_deref(),
            actor: &actor,
            at: now,
        })
        .await?
        .ok_or_else(|| missing(&id))?;
    reload(&state, &id).await;
    tracing::info!(trigger_id = %id, version = record.version, actor = %actor, "Trigger updated.");
    Ok(HttpResponse::Ok().json(json!({ "data": trigger_view(&record) })))
}

/// `DELETE /admin/triggers/{id}` → `204`; its open deliveries are cancelled, its history stays.
#[tracing::instrument(name = "delete_trigger", skip(state, caller))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.require(Scope::TriggersWrite)?.subject.clone();
    if !state
        .storage
        .triggers()
        .delete(&id, &actor, Utc::now())
        .await?
    {
        return Err(missing(&id));
    }
    reload(&state, &id).await;
    tracing::info!(trigger_id = %id, actor = %actor, "Trigger deleted.");
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /admin/triggers/{id}/pause {"reason", "durationMs"?}` → the trigger in its new state. Idempotent.
#[tracing::instrument(name = "pause_trigger", skip(state, caller, body))]
pub async fn pause(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.require(Scope::TriggersOperate)?.subject.clone();
    let body: PauseBody = parse_body(&body).map_err(|e| ApiError::validation(&e))?;
    let reason = reason(body.reason)
        .and_then(|r| r.ok_or_else(|| ValidationError::missing("reason")))
        .map_err(|e| ApiError::validation(&e))?;
    let duration = duration_ms(body.duration_ms)
        .map_err(|e| ApiError::validation(&e))?
        .map(|ms| TimeDelta::milliseconds(ms as i64));
    control(&state, &id, Command::Pause { reason, duration }, actor).await
}

/// `POST /admin/triggers/{id}/resume {"reason"?}` → the trigger, `running`. Idempotent.
#[tracing::instrument(name = "resume_trigger", skip(state, caller, body))]
pub async fn resume(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.require(Scope::TriggersOperate)?.subject.clone();
    let body: ResumeBody = if body.is_empty() {
        ResumeBody {
            reason: Field::Absent,
        }
    } else {
        parse_body(&body).map_err(|e| ApiError::validation(&e))?
    };
    let reason = reason(body.reason)
        .map_err(|e| ApiError::validation(&e))?
        .unwrap_or_else(|| "resumed by hand".to_owned());
    control(&state, &id, Command::Resume { reason }, actor).await
}

async fn control(
    state: &AppState,
    id: &str,
    command: Command,
    actor: String,
) -> Result<HttpResponse, ApiError> {
    existing(state, id).await?;
    let answer = state
        .triggers
        .directory
        .send(ControlTrigger {
            id: id.to_owned(),
            control: Control { command, actor },
        })
        .await
        .map_err(ApiError::unexpected)??;
    if answer.is_none() {
        // Stored but not (yet) known to this instance's directory: it was created elsewhere a moment ago.
        return Err(ApiError::unavailable(
            "the trigger is not loaded on this instance yet; try again in a second",
            None,
        ));
    }
    let record = existing(state, id).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": trigger_view(&record) })))
}

/// `GET /admin/triggers/{id}/history?limit&cursor`: state changes, newest first.
#[tracing::instrument(name = "trigger_history", skip(state, caller, req))]
pub async fn history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TriggersRead)?;
    let params = QueryParams::parse(req.query_string(), LIST_PARAMETERS)?;
    let limit = params.limit()?;
    let before: Option<i64> = params.cursor()?;
    existing(&state, &id).await?;
    let mut rows = state.storage.triggers().history(&id, before, limit).await?;
    let next_cursor = params.next_page(&mut rows, limit, |last| last.id);
    let history: Vec<StateChangeView<'_>> = rows.iter().map(StateChangeView::of_record).collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "data": { "history": history, "page": page_json(next_cursor, limit) } })))
}
