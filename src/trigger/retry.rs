//! The retry schedule of a delivery (SPEC §5.6): `initialDelayMs × multiplier^(n−1)`, at most `maxDelayMs`, ±20 %
//! jitter, `maxAttempts` attempts in all; a receiver's `Retry-After` is honoured (the next attempt is no earlier).
//! The jitter is passed in, so tests pin it; the caller draws it uniformly from [−1, 1].

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::ValidationError;

/// The jitter's amplitude: a delay moves by up to this fraction either way.
pub const JITTER: f64 = 0.2;

/// The longest `Retry-After` honoured: a receiver asking for more is retried after this (its answer is not
/// trusted to park a delivery for days).
pub const MAX_RETRY_AFTER: TimeDelta = TimeDelta::hours(1);

/// The most attempts a definition may ask for.
pub const MAX_ATTEMPTS: u32 = 20;

/// The longest `maxDelayMs` a definition may ask for: one day.
pub const MAX_DELAY_MS: u64 = 24 * 60 * 60 * 1000;

/// A trigger's `retry` settings, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_delay_ms: u64,
    multiplier: f64,
    max_delay_ms: u64,
}

impl Default for RetryPolicy {
    /// SPEC's default: 6 attempts, 1 s, ×2, at most 60 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_delay_ms: 1_000,
            multiplier: 2.0,
            max_delay_ms: 60_000,
        }
    }
}

impl RetryPolicy {
    /// Checks a definition's `retry` object.
    ///
    /// # Errors
    /// `invalid_field` naming `retry.<field>`: `maxAttempts` outside 1–[`MAX_ATTEMPTS`], `initialDelayMs` below 1
    /// or above `maxDelayMs`, `multiplier` below 1 or above 10, `maxDelayMs` above [`MAX_DELAY_MS`].
    pub fn new(
        max_attempts: u32,
        initial_delay_ms: u64,
        multiplier: f64,
        max_delay_ms: u64,
    ) -> Result<RetryPolicy, ValidationError> {
        let invalid =
            |field: &str, rule: String| ValidationError::invalid(format!("retry.{field}"), rule);
        if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
            return Err(invalid(
                "maxAttempts",
                format!("must be between 1 and {MAX_ATTEMPTS}"),
            ));
        }
        if max_delay_ms > MAX_DELAY_MS {
            return Err(invalid(
                "maxDelayMs",
                format!("must be at most {MAX_DELAY_MS}"),
            ));
        }
        if initial_delay_ms < 1 || initial_delay_ms > max_delay_ms {
            return Err(invalid(
                "initialDelayMs",
                "must be at least 1 and at most `retry.maxDelayMs`".to_owned(),
            ));
        }
        if !(1.0..=10.0).contains(&multiplier) {
            return Err(invalid("multiplier", "must be between 1 and 10".to_owned()));
        }
        Ok(RetryPolicy {
            max_attempts,
            initial_delay_ms,
            multiplier,
            max_delay_ms,
        })
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// When to try again after `attempts` failed attempts (≥ 1) of a retryable failure at `now`, or `None` when
    /// the attempts are used up (the delivery fails). `jitter` is in [−1, 1] (clamped); `retry_after` is the
    /// receiver's wish, honoured up to [`MAX_RETRY_AFTER`].
    pub fn next_attempt_at(
        &self,
        attempts: u32,
        now: DateTime<Utc>,
        jitter: f64,
        retry_after: Option<TimeDelta>,
    ) -> Option<DateTime<Utc>> {
        if attempts >= self.max_attempts {
            return None;
        }
        let exponent = attempts.saturating_sub(1).min(64) as i32;
        let base = (self.initial_delay_ms as f64 * self.multiplier.powi(exponent))
            .min(self.max_delay_ms as f64);
        let jittered = base * (1.0 + JITTER * jitter.clamp(-1.0, 1.0));
        let delay = TimeDelta::milliseconds(jittered.round() as i64);
        let delay = match retry_after {
            Some(wish) => delay.max(wish.min(MAX_RETRY_AFTER)),
            None => delay,
        };
        Some(now + delay)
    }
}

