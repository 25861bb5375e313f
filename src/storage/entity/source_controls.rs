//! `source_controls`: the on-call controls of sources (pause, resume, discard-backlog), newest last.
use sea_orm::entity::prelude::*;

/// One control.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "source_controls")]
pub struct Model {
    /// A ULID: sorts by time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The source.
    pub source: String,
    /// `pause`, `resume` or `discard_backlog`.
    pub action: String,
    /// The acting token's subject.
    pub actor: String,
    /// Why, as the operator put it.
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
    /// pause: the duration asked for (`None`: until resumed).
    pub duration_ms: Option<i64>,
    /// resume: whether a pause was in force and ended.
    pub ended_pause: Option<bool>,
    /// discard_backlog: how many deferred evaluations were dropped.
    pub discarded: Option<i64>,
    /// When.
    pub at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
