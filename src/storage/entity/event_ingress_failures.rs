//! `event_ingress_failures`: the ingress dead letters.
use sea_orm::entity::prelude::*;

/// One dead letter.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_ingress_failures")]
pub struct Model {
    /// A ULID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The SPEC reason code (`invalid_field`, `poison`, …).
    pub reason: String,
    /// A human sentence saying what is wrong.
    #[sea_orm(column_type = "Text")]
    pub message: String,
    /// The envelope's source, when it could be read.
    pub source: Option<String>,
    /// The envelope's id, when it could be read.
    pub event_id: Option<String>,
    /// The Redis stream entry id, for stream entries.
    pub stream_id: Option<String>,
    /// The entry as received, truncated to 1 MiB.
    #[sea_orm(column_type = "Text")]
    pub raw: String,
    /// When the failure was recorded.
    pub received_at: DateTimeUtc,
    /// When an operator redrove it.
    pub redriven_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
