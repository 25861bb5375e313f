//! `GET /metrics/prometheus` (scope `metrics:read`): this instance's metrics in the Prometheus text format.
//!
//! Counters are this instance's; the source backlog and paused-source gauges are read from storage at each
//! scrape (one grouped read of `source_deferrals`, one of `source_pauses`), so they describe the deployment. If
//! that read fails the gauges keep their last values and the scrape still answers: a metrics endpoint that fails
//! with the database hides the counters that would explain why.

use actix_web::{HttpResponse, web};
use chrono::Utc;

use crate::auth::Scope;
use crate::http::{ApiError, AppState, Caller};
use crate::metrics::PROMETHEUS_CONTENT_TYPE;

/// `GET /metrics/prometheus`.
#[tracing::instrument(name = "metrics_prometheus", skip_all)]
pub async fn prometheus(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::MetricsRead)?;
    let sources = state.storage.sources();
    match sources.backlogs().await {
        Ok(backlogs) => state.metrics.set_source_backlogs(&backlogs),
        Err(e) => {
            tracing::warn!(error.message = %e, "Could not read source backlogs for metrics; reporting the last values.")
        }
    }
    match sources.pauses().await {
        Ok(pauses) => {
            let now = Utc::now();
            state
                .metrics
                .set_sources_paused(pauses.iter().filter(|p| p.is_active(now)).count());
        }
        Err(e) => {
            tracing::warn!(error.message = %e, "Could not read source pauses for metrics; reporting the last value.")
        }
    }
    let text = state.metrics.encode().map_err(ApiError::unexpected)?;
    Ok(HttpResponse::Ok()
        .content_type(PROMETHEUS_CONTENT_TYPE)
        .body(text))
}
