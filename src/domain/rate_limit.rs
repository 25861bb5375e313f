//! Source rate limits and pauses (SPEC §4) for ONE source, as a plain struct with an injected clock (STYLE §2.7).
//!
//! [`SourceWindow`] decides when each stored event of a source goes to trigger evaluation. It never drops anything:
//! an event is either evaluated now ([`Admission::Evaluate`]) or deferred ([`Admission::Defer`]) into an in-memory
//! backlog of `ingressSequence` numbers, which the caller mirrors durably and drains with
//! [`SourceWindow::release`].
//!
//! # State machine
//!
//! ```text
//!             admit: window has room, backlog empty -> Evaluate (counted)
//!           +-----+
//!           v     |
//!        Running -+-- admit: window full --> Paused(RateLimit, until now + pauseMs)   [event deferred]
//!          ^  ^                                   |
//!          |  +------ pause_manual -----> Paused(Manual(reason), until now + d | never)
//!          |                                      |  admit: deferred; pause_manual again: reason/until replaced
//!          +---- `until` reached, or resume ------+
//! ```
//!
//! While the backlog is not empty every new event is deferred too, even when running, so that a source's events
//! reach evaluation in arrival order (SPEC §3). Once running, [`SourceWindow::release`] hands out backlog entries
//! oldest first, at most `limit` per sliding `intervalMs`; each released event is recorded in the window exactly
//! once, at its release (an event deferred at admission was not recorded then).
//! [`SourceWindow::next_release_at_ms`] tells the owning actor when to call `release` again.
//!
//! Time is a monotonic millisecond count ([`Clock::now_ms`]) rather than [`std::time::Instant`]: plain numbers
//! make the fake clock trivial and deadlines printable. The origin is per process, so durable deadlines (a manual
//! pause's end) are stored as wall-clock times by the caller and handed back here as a remaining duration on
//! restart. An automatic pause is not restored after a restart: the rebuilt window starts empty and paces the
//! restored backlog at `limit` per `intervalMs`, which still honours the limit.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::error::ValidationError;

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

/// What to do with one admitted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Evaluate triggers for it now; it has been counted in the window.
    Evaluate,
    /// It joined the backlog; it reaches evaluation through [`SourceWindow::release`].
    Defer,
    /// It exceeded the limit: it joined the backlog like [`Admission::Defer`] and started an automatic pause
    /// (worth a `SourcePaused` event).
    DeferAndPause,
}

/// Why a source is paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseReason {
    /// An event exceeded the source's rate limit.
    RateLimit,
    /// An on-call engineer paused it (SPEC §6.5), for the reason given.
    Manual(String),
}

/// An active pause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// Why the source is paused.
    pub reason: PauseReason,
    /// When the pause ends, on the window's clock; `None` for a manual pause without a duration, which lasts until
    /// resumed.
    pub until_ms: Option<u64>,
}

/// SPEC §4 for one source: the sliding window, the automatic and manual pauses, and the ordered backlog. See the
/// module docs for the state machine.
#[derive(Debug)]
pub struct SourceWindow<C: Clock> {
    clock: C,
    /// `None`: the source has no rate limit; only manual pauses apply.
    limit: Option<RateLimit>,
    /// Times at which counted events were admitted or released, oldest first; never longer than `limit`.
    counted_ms: VecDeque<u64>,
    /// Deferred `ingressSequence` numbers in arrival order.
    backlog: VecDeque<i64>,
    pause: Option<Pause>,
}

impl<C: Clock> SourceWindow<C> {
    /// A running source with an empty window and backlog.
    pub fn new(clock: C, limit: Option<RateLimit>) -> Self {
        SourceWindow {
            clock,
            limit,
            counted_ms: VecDeque::new(),
            backlog: VecDeque::new(),
            pause: None,
        }
    }

    /// Appends deferred events read back from storage after a restart. Pass them in `ingressSequence` order; they
    /// go behind anything already queued and are released like any other deferred event.
    pub fn restore_backlog(&mut self, seqs: impl IntoIterator<Item = i64>) {
        self.backlog.extend(seqs);
    }

