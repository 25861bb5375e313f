//! [`ReplayView`]: a replay as `POST /admin/replays` and `GET /admin/replays/{id}` send it (SPEC §6.2).

use std::collections::HashMap;

use serde::Serialize;

use crate::domain::format_timestamp;
use crate::trigger::{DeliveryStatus, Replay};

/// The counts of a replay: events read, pairs matched, and its deliveries by where they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayCountsView {
    /// Deliveries cancelled (with the replay, or one by one).
    pub cancelled: u64,
    /// Deliveries delivered.
    pub delivered: u64,
    /// Deliveries that failed for good.
    pub failed: u64,
    /// (trigger, event) pairs that matched (in a dry run, what would have been delivered).
    pub matched: u64,
    /// Events of the range read.
    pub scanned: u64,
    /// Deliveries not finished yet: pending, held (trigger paused), throttled, retrying or in flight.
    pub waiting: u64,
}

/// A replay: `{id, status, dryRun, from, to, type, source, triggerIds, ratePerSecond, counts, total, progress,
/// createdBy, createdAt, startedAt, finishedAt}`, absent fields `null`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayView<'a> {
    /// What it read and what became of its deliveries.
    pub counts: ReplayCountsView,
    /// Asked for.
    pub created_at: String,
    /// The token subject that asked.
    pub created_by: &'a str,
    /// Counted only, nothing delivered.
    pub dry_run: bool,
    /// Completed or cancelled.
    pub finished_at: Option<String>,
    /// Lower bound on `occurredAt`.
    pub from: String,
    /// A ULID; deliveries it made carry it as `replayId`.
    pub id: &'a str,
    /// Events read of those counted, 0 to 1 (1 once completed).
    pub progress: f64,
    /// Deliveries recorded per second, at most.
    pub rate_per_second: f64,
    /// The source filter.
    pub source: Option<&'a str>,
    /// First started.
    pub started_at: Option<String>,
    /// `pending`, `running`, `completed` or `cancelled`.
    pub status: &'static str,
    /// Upper bound on `occurredAt`.
    pub to: String,
    /// Events of the range to read, once counted.
    pub total: Option<u64>,
    /// The triggers it delivers to.
    pub trigger_ids: &'a [String],
    /// The type filter.
    #[serde(rename = "type")]
    pub event_type: Option<&'a str>,
}

impl<'a> ReplayView<'a> {
    /// The view of `replay` with its deliveries counted by status.
    pub fn of(replay: &'a Replay, deliveries: &HashMap<DeliveryStatus, u64>) -> ReplayView<'a> {
        let count = |status| deliveries.get(&status).copied().unwrap_or(0);
        let waiting = [
            DeliveryStatus::Pending,
            DeliveryStatus::Held,
            DeliveryStatus::Throttled,
            DeliveryStatus::Retrying,
            DeliveryStatus::Delivering,
        ]
        .into_iter()
        .map(count)
        .sum();
        let request = &replay.request;
        ReplayView {
            counts: ReplayCountsView {
                cancelled: count(DeliveryStatus::Cancelled),
                delivered: count(DeliveryStatus::Delivered),
                failed: count(DeliveryStatus::Failed),
                matched: replay.matched,
                scanned: replay.scanned,
                waiting,
            },
            created_at: format_timestamp(replay.created_at),
            created_by: &replay.created_by,
            dry_run: request.dry_run,
            finished_at: replay.finished_at.map(format_timestamp),
            from: format_timestamp(request.from),
            id: &replay.id,
            progress: replay.progress(),
            rate_per_second: request.rate_per_second,
            source: request.source.as_ref().map(|p| p.as_str()),
            started_at: replay.started_at.map(format_timestamp),
            status: replay.status.as_str(),
            to: format_timestamp(request.to),
            total: replay.total,
            trigger_ids: &request.trigger_ids,
            event_type: request.event_type.as_ref().map(|p| p.as_str()),
        }
    }
}
