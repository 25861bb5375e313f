//! The retry policy of the source actors' storage calls, in one place.
// The integrator points this at the shared policy of `src/redis/` (issue 9): one backoff for every retry loop.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// The first wait after a failed storage call.
pub(super) const STORAGE_RETRY_MIN: Duration = Duration::from_millis(100);
/// The longest wait between two attempts.
pub(super) const STORAGE_RETRY_MAX: Duration = Duration::from_secs(5);

/// Capped exponential backoff with jitter (so the limiters of many sources do not retry in step), and no last
/// attempt: the calls it retries must not be lost. Start a fresh one after a success.
pub(super) fn storage_backoff() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(STORAGE_RETRY_MIN)
        .with_max_delay(STORAGE_RETRY_MAX)
        .with_jitter()
        .without_max_times()
        .build()
}

/// The next wait of `backoff` (never its end: it has no last attempt; the maximum should it have one).
pub(super) fn next_delay(backoff: &mut ExponentialBackoff) -> Duration {
    backoff.next().unwrap_or(STORAGE_RETRY_MAX)
}