    /// Decides what happens to the stored event `seq` (its `ingressSequence`).
    pub fn admit(&mut self, seq: i64) -> Admission {
        let now = self.clock.now_ms();
        self.expire_pause();
        if self.pause.is_some() || !self.backlog.is_empty() {
            self.backlog.push_back(seq);
            return Admission::Defer;
        }
        let Some(limit) = self.limit else {
            return Admission::Evaluate;
        };
        self.forget_old(now, limit);
        if self.counted_ms.len() < limit.limit as usize {
            self.counted_ms.push_back(now);
            return Admission::Evaluate;
        }
        self.pause = Some(Pause {
            reason: PauseReason::RateLimit,
            until_ms: Some(now.saturating_add(limit.pause_ms)),
        });
        self.backlog.push_back(seq);
        Admission::DeferAndPause
    }

    /// Takes the deferred events that may be evaluated now, oldest first: none while paused, else as many as the
    /// window has room for. Each one is counted in the window as it leaves.
    pub fn release(&mut self) -> Vec<i64> {
        let now = self.clock.now_ms();
        self.expire_pause();
        if self.pause.is_some() {
            return Vec::new();
        }
        let Some(limit) = self.limit else {
            return self.backlog.drain(..).collect();
        };
        self.forget_old(now, limit);
        let mut released = Vec::new();
        while self.counted_ms.len() < limit.limit as usize
            && let Some(seq) = self.backlog.pop_front()
        {
            self.counted_ms.push_back(now);
            released.push(seq);
        }
        released
    }

    /// When [`SourceWindow::release`] will next hand something out, on the window's clock: `None` when the backlog
    /// is empty or a manual pause has no end; a time at or before now means "call it now".
    pub fn next_release_at_ms(&self) -> Option<u64> {
        if self.backlog.is_empty() {
            return None;
        }
        let now = self.clock.now_ms();
        if let Some(pause) = self.pause() {
            return pause.until_ms;
        }
        let Some(limit) = self.limit else {
            return Some(now);
        };
        // The window never holds more than `limit` entries, so it is full only at exactly `limit`, and a slot frees
        // when its oldest entry slides out (possibly already, hence the `max`).
        match self.counted_ms.front() {
            Some(oldest) if self.counted_ms.len() >= limit.limit as usize => {
                Some(now.max(oldest.saturating_add(limit.interval_ms)))
            }
            _ => Some(now),
        }
    }

    /// Pauses the source by hand for `duration_ms`, or until [`SourceWindow::resume`] when `None`. Pausing a
    /// paused source (by hand or by the rate limit) replaces its reason and end.
    ///
    /// # Errors
    ///
    /// `invalid_field` on `durationMs` when it is 0 or longer than 30 days; the state is unchanged.
    pub fn pause_manual(
        &mut self,
        reason: String,
        duration_ms: Option<u64>,
    ) -> Result<(), ValidationError> {
        if let Some(ms) = duration_ms {
            check_duration("durationMs", ms)?;
        }
        let now = self.clock.now_ms();
        self.pause = Some(Pause {
            reason: PauseReason::Manual(reason),
            until_ms: duration_ms.map(|ms| now.saturating_add(ms)),
        });
        Ok(())
    }

    /// Ends any pause, manual or automatic. Returns whether the source was paused; resuming a running source is a
    /// no-op, so the admin call is idempotent. The backlog then drains through [`SourceWindow::release`].
    pub fn resume(&mut self) -> bool {
        let was_paused = self.pause().is_some();
        self.pause = None;
        was_paused
    }

    /// Drops the whole backlog (SPEC §6.5 discard-backlog) and returns the discarded sequence numbers, so the caller
    /// can delete their durable copies and count them as `dropped`.
    pub fn discard_backlog(&mut self) -> Vec<i64> {
        self.backlog.drain(..).collect()
    }

    /// The pause in force now, if any (an expired one is reported as none).
    pub fn pause(&self) -> Option<&Pause> {
        let now = self.clock.now_ms();
        self.pause
            .as_ref()
            .filter(|p| p.until_ms.is_none_or(|until| until > now))
    }

