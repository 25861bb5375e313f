//! Deliveries (SPEC §6.3): `GET /admin/triggers/{id}/deliveries?status&eventId`, `GET /admin/deliveries/{id}`
//! (with its attempts), `POST /admin/deliveries/{id}/retry`, `…/cancel` and `POST /admin/deliveries/redrive`.
//!
//! Reading needs `triggers:read`; retry, cancel and redrive `triggers:operate`. Retry and redrive move a `failed`
//! or `cancelled` delivery back to `pending` (due now, attempts kept); cancel stops a delivery that waits
//! (`pending`, `held`, `throttled`, `retrying`). Any other status is `409 invalid_state`, naming the status.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::triggers::existing;
use crate::actors::WakeTrigger;
use crate::auth::Scope;
use crate::domain::ValidationError;
use crate::http::pagination::{QueryParams, page_json};
use crate::http::wire::{Field, WireBody, parse_body};
use crate::http::{ApiError, AppState, Caller};
use crate::storage::{DeliveryFilter, Pick};
use crate::trigger::{Delivery, DeliveryStatus};
use crate::views::{AttemptView, DeliveryView};

const LIST_PARAMETERS: &[&str] = &["limit", "cursor", "status", "eventId"];

const REDRIVABLE: [DeliveryStatus; 2] = [DeliveryStatus::Failed, DeliveryStatus::Cancelled];
const CANCELLABLE: [DeliveryStatus; 4] = [
    DeliveryStatus::Pending,
    DeliveryStatus::Held,
    DeliveryStatus::Throttled,
    DeliveryStatus::Retrying,
];

/// `POST /admin/deliveries/redrive` as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RedriveBody {
    #[serde(default)]
    trigger_id: Field<String>,
    #[serde(default)]
    status: Field<String>,
    #[serde(default)]
    from: Field<String>,
    #[serde(default)]
    to: Field<String>,
}

impl WireBody for RedriveBody {
    const FIELDS: &'static [&'static str] = &["triggerId", "status", "from", "to"];
}

fn status_parameter(params: &QueryParams) -> Result<Option<DeliveryStatus>, ApiError> {
    params
        .get("status")
        .map(|s| {
            s.parse().map_err(|_| {
                ApiError::parameter(
                    "status",
                    format!(
                        "unknown delivery status {s:?} (one of: {})",
                        DeliveryStatus::ALL.map(DeliveryStatus::as_str).join(", ")
                    ),
                )
            })
        })
        .transpose()
}

/// `GET /admin/triggers/{id}/deliveries?status&eventId&limit&cursor`: newest first.
#[tracing::instrument(name = "list_deliveries", skip(state, caller, req))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TriggersRead)?;
    let params = QueryParams::parse(req.query_string(), LIST_PARAMETERS)?;
    let limit = params.limit()?;
    let filter = DeliveryFilter {
        trigger_id: Some(id.into_inner()),
        status: status_parameter(&params)?,
        event_id: params.get("eventId").map(str::to_owned),
    };
    let before: Option<String> = params.cursor()?;
    let mut rows = state
        .storage
        .delivery_history()
        .list(&filter, before.as_deref(), limit)
        .await?;
    let next_cursor = params.next_page(&mut rows, limit, |last| last.id.clone());
    let deliveries: Vec<DeliveryView<'_>> = rows.iter().map(DeliveryView::of).collect();
    Ok(HttpResponse::Ok().json(
        json!({ "data": { "deliveries": deliveries, "page": page_json(next_cursor, limit) } }),
    ))
}

async fn found(state: &AppState, id: &str) -> Result<Delivery, ApiError> {
    state
        .storage
        .delivery_history()
        .find(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no delivery {id:?}")))
}

async fn answer(state: &AppState, id: &str) -> Result<HttpResponse, ApiError> {
    let delivery = found(state, id).await?;
    let attempts = state.storage.delivery_history().attempts(id).await?;
    let mut view =
        serde_json::to_value(DeliveryView::of(&delivery)).map_err(ApiError::unexpected)?;
    view["attemptLog"] = json!(attempts.iter().map(AttemptView::of).collect::<Vec<_>>());
    Ok(HttpResponse::Ok().json(json!({ "data": view })))
}

/// `GET /admin/deliveries/{id}`: the delivery and `attemptLog`, oldest attempt first.
#[tracing::instrument(name = "get_delivery", skip(state, caller))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TriggersRead)?;
    answer(&state, &id).await
}

