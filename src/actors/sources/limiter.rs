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
//! Every storage step runs with `ctx.wait`, which holds the mailbox until it is done: the two steps of an
//! admission never interleave with another, a deferral is durable before anything else happens to the source,
//! and [`FlushDeferrals`] answered means every earlier write is done.
//!
//! **Restart.** `restarting()` forgets the in-memory state; `started()` (which runs on the first start and after
//! every restart) reloads the pause and the backlog from storage, so both paths run the same code (STYLE §2.5).
//! **Retirement.** After [`LimiterLink::idle_after`] without messages and with an empty backlog (so everything
//! it knows is durable), it reports [`LimiterIdle`] to the directory, which forgets it and answers [`Retire`].
//!
//! A crash between the commit of a batch and the deferral write (a few milliseconds) loses the deferral of those
//! events; evaluation is at most once, and the trigger issue's recovery owns the rest.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, Recipient,
    ResponseFuture, SpawnHandle, Supervised, WrapFuture,
};
use chrono::Utc;
use tokio::sync::oneshot;

use super::messages::{EventSelection, EventsReleased};
use super::redis_window::RedisWindow;
use super::source_directory::LimiterIdle;
use crate::domain::{
    Admission, Clock, Grant, LocalWindow, PauseReason, RateLimit, SourceName, SourceWindow,
    SystemClock,
};
use crate::storage::{HERALD_ACTOR, PauseKind, SourcePause, Storage, StorageError};

/// How long a failed release waits before it tries again.
const RELEASE_RETRY: Duration = Duration::from_secs(1);
/// Back-off between attempts of a write that must not be lost, doubling up to the maximum.
const STORAGE_RETRY_MIN: Duration = Duration::from_millis(100);
const STORAGE_RETRY_MAX: Duration = Duration::from_secs(5);

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
    Storage(String),
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
}

/// One source's rate limiter. Supervised; see the module docs and `actors.md`.
pub struct SourceRateLimiter {
    source: SourceName,
    link: LimiterLink,
    clock: SystemClock,
    window: SourceWindow<SystemClock>,
    local: LocalWindow<SystemClock>,
    release_timer: Option<SpawnHandle>,
    last_activity: Instant,
    /// Messages from the directory handled so far (the directory compares before retiring the limiter).
    handled: u64,
    starts: u32,
}

impl SourceRateLimiter {
    /// A limiter for `source` with `limit` (`None`: only manual pauses apply).
    pub fn new(source: SourceName, limit: Option<RateLimit>, link: LimiterLink) -> Self {
        let clock = SystemClock::new();
        SourceRateLimiter {
            source,
            link,
            clock,
            window: SourceWindow::new(clock, limit),
            local: LocalWindow::new(clock),
            release_timer: None,
            last_activity: Instant::now(),
            handled: 0,
            starts: 0,
        }
    }

    /// Loads the pause and the backlog (holding the mailbox meanwhile) and starts the idle check. Runs on the
    /// first start and after every restart.
    fn init(&mut self, ctx: &mut Context<Self>) {
        self.starts += 1;
        self.last_activity = Instant::now();
        let storage = self.link.storage.clone();
        let source = self.source.clone();
        ctx.wait(
            async move {
                let mut backoff = Backoff::default();
                loop {
                    let repo = storage.sources();
                    let loaded = async { Ok((repo.pause_of(&source).await?, repo.backlog(&source).await?)) };
                    match loaded.await {
                        Ok(state) => break state,
                        Err(e) => backoff.wait(&source, "load its pause and backlog", &e).await,
                    }
                }
            }
            .into_actor(self)
            .map(|(pause, backlog), act, ctx| {
                act.apply_pause(pause);
                act.window.restore_backlog(backlog);
                tracing::debug!(source = %act.source, backlog = act.window.backlog_len(), starts = act.starts, "Source rate limiter started.");
                act.schedule_release(ctx);
            }),
        );
        let every = self.link.idle_after.min(Duration::from_secs(60));
        ctx.run_interval(every, |act, _ctx| act.check_idle());
    }

