//! The shapes of `/admin/event-health` and `/admin/queue-health` (SPEC §6.9) that are written more than once: a
//! queue ([`QueueView`], SPEC's `Q`) and a retry backlog ([`RetriesView`], SPEC's `R`).

use serde::Serialize;

/// A queue: `{mode, depth, pending, oldestPendingAgeMs, consumers}`, numbers `null` with an `error` when its
/// backing service does not answer; `/admin/queue-health` adds `name` and `kind` (and the stream's details).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueView<'a> {
    /// Consumers reading it; `null` when unknown.
    pub consumers: Option<u64>,
    /// Entries without an outcome; `null` when unknown.
    pub depth: Option<u64>,
    /// Why the numbers are unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The Redis consumer group (queue health, redis mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<&'a str>,
    /// What holds it: `redis_stream`, `in_process` or `table` (queue health).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'a str>,
    /// Entries held in all, acknowledged ones included (redis mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// `inline` or `redis`.
    pub mode: &'a str,
    /// Which queue (queue health).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// Age of the oldest entry without an outcome; `null` when none (or unknown).
    pub oldest_pending_age_ms: Option<u64>,
    /// Entries delivered and not yet acknowledged; `null` when unknown.
    pub pending: Option<u64>,
    /// Sources with deferred events (the deferral table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<u64>,
    /// The Redis stream (queue health, redis mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<&'a str>,
}

impl<'a> QueueView<'a> {
    /// A queue with nothing in it and nobody reading it.
    pub fn idle(mode: &'a str) -> QueueView<'a> {
        QueueView {
            mode,
            depth: Some(0),
            pending: Some(0),
            consumers: Some(0),
            ..QueueView::default()
        }
    }

    /// A queue whose backing service did not answer: `null` numbers and the `error`.
    pub fn unreachable(mode: &'a str, error: String) -> QueueView<'a> {
        QueueView {
            mode,
            error: Some(error),
            ..QueueView::default()
        }
    }
}

/// A retry backlog: `{total, overdue, nextAttemptAt}` (`null`: nothing due by itself).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetriesView {
    /// When the earliest waiting item is next tried.
    pub next_attempt_at: Option<String>,
    /// Items whose time has come.
    pub overdue: u64,
    /// Items waiting in all.
    pub total: u64,
}