/// Reads a `Retry-After` header: delay-seconds, or an HTTP date (relative to `now`; a past date is no wait).
/// `None` for anything else.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<TimeDelta> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u32>() {
        return Some(TimeDelta::seconds(i64::from(seconds)));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).max(TimeDelta::zero()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
    }

    fn delays(policy: &RetryPolicy, jitter: f64) -> Vec<i64> {
        (1..policy.max_attempts())
            .map(|n| {
                (policy.next_attempt_at(n, t0(), jitter, None).unwrap() - t0()).num_milliseconds()
            })
            .collect()
    }

    #[test]
    fn the_default_schedule_doubles_from_one_second_and_caps_at_a_minute() {
        let policy = RetryPolicy::default();
        assert_eq!(
            delays(&policy, 0.0),
            vec![1_000, 2_000, 4_000, 8_000, 16_000]
        );
        assert_eq!(
            policy.next_attempt_at(6, t0(), 0.0, None),
            None,
            "six attempts in all"
        );
        let long = RetryPolicy::new(10, 1_000, 2.0, 60_000).unwrap();
        assert_eq!(delays(&long, 0.0)[5..], [32_000, 60_000, 60_000, 60_000]);
    }

    #[test]
    fn jitter_moves_a_delay_by_at_most_twenty_percent() {
        let policy = RetryPolicy::default();
        assert_eq!(delays(&policy, 1.0)[..2], [1_200, 2_400]);
        assert_eq!(delays(&policy, -1.0)[..2], [800, 1_600]);
        assert_eq!(delays(&policy, 7.0)[0], 1_200, "clamped");
    }

    #[test]
    fn retry_after_is_a_floor_and_is_capped() {
        let policy = RetryPolicy::default();
        let at = |wish| policy.next_attempt_at(1, t0(), 0.0, Some(wish)).unwrap() - t0();
        assert_eq!(at(TimeDelta::seconds(30)), TimeDelta::seconds(30));
        assert_eq!(
            at(TimeDelta::milliseconds(10)),
            TimeDelta::seconds(1),
            "never sooner than the schedule"
        );
        assert_eq!(at(TimeDelta::days(3)), MAX_RETRY_AFTER);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(
            parse_retry_after("120", t0()),
            Some(TimeDelta::seconds(120))
        );
        assert_eq!(
            parse_retry_after("Tue, 01 Dec 2026 12:00:30 GMT", t0()),
            Some(TimeDelta::seconds(30))
        );
        assert_eq!(
            parse_retry_after("Tue, 01 Dec 2026 11:00:00 GMT", t0()),
            Some(TimeDelta::zero())
        );
        assert_eq!(parse_retry_after("soon", t0()), None);
        assert_eq!(parse_retry_after("-5", t0()), None);
    }

    #[test]
    fn bad_settings_name_the_field() {
        for (policy, field) in [
            (RetryPolicy::new(0, 1_000, 2.0, 60_000), "retry.maxAttempts"),
            (
                RetryPolicy::new(21, 1_000, 2.0, 60_000),
                "retry.maxAttempts",
            ),
            (RetryPolicy::new(3, 0, 2.0, 60_000), "retry.initialDelayMs"),
            (
                RetryPolicy::new(3, 90_000, 2.0, 60_000),
                "retry.initialDelayMs",
            ),
            (RetryPolicy::new(3, 1_000, 0.5, 60_000), "retry.multiplier"),
            (
                RetryPolicy::new(3, 1_000, 2.0, MAX_DELAY_MS + 1),
                "retry.maxDelayMs",
            ),
        ] {
            assert_eq!(policy.unwrap_err().field.as_deref(), Some(field));
        }
    }
}
