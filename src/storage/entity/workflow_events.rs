//! `workflow_events`: every accepted event.
use sea_orm::entity::prelude::*;

/// One stored event.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_events")]
pub struct Model {
    /// The event id (`EventId`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Increasing in commit order.
    pub ingress_sequence: i64,
    /// The event type.
    #[sea_orm(column_name = "type")]
    pub event_type: String,
    /// The publishing source.
    pub source: String,
    /// When the event happened, UTC, millisecond precision.
    pub occurred_at: DateTimeUtc,
    /// When Herald accepted it.
    pub received_at: DateTimeUtc,
    /// The payload.
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    /// Correlation id.
    pub correlation_id: Option<String>,
    /// Causation id.
    pub causation_id: Option<String>,
    /// Time to live in milliseconds.
    pub ttl_ms: Option<i64>,
    /// Metadata object.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub metadata: Option<Json>,
    /// Version of the type's schema the payload was validated against.
    pub schema_version: Option<i32>,
    /// SHA-256 of the canonical `{type, source, payload}`.
    pub content_hash: String,
    /// `critical`, `error`, `warning`, `info` or `debug` (`Severity`), computed at ingest.
    pub severity: String,
    /// The Redis stream entry the event came from, when it came from one.
    pub stream_id: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