    /// Adopts the durable pause: storage is the truth shared by every instance.
    fn apply_pause(&mut self, pause: Option<SourcePause>) {
        let now = Utc::now();
        let pause = pause.filter(|p| p.is_active(now)).map(|p| {
            let reason = match p.kind {
                PauseKind::Manual => PauseReason::Manual(p.reason),
                PauseKind::RateLimit => PauseReason::RateLimit,
            };
            // Active, so the end is after now: at least 1 ms remains.
            let remaining = p.until.map(|until| {
                u64::try_from((until - now).num_milliseconds())
                    .unwrap_or(0)
                    .max(1)
            });
            (reason, remaining)
        });
        self.window.set_pause(pause);
    }

    /// Asks the counter for `wanted` slots (the window's step one) and continues with its grant. In redis mode the
    /// mailbox is held until the answer; when Redis fails, this instance counts on its own meanwhile.
    fn with_grant(
        &mut self,
        ctx: &mut Context<Self>,
        wanted: u32,
        then: impl FnOnce(&mut Self, &mut Context<Self>, Grant) + 'static,
    ) {
        let Some(limit) = self.window.limit().filter(|_| wanted > 0) else {
            return then(self, ctx, Grant::NOTHING_ASKED);
        };
        let Some(shared) = self.link.shared.clone() else {
            let grant = self.local.take(limit, wanted);
            return then(self, ctx, grant);
        };
        let source = self.source.clone();
        ctx.wait(
            async move { shared.take(&source, limit, wanted).await }
                .into_actor(self)
                .map(move |answer, act, ctx| {
                    let grant = match answer {
                        Ok(grant) => grant,
                        // The shared window's task logs the failure, once for all the sources it served.
                        Err(e) => {
                            tracing::debug!(source = %act.source, error.message = %e, "Counting on this instance alone.");
                            act.local.take(limit, wanted)
                        }
                    };
                    then(act, ctx, grant)
                }),
        );
    }

    fn admitted(
        &mut self,
        ctx: &mut Context<Self>,
        events: EventSelection,
        seqs: Vec<i64>,
        grant: Grant,
    ) {
        let admissions = self.window.admit(&seqs, grant);
        let evaluate = admissions
            .iter()
            .take_while(|a| **a == Admission::Evaluate)
            .count();
        let (now, later) = events.split_at(evaluate);
        self.hand_on(now);
        if later.is_empty() {
            return;
        }
        let pause = admissions
            .contains(&Admission::DeferAndPause)
            .then(|| self.rate_limit_pause())
            .flatten();
        if let Some(pause) = &pause {
            tracing::info!(source = %self.source, until = ?pause.until, "Source paused: it exceeded its rate limit.");
        }
        let deferred = seqs[evaluate..].to_vec();
        let throttled = deferred.len() as u64;
        let storage = self.link.storage.clone();
        let source = self.source.clone();
        ctx.wait(
            async move {
                let mut backoff = Backoff::default();
                while let Err(e) = storage
                    .sources()
                    .defer(&source, &deferred, pause.as_ref())
                    .await
                {
                    backoff.wait(&source, "record deferred events", &e).await;
                }
            }
            .into_actor(self)
            .map(move |(), act, ctx| {
                act.link.metrics.events_throttled(&act.source, throttled);
                act.schedule_release(ctx)
            }),
        );
    }

