//! `SourceRateLimiter`: one per source (SPEC §3 step 4, §4). It decides when each stored event of its source goes
//! to trigger evaluation, wiring the plain [`SourceWindow`] (the pause rule and the ordered backlog) to storage,
//! a counter and timers (STYLE §2.7).
//!
//! For each batch of its source's events: ask the window how many slots it wants, ask the counter (the in-process
//! [`LocalWindow`], or in redis mode the shared [`RedisWindow`]), then hand the evaluated ones on as
//! [`EventsReleased`] and record the deferred ones in `source_deferrals` (counted as `throttled`), with the
//! automatic pause their admission started in `source_pauses`. A timer at [`SourceWindow::next_release_at_ms`]
//! releases the backlog at no more than `limit` per `intervalMs`: each step claims its rows (a delete, so an event
//! is released once even when two instances hold it), loads the events, and hands them on.
//!
//! **Ordering without a blocked mailbox.** Everything that happens to the source is a [`steps::Step`] in one
//! ordered queue the actor owns; a step starts only when the one before it is finished, so the two halves of an
//! admission never interleave with another, a deferral is durable before anything else happens to the source,
//! and [`FlushDeferrals`] answered means every earlier write is done. The mailbox itself is never held: a handler
//! only queues its step, so while storage is down (the step in progress is retried with capped exponential
//! backoff, from a timer) messages keep arriving, in order, behind it. See `steps.rs` for the details.
//!
//! **Restart.** A step that finds the actor's state broken (an answer that does not match what was asked, a row it
//! cannot interpret after its claim committed) stops the actor, and its supervisor restarts it. `restarting()`
//! forgets the window, the counter and the timers and keeps the queued steps (they are messages not yet acted
//! on), plus a deferral write in progress, which goes first; `started()` (first start and every restart) reloads
//! the pause and the backlog from storage, so both paths run the same code (STYLE §2.5).
//! **Retirement.** After [`LimiterLink::idle_after`] without messages, with an empty backlog and nothing queued
//! (so everything it knows is durable), it reports [`LimiterIdle`] to the directory, which forgets it and answers
//! [`Retire`].
//!
//! A crash between the commit of a batch and the deferral write (a few milliseconds) loses the deferral of those
//! events; evaluation is at most once, and the trigger issue's recovery owns the rest.

mod steps;
#[cfg(test)]
pub(super) mod tests;

use std::collections::VecDeque;
use std::time::Duration;

use actix::{
    Actor, ActorContext, AsyncContext, Context, Handler, Message, Recipient, ResponseFuture,
    SpawnHandle, Supervised,
};
use chrono::Utc;
use tokio::sync::oneshot;

use self::steps::{Retrying, Step};
use super::clock::ActorClock;
use super::directory::LimiterIdle;
use crate::actors::messages::{EventSelection, EventsReleased};
use crate::domain::{Clock, LocalWindow, RateLimit, SourceName, SourcePause, SourceWindow};
use crate::redis::RedisWindow;
use crate::storage::{Storage, StorageError};

/// Newly stored events of the limiter's source, in `ingressSequence` order.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AdmitEvents {
    /// The events.
    pub events: EventSelection,
}

/// Re-read the source's pause from storage: an operator or another instance changed it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ReloadPause;

/// Re-read the durable backlog and queue what is not queued yet (deferred events a stopped instance left).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AdoptBacklog {
    /// How many deferred events storage holds for the source; when the limiter already queues as many, there is
    /// nothing to adopt and storage is not read.
    pub durable: u64,
}

/// Discard the deferred backlog (SPEC §6.5): the events stay stored, their evaluation is dropped and counted as
/// `dropped`. Answers how many were discarded, on every instance.
#[derive(Debug, Message)]
#[rtype(result = "Result<u64, SourceError>")]
pub struct DiscardDeferred;

/// Answered once every storage write the limiter started before it is done (shutdown drains with it).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct FlushDeferrals;

/// Stop for good: the directory has forgotten this limiter (after [`LimiterIdle`]).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Retire;

/// Why a source operation has no answer.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Storage failed; nothing changed.
    #[error("storage failed: {0}")]
    Storage(#[source] StorageError),
    /// The limiter stopped before it answered.
    #[error("the source's rate limiter stopped before answering")]
    Gone,
}

