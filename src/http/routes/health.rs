//! `/healthz` (the process is up) and `/readyz` (database and Redis reachable, not shutting down). No token needed.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::http::{ApiError, AppState};

/// `GET /healthz`.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// A readiness probe must answer even while a dependency hangs.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The check's error, if it fails or takes longer than `limit`.
async fn within<E: std::fmt::Display>(
    limit: Duration,
    check: impl Future<Output = Result<(), E>>,
) -> Option<String> {
    match tokio::time::timeout(limit, check).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {} ms", limit.as_millis())),
    }
}

/// `GET /readyz`.
#[tracing::instrument(name = "readyz", skip_all)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let database = within(CHECK_TIMEOUT, state.storage.ping()).await;
    let queue = within(CHECK_TIMEOUT, state.queue.ping()).await;
    let checks = json!({
        "database": database.clone().unwrap_or_else(|| "ok".into()),
        "queue": queue.clone().unwrap_or_else(|| "ok".into()),
        "shuttingDown": !state.is_ready(),
    });
    if !state.is_ready() {
        return Err(ApiError::unavailable(
            "Herald is shutting down",
            Some(checks),
        ));
    }
    if database.is_some() || queue.is_some() {
        return Err(ApiError::unavailable(
            "a dependency is unreachable",
            Some(checks),
        ));
    }
    Ok(HttpResponse::Ok()
        .json(json!({ "status": "ready", "mode": state.mode.as_str(), "checks": checks })))
}