async fn move_one(
    state: &AppState,
    id: &str,
    from: &[DeliveryStatus],
    to: DeliveryStatus,
    verb: &str,
) -> Result<HttpResponse, ApiError> {
    let delivery = found(state, id).await?;
    let moved = state
        .storage
        .deliveries()
        .transition(Pick::One(id), from, to, Utc::now())
        .await?;
    if moved == 0 {
        let current = found(state, id).await?.status;
        return Err(ApiError::invalid_state(
            format!(
                "delivery {id} is {}; only a {} delivery can be {verb}",
                current.as_str(),
                from.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            Some(json!({ "status": current.as_str() })),
        ));
    }
    let _ = state
        .triggers
        .directory
        .send(WakeTrigger {
            id: delivery.trigger_id,
        })
        .await;
    answer(state, id).await
}

/// `POST /admin/deliveries/{id}/retry`: a `failed` or `cancelled` delivery → `pending`.
#[tracing::instrument(name = "retry_delivery", skip(state, caller))]
pub async fn retry(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TriggersOperate)?;
    move_one(&state, &id, &REDRIVABLE, DeliveryStatus::Pending, "retried").await
}

/// `POST /admin/deliveries/{id}/cancel`: a waiting delivery → `cancelled`.
#[tracing::instrument(name = "cancel_delivery", skip(state, caller))]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TriggersOperate)?;
    move_one(
        &state,
        &id,
        &CANCELLABLE,
        DeliveryStatus::Cancelled,
        "cancelled",
    )
    .await
}

/// `POST /admin/deliveries/redrive {"triggerId", "status": "failed", "from"?, "to"?}` → `{"data": {"count"}}`:
/// every matching delivery of the trigger (recorded within the range) back to `pending`.
#[tracing::instrument(name = "redrive_deliveries", skip_all)]
pub async fn redrive(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::TriggersOperate)?;
    let invalid = |e: ValidationError| ApiError::validation(&e);
    let body: RedriveBody = parse_body(&body).map_err(invalid)?;
    let trigger_id = body
        .trigger_id
        .required("triggerId", || {
            ValidationError::invalid("triggerId", "must be a string")
        })
        .map_err(invalid)?;
    let status = body
        .status
        .optional(|| ValidationError::invalid("status", "must be a string"))
        .map_err(invalid)?
        .unwrap_or_else(|| "failed".to_owned());
    let status: DeliveryStatus = match status.parse() {
        Ok(s) if REDRIVABLE.contains(&s) => s,
        _ => {
            return Err(invalid(ValidationError::invalid(
                "status",
                "must be `failed` or `cancelled`",
            )));
        }
    };
    let time = |field: Field<String>, name: &str| -> Result<_, ApiError> {
        field
            .optional(|| ValidationError::invalid(name, "must be an RFC 3339 time"))
            .map_err(invalid)?
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(&t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        invalid(ValidationError::invalid(
                            name,
                            "must be an RFC 3339 time with an offset",
                        ))
                    })
            })
            .transpose()
    };
    let from = time(body.from, "from")?;
    let to = time(body.to, "to")?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(invalid(ValidationError::invalid(
            "from",
            "must not be after `to`",
        )));
    }
    existing(&state, &trigger_id).await?;
    let count = state
        .storage
        .deliveries()
        .transition(
            Pick::Trigger {
                id: &trigger_id,
                from,
                to,
            },
            &[status],
            DeliveryStatus::Pending,
            Utc::now(),
        )
        .await?;
    let _ = state
        .triggers
        .directory
        .send(WakeTrigger {
            id: trigger_id.clone(),
        })
        .await;
    tracing::info!(trigger_id = %trigger_id, count, "Deliveries redriven.");
    Ok(HttpResponse::Ok().json(json!({ "data": { "count": count } })))
}
