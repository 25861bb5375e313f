//! The HTTP API: the whole route table in [`configure`] (the Explorer's page and assets in `explorer/`), shared
//! state in [`AppState`].

mod auth;
mod error;
mod explorer;
pub(crate) mod pagination;
pub(crate) mod routes;
pub(crate) mod wire;

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
    /// How long one admin query may run (`HERALD_QUERY_TIMEOUT_MS`).
    pub query_timeout: std::time::Duration,
    /// Cleared when shutdown begins, so `/readyz` turns 503 before anything stops.
    pub ready: Arc<AtomicBool>,
    /// Assigns ids to envelopes without one; monotonic, so ids of one process sort in acceptance order.
    pub ids: std::sync::Mutex<ulid::Generator>,
    /// The WebSocket hub, which `/ws` sessions register with.
    pub ws_hub: crate::actors::WsHubLink,
    /// The source directory (pauses, backlogs, release counts) and the configured rate limits.
    pub sources: crate::actors::SourcesLink,
    /// The trigger directory and the rules definitions are checked against.
    pub triggers: TriggersLink,
    /// This instance's metrics, scraped at `/metrics/prometheus`.
    pub metrics: crate::metrics::Metrics,
    /// The per-type JSON Schema registry: the catalog `POST /events` checks payloads against, refreshed at once
    /// after a registration.
    pub schemas: Arc<crate::schema_registry::SchemaRegistry>,
}

/// What the trigger routes need besides storage: the directory (to reload a changed trigger at once, to pause and
/// resume through its actor) and the deployment's definition rules.
#[derive(Clone)]
pub struct TriggersLink {
    /// The directory.
    pub directory: actix::Addr<crate::actors::TriggerDirectory>,
    /// `HERALD_WORKFLOW_STREAM`, `…_PREFIX`, the ingress stream.
    pub rules: crate::trigger::DefinitionRules,
    /// The auto-pause settings (health counts failures over their window).
    pub pause: crate::trigger::PauseConfig,
    /// The replay runner, told at once when a replay is asked for here.
    pub replays: actix::Addr<crate::actors::ReplayRunner>,
}

impl AppState {
    /// A ULID from this instance's monotonic generator, so ids made in one millisecond still sort in the order
    /// they were made (event ids, source control ids).
    pub fn next_ulid(&self) -> ulid::Ulid {
        let now = std::time::SystemTime::now();
        // unwrap: the mutex is never held across a panic. The generator only fails when more than 2^80 ids are
        // asked for within one millisecond; a fresh random ULID is then just as unique.
        self.ids
            .lock()
            .unwrap()
            .generate_from_datetime(now)
            .unwrap_or_else(|_| ulid::Ulid::generate())
    }

    /// True until shutdown begins.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    explorer::configure(cfg);
    cfg.route("/healthz", web::get().to(routes::health::healthz))
        .route("/readyz", web::get().to(routes::health::readyz))
        .route("/events", web::post().to(routes::ingest::publish))
        .route("/admin/me", web::get().to(routes::me::me))
        .route("/ws", web::get().to(routes::ws::connect))
        .route("/admin/events", web::get().to(routes::events::list_events))
        // Before `{id}`, which would otherwise take these names as event ids.
        .route("/admin/events/stats", web::get().to(routes::events::stats))
        .route(
            "/admin/events/timeline",
            web::get().to(routes::events::timeline),
        )
        .route(
            "/admin/events/{id}",
            web::get().to(routes::events::get_event),
        )
        .route("/admin/sources", web::get().to(routes::sources::list))
        .route(
            "/admin/sources/history",
            web::get().to(routes::sources::history),
        )
        .route(
            "/admin/sources/pause",
            web::post().to(routes::sources::pause),
        )
        .route(
            "/admin/sources/resume",
            web::post().to(routes::sources::resume),
        )
        .route(
            "/admin/sources/discard-backlog",
            web::post().to(routes::sources::discard_backlog),
        )
        .route(
            "/admin/event-health",
            web::get().to(routes::event_health::event_health),
        )
        .route(
            "/admin/queue-health",
            web::get().to(routes::event_health::queue_health),
        )
        .route(
            "/metrics/prometheus",
            web::get().to(routes::metrics::prometheus),
        )
        .route(
            "/admin/dead-letters",
            web::get().to(routes::dead_letters::list),
        )
        .route(
            "/admin/dead-letters/{id}",
            web::get().to(routes::dead_letters::get),
        )
        .route(
            "/admin/dead-letters/{id}",
            web::delete().to(routes::dead_letters::delete),
        )
        .route(
            "/admin/dead-letters/{id}/redrive",
            web::post().to(routes::dead_letters::redrive),
        )
        .route(
            "/admin/event-schemas",
            web::get().to(routes::event_schemas::list),
        )
        .route(
            "/admin/event-schemas/{type}",
            web::get().to(routes::event_schemas::get),
        )
        .route(
            "/admin/event-schemas/{type}",
            web::put().to(routes::event_schemas::put),
        )
        .route("/admin/triggers", web::get().to(routes::triggers::list))
        .route("/admin/triggers", web::post().to(routes::triggers::create))
        .route(
            "/admin/triggers/backtest",
            web::post().to(routes::backtest::backtest),
        )
        .route("/admin/triggers/{id}", web::get().to(routes::triggers::get))
        .route(
            "/admin/triggers/{id}",
            web::patch().to(routes::triggers::update),
        )
        .route(
            "/admin/triggers/{id}",
            web::delete().to(routes::triggers::delete),
        )
        .route(
            "/admin/triggers/{id}/pause",
            web::post().to(routes::triggers::pause),
        )
        .route(
            "/admin/triggers/{id}/resume",
            web::post().to(routes::triggers::resume),
        )
        .route(
            "/admin/triggers/{id}/explain",
            web::post().to(routes::explain::explain),
        )
        .route(
            "/admin/triggers/{id}/history",
            web::get().to(routes::triggers::history),
        )
        .route(
            "/admin/triggers/{id}/deliveries",
            web::get().to(routes::deliveries::list),
        )
        .route(
            "/admin/deliveries/redrive",
            web::post().to(routes::deliveries::redrive),
        )
        .route(
            "/admin/deliveries/{id}",
            web::get().to(routes::deliveries::get),
        )
        .route(
            "/admin/deliveries/{id}/retry",
            web::post().to(routes::deliveries::retry),
        )
        .route(
            "/admin/deliveries/{id}/cancel",
            web::post().to(routes::deliveries::cancel),
        )
        .route("/admin/replays", web::post().to(routes::replays::create))
        .route("/admin/replays/{id}", web::get().to(routes::replays::get))
        .route(
            "/admin/replays/{id}/cancel",
            web::post().to(routes::replays::cancel),
        )
        .route(
            "/admin/saved-views",
            web::get().to(routes::saved_views::list),
        )
        .route(
            "/admin/saved-views",
            web::post().to(routes::saved_views::create),
        )
        .route(
            "/admin/saved-views/{slug}",
            web::get().to(routes::saved_views::get),
        )
        .route(
            "/admin/saved-views/{slug}",
            web::patch().to(routes::saved_views::update),
        )
        .route(
            "/admin/saved-views/{slug}",
            web::delete().to(routes::saved_views::delete),
        )
        .route(
            "/admin/saved-views/{slug}/apply",
            web::post().to(routes::saved_views::apply),
        )
        .route(
            "/admin/saved-views/{slug}/share",
            web::post().to(routes::saved_views::share),
        )
        .default_service(web::to(not_found));
}

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    ApiError::not_found(format!("no route for {} {}", req.method(), req.path())).error_response()
}
