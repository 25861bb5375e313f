//! `triggers`: one row per trigger, with its current pause state.
use sea_orm::entity::prelude::*;

/// One trigger.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "triggers")]
pub struct Model {
    /// A ULID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The display name.
    pub name: String,
    /// The normalized definition, JSON text.
    #[sea_orm(column_type = "Text")]
    pub definition: String,
    /// The webhook secret.
    #[sea_orm(column_type = "Text", nullable)]
    pub secret: Option<String>,
    /// Bumped by every create and update.
    pub version: i32,
    /// `running`, `paused` or `halfOpen`.
    pub state: String,
    /// When the pause ends.
    pub state_until: Option<DateTimeUtc>,
    /// Why it is in its state.
    #[sea_orm(column_type = "Text")]
    pub state_reason: String,
    /// Who put it there.
    pub state_actor: String,
    /// Since when.
    pub state_at: DateTimeUtc,
    /// Bumped by every state change.
    pub state_version: i64,
    /// Created.
    pub created_at: DateTimeUtc,
    /// Last updated.
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
