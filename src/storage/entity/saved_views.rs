//! `saved_views`: named event filters with their owner, visibility and usage counters (SPEC §6.8).
use sea_orm::entity::prelude::*;

/// One saved view.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "saved_views")]
pub struct Model {
    /// A ULID: sorts by creation time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The view's address, unique.
    #[sea_orm(unique)]
    pub slug: String,
    /// The name.
    pub name: String,
    /// The description.
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// The normalized filters, as JSON text.
    #[sea_orm(column_type = "Text")]
    pub filters: String,
    /// `private` or `shared`.
    pub visibility: String,
    /// The owner's token subject.
    pub owner_subject: String,
    /// Times applied.
    pub applied_count: i64,
    /// Times shared.
    pub shared_count: i64,
    /// When last applied.
    pub last_applied_at: Option<DateTimeUtc>,
    /// When created.
    pub created_at: DateTimeUtc,
    /// When last changed.
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
