//! `source_stats`: per-source counters, summed across instances by atomic upserts.
use sea_orm::entity::prelude::*;

/// One source's counters.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "source_stats")]
pub struct Model {
    /// The source.
    #[sea_orm(primary_key, auto_increment = false)]
    pub source: String,
    /// Events stored.
    pub total: i64,
    /// Events whose evaluation was deferred.
    pub throttled: i64,
    /// Dead letters with this source.
    pub failures: i64,
    /// Deferred events an operator discarded.
    pub dropped: i64,
    /// The sum of `receivedAt − occurredAt` over the stored events, in milliseconds.
    pub lag_ms_sum: i64,
    /// The lag of the latest stored event.
    pub lag_ms_latest: Option<i64>,
    /// The largest lag seen.
    pub lag_ms_max: Option<i64>,
    /// When the latest stored event was received.
    pub last_event_at: Option<DateTimeUtc>,
    /// When a counter last changed.
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
