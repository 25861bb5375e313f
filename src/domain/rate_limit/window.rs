//! [`SourceWindow`]: the pause rule and the ordered backlog of one source; see the module docs of
//! [`super`] for the two-step protocol with a counter.

use std::collections::{HashSet, VecDeque};

use super::{Clock, RateLimit, check_duration};
use crate::domain::{PauseKind, ValidationError};

/// The most deferred events one [`SourceWindow::release`] hands out, whatever the limit: the caller loads each
/// released event from storage, so a step stays a bounded read even for a source without a limit or with a very
/// large one. The next step follows at once when more may go.
pub const MAX_RELEASE_STEP: usize = 500;

/// What to do with one admitted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Evaluate triggers for it now; it has been counted in the window.
    Evaluate,
    /// It joined the backlog; it reaches evaluation through [`SourceWindow::release`].
    Defer,
    /// It exceeded the limit: it joined the backlog like [`Admission::Defer`] and started an automatic pause
    /// (worth a `SourcePaused` event, and worth recording durably).
    DeferAndPause,
}

/// An active pause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// Manual or automatic: the same [`PauseKind`] storage records and the wire shows.
    pub kind: PauseKind,
    /// Why, in words: the operator's reason, or [`RateLimit::exceeded_reason`].
    pub reason: String,
    /// When the pause ends, on the window's clock; `None` for a manual pause without a duration, which lasts until
    /// resumed.
    pub until_ms: Option<u64>,
}

/// A counter's answer to "record up to `wanted` events in the sliding window, now".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grant {
    /// How many events were recorded: `0..=wanted`. Each one is an event that may be evaluated now.
    pub granted: u32,
    /// When fewer than `wanted` were recorded (the window is full): milliseconds until its oldest entry slides
    /// out and frees a slot, at least 1. Otherwise 0.
    pub retry_in_ms: u64,
}

impl Grant {
    /// The answer when nothing was asked (the window wanted 0 slots).
    pub const NOTHING_ASKED: Grant = Grant {
        granted: 0,
        retry_in_ms: 0,
    };
}

/// SPEC §4 for one source: the automatic and manual pauses and the ordered backlog. The sliding window's counter
/// is asked by the caller (see the module docs of [`super`]).
#[derive(Debug)]
pub struct SourceWindow<C: Clock> {
    clock: C,
    /// `None`: the source has no rate limit; only manual pauses apply.
    limit: Option<RateLimit>,
    /// Deferred `ingressSequence` numbers in arrival order.
    backlog: VecDeque<i64>,
    pause: Option<Pause>,
    /// When the counter last answered "full": the time (on this clock) it said a slot frees.
    full_until_ms: Option<u64>,
}

impl<C: Clock> SourceWindow<C> {
    /// A running source with an empty backlog.
    pub fn new(clock: C, limit: Option<RateLimit>) -> Self {
        SourceWindow {
            clock,
            limit,
            backlog: VecDeque::new(),
            pause: None,
            full_until_ms: None,
        }
    }

    /// The source's rate limit, if it has one.
    pub fn limit(&self) -> Option<RateLimit> {
        self.limit
    }

    /// Adds deferred events read back from storage (after a restart, or left by another instance). Numbers
    /// already queued are skipped, so reading storage again never queues an event twice, and the backlog stays
    /// in `ingressSequence` order (it always is: events arrive in commit order), so adopted events take their
    /// place among the queued ones.
    pub fn restore_backlog(&mut self, seqs: impl IntoIterator<Item = i64>) {
        let queued: HashSet<i64> = self.backlog.iter().copied().collect();
        let before = self.backlog.len();
        self.backlog
            .extend(seqs.into_iter().filter(|s| !queued.contains(s)));
        if self.backlog.len() > before {
            self.backlog.make_contiguous().sort_unstable();
        }
    }

    /// Puts events taken by [`SourceWindow::release`] back at the front, in the order given, when the caller
    /// could not hand them on (storage failed); they go out first at the next release.
    pub fn requeue_front(&mut self, seqs: Vec<i64>) {
        for seq in seqs.into_iter().rev() {
            self.backlog.push_front(seq);
        }
    }

