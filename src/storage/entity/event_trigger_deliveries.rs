//! `event_trigger_deliveries`: one outcome per (trigger, event, replay), and the delivery outbox.
use sea_orm::entity::prelude::*;

/// One delivery.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_trigger_deliveries")]
pub struct Model {
    /// A ULID (`webhook-id`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The trigger.
    pub trigger_id: String,
    /// The event.
    pub event_id: String,
    /// `''` for originals.
    pub replay_id: String,
    /// The event's `ingressSequence`.
    pub event_sequence: i64,
    /// `DeliveryStatus`.
    pub status: String,
    /// For `filtered`: which predicate failed.
    pub filtered_predicate: Option<i32>,
    /// The rendered idempotency key.
    #[sea_orm(column_type = "Text", nullable)]
    pub idempotency_key: Option<String>,
    /// Attempts started.
    pub attempts: i32,
    /// When the next attempt may start.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// The last attempt's HTTP status.
    pub last_status_code: Option<i32>,
    /// The last attempt's error.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// The trigger version that evaluated it.
    pub trigger_version: i32,
    /// Recorded.
    pub created_at: DateTimeUtc,
    /// Last changed.
    pub updated_at: DateTimeUtc,
    /// When the target accepted it.
    pub delivered_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
