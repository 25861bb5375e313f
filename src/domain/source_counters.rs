//! [`SourceCounters`] (SPEC §4 metrics) and [`StatsDelta`], an amount to add to one source's counters. Counters
//! only ever grow, so instances add deltas and the sums are deployment-wide by construction.

use chrono::{DateTime, Utc};

use crate::domain::SourceName;

/// A source's counters, as stored and as a write adds to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceCounters {
    /// Events stored.
    pub total: i64,
    /// Events whose evaluation was deferred.
    pub throttled: i64,
    /// Dead letters with this source.
    pub failures: i64,
    /// Deferred events an operator discarded.
    pub dropped: i64,
    /// The sum of the lags, in milliseconds (the average is this over `total`).
    pub lag_ms_sum: i64,
    /// The lag of the latest event.
    pub lag_ms_latest: Option<i64>,
    /// The largest lag.
    pub lag_ms_max: Option<i64>,
    /// When the latest event was received.
    pub last_event_at: Option<DateTime<Utc>>,
}

impl SourceCounters {
    /// Counts one stored event received at `received_at` with `lag_ms` (`receivedAt − occurredAt`).
    pub fn add_event(&mut self, received_at: DateTime<Utc>, lag_ms: i64) {
        self.total += 1;
        self.lag_ms_sum = self.lag_ms_sum.saturating_add(lag_ms);
        self.lag_ms_max = Some(self.lag_ms_max.map_or(lag_ms, |m| m.max(lag_ms)));
        if self.last_event_at.is_none_or(|at| received_at >= at) {
            self.last_event_at = Some(received_at);
            self.lag_ms_latest = Some(lag_ms);
        }
    }

    /// Adds `other` to these counters, so that several batches become one write.
    pub fn merge(&mut self, other: SourceCounters) {
        self.total += other.total;
        self.throttled += other.throttled;
        self.failures += other.failures;
        self.dropped += other.dropped;
        self.lag_ms_sum = self.lag_ms_sum.saturating_add(other.lag_ms_sum);
        self.lag_ms_max = match (self.lag_ms_max, other.lag_ms_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = other.last_event_at
            && self.last_event_at.is_none_or(|mine| at >= mine)
        {
            self.last_event_at = Some(at);
            self.lag_ms_latest = other.lag_ms_latest;
        }
    }

    /// The average lag in milliseconds, `None` before the first event.
    pub fn lag_ms_avg(&self) -> Option<i64> {
        (self.total > 0).then(|| self.lag_ms_sum / self.total)
    }
}

/// What to add to one source's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsDelta {
    /// The source.
    pub source: SourceName,
    /// The amounts to add.
    pub counters: SourceCounters,
}

impl StatsDelta {
    /// Nothing to add yet.
    pub fn zero(source: SourceName) -> StatsDelta {
        StatsDelta {
            source,
            counters: SourceCounters::default(),
        }
    }
}
