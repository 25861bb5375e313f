//! The `herald_outbox` table: events written in a service's own transaction, waiting for the relay.

use sea_orm::entity::prelude::*;

/// One event waiting to be sent.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "herald_outbox")]
pub struct Model {
    /// Insertion order: the relay sends in this order.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// The event's id, assigned before the row was written, so a resend is a duplicate, never a second event.
    pub event_id: String,
    /// The validated envelope, as wire JSON.
    #[sea_orm(column_type = "Text")]
    pub envelope: String,
    /// When the row was written.
    pub created_at: DateTimeUtc,
    /// Failed sends so far.
    pub attempts: i32,
    /// The last send's failure, for operators.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