    fn rate_limit_pause(&self) -> Option<SourcePause> {
        let limit = self.window.limit()?;
        let now = Utc::now();
        let pause_ms = i64::try_from(limit.pause_ms()).unwrap_or(i64::MAX);
        Some(SourcePause {
            source: self.source.clone(),
            kind: PauseKind::RateLimit,
            reason: format!(
                "rate limit exceeded: more than {} events per {} ms",
                limit.limit(),
                limit.interval_ms()
            ),
            actor: HERALD_ACTOR.to_owned(),
            paused_at: now,
            until: Some(now + chrono::Duration::milliseconds(pause_ms)),
        })
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

    /// Sets the release timer for the window's next release, replacing any earlier one.
    fn schedule_release(&mut self, ctx: &mut Context<Self>) {
        let Some(at) = self.window.next_release_at_ms() else {
            if let Some(timer) = self.release_timer.take() {
                ctx.cancel_future(timer);
            }
            return;
        };
        let delay = Duration::from_millis(at.saturating_sub(self.clock.now_ms()));
        self.schedule_release_in(ctx, delay);
    }

    fn schedule_release_in(&mut self, ctx: &mut Context<Self>, delay: Duration) {
        if let Some(timer) = self.release_timer.take() {
            ctx.cancel_future(timer);
        }
        self.release_timer = Some(ctx.run_later(delay, |act, ctx| {
            act.release_timer = None;
            act.release_step(ctx);
        }));
    }

    /// One release step: take what the window and the counter allow, claim it in storage, hand it on.
    fn release_step(&mut self, ctx: &mut Context<Self>) {
        let wanted = self.window.slots_to_release();
        self.with_grant(ctx, wanted, |act, ctx, grant| {
            let seqs = act.window.release(grant);
            if seqs.is_empty() {
                act.schedule_release(ctx);
                return;
            }
            let storage = act.link.storage.clone();
            let source = act.source.clone();
            ctx.wait(
                async move {
                    let claimed = storage.sources().release(&source, &seqs).await;
                    (claimed, seqs)
                }
                .into_actor(act)
                .map(|(claimed, seqs), act, ctx| match claimed {
                    Ok(events) => {
                        tracing::debug!(source = %act.source, asked = seqs.len(), released = events.len(), "Released deferred events.");
                        act.hand_on(EventSelection::whole(Arc::from(events)));
                        act.schedule_release(ctx);
                    }
                    Err(e) => {
                        tracing::warn!(source = %act.source, error.message = %e, "Could not release deferred events; retrying.");
                        act.window.requeue_front(seqs);
                        act.schedule_release_in(ctx, RELEASE_RETRY);
                    }
                }),
            );
        });
    }

    fn check_idle(&mut self) {
        if self.window.backlog_len() == 0 && self.last_activity.elapsed() >= self.link.idle_after {
            self.link.idle_to.do_send(LimiterIdle {
                source: self.source.clone(),
                handled: self.handled,
            });
        }
    }

    /// Counts a message from the directory.
    fn touch(&mut self) {
        self.handled += 1;
        self.last_activity = Instant::now();
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
        tracing::warn!(source = %self.source, starts = self.starts, "Source rate limiter restarting; reloading its state.");
        // The old context's timers and storage steps are gone; `started()` runs next and reloads everything.
        self.window = SourceWindow::new(self.clock, self.window.limit());
        self.local = LocalWindow::new(self.clock);
        self.release_timer = None;
    }
}

impl Handler<AdmitEvents> for SourceRateLimiter {
    type Result = ();

    fn handle(&mut self, msg: AdmitEvents, ctx: &mut Self::Context) {
        self.touch();
        let seqs = msg.events.sequences();
        let wanted = self.window.slots_to_admit(seqs.len());
        let events = msg.events;
        self.with_grant(ctx, wanted, move |act, ctx, grant| {
            act.admitted(ctx, events, seqs, grant)
        });
    }
}

impl Handler<ReloadPause> for SourceRateLimiter {
    type Result = ();

    fn handle(&mut self, _msg: ReloadPause, ctx: &mut Self::Context) {
        self.touch();
        let storage = self.link.storage.clone();
        let source = self.source.clone();
        ctx.wait(
            async move {
                let mut backoff = Backoff::default();
                loop {
                    match storage.sources().pause_of(&source).await {
                        Ok(pause) => break pause,
                        Err(e) => backoff.wait(&source, "read its pause", &e).await,
                    }
                }
            }
            .into_actor(self)
            .map(|pause, act, ctx| {
                act.apply_pause(pause);
                act.schedule_release(ctx);
            }),
        );
    }
}

impl Handler<AdoptBacklog> for SourceRateLimiter {
    type Result = ();

