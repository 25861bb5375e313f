//! The HTTP API: the whole route table in [`configure`], shared state in [`AppState`].

mod auth;
mod error;
mod pagination;
pub(crate) mod routes;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::{HttpResponse, web};

use crate::auth::AccessPolicy;
use crate::config::EventsMode;
use crate::queue::Queue;
use crate::storage::Storage;

pub use auth::Caller;
pub use error::ApiError;

/// What every handler shares.
pub struct AppState {
    /// The database.
    pub storage: Storage,
    /// The ingress queue.
    pub queue: Queue,
    /// Who may call.
    pub access: AccessPolicy,
    /// `inline` or `redis`, as reported by health.
    pub mode: EventsMode,
    /// Largest accepted payload (`HERALD_MAX_PAYLOAD_BYTES`).
    pub max_payload_bytes: usize,
    /// Largest accepted request body (`HERALD_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Cleared when shutdown begins, so `/readyz` turns 503 before anything stops.
    pub ready: Arc<AtomicBool>,
    /// Assigns ids to envelopes without one; monotonic, so ids of one process sort in acceptance order.
    pub ids: std::sync::Mutex<ulid::Generator>,
}

impl AppState {
    /// True until shutdown begins.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(routes::health::healthz))
        .route("/readyz", web::get().to(routes::health::readyz))
        .route("/events", web::post().to(routes::ingest::publish))
        .route(
            "/admin/events/{id}",
            web::get().to(routes::events::get_event),
        )
        .route(
            "/admin/dead-letters",
            web::get().to(routes::dead_letters::list),
        )
        .route(
            "/admin/dead-letters/{id}",
            web::get().to(routes::dead_letters::get),
        )
        .default_service(web::to(not_found));
}

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    ApiError::not_found(format!("no route for {} {}", req.method(), req.path())).error_response()
}
