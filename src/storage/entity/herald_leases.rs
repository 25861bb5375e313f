//! `herald_leases`: named leases (the inline-mode single-instance lease).
use sea_orm::entity::prelude::*;

/// One lease.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "herald_leases")]
pub struct Model {
    /// The lease name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// `host:pid:ulid` of the holder.
    pub holder: String,
    /// When the holder took it.
    pub acquired_at: DateTimeUtc,
    /// When it lapses unless renewed.
    pub expires_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
