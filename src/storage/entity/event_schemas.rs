//! `event_schemas`: every version of every registered per-type JSON Schema.
use sea_orm::entity::prelude::*;

/// One version of a type's schema.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_schemas")]
pub struct Model {
    /// Increasing; polled (with the row count) to notice new versions.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The event type.
    pub event_type: String,
    /// 1, 2, … per type; the highest is active.
    pub version: i32,
    /// The schema as registered.
    #[sea_orm(column_type = "JsonBinary")]
    pub schema: Json,
    /// SHA-256 of the schema's canonical JSON.
    pub schema_hash: String,
    /// When it was registered.
    pub created_at: DateTimeUtc,
    /// The registering token's subject.
    pub created_by: String,
}

impl ActiveModelBehavior for ActiveModel {}