    /// Step one of admitting `n` newly stored events: how many window slots to ask the counter for. 0 means
    /// "ask nothing and pass [`Grant::NOTHING_ASKED`]": the events will be deferred anyway (paused, or a backlog
    /// waits), or the source has no limit.
    pub fn slots_to_admit(&mut self, n: usize) -> u32 {
        self.expire_pause();
        if n == 0 || self.pause.is_some() || !self.backlog.is_empty() || self.limit.is_none() {
            return 0;
        }
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Step two of admitting the stored events `seqs` (their `ingressSequence`s, in order), with the counter's
    /// answer to [`SourceWindow::slots_to_admit`]. Returns one [`Admission`] per event: a run of `Evaluate`, then,
    /// if the grant fell short, one `DeferAndPause` and the rest `Defer`.
    pub fn admit(&mut self, seqs: &[i64], grant: Grant) -> Vec<Admission> {
        let now = self.clock.now_ms();
        self.expire_pause();
        if self.pause.is_some() || !self.backlog.is_empty() {
            self.backlog.extend(seqs);
            return vec![Admission::Defer; seqs.len()];
        }
        let Some(limit) = self.limit else {
            return vec![Admission::Evaluate; seqs.len()];
        };
        let granted = (grant.granted as usize).min(seqs.len());
        let mut admissions = vec![Admission::Evaluate; granted];
        if granted < seqs.len() {
            self.pause = Some(Pause {
                kind: PauseKind::RateLimit,
                reason: limit.exceeded_reason(),
                until_ms: Some(now.saturating_add(limit.pause_ms())),
            });
            self.full_until_ms = Some(now.saturating_add(grant.retry_in_ms.max(1)));
            admissions.push(Admission::DeferAndPause);
            admissions.resize(seqs.len(), Admission::Defer);
            self.backlog.extend(&seqs[granted..]);
        }
        admissions
    }

    /// Step one of a release: how many window slots to ask the counter for (0: ask nothing, see
    /// [`SourceWindow::slots_to_admit`]).
    pub fn slots_to_release(&mut self) -> u32 {
        self.expire_pause();
        if self.pause.is_some() || self.backlog.is_empty() {
            return 0;
        }
        match self.limit {
            None => 0,
            Some(limit) => {
                let wanted = self
                    .backlog
                    .len()
                    .min(limit.limit() as usize)
                    .min(MAX_RELEASE_STEP);
                u32::try_from(wanted).unwrap_or(u32::MAX)
            }
        }
    }

    /// Step two: takes the deferred events that may be evaluated now, oldest first, given the counter's answer to
    /// [`SourceWindow::slots_to_release`]: none while paused; for a limited source as many as were granted; for a
    /// source without a limit up to [`MAX_RELEASE_STEP`].
    pub fn release(&mut self, grant: Grant) -> Vec<i64> {
        let now = self.clock.now_ms();
        self.expire_pause();
        if self.pause.is_some() {
            return Vec::new();
        }
        let take = match self.limit {
            None => MAX_RELEASE_STEP,
            Some(_) => {
                self.full_until_ms =
                    (grant.retry_in_ms > 0).then(|| now.saturating_add(grant.retry_in_ms));
                grant.granted as usize
            }
        };
        let take = take.min(self.backlog.len());
        self.backlog.drain(..take).collect()
    }

    /// When [`SourceWindow::release`] will next hand something out, on the window's clock: `None` when the backlog
    /// is empty or a manual pause has no end; a time at or before now means "call it now".
    pub fn next_release_at_ms(&self) -> Option<u64> {
        if self.backlog.is_empty() {
            return None;
        }
        let now = self.clock.now_ms();
        let free_at = self.full_until_ms.unwrap_or(now);
        if let Some(pause) = self.pause() {
            return pause.until_ms.map(|until| until.max(free_at));
        }
        Some(now.max(free_at))
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
            kind: PauseKind::Manual,
            reason,
            until_ms: duration_ms.map(|ms| now.saturating_add(ms)),
        });
        Ok(())
    }

    /// Adopts the pause recorded in storage, which is the truth shared by every instance: `None` resumes,
    /// `Some((kind, reason, remaining_ms))` pauses for `remaining_ms` from now (`None`: until resumed). A remaining
    /// time of 0 means the pause is over.
    pub fn set_pause(&mut self, pause: Option<(PauseKind, String, Option<u64>)>) {
        let now = self.clock.now_ms();
        self.pause = match pause {
            Some((_, _, Some(0))) | None => None,
            Some((kind, reason, remaining_ms)) => Some(Pause {
                kind,
                reason,
                until_ms: remaining_ms.map(|ms| now.saturating_add(ms)),
            }),
        };
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
}
