//! `trigger_changes`: every create, update and delete of a trigger.
use sea_orm::entity::prelude::*;

/// One change.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trigger_changes")]
pub struct Model {
    /// Increasing.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The trigger.
    pub trigger_id: String,
    /// The version it made.
    pub version: i32,
    /// `create`, `update` or `delete`.
    pub action: String,
    /// The token subject.
    pub actor: String,
    /// When.
    pub at: DateTimeUtc,
    /// The definition after the change.
    #[sea_orm(column_type = "Text")]
    pub definition: String,
}

impl ActiveModelBehavior for ActiveModel {}
