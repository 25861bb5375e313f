//! Replays (SPEC §6.2): `POST /admin/replays` asks for one, `GET /admin/replays/{id}` shows where it is,
//! `POST /admin/replays/{id}/cancel` stops it. The instance holding the `replays` lease runs it
//! (`actors::ReplayRunner`); this instance's runner is told at once, another's finds it within 2 s.
//!
//! Scopes: asking and cancelling need `triggers:operate`, reading `triggers:read`.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::actors::ReplayAsked;
use crate::auth::Scope;
use crate::domain::{NameKind, NamePattern, ValidationError};
use crate::http::wire::{Field, WireBody, parse_body, required_time};
use crate::http::{ApiError, AppState, Caller};
use crate::trigger::{Replay, ReplayRequest};
use crate::views::ReplayView;

/// The body as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReplayBody {
    #[serde(default)]
    from: Field<String>,
    #[serde(default)]
    to: Field<String>,
    #[serde(default, rename = "type")]
    event_type: Field<String>,
    #[serde(default)]
    source: Field<String>,
    #[serde(default)]
    trigger_ids: Field<Vec<String>>,
    #[serde(default)]
    dry_run: Field<bool>,
    #[serde(default)]
    rate_per_second: Field<f64>,
}

impl WireBody for ReplayBody {
    const FIELDS: &'static [&'static str] = &[
        "from",
        "to",
        "type",
        "source",
        "triggerIds",
        "dryRun",
        "ratePerSecond",
    ];
}

impl TryFrom<ReplayBody> for ReplayRequest {
    type Error = ValidationError;

    fn try_from(body: ReplayBody) -> Result<ReplayRequest, ValidationError> {
        let from = required_time(body.from, "from")?;
        let to = required_time(body.to, "to")?;
        let pattern = |field: Field<String>, name: &str, kind| {
            field
                .optional(|| ValidationError::invalid(name, "must be a string"))?
                .map(|text| NamePattern::parse(&text, kind, name))
                .transpose()
        };
        let event_type = pattern(body.event_type, "type", NameKind::Type)?;
        let source = pattern(body.source, "source", NameKind::Source)?;
        let trigger_ids = body.trigger_ids.optional(|| {
            ValidationError::invalid("triggerIds", "must be an array of trigger ids")
        })?;
        let dry_run = body
            .dry_run
            .optional(|| ValidationError::invalid("dryRun", "must be true or false"))?
            .unwrap_or(false);
        let rate = body
            .rate_per_second
            .optional(|| ValidationError::invalid("ratePerSecond", "must be a number above 0"))?;
        ReplayRequest::new((from, to), (event_type, source), trigger_ids, dry_run, rate)
    }
}

fn missing(id: &str) -> ApiError {
    ApiError::not_found(format!("no replay {id:?}"))
}

/// The replay as shown, its deliveries counted.
async fn view(state: &AppState, replay: &Replay) -> Result<serde_json::Value, ApiError> {
    let counts = state.storage.replays().delivery_counts(&replay.id).await?;
    Ok(json!({ "data": ReplayView::of(replay, &counts) }))
}

/// `POST /admin/replays` → `202` with the replay, `pending`.
#[tracing::instrument(name = "create_replay", skip_all)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.require(Scope::TriggersOperate)?.subject.clone();
    let invalid = |e: ValidationError| ApiError::validation(&e);
    let body: ReplayBody = parse_body(&body).map_err(invalid)?;
    let request = ReplayRequest::try_from(body).map_err(invalid)?;
    for id in &request.trigger_ids {
        if state.storage.triggers().find_fresh(id).await?.is_none() {
            return Err(ApiError::not_found(format!("no trigger {id:?}")));
        }
    }
    let upper_sequence = state.storage.events().max_sequence().await?;
    let id = state.next_ulid().to_string();
    let replay = state
        .storage
        .replays()
        .create(&id, &request, upper_sequence, &actor, Utc::now())
        .await?;
    state.triggers.replays.do_send(ReplayAsked);
    Ok(HttpResponse::Accepted().json(view(&state, &replay).await?))
}

/// `GET /admin/replays/{id}`.
#[tracing::instrument(name = "get_replay", skip(state, caller))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TriggersRead)?;
    let replay = state
        .storage
        .replays()
        .find(&id)
        .await?
        .ok_or_else(|| missing(&id))?;
    Ok(HttpResponse::Ok().json(view(&state, &replay).await?))
}

/// `POST /admin/replays/{id}/cancel` → the replay, `cancelled`, its deliveries not yet attempted cancelled.
/// Idempotent.
#[tracing::instrument(name = "cancel_replay", skip(state, caller))]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TriggersOperate)?;
    let replays = state.storage.replays();
    replays
        .cancel(&id, Utc::now())
        .await?
        .ok_or_else(|| missing(&id))?;
    let replay = replays.find(&id).await?.ok_or_else(|| missing(&id))?;
    Ok(HttpResponse::Ok().json(view(&state, &replay).await?))
}
