//! `trigger_state_changes`: the event-sourced pause state of each trigger.
use sea_orm::entity::prelude::*;

/// One transition.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trigger_state_changes")]
pub struct Model {
    /// Increasing.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The trigger.
    pub trigger_id: String,
    /// When.
    pub at: DateTimeUtc,
    /// The state before.
    pub from_state: String,
    /// The state after.
    pub to_state: String,
    /// Why.
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    /// Who (`herald` for automatic transitions).
    pub actor: String,
    /// For a pause: when it ends.
    pub until: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
