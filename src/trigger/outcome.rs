//! What an attempt makes of its delivery (SPEC §5.5–§5.7): delivered, another attempt at a time, failed, or — for
//! the half-open probe — back in line, held.

use chrono::{DateTime, TimeDelta, Utc};

use super::record::AttemptOutcome;
use super::retry::RetryPolicy;
use super::status::DeliveryStatus;

/// How one attempt ended, as the delivery sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ended {
    /// Delivered, retryable or failed.
    pub outcome: AttemptOutcome,
    /// Attempts made so far, this one included (≥ 1).
    pub attempts: u32,
    /// Whether it was the half-open probe.
    pub probe: bool,
    /// The receiver's `Retry-After`.
    pub retry_after: Option<TimeDelta>,
}

/// The delivery's next status and, for `retrying`, when to try again. `jitter` is in [−1, 1].
pub fn next_status(
    policy: &RetryPolicy,
    ended: Ended,
    now: DateTime<Utc>,
    jitter: f64,
) -> (DeliveryStatus, Option<DateTime<Utc>>) {
    match ended.outcome {
        AttemptOutcome::Delivered => (DeliveryStatus::Delivered, None),
        // A failed probe pauses the trigger again and stays first in line, whatever its attempts (§5.7).
        _ if ended.probe => (DeliveryStatus::Held, None),
        AttemptOutcome::Failed => (DeliveryStatus::Failed, None),
        AttemptOutcome::Retryable => {
            match policy.next_attempt_at(ended.attempts.max(1), now, jitter, ended.retry_after) {
                Some(at) => (DeliveryStatus::Retrying, Some(at)),
                None => (DeliveryStatus::Failed, None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(outcome: AttemptOutcome, attempts: u32, probe: bool) -> Ended {
        Ended {
            outcome,
            attempts,
            probe,
            retry_after: None,
        }
    }

    #[test]
    fn retryable_failures_are_scheduled_until_the_attempts_run_out() {
        let policy = RetryPolicy::new(3, 1_000, 2.0, 60_000).unwrap();
        let now = Utc::now();
        assert_eq!(
            next_status(
                &policy,
                ended(AttemptOutcome::Retryable, 1, false),
                now,
                0.0
            ),
            (DeliveryStatus::Retrying, Some(now + TimeDelta::seconds(1)))
        );
        assert_eq!(
            next_status(
                &policy,
                ended(AttemptOutcome::Retryable, 2, false),
                now,
                0.0
            ),
            (DeliveryStatus::Retrying, Some(now + TimeDelta::seconds(2)))
        );
        assert_eq!(
            next_status(
                &policy,
                ended(AttemptOutcome::Retryable, 3, false),
                now,
                0.0
            ),
            (DeliveryStatus::Failed, None)
        );
        let wish = Ended {
            retry_after: Some(TimeDelta::seconds(30)),
            ..ended(AttemptOutcome::Retryable, 1, false)
        };
        assert_eq!(
            next_status(&policy, wish, now, 0.0),
            (DeliveryStatus::Retrying, Some(now + TimeDelta::seconds(30)))
        );
    }

    #[test]
    fn a_refusal_fails_at_once_and_a_failed_probe_goes_back_in_line() {
        let policy = RetryPolicy::new(1, 1, 1.0, 1).unwrap();
        let now = Utc::now();
        assert_eq!(
            next_status(&policy, ended(AttemptOutcome::Failed, 1, false), now, 0.0),
            (DeliveryStatus::Failed, None)
        );
        for outcome in [AttemptOutcome::Failed, AttemptOutcome::Retryable] {
            assert_eq!(
                next_status(&policy, ended(outcome, 9, true), now, 0.0),
                (DeliveryStatus::Held, None)
            );
        }
        assert_eq!(
            next_status(&policy, ended(AttemptOutcome::Delivered, 1, true), now, 0.0),
            (DeliveryStatus::Delivered, None)
        );
    }
}