    fn handle(&mut self, msg: AdoptBacklog, ctx: &mut Self::Context) {
        self.touch();
        if self.window.backlog_len() as u64 >= msg.durable {
            return;
        }
        let storage = self.link.storage.clone();
        let source = self.source.clone();
        ctx.wait(
            async move { storage.sources().backlog(&source).await }
                .into_actor(self)
                .map(|backlog, act, ctx| match backlog {
                    Ok(backlog) => {
                        act.window.restore_backlog(backlog);
                        act.schedule_release(ctx);
                    }
                    Err(e) => {
                        tracing::warn!(source = %act.source, error.message = %e, "Could not read the durable backlog; the next sweep tries again.");
                    }
                }),
        );
    }
}

impl Handler<DiscardDeferred> for SourceRateLimiter {
    type Result = ResponseFuture<Result<u64, SourceError>>;

    fn handle(&mut self, _msg: DiscardDeferred, ctx: &mut Self::Context) -> Self::Result {
        self.touch();
        let (answer, answered) = oneshot::channel();
        let storage = self.link.storage.clone();
        let source = self.source.clone();
        ctx.wait(
            async move { storage.sources().discard_backlog(&source).await }
                .into_actor(self)
                .map(move |discarded, act, ctx| {
                    let result = match discarded {
                        Ok(n) => {
                            act.link.metrics.events_dropped(&act.source, n);
                            act.window.discard_backlog();
                            act.schedule_release(ctx);
                            Ok(n)
                        }
                        Err(e) => Err(SourceError::Storage(e.to_string())),
                    };
                    let _ = answer.send(result);
                }),
        );
        Box::pin(async move { answered.await.unwrap_or(Err(SourceError::Gone)) })
    }
}

impl Handler<FlushDeferrals> for SourceRateLimiter {
    type Result = ();

