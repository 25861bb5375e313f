//! `/healthz` (the process is up) and `/readyz` (database and Redis reachable, not shutting down). No token needed.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::http::{ApiError, AppState};

/// `GET /healthz`.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`.
#[tracing::instrument(name = "readyz", skip_all)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let database = state.storage.ping().await.err().map(|e| e.to_string());
    let queue = state.queue.ping().await.err().map(|e| e.to_string());
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
