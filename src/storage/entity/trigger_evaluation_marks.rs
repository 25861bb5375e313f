//! `trigger_evaluation_marks`: per instance, where its unevaluated stored events begin.
use sea_orm::entity::prelude::*;

/// One instance's mark.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trigger_evaluation_marks")]
pub struct Model {
    /// host-pid-ulid.
    #[sea_orm(primary_key, auto_increment = false)]
    pub instance_id: String,
    /// Every event this instance stored below it is evaluated.
    pub unsettled_from: i64,
    /// The last heartbeat.
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
