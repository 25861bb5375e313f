//! A trigger's throttle and concurrency cap (SPEC §5.6): at most `count` deliveries started per sliding `windowMs`,
//! and at most `maxConcurrency` in flight. A delivery that may not start now is `throttled` and told when to try
//! again. Time is passed in.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::ValidationError;

/// The longest throttle window: one day.
pub const MAX_WINDOW_MS: u64 = 24 * 60 * 60 * 1000;

/// A definition's `throttle` object, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    window: TimeDelta,
    count: u32,
}

impl Throttle {
    /// Checks `{windowMs, count}`.
    ///
    /// # Errors
    /// `invalid_field` on `throttle.windowMs` (outside 1–[`MAX_WINDOW_MS`]) or `throttle.count` (0).
    pub fn new(window_ms: u64, count: u32) -> Result<Throttle, ValidationError> {
        if !(1..=MAX_WINDOW_MS).contains(&window_ms) {
            return Err(ValidationError::invalid(
                "throttle.windowMs",
                format!("must be between 1 and {MAX_WINDOW_MS}"),
            ));
        }
        if count == 0 {
            return Err(ValidationError::invalid(
                "throttle.count",
                "must be at least 1",
            ));
        }
        Ok(Throttle {
            // The bound above keeps it far inside i64 milliseconds.
            window: TimeDelta::milliseconds(window_ms as i64),
            count,
        })
    }
}

impl Throttle {
    /// The window, in milliseconds.
    pub fn window_ms(&self) -> i64 {
        self.window.num_milliseconds()
    }

    /// The most deliveries started per window.
    pub fn count(&self) -> u32 {
        self.count
    }
}

/// Why a delivery may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The throttle window is full: a slot frees at this time.
    Until(DateTime<Utc>),
    /// `maxConcurrency` deliveries are in flight: a slot frees when one of them finishes.
    ForAFinish,
}

/// Counts started and in-flight deliveries of one trigger.
#[derive(Debug, Clone)]
pub struct DeliveryGate {
    throttle: Option<Throttle>,
    max_concurrency: Option<u32>,
    /// Start times inside the window, oldest first.
    started: VecDeque<DateTime<Utc>>,
    in_flight: u32,
}

impl DeliveryGate {
    /// A gate with the trigger's throttle and cap (either may be absent).
    pub fn new(throttle: Option<Throttle>, max_concurrency: Option<u32>) -> DeliveryGate {
        DeliveryGate {
            throttle,
            max_concurrency,
            started: VecDeque::new(),
            in_flight: 0,
        }
    }

    /// Starts a delivery at `now` if the throttle and the cap allow it (and counts it), or says how long to wait.
    pub fn try_start(&mut self, now: DateTime<Utc>) -> Result<(), Wait> {
        if self
            .max_concurrency
            .is_some_and(|cap| self.in_flight >= cap)
        {
            return Err(Wait::ForAFinish);
        }
        if let Some(throttle) = self.throttle {
            while self
                .started
                .front()
                .is_some_and(|at| *at + throttle.window <= now)
            {
                self.started.pop_front();
            }
            if self.started.len() >= throttle.count as usize {
                // The oldest start leaves the window first.
                let oldest = self.started[0];
                return Err(Wait::Until(oldest + throttle.window));
            }
            self.started.push_back(now);
        }
        self.in_flight += 1;
        Ok(())
    }

    /// A delivery started by [`DeliveryGate::try_start`] finished (whatever its outcome).
    pub fn finish(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Deliveries in flight.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
    }

    fn ms(n: i64) -> TimeDelta {
        TimeDelta::milliseconds(n)
    }

    #[test]
    fn the_throttle_allows_count_starts_per_sliding_window() {
        let mut gate = DeliveryGate::new(Some(Throttle::new(1_000, 3).unwrap()), None);
        for i in 0..3 {
            assert_eq!(gate.try_start(t0() + ms(i * 100)), Ok(()));
            gate.finish();
        }
        assert_eq!(
            gate.try_start(t0() + ms(500)),
            Err(Wait::Until(t0() + ms(1_000)))
        );
        // Finishing does not free a throttle slot; time does.
        assert_eq!(
            gate.try_start(t0() + ms(999)),
            Err(Wait::Until(t0() + ms(1_000)))
        );
        assert_eq!(gate.try_start(t0() + ms(1_000)), Ok(()));
        assert_eq!(
            gate.try_start(t0() + ms(1_050)),
            Err(Wait::Until(t0() + ms(1_100)))
        );
    }

    #[test]
    fn the_cap_limits_deliveries_in_flight() {
        let mut gate = DeliveryGate::new(None, Some(2));
        assert_eq!(gate.try_start(t0()), Ok(()));
        assert_eq!(gate.try_start(t0()), Ok(()));
        assert_eq!(gate.try_start(t0()), Err(Wait::ForAFinish));
        gate.finish();
        assert_eq!(gate.in_flight(), 1);
        assert_eq!(gate.try_start(t0()), Ok(()));
    }

    #[test]
    fn a_refused_start_takes_no_throttle_slot() {
        let mut gate = DeliveryGate::new(Some(Throttle::new(10_000, 2).unwrap()), Some(1));
        assert_eq!(gate.try_start(t0()), Ok(()));
        assert_eq!(gate.try_start(t0() + ms(1)), Err(Wait::ForAFinish));
        gate.finish();
        assert_eq!(
            gate.try_start(t0() + ms(2)),
            Ok(()),
            "the refused try did not count"
        );
        gate.finish();
        assert_eq!(
            gate.try_start(t0() + ms(3)),
            Err(Wait::Until(t0() + ms(10_000)))
        );
    }

    #[test]
    fn no_throttle_and_no_cap_let_everything_start() {
        let mut gate = DeliveryGate::new(None, None);
        for _ in 0..10_000 {
            assert_eq!(gate.try_start(t0()), Ok(()));
        }
    }

    #[test]
    fn bad_settings_name_the_field() {
        assert_eq!(
            Throttle::new(0, 1).unwrap_err().field.as_deref(),
            Some("throttle.windowMs")
        );
        assert_eq!(
            Throttle::new(MAX_WINDOW_MS + 1, 1)
                .unwrap_err()
                .field
                .as_deref(),
            Some("throttle.windowMs")
        );
        assert_eq!(
            Throttle::new(1_000, 0).unwrap_err().field.as_deref(),
            Some("throttle.count")
        );
    }
}