/// What a limiter needs besides its source and limit; the directory hands each one a clone.
#[derive(Clone)]
pub struct LimiterLink {
    /// The database.
    pub storage: Storage,
    /// The shared counter (redis mode); `None`: count in-process.
    pub shared: Option<RedisWindow>,
    /// Where released events go (trigger evaluation).
    pub released_to: Recipient<EventsReleased>,
    /// The directory, told when the limiter is idle.
    pub idle_to: Recipient<LimiterIdle>,
    /// How long without messages, and with an empty backlog, before the limiter offers to retire.
    pub idle_after: Duration,
    /// Where its decisions are counted (`herald_events_throttled_total`, `herald_events_dropped_total`).
    pub metrics: crate::metrics::Metrics,
    /// The clock of its window, its counter and its idle check (a fake one in tests).
    pub clock: ActorClock,
}

/// One source's rate limiter. Supervised; see the module docs and `actors.md`.
pub struct SourceRateLimiter {
    source: SourceName,
    link: LimiterLink,
    window: SourceWindow<ActorClock>,
    local: LocalWindow<ActorClock>,
    /// Steps waiting for the one in progress, in arrival order.
    queue: VecDeque<Step>,
    /// The step in progress: its storage call (or shared-counter ask) is in flight, or it waits for its retry.
    current: Option<Step>,
    /// Set while `current` failed and waits for its next attempt.
    retrying: Option<Retrying>,
    release_timer: Option<SpawnHandle>,
    /// A [`Step::Release`] is queued; the timer does not queue another.
    release_queued: bool,
    /// [`SourceRateLimiter::pump`] is running (a step that queues another does not start a second loop).
    pumping: bool,
    /// When the last directory message came, on `link.clock`.
    last_activity_ms: u64,
    /// Messages from the directory handled so far (the directory compares before retiring the limiter).
    handled: u64,
    starts: u32,
}

impl SourceRateLimiter {
    /// A limiter for `source` with `limit` (`None`: only manual pauses apply).
    pub fn new(source: SourceName, limit: Option<RateLimit>, link: LimiterLink) -> Self {
        let clock = link.clock.clone();
        SourceRateLimiter {
            source,
            window: SourceWindow::new(clock.clone(), limit),
            local: LocalWindow::new(clock.clone()),
            last_activity_ms: clock.now_ms(),
            link,
            queue: VecDeque::new(),
            current: None,
            retrying: None,
            release_timer: None,
            release_queued: false,
            pumping: false,
            handled: 0,
            starts: 0,
        }
    }

    /// Queues the load of the pause and the backlog ahead of every queued message and starts the idle check.
    /// Runs on the first start and after every restart.
    fn init(&mut self, ctx: &mut Context<Self>) {
        self.starts += 1;
        self.last_activity_ms = self.link.clock.now_ms();
        // A deferral write cut short by the restart goes first, so the load sees it.
        let at = usize::from(matches!(self.queue.front(), Some(Step::Defer { .. })));
        self.queue.insert(at, Step::Load);
        let every = self.link.idle_after.min(Duration::from_secs(60));
        ctx.run_interval(every, |act, _ctx| act.check_idle());
        self.pump(ctx);
    }

    /// Adopts the durable pause: storage is the truth shared by every instance.
    fn apply_pause(&mut self, pause: Option<SourcePause>) {
        let now = Utc::now();
        let pause = pause.filter(|p| p.is_active(now)).map(|p| {
            // Active, so the end is after now: at least 1 ms remains.
            let remaining = p.until.map(|until| {
                u64::try_from((until - now).num_milliseconds())
                    .unwrap_or(0)
                    .max(1)
            });
            (p.kind, p.reason, remaining)
        });
        self.window.set_pause(pause);
    }

    fn hand_on(&self, events: EventSelection) {
        if events.is_empty() {
            return;
        }
        self.link.released_to.do_send(EventsReleased {
            source: self.source.clone(),
            events,
        });
    }

