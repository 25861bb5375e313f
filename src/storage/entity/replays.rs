//! `replays`: one row per replay (SPEC §6.2), with its read's cursor and counts.
use sea_orm::entity::prelude::*;

/// One replay.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "replays")]
pub struct Model {
    /// A ULID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `ReplayStatus`.
    pub status: String,
    /// Count only.
    pub dry_run: bool,
    /// Lower bound on `occurredAt`.
    pub from_at: DateTimeUtc,
    /// Upper bound on `occurredAt`.
    pub to_at: DateTimeUtc,
    /// The type filter as given.
    #[sea_orm(column_type = "Text", nullable)]
    pub event_type: Option<String>,
    /// The source filter as given.
    #[sea_orm(column_type = "Text", nullable)]
    pub event_source: Option<String>,
    /// A JSON array of trigger ids.
    #[sea_orm(column_type = "Text")]
    pub trigger_ids: String,
    /// Deliveries per second.
    pub rate_per_second: f64,
    /// The highest `ingressSequence` when asked for.
    pub upper_sequence: i64,
    /// The last `ingressSequence` read.
    pub cursor: i64,
    /// Events of the range, once counted.
    pub total: Option<i64>,
    /// Events read.
    pub scanned: i64,
    /// Pairs matched.
    pub matched: i64,
    /// The token subject.
    #[sea_orm(column_type = "Text")]
    pub created_by: String,
    /// Asked for.
    pub created_at: DateTimeUtc,
    /// Last moved.
    pub updated_at: DateTimeUtc,
    /// First started.
    pub started_at: Option<DateTimeUtc>,
    /// Completed or cancelled.
    pub finished_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
