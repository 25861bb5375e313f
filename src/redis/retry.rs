//! The one back-off policy of Herald's retry loops (STYLE §6.1, §6.3), on the `backon` crate: a Redis read, a
//! batch the router could not store yet, an `XACK`, a relay subscription, a limiter's storage write.
//!
//! A loop keeps a [`Backoff`], waits [`Backoff::wait`] after each failure (doubling from [`RETRY_MIN`] up to
//! [`RETRY_MAX`]) and calls [`Backoff::reset`] after each success, so one blip long ago does not slow the next
//! retry. Every wait also ends when the loop's shutdown signal turns true or its sender is dropped.
//!
//! An actor that must not block its mailbox while it waits (the source rate limiter retrying storage) takes the
//! delay alone, [`Backoff::next_delay`], and schedules the retry with `ctx.run_later(delay, …)`; its shutdown is
//! the actor stopping, which cancels the timer.
//!
//! ```
//! use herald::redis::retry::Backoff;
//! let mut backoff = Backoff::new();
//! assert_eq!(backoff.next_delay().as_millis(), 100);
//! assert_eq!(backoff.next_delay().as_millis(), 200); // backon computes in f32 seconds: 200.000003 ms
//! backoff.reset(); // after a success
//! assert_eq!(backoff.next_delay().as_millis(), 100);
//! ```

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::watch;

/// The first delay after a failure.
pub const RETRY_MIN: Duration = Duration::from_millis(100);
/// The longest delay: past it a loop keeps retrying at this pace, so recovery is noticed within seconds.
pub const RETRY_MAX: Duration = Duration::from_secs(5);

/// The policy: doubling from [`RETRY_MIN`] to [`RETRY_MAX`], without jitter (each instance's loops are few, so
/// synchronised retries cost nothing worth randomness) and without a limit on attempts (the callers must not give
/// up: an entry not stored, or a window not shared, is a fault until Redis or the database is back). Cap it with
/// `.with_max_times(n)` for a retry that may give up.
pub fn policy() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(RETRY_MIN)
        .with_max_delay(RETRY_MAX)
        .with_factor(2.0)
        .without_max_times()
}

/// One retry loop's place in its [`policy`]: how long the next wait is.
#[derive(Debug)]
pub struct Backoff {
    policy: ExponentialBuilder,
    delays: <ExponentialBuilder as BackoffBuilder>::Backoff,
    attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    /// A back-off on Herald's [`policy`].
    pub fn new() -> Backoff {
        Backoff::with_policy(policy())
    }

    /// A back-off on another `backon` policy (a capped number of attempts, say).
    pub fn with_policy(policy: ExponentialBuilder) -> Backoff {
        Backoff {
            policy,
            delays: policy.build(),
            attempts: 0,
        }
    }

    /// The delay before the next attempt, and counts the failure; `None` once a capped policy is spent.
    pub fn next_attempt(&mut self) -> Option<Duration> {
        let delay = self.delays.next()?;
        self.attempts = self.attempts.saturating_add(1);
        Some(delay)
    }

    /// The delay before the next attempt of a loop that never gives up ([`policy`]'s attempts are unlimited; a
    /// spent capped policy keeps its longest delay).
    pub fn next_delay(&mut self) -> Duration {
        self.next_attempt().unwrap_or(RETRY_MAX)
    }

    /// Failures since the last [`Backoff::reset`], for the logs.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Starts the schedule over: call it after a success.
    pub fn reset(&mut self) {
        self.delays = self.policy.build();
        self.attempts = 0;
    }

    /// Waits the next delay, or less when `shutdown` turns true (or its sender is dropped) first; answers whether
    /// to go on. `false` as well once a capped policy is spent.
    pub async fn wait(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        match self.next_attempt() {
            Some(delay) => sleep_or_shutdown(delay, shutdown).await,
            None => false,
        }
    }
}

/// Sleeps `delay`, or less when `shutdown` turns true (or its sender is dropped: nobody is left to keep the loop
/// running) first; answers whether to go on. For waits that are not back-off too, such as a periodic trim.
pub async fn sleep_or_shutdown(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
    !is_shutting_down(shutdown)
}

/// Whether `shutdown` says stop: it turned true, or its sender is gone.
pub fn is_shutting_down(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_start_over_after_a_reset() {
        let mut backoff = Backoff::new();
        let delays: Vec<u64> = (0..8)
            .map(|_| backoff.next_delay().as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
        assert_eq!(backoff.attempts(), 8);
        backoff.reset();
        assert_eq!(backoff.attempts(), 0);
        assert_eq!(backoff.next_delay(), RETRY_MIN);
    }

    #[test]
    fn a_capped_policy_is_spent_after_its_attempts() {
        let mut backoff = Backoff::with_policy(policy().with_max_times(2));
        assert!(backoff.next_attempt().is_some());
        assert!(backoff.next_attempt().is_some());
        assert_eq!(backoff.next_attempt(), None);
        assert_eq!(backoff.next_delay(), RETRY_MAX);
    }

    // Paused time: a sleep advances the clock at once, so these tests measure the waits without spending them.
    #[tokio::test(start_paused = true)]
    async fn a_wait_runs_its_whole_delay_while_nobody_stops() {
        let (_tx, mut rx) = watch::channel(false);
        let started = tokio::time::Instant::now();
        assert!(Backoff::new().wait(&mut rx).await);
        assert!(started.elapsed() >= RETRY_MIN && started.elapsed() < RETRY_MIN * 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_at_once_on_shutdown() {
        let (tx, mut rx) = watch::channel(false);
        let mut backoff = Backoff::new();
        for _ in 0..10 {
            backoff.next_delay();
        }
        let started = tokio::time::Instant::now();
        let waiting = tokio::spawn(async move { backoff.wait(&mut rx).await });
        tokio::task::yield_now().await;
        tx.send(true).expect("the waiter listens");
        assert!(!waiting.await.expect("no panic"));
        assert!(started.elapsed() < RETRY_MAX);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_shutdown_sender_ends_the_wait_too() {
        let (tx, mut rx) = watch::channel(false);
        drop(tx);
        let started = tokio::time::Instant::now();
        assert!(!sleep_or_shutdown(Duration::from_secs(60), &mut rx).await);
        assert!(started.elapsed() < Duration::from_secs(60));
    }
}