    /// Sets the release timer for the window's next release, replacing any earlier one; a release due now is
    /// queued at once.
    fn schedule_release(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.release_timer.take() {
            ctx.cancel_future(timer);
        }
        if self.release_queued {
            return;
        }
        let Some(at) = self.window.next_release_at_ms() else {
            return;
        };
        let now = self.link.clock.now_ms();
        if at <= now {
            self.queue_release(ctx);
            return;
        }
        self.release_timer = Some(ctx.run_later(Duration::from_millis(at - now), |act, ctx| {
            act.release_timer = None;
            act.queue_release(ctx);
        }));
    }

    fn queue_release(&mut self, ctx: &mut Context<Self>) {
        if !self.release_queued {
            self.release_queued = true;
            self.push(Step::Release, ctx);
        }
    }

    /// Whether the window would release something now.
    #[cfg(test)]
    fn release_due(&self) -> bool {
        self.window
            .next_release_at_ms()
            .is_some_and(|at| at <= self.link.clock.now_ms())
    }

    fn check_idle(&mut self) {
        let quiet_ms = self
            .link
            .clock
            .now_ms()
            .saturating_sub(self.last_activity_ms);
        if self.window.backlog_len() == 0
            && self.queue.is_empty()
            && self.current.is_none()
            && Duration::from_millis(quiet_ms) >= self.link.idle_after
        {
            self.link.idle_to.do_send(LimiterIdle {
                source: self.source.clone(),
                handled: self.handled,
            });
        }
    }

    /// Counts a message from the directory.
    fn touch(&mut self) {
        self.handled += 1;
        self.last_activity_ms = self.link.clock.now_ms();
    }
}

impl Actor for SourceRateLimiter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.init(ctx);
    }
}

impl Supervised for SourceRateLimiter {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        tracing::warn!(source = %self.source, starts = self.starts, queued = self.queue.len(), "Source rate limiter restarting; reloading its state.");
        // The old context's timers and calls are gone; `started()` runs next and reloads everything.
        let clock = self.link.clock.clone();
        self.window = SourceWindow::new(clock.clone(), self.window.limit());
        self.local = LocalWindow::new(clock);
        self.release_timer = None;
        self.release_queued = false;
        self.retrying = None;
        self.queue.retain(|step| !matches!(step, Step::Release));
        if let Some(step) = self.current.take().and_then(Step::survives_restart) {
            self.queue.push_front(step);
        }
    }
}

impl Handler<AdmitEvents> for SourceRateLimiter {
    type Result = ();

    fn handle(&mut self, msg: AdmitEvents, ctx: &mut Self::Context) {
        self.touch();
        self.push(Step::Admit { events: msg.events }, ctx);
    }
}

impl Handler<ReloadPause> for SourceRateLimiter {
    type Result = ();

    fn handle(&mut self, _msg: ReloadPause, ctx: &mut Self::Context) {
        self.touch();
        self.push(Step::ReloadPause, ctx);
    }
}

impl Handler<AdoptBacklog> for SourceRateLimiter {
    type Result = ();

    fn handle(&mut self, msg: AdoptBacklog, ctx: &mut Self::Context) {
        self.touch();
        self.push(
            Step::Adopt {
                durable: msg.durable,
            },
            ctx,
        );
    }
}

impl Handler<DiscardDeferred> for SourceRateLimiter {
    type Result = ResponseFuture<Result<u64, SourceError>>;

    fn handle(&mut self, _msg: DiscardDeferred, ctx: &mut Self::Context) -> Self::Result {
        self.touch();
        let (reply, answered) = oneshot::channel();
        self.push(Step::Discard { reply }, ctx);
        Box::pin(async move { answered.await.unwrap_or(Err(SourceError::Gone)) })
    }
}

impl Handler<FlushDeferrals> for SourceRateLimiter {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: FlushDeferrals, ctx: &mut Self::Context) -> Self::Result {
        self.touch();
        let (reply, answered) = oneshot::channel();
        self.push(Step::Flush { reply }, ctx);
        // A limiter that stopped for good has nothing left to write.
        Box::pin(async move {
            let _ = answered.await;
        })
    }
}

impl Handler<Retire> for SourceRateLimiter {
    type Result = ();

    fn handle(&mut self, _msg: Retire, ctx: &mut Self::Context) {
        tracing::debug!(source = %self.source, "Source rate limiter retired (idle).");
        ctx.stop();
    }
}

#[cfg(test)]
crate::actors::messages::stops_on_crash!(SourceRateLimiter);