    fn handle(&mut self, _msg: FlushDeferrals, _ctx: &mut Self::Context) {
        // Handled only once the writes before it are done: every storage step holds the mailbox.
        self.touch();
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
super::messages::stops_on_crash!(SourceRateLimiter);

/// Capped exponential back-off for writes that must not be lost, logging each failure (STYLE §6.3).
#[derive(Debug, Default)]
struct Backoff {
    attempts: u32,
}

impl Backoff {
    async fn wait(&mut self, source: &SourceName, what: &str, error: &StorageError) {
        self.attempts += 1;
        let delay = STORAGE_RETRY_MIN
            .saturating_mul(1 << self.attempts.min(6))
            .min(STORAGE_RETRY_MAX);
        tracing::error!(%source, attempt = self.attempts, error.message = %error, "Source rate limiter could not {what}; retrying.");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use crate::actors::messages::Crash;
    use std::sync::Mutex;

    use super::*;
    use actix::Supervisor;
    use serde_json::json;

    use crate::storage::StoredEvent;

    #[derive(Message)]
    #[rtype(result = "u32")]
    struct Starts;

    impl Handler<Starts> for SourceRateLimiter {
        type Result = u32;
        fn handle(&mut self, _msg: Starts, _ctx: &mut Self::Context) -> u32 {
            self.starts
        }
    }

    /// Collects what a limiter sends.
    #[derive(Default)]
    struct Sink {
        released: Arc<Mutex<Vec<i64>>>,
        idle: Arc<Mutex<Vec<u64>>>,
    }

    impl Actor for Sink {
        type Context = Context<Self>;
    }

    impl Handler<EventsReleased> for Sink {
        type Result = ();
        fn handle(&mut self, msg: EventsReleased, _ctx: &mut Self::Context) {
            self.released.lock().unwrap().extend(msg.events.sequences());
        }
    }

    impl Handler<LimiterIdle> for Sink {
        type Result = ();
        fn handle(&mut self, msg: LimiterIdle, _ctx: &mut Self::Context) {
            self.idle.lock().unwrap().push(msg.handled);
        }
    }

    fn source() -> SourceName {
        SourceName::parse("tests.limiter".into()).unwrap()
    }

    fn stored(seq: i64) -> StoredEvent {
        StoredEvent::sample(
            json!({"id": format!("e-{seq}"), "type": "test.event.happened", "source": "tests.limiter"}),
            seq,
        )
    }

    fn link(storage: &Storage, sink: &actix::Addr<Sink>, idle_after: Duration) -> LimiterLink {
        LimiterLink {
            storage: storage.clone(),
            shared: None,
            released_to: sink.clone().recipient(),
            idle_to: sink.clone().recipient(),
            idle_after,
            metrics: crate::metrics::Metrics::detached(),
        }
    }

    async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[actix_rt::test]
    async fn the_supervisor_restarts_a_stopped_limiter_which_reloads_its_durable_backlog() {
        // Arrange: 2 per minute, so everything past the second event stays deferred.
        let (_dir, storage) = Storage::scratch().await;
        let released = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink {
            released: released.clone(),
            ..Sink::default()
        }
        .start();
        let limit = RateLimit::new(2, 60_000, 60_000).ok();
        let l = link(&storage, &sink, Duration::from_secs(600));
        let limiter = Supervisor::start(move |_| SourceRateLimiter::new(source(), limit, l));
        let batch: Arc<[StoredEvent]> = (1..=5).map(stored).collect();
        limiter
            .send(AdmitEvents {
                events: EventSelection::whole(batch),
            })
            .await
            .unwrap();
        limiter.send(FlushDeferrals).await.unwrap();

        // Act
        limiter.send(Crash).await.unwrap();
        limiter.send(Crash).await.unwrap();

        // Assert
        assert_eq!(
            limiter.send(Starts).await.unwrap(),
            3,
            "one start and two restarts"
        );
        let backlog = storage.sources().backlog(&source()).await.unwrap();
        assert_eq!(backlog, [3, 4, 5]);
        assert_eq!(*released.lock().unwrap(), [1, 2]);
        let pause = storage
            .sources()
            .pause_of(&source())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pause.kind, PauseKind::RateLimit);
        // The restarted limiter still serves: a discard answers from its reloaded backlog.
        assert_eq!(limiter.send(DiscardDeferred).await.unwrap().unwrap(), 3);
    }

    #[actix_rt::test]
    async fn after_a_pause_the_backlog_is_released_in_order_once() {
        // Arrange: 2 per 100 ms, paused 100 ms.
        let (_dir, storage) = Storage::scratch().await;
        let batch: Vec<StoredEvent> = (1..=7).map(stored).collect();
        let new_events = batch
            .iter()
            .map(|e| crate::storage::NewEvent::new(e.envelope.clone(), e.received_at, None, None))
            .collect();
        let persisted = storage
            .events()
            .persist_batch(new_events, vec![])
            .await
            .unwrap();
        let released = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink {
            released: released.clone(),
            ..Sink::default()
        }
        .start();
        let limit = RateLimit::new(2, 100, 100).ok();
        let l = link(&storage, &sink, Duration::from_secs(600));
        let limiter = Supervisor::start(move |_| SourceRateLimiter::new(source(), limit, l));

        // Act
        limiter
            .send(AdmitEvents {
                events: EventSelection::whole(Arc::from(persisted.stored)),
            })
            .await
            .unwrap();

        // Assert
        wait_for("every event to be released", || {
            released.lock().unwrap().len() >= 7
        })
        .await;
        assert_eq!(*released.lock().unwrap(), (1..=7).collect::<Vec<i64>>());
        assert!(
            storage
                .sources()
                .backlog(&source())
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[actix_rt::test]
    async fn an_idle_limiter_with_an_empty_backlog_offers_to_retire() {
        let (_dir, storage) = Storage::scratch().await;
        let idle = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink {
            idle: idle.clone(),
            ..Sink::default()
        }
        .start();
        let l = link(&storage, &sink, Duration::from_millis(50));
        let limiter = Supervisor::start(move |_| SourceRateLimiter::new(source(), None, l));
        limiter.send(FlushDeferrals).await.unwrap();

        wait_for("an idle report", || !idle.lock().unwrap().is_empty()).await;
        assert_eq!(
            idle.lock().unwrap()[0],
            1,
            "it counts the messages it handled"
        );
    }
}
