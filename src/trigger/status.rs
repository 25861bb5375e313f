//! What became of one (trigger, event) pair (SPEC §5.3), and the TTL rule (§5.8).

use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::UnknownSpelling;

/// A delivery's status: one row of `event_trigger_deliveries` per (trigger, event, replay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// A predicate failed (the row stores which).
    Filtered,
    /// The trigger is paused; delivered on resume, in order.
    Held,
    /// The throttle or the concurrency cap said later.
    Throttled,
    /// Its idempotency key was delivered before.
    Skipped,
    /// Its event's ttl passed before it could be delivered.
    Expired,
    /// Recorded, not yet attempted.
    Pending,
    /// An attempt is in flight.
    Delivering,
    /// An attempt failed; another is scheduled.
    Retrying,
    /// The target accepted it.
    Delivered,
    /// Its attempts are used up, or the target refused it: the delivery's dead letter.
    Failed,
    /// An operator cancelled it.
    Cancelled,
}

impl DeliveryStatus {
    /// Every status, in SPEC's order.
    pub const ALL: [DeliveryStatus; 11] = [
        DeliveryStatus::Filtered,
        DeliveryStatus::Held,
        DeliveryStatus::Throttled,
        DeliveryStatus::Skipped,
        DeliveryStatus::Expired,
        DeliveryStatus::Pending,
        DeliveryStatus::Delivering,
        DeliveryStatus::Retrying,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Cancelled,
    ];

    /// The stored and wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Filtered => "filtered",
            DeliveryStatus::Held => "held",
            DeliveryStatus::Throttled => "throttled",
            DeliveryStatus::Skipped => "skipped",
            DeliveryStatus::Expired => "expired",
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivering => "delivering",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }

    /// Whether nothing more will happen to it by itself (an operator may still retry a failed or cancelled one).
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Filtered
                | DeliveryStatus::Skipped
                | DeliveryStatus::Expired
                | DeliveryStatus::Delivered
                | DeliveryStatus::Failed
                | DeliveryStatus::Cancelled
        )
    }

    /// Whether the TTL rule applies: a delivery still waiting (pending, held or throttled) expires.
    pub const fn may_expire(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Pending | DeliveryStatus::Held | DeliveryStatus::Throttled
        )
    }

    /// Whether an operator may send it back to `pending` (SPEC §6.3 retry, redrive).
    pub const fn is_retryable_by_hand(self) -> bool {
        matches!(self, DeliveryStatus::Failed | DeliveryStatus::Cancelled)
    }
}

impl FromStr for DeliveryStatus {
    type Err = UnknownSpelling;

    fn from_str(s: &str) -> Result<DeliveryStatus, UnknownSpelling> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownSpelling::new("delivery status", s))
    }
}

/// Whether an event with `ttl_ms` that occurred at `occurred_at` may no longer be delivered at `now` (SPEC §5.8:
/// not after `occurredAt + ttl`). An event without a ttl never expires.
pub fn is_expired(occurred_at: DateTime<Utc>, ttl_ms: Option<i64>, now: DateTime<Utc>) -> bool {
    ttl_ms.is_some_and(|ttl| now > occurred_at + TimeDelta::milliseconds(ttl))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_status_reads_back_from_its_spelling() {
        for status in DeliveryStatus::ALL {
            assert_eq!(status.as_str().parse::<DeliveryStatus>(), Ok(status));
        }
        assert!("Delivered".parse::<DeliveryStatus>().is_err());
    }

    #[test]
    fn waiting_statuses_expire_and_final_ones_do_not() {
        for status in DeliveryStatus::ALL {
            assert!(
                !(status.may_expire() && status.is_final()),
                "{status:?} cannot both wait and be final"
            );
        }
        assert!(DeliveryStatus::Held.may_expire());
        assert!(!DeliveryStatus::Retrying.may_expire());
        assert!(DeliveryStatus::Failed.is_retryable_by_hand());
        assert!(!DeliveryStatus::Delivered.is_retryable_by_hand());
    }

    #[test]
    fn an_event_expires_after_occurred_at_plus_ttl() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let ms = TimeDelta::milliseconds;
        assert!(
            !is_expired(at, Some(1_000), at + ms(1_000)),
            "at the instant it is still live"
        );
        assert!(is_expired(at, Some(1_000), at + ms(1_001)));
        assert!(!is_expired(at, None, at + TimeDelta::days(365)));
    }
}
