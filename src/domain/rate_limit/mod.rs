//! Source rate limits and pauses (SPEC §4) for ONE source, as plain structs with an injected clock (STYLE §2.7).
//!
//! [`SourceWindow`] decides when each stored event of a source goes to trigger evaluation. It never drops anything:
//! an event is either evaluated now ([`Admission::Evaluate`]) or deferred ([`Admission::Defer`]) into an in-memory
//! backlog of `ingressSequence` numbers, which the caller mirrors durably and drains with
//! [`SourceWindow::release`].
//!
//! # Who counts
//!
//! The sliding window's counter is not inside [`SourceWindow`]: with several Herald instances the counter is
//! shared (a Redis script), and asking it is I/O. So admission and release take two steps. The window says how
//! many slots it wants ([`SourceWindow::slots_to_admit`], [`SourceWindow::slots_to_release`]); the caller asks a
//! counter ([`LocalWindow`] in-process, or the shared one) to record up to that many events now, and hands the
//! answer, a [`Grant`], back ([`SourceWindow::admit`], [`SourceWindow::release`]). The caller must not let
//! anything else touch the window between the two steps (the actor blocks its mailbox meanwhile), so the grant
//! always answers the question just asked and no slot is taken for nothing.
//!
//! # State machine
//!
//! ```text
//!             admit: slots granted for every event, backlog empty -> Evaluate (counted)
//!           +-----+
//!           v     |
//!        Running -+-- admit: fewer slots granted --> Paused(RateLimit, until now + pauseMs)   [rest deferred]
//!          ^  ^                                         |
//!          |  +------ pause_manual / set_pause ----> Paused(Manual(reason), until now + d | never)
//!          |                                            |  admit: deferred; pausing again: reason/until replaced
//!          +---- `until` reached, or resume ------------+
//! ```
//!
//! While the backlog is not empty every new event is deferred too, even when running, so that a source's events
//! reach evaluation in arrival order (SPEC §3). Once running, [`SourceWindow::release`] hands out backlog entries
//! oldest first, at most `limit` per sliding `intervalMs` (the counter decides) and at most
//! [`MAX_RELEASE_STEP`] at a time; each released event is recorded in the window exactly once, at its release (an
//! event deferred at admission was not recorded then). [`SourceWindow::next_release_at_ms`] tells the owning
//! actor when to call `release` again.
//!
//! Time is a monotonic millisecond count ([`Clock::now_ms`]) rather than [`std::time::Instant`]: plain numbers
//! make the fake clock trivial and deadlines printable. The origin is per process, so durable deadlines (a
//! pause's end) are stored as wall-clock times by the caller and handed back here as a remaining duration
//! ([`SourceWindow::set_pause`]) after a restart or when another instance changed them. A rebuilt window's counter
//! starts empty in-process (the shared counter keeps counting), and paces the restored backlog at `limit` per
//! `intervalMs`, which still honours the limit.

mod local;
mod window;

#[cfg(test)]
mod tests;

pub use local::LocalWindow;
pub use window::{Admission, Grant, MAX_RELEASE_STEP, Pause, SourceWindow};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use herald_core::ValidationError;

/// The longest `intervalMs`, `pauseMs` or manual pause duration accepted: 30 days. Anything longer is a typo
/// (seconds given as milliseconds, an extra zero) rather than a wish.
pub const MAX_SOURCE_DURATION_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// A monotonic clock in milliseconds, injected so that tests drive time by hand (STYLE §6.4).
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since an arbitrary, fixed origin; never goes backwards.
    fn now_ms(&self) -> u64;
}

/// The real clock: milliseconds elapsed since the clock was created, read from [`Instant`] so wall-clock jumps
/// (NTP, daylight saving) never shrink or stretch a window.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        // 584 million years of uptime fit in u64 milliseconds; saturate rather than wrap if not.
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock that only moves when told to. Clones share the same time, so a test keeps one clone and hands another
/// to the struct (or actor) under test. Public so actor tests can use it too.
#[derive(Debug, Clone, Default)]
pub struct FakeClock {
    now_ms: Arc<AtomicU64>,
}

impl FakeClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        FakeClock {
            now_ms: Arc::new(AtomicU64::new(start_ms)),
        }
    }

    /// Moves time forward by `delta_ms`.
    pub fn advance_ms(&self, delta_ms: u64) {
        self.now_ms.fetch_add(delta_ms, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// One source's limit: at most `limit` events per sliding `interval_ms`; the event that exceeds it pauses the
/// source for `pause_ms`. Fields are private so every value in hand has passed [`RateLimit::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    limit: u32,
    interval_ms: u64,
    pause_ms: u64,
}

impl RateLimit {
    /// Accepts a limit of at least 1 event, and an interval and pause of 1 ms to 30 days.
    ///
    /// # Errors
    ///
    /// `invalid_field` naming `limit`, `intervalMs` or `pauseMs` (the SPEC §4 spelling) when a value is out of range.
    pub fn new(limit: u32, interval_ms: u64, pause_ms: u64) -> Result<RateLimit, ValidationError> {
        if limit == 0 {
            return Err(ValidationError::invalid(
                "limit",
                "must be a whole number ≥ 1",
            ));
        }
        check_duration("intervalMs", interval_ms)?;
        check_duration("pauseMs", pause_ms)?;
        Ok(RateLimit {
            limit,
            interval_ms,
            pause_ms,
        })
    }

    /// Events admitted per sliding interval.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The sliding interval, in milliseconds.
    pub fn interval_ms(&self) -> u64 {
        self.interval_ms
    }

    /// How long the event that exceeds the limit pauses the source, in milliseconds.
    pub fn pause_ms(&self) -> u64 {
        self.pause_ms
    }

    /// The reason recorded with the automatic pause this limit starts, one sentence for every reader (the
    /// window, the stored pause, the `source.paused` frame).
    pub fn exceeded_reason(&self) -> String {
        format!(
            "rate limit exceeded: more than {} events per {} ms",
            self.limit, self.interval_ms
        )
    }
}

fn check_duration(field: &str, ms: u64) -> Result<(), ValidationError> {
    if ms == 0 || ms > MAX_SOURCE_DURATION_MS {
        return Err(ValidationError::invalid(
            field,
            format_args!(
                "must be a whole number of milliseconds from 1 to {MAX_SOURCE_DURATION_MS} (30 days)"
            ),
        ));
    }
    Ok(())
}