    /// How many deferred events wait for evaluation.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    fn expire_pause(&mut self) {
        if self.pause().is_none() {
            self.pause = None;
        }
    }

    fn forget_old(&mut self, now: u64, limit: RateLimit) {
        while self
            .counted_ms
            .front()
            .is_some_and(|t| t.saturating_add(limit.interval_ms) <= now)
        {
            self.counted_ms.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Admission::{Defer, DeferAndPause, Evaluate};

    /// 3 events per 1 000 ms, paused for 500 ms when exceeded; the clock starts at 10 000 ms.
    fn window() -> (FakeClock, SourceWindow<FakeClock>) {
        let clock = FakeClock::new(10_000);
        let limit = RateLimit::new(3, 1_000, 500).unwrap();
        (clock.clone(), SourceWindow::new(clock, Some(limit)))
    }

    fn admit_all(
        w: &mut SourceWindow<FakeClock>,
        seqs: impl IntoIterator<Item = i64>,
    ) -> Vec<Admission> {
        seqs.into_iter().map(|s| w.admit(s)).collect()
    }

    #[test]
    fn exactly_limit_events_pass_per_window() {
        let (clock, mut w) = window();
        assert_eq!(admit_all(&mut w, 1..=3), [Evaluate; 3]);
        clock.advance_ms(1_000);
        assert_eq!(admit_all(&mut w, 4..=6), [Evaluate; 3]);
        assert_eq!(w.pause(), None);
    }

    #[test]
    fn the_next_event_pauses_the_source_for_pause_ms_and_everything_after_it_is_deferred() {
        let (clock, mut w) = window();
        admit_all(&mut w, 1..=3);
        clock.advance_ms(999);

        assert_eq!(admit_all(&mut w, 4..=6), [DeferAndPause, Defer, Defer]);
        let pause = w.pause().unwrap();
        assert_eq!(
            (&pause.reason, pause.until_ms),
            (&PauseReason::RateLimit, Some(10_999 + 500))
        );
        assert!(w.release().is_empty());
        assert_eq!(w.backlog_len(), 3);
    }

    #[test]
    fn after_the_pause_the_backlog_is_released_in_arrival_order_at_most_limit_per_interval() {
        let (clock, mut w) = window();
        admit_all(&mut w, 1..=10);

        clock.advance_ms(500); // the pause is over, but the window (10 000..11 000) is still full
        assert!(w.release().is_empty());
        assert_eq!(w.next_release_at_ms(), Some(11_000));
        clock.advance_ms(500);
        let mut released = w.release();
        assert_eq!(released, [4, 5, 6]);
        assert!(w.release().is_empty(), "the window is full again");
        assert_eq!(w.next_release_at_ms(), Some(12_000));
        for _ in 0..2 {
            clock.advance_ms(1_000);
            released.extend(w.release());
        }

        assert_eq!(released, (4..=10).collect::<Vec<_>>());
        assert_eq!(w.next_release_at_ms(), None);
    }

    #[test]
    fn each_event_is_counted_once_in_the_window() {
        let (clock, mut w) = window();
        admit_all(&mut w, 1..=4); // event 4 is deferred: not counted at admission
        clock.advance_ms(1_000);
        assert_eq!(w.release(), [4]); // counted here, once

        // Two slots remain in this window; had event 4 been counted twice, only one would.
        assert_eq!(
            admit_all(&mut w, 5..=7),
            [Evaluate, Evaluate, DeferAndPause]
        );
    }

    #[test]
    fn new_events_queue_behind_the_backlog_even_when_the_source_runs() {
        let (clock, mut w) = window();
        admit_all(&mut w, 1..=4);
        clock.advance_ms(1_000);
        assert_eq!(w.pause(), None);

        assert_eq!(w.admit(5), Defer);
        assert_eq!(w.release(), [4, 5]);
    }

    #[test]
    fn a_manual_pause_defers_everything_until_resume() {
        let (clock, mut w) = window();
        w.pause_manual("deploy".into(), None).unwrap();
        assert_eq!(admit_all(&mut w, 1..=2), [Defer, Defer]);
        clock.advance_ms(MAX_SOURCE_DURATION_MS);
        assert!(
            w.release().is_empty(),
            "a manual pause without duration never expires"
        );
        assert_eq!(w.next_release_at_ms(), None);

        assert!(w.resume());
        assert_eq!(w.release(), [1, 2]);
        assert!(!w.resume(), "resuming a running source is a no-op");
    }

    #[test]
    fn a_manual_pause_with_a_duration_expires() {
        let (clock, mut w) = window();
        w.pause_manual("maintenance".into(), Some(2_000)).unwrap();
        assert_eq!(w.admit(1), Defer);
        assert_eq!(w.next_release_at_ms(), Some(12_000));

        clock.advance_ms(1_999);
        assert!(w.release().is_empty());
        clock.advance_ms(1);
        assert_eq!(w.pause(), None);
        assert_eq!(w.release(), [1]);
    }

    #[test]
    fn pausing_a_paused_source_updates_reason_and_duration() {
        let (_clock, mut w) = window();
        admit_all(&mut w, 1..=4); // the fourth starts an automatic pause
        w.pause_manual("first".into(), Some(1_000)).unwrap();
        w.pause_manual("second".into(), None).unwrap();

        let pause = w.pause().unwrap();
        assert_eq!(
            (&pause.reason, pause.until_ms),
            (&PauseReason::Manual("second".into()), None)
        );
    }

    #[test]
    fn a_manual_pause_of_zero_or_over_thirty_days_is_refused_and_changes_nothing() {
        let (_clock, mut w) = window();
        for bad in [0, MAX_SOURCE_DURATION_MS + 1] {
            let err = w.pause_manual("x".into(), Some(bad)).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("durationMs"));
        }
        assert_eq!(w.pause(), None);
        assert!(
            w.pause_manual("x".into(), Some(MAX_SOURCE_DURATION_MS))
                .is_ok()
        );
    }

    #[test]
    fn a_rebuilt_window_fed_the_durable_backlog_keeps_order() {
        let (clock, mut before) = window();
        admit_all(&mut before, 1..=8);
        let durable: Vec<i64> = (4..=8).collect(); // the deferred events storage holds, in ingressSequence order

        let mut after = SourceWindow::new(clock.clone(), RateLimit::new(3, 1_000, 500).ok());
        after.restore_backlog(durable);
        assert_eq!(
            after.admit(9),
            Defer,
            "new events wait behind the restored backlog"
        );
        let mut released = after.release();
        clock.advance_ms(1_000);
        released.extend(after.release());

        assert_eq!(released, [4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn a_source_without_a_limit_only_obeys_manual_pauses() {
        let mut w = SourceWindow::new(FakeClock::new(0), None);
        assert!((1..=1_000).all(|s| w.admit(s) == Evaluate));

        w.pause_manual("incident".into(), None).unwrap();
        w.admit(1_001);
        w.admit(1_002);
        w.resume();
        assert_eq!(w.release(), [1_001, 1_002]);
    }

    #[test]
    fn discarding_the_backlog_returns_what_was_dropped() {
        let (_clock, mut w) = window();
        admit_all(&mut w, 1..=5);
        assert_eq!(w.discard_backlog(), [4, 5]);
        assert_eq!(w.backlog_len(), 0);
    }

    #[test]
    fn a_rate_limit_refuses_zero_and_durations_over_thirty_days() {
        let too_long = MAX_SOURCE_DURATION_MS + 1;
        for ((limit, interval, pause), field) in [
            ((0, 1, 1), "limit"),
            ((1, 0, 1), "intervalMs"),
            ((1, too_long, 1), "intervalMs"),
            ((1, 1, 0), "pauseMs"),
            ((1, 1, too_long), "pauseMs"),
        ] {
            let err = RateLimit::new(limit, interval, pause).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field));
        }
        let ok = RateLimit::new(200, 60_000, 30_000).unwrap();
        assert_eq!(
            (ok.limit(), ok.interval_ms(), ok.pause_ms()),
            (200, 60_000, 30_000)
        );
    }
}
