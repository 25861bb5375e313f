//! `source_pauses`: the pause in force per source, shared by every instance.
use sea_orm::entity::prelude::*;

/// One paused source.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "source_pauses")]
pub struct Model {
    /// The source.
    #[sea_orm(primary_key, auto_increment = false)]
    pub source: String,
    /// `manual` or `rate_limit`.
    pub kind: String,
    /// Why, as the operator (or Herald) put it.
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    /// The acting token's subject; `herald` for automatic pauses.
    pub actor: String,
    /// When the pause was made (or last updated).
    pub paused_at: DateTimeUtc,
    /// When it ends; `None`: until resumed.
    pub paused_until: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
