//! `source_deferrals`: events whose trigger evaluation a source's rate limiter deferred.
use sea_orm::entity::prelude::*;

/// One deferred event.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "source_deferrals")]
pub struct Model {
    /// The event's source.
    #[sea_orm(primary_key, auto_increment = false)]
    pub source: String,
    /// The event's `ingressSequence`; a source's backlog is released in this order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub ingress_sequence: i64,
    /// When it was deferred.
    pub deferred_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
