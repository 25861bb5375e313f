//! `event_trigger_attempts`: every attempt of a delivery.
use sea_orm::entity::prelude::*;

/// One attempt.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_trigger_attempts")]
pub struct Model {
    /// Increasing.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The delivery.
    pub delivery_id: String,
    /// The trigger.
    pub trigger_id: String,
    /// 1 for the first.
    pub attempt: i32,
    /// Started.
    pub started_at: DateTimeUtc,
    /// Finished.
    pub finished_at: DateTimeUtc,
    /// The HTTP status, when there was an answer.
    pub status_code: Option<i32>,
    /// What went wrong.
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
    /// `delivered`, `retryable` or `failed`.
    pub outcome: String,
}

impl ActiveModelBehavior for ActiveModel {}
