//! `SourceDirectory`: finds each source's [`SourceRateLimiter`], creating it on first sight and forgetting it when
//! it retires (STYLE §2.8), and keeps the per-source counters (SPEC §4).
//!
//! It subscribes to the [`IngressRouter`](super::IngressRouter)'s [`EventsStored`], splits each batch by source
//! without copying an event ([`EventSelection`]), and forwards each part to its source's limiter as
//! [`AdmitEvents`]. The batch's counters (total, lag, last event) go to `source_stats` in one upsert for all its
//! sources, at most once per [`STATS_WRITE_INTERVAL`]: batches that arrive meanwhile are merged into the next
//! write.
//!
//! Limiters hand released events back here as [`EventsReleased`]; until trigger evaluation exists (the trigger
//! issue consumes this message), the directory counts them per source (`released` in `GET /admin/sources`: this
//! instance's count since it started) and forwards them to the optional downstream recipient.
//!
//! It polls `source_pauses` every [`PAUSE_POLL_INTERVAL`]: the limiters of sources whose pause changed reload it
//! (in redis mode, with several instances, SPEC §13, this is how a pause made on one instance holds on all within a
//! second), and the WebSocket hub gets a `source.paused` or `source.resumed` notice for every pause that started,
//! changed or ended, whoever made it and whether it ended by hand or by expiry (SPEC §7). A poll, rather than a
//! pub/sub notification: one small read of a table with a row per paused source costs less than a subscriber
//! connection, it cannot miss a message while Redis reconnects, and it sees expiries, which nobody announces.
//! In redis mode it also, every [`BACKLOG_SWEEP_INTERVAL`], has the limiters of sources with durable backlogs
//! adopt rows a stopped instance left behind.
//!
//! **Restart.** The supervisor re-uses the same value: `restarting()` keeps the limiters (they are supervised on
//! their own) and the release counts, and loses the counters of the write that was cut short (metrics, never
//! events); `started()` starts the limiters of every source with a durable backlog, so a restart of the process
//! releases deferred events without waiting for new ones. The directory holds no state read from storage that
//! it keeps relying on (the pause poll and the backlog sweep read afresh each time), so nothing it reads can leave
//! it broken; it stops only when told (tests) and its storage failures are retried by the next poll or sweep.

mod pause_watch;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, Recipient,
    ResponseActFuture, ResponseFuture, Supervised, Supervisor, WrapFuture,
};
use chrono::Utc;

use super::clock::ActorClock;
use super::limiter::{
    AdmitEvents, AdoptBacklog, DiscardDeferred, FlushDeferrals, LimiterLink, ReloadPause, Retire,
    SourceError, SourceRateLimiter,
};
use super::retry::storage_backoff;
use crate::actors::ingress_router::SubscribeStored;
use crate::actors::live::SourceNotice;
use crate::actors::messages::{EventSelection, EventsReleased, EventsStored};
use crate::config::rate_limits::RateLimits;
use crate::domain::SourceName;
use crate::domain::{SourcePause, StatsDelta};
use crate::redis::RedisWindow;
use crate::redis::retry::Backoff;
use crate::storage::{Storage, StorageError};

/// How often each instance reads `source_pauses` in redis mode (SPEC §13: a pause holds on all within 1 s).
pub const PAUSE_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How often, in redis mode, limiters adopt durable backlogs other instances left.
pub const BACKLOG_SWEEP_INTERVAL: Duration = Duration::from_secs(10);
/// How long a limiter waits without messages (with an empty backlog) before it retires.
pub const LIMITER_IDLE_AFTER: Duration = Duration::from_secs(600);
/// How long a failed counter write waits before the next attempt.
const STATS_RETRY: Duration = Duration::from_secs(1);
/// The shortest time between the starts of two counter writes. Counters of the batches stored meanwhile are
/// merged, so a busy instance writes each source's row about once a second rather than once per batch (with
/// 1,000 sources, a 1,000-row upsert per batch cost more than the rest of the source bookkeeping together);
/// `GET /admin/sources` lags by at most that much.
pub const STATS_WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// A limiter reports that it has been idle with an empty backlog, having handled `handled` directory messages.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct LimiterIdle {
    /// Its source.
    pub source: SourceName,
    /// How many messages from the directory it has handled; the directory retires it only if it sent no more.
    pub handled: u64,
}

/// A source's pause changed in storage (an operator paused or resumed it here): its limiter reloads it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct PauseChanged {
    /// The source.
    pub source: SourceName,
}

/// Discard a source's deferred backlog (SPEC §6.5); answers how many deferred events were dropped.
#[derive(Debug, Message)]
#[rtype(result = "Result<u64, SourceError>")]
pub struct DiscardBacklog {
    /// The source.
    pub source: SourceName,
}

/// How many events of each of `sources` this instance released to trigger evaluation since it started.
#[derive(Debug, Message)]
#[rtype(result = "HashMap<SourceName, u64>")]
pub struct ReleasedCounts {
    /// The sources asked about.
    pub sources: Vec<SourceName>,
}

/// Shutdown: answered once the counters are written and every limiter's deferrals are durable.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DrainSources;

/// What the HTTP handlers need to talk to the directory: one [`Recipient`] per message (STYLE §2.2), and the
/// configured limits.
#[derive(Clone)]
pub struct SourcesLink {
    /// [`PauseChanged`].
    pub pause_changed: Recipient<PauseChanged>,
    /// [`DiscardBacklog`].
    pub discard: Recipient<DiscardBacklog>,
    /// [`ReleasedCounts`].
    pub released: Recipient<ReleasedCounts>,
    /// `EVENT_SOURCE_RATE_LIMITS`.
    pub rate_limits: Arc<RateLimits>,
}

impl std::fmt::Debug for SourcesLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourcesLink").finish_non_exhaustive()
    }
}

impl SourcesLink {
    /// The link to a running directory.
    pub fn to(directory: &Addr<SourceDirectory>, rate_limits: Arc<RateLimits>) -> SourcesLink {
        SourcesLink {
            pause_changed: directory.clone().recipient(),
            discard: directory.clone().recipient(),
            released: directory.clone().recipient(),
            rate_limits,
        }
    }
}

/// One live limiter.
struct Entry {
    addr: Addr<SourceRateLimiter>,
    /// Messages sent to it; compared with [`LimiterIdle::handled`].
    sent: u64,
}

/// The per-source limiters and counters. One per process, supervised; see the module docs and `actors.md`.
pub struct SourceDirectory {
    storage: Storage,
    rate_limits: Arc<RateLimits>,
    shared: Option<RedisWindow>,
    /// Where released events go once trigger evaluation exists.
    downstream: Option<Recipient<EventsReleased>>,
    idle_after: Duration,
    limiters: HashMap<SourceName, Entry>,
    released: HashMap<SourceName, u64>,
    /// Counters waiting for the next write.
    pending: HashMap<SourceName, StatsDelta>,
    writing: bool,
    /// When the last counter write started, on `clock`, to pace them ([`STATS_WRITE_INTERVAL`]).
    last_write_ms: Option<u64>,
    /// A paced write waits for its timer.
    write_scheduled: bool,
    /// The pauses in force at the last poll, to tell which changed; `None` before the first.
    known_pauses: Option<HashMap<SourceName, SourcePause>>,
    /// Set while listing the durable backlogs fails; a success resets it.
    adopt_retry: Option<Backoff>,
    /// Where pause notices go (the WebSocket hub).
    notices: Option<Recipient<SourceNotice>>,
    polling: bool,
    starts: u32,
    metrics: crate::metrics::Metrics,
    /// The clock of the counter pacing, handed to every limiter.
    clock: ActorClock,
}

impl SourceDirectory {
    /// A directory with no limiters yet. `shared` is the redis-mode window counter; `downstream` receives
    /// released events (trigger evaluation).
    pub fn new(
        storage: Storage,
        rate_limits: Arc<RateLimits>,
        shared: Option<RedisWindow>,
        downstream: Option<Recipient<EventsReleased>>,
    ) -> SourceDirectory {
        SourceDirectory {
            storage,
            rate_limits,
            shared,
            downstream,
            idle_after: LIMITER_IDLE_AFTER,
            limiters: HashMap::new(),
            released: HashMap::new(),
            pending: HashMap::new(),
            writing: false,
            last_write_ms: None,
            write_scheduled: false,
            known_pauses: None,
            adopt_retry: None,
            notices: None,
            polling: false,
            starts: 0,
            metrics: crate::metrics::Metrics::detached(),
            clock: ActorClock::system(),
        }
    }

    /// Has every limiter count its decisions in `metrics` instead of a detached set nobody scrapes.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> SourceDirectory {
        self.metrics = metrics;
        self
    }

    /// Sends a [`SourceNotice`] to `hub` (which turns it into a `source.paused` or `source.resumed` frame for the
    /// WebSocket sessions) for every pause that starts, changes or ends.
    pub fn with_notices(mut self, hub: Recipient<SourceNotice>) -> SourceDirectory {
        self.notices = Some(hub);
        self
    }

    /// Reads time from `clock` instead of the real one, for itself and every limiter it starts (tests move a
    /// [`FakeClock`](crate::domain::FakeClock) instead of sleeping).
    pub fn with_clock(mut self, clock: ActorClock) -> SourceDirectory {
        self.clock = clock;
        self
    }

    /// Sets how long a limiter waits without messages (with an empty backlog) before it retires; the default is
    /// [`LIMITER_IDLE_AFTER`].
    pub fn with_idle_after(mut self, idle_after: Duration) -> SourceDirectory {
        self.idle_after = idle_after;
        self
    }

    /// Starts the supervised directory on the current arbiter and subscribes it to the router's
    /// [`EventsStored`].
    ///
    /// # Errors
    /// When the router is gone.
    pub async fn launch(
        mut directory: SourceDirectory,
        router: Recipient<SubscribeStored>,
    ) -> anyhow::Result<Addr<SourceDirectory>> {
        // The pauses in force at start are what the pause poll compares the next read with. Read here, before
        // HTTP serves anything, a pause made right after start is announced like any other; left to the first
        // poll, one made before that poll ran would be taken for the starting state and never announced.
        match directory.storage.sources().pauses().await {
            Ok(pauses) => {
                directory.known_pauses = Some(pause_watch::in_force(pauses, Utc::now()));
            }
            Err(e) => {
                tracing::warn!(error.message = %e, error.cause_chain = ?e, "Could not read the source pauses at start; the first poll learns them instead.");
            }
        }
        let addr = Supervisor::start(move |_| directory);
        router
            .send(SubscribeStored {
                recipient: addr.clone().recipient(),
            })
            .await
            .map_err(|e| anyhow::anyhow!("The ingress router is gone: {e}."))?;
        Ok(addr)
    }

    /// The limiter of `source`, started if there is none (a new limiter loads its pause and backlog as it
    /// starts). The caller counts what it sends through [`Entry::sent`].
    fn entry(&mut self, source: &SourceName, ctx: &mut Context<Self>) -> &mut Entry {
        match self.limiters.entry(source.clone()) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let link = LimiterLink {
                    storage: self.storage.clone(),
                    shared: self.shared.clone(),
                    released_to: ctx.address().recipient(),
                    idle_to: ctx.address().recipient(),
                    idle_after: self.idle_after,
                    metrics: self.metrics.clone(),
                    clock: self.clock.clone(),
                };
                let limit = self.rate_limits.for_source(source);
                let name = source.clone();
                let addr = Supervisor::start(move |_| SourceRateLimiter::new(name, limit, link));
                slot.insert(Entry { addr, sent: 0 })
            }
        }
    }

    /// Sends `msg` to `source`'s limiter (started if need be) and counts it.
    fn tell<M>(&mut self, source: &SourceName, ctx: &mut Context<Self>, msg: M)
    where
        M: Message<Result = ()> + Send + 'static,
        SourceRateLimiter: Handler<M>,
    {
        let entry = self.entry(source, ctx);
        entry.sent += 1;
        entry.addr.do_send(msg);
    }

    /// Starts the limiters of every source with a durable backlog (after a restart), or tells live ones to adopt
    /// rows other instances left. At start-up it holds the mailbox until done, so that limiters restore their
    /// backlogs before the first new events arrive.
    fn adopt_backlogs(&mut self, ctx: &mut Context<Self>, hold_mailbox: bool) {
        let storage = self.storage.clone();
        let adopt = async move { storage.sources().backlogs().await }
            .into_actor(self)
            .map(|sources, act, ctx| act.backlogs_listed(ctx, sources));
        if hold_mailbox {
            ctx.wait(adopt);
        } else {
            ctx.spawn(adopt);
        }
    }

    fn backlogs_listed(
        &mut self,
        ctx: &mut Context<Self>,
        sources: Result<Vec<(SourceName, u64)>, StorageError>,
    ) {
        match sources {
            Ok(sources) => {
                self.adopt_retry = None;
                for (source, durable) in sources {
                    if self.limiters.contains_key(&source) {
                        self.tell(&source, ctx, AdoptBacklog { durable });
                    } else {
                        self.entry(&source, ctx);
                    }
                }
            }
            Err(e) => {
                // The redis-mode sweep would try again anyway; a timer does, in any mode, so the backlogs of a
                // restarted process never wait for their sources' next event.
                let delay = self
                    .adopt_retry
                    .get_or_insert_with(storage_backoff)
                    .next_delay();
                tracing::error!(error.message = %e, error.cause_chain = ?e, delay_ms = delay.as_millis() as u64, "Could not list deferred backlogs; trying again.");
                ctx.run_later(delay, |act, ctx| act.adopt_backlogs(ctx, false));
            }
        }
    }

    /// Reads every pause, tells the limiters of the sources whose pause changed to reload it, and sends the
    /// WebSocket sessions a notice for each pause that started, changed or ended (by hand, by expiry, or on
    /// another instance). Without a starting state (`launch` could not read it), the first poll only learns what
    /// is paused.
    fn poll_pauses(&mut self, ctx: &mut Context<Self>) {
        if self.polling {
            return;
        }
        self.polling = true;
        let storage = self.storage.clone();
        ctx.spawn(
            async move { storage.sources().pauses().await }
                .into_actor(self)
                .map(|pauses, act, ctx| {
                    act.polling = false;
                    let pauses = match pauses {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!(error.message = %e, "Could not read source pauses; the next poll tries again.");
                            return;
                        }
                    };
                    let now = Utc::now();
                    let active = pause_watch::in_force(pauses, now);
                    let Some(known) = act.known_pauses.take() else {
                        act.known_pauses = Some(active);
                        return;
                    };
                    let changes = pause_watch::changes(&known, &active, now);
                    act.known_pauses = Some(active);
                    for source in changes.sources {
                        if act.limiters.contains_key(&source) {
                            act.tell(&source, ctx, ReloadPause);
                        }
                    }
                    // After the reloads: a client that sees the notice and publishes finds the limiter paused.
                    if let Some(notices) = &act.notices {
                        for notice in changes.notices {
                            notices.do_send(notice);
                        }
                    }
                }),
        );
    }
}

impl Actor for SourceDirectory {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.starts += 1;
        self.adopt_backlogs(ctx, true);
        self.poll_pauses(ctx);
        ctx.run_interval(PAUSE_POLL_INTERVAL, |act, ctx| act.poll_pauses(ctx));
        if self.shared.is_some() {
            ctx.run_interval(BACKLOG_SWEEP_INTERVAL, |act, ctx| {
                act.adopt_backlogs(ctx, false)
            });
        }
        self.flush_stats(ctx);
    }
}

impl Supervised for SourceDirectory {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        tracing::warn!(
            starts = self.starts,
            "Source directory restarting; its limiters keep running."
        );
        // The write in progress was cancelled with the old context; its counters are lost (they are metrics,
        // never events). What was pending is written by `started()`.
        self.writing = false;
        self.write_scheduled = false;
        self.polling = false;
    }
}

impl Handler<EventsStored> for SourceDirectory {
    type Result = ();

    fn handle(&mut self, msg: EventsStored, ctx: &mut Self::Context) {
        // Group by source, keeping each source's events in `ingressSequence` order.
        let mut groups: Vec<(SourceName, Vec<u32>, StatsDelta)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (position, event) in msg.events.iter().enumerate() {
            let source = &event.envelope.source;
            let slot = *index.entry(source.as_str()).or_insert_with(|| {
                groups.push((source.clone(), Vec::new(), StatsDelta::zero(source.clone())));
                groups.len() - 1
            });
            let (_, positions, delta) = &mut groups[slot];
            // A batch holds at most a few thousand events.
            positions.push(position as u32);
            let lag_ms = (event.received_at - event.envelope.occurred_at)
                .num_milliseconds()
                .max(0);
            delta.counters.add_event(event.received_at, lag_ms);
        }
        drop(index);
        for (source, positions, delta) in groups {
            let events = EventSelection::new(msg.events.clone(), positions);
            self.tell(&source, ctx, AdmitEvents { events });
            self.add_pending(delta);
        }
        self.flush_stats(ctx);
    }
}

impl Handler<EventsReleased> for SourceDirectory {
    type Result = ();

    fn handle(&mut self, msg: EventsReleased, _ctx: &mut Self::Context) {
        *self.released.entry(msg.source.clone()).or_default() += msg.events.len() as u64;
        if let Some(downstream) = &self.downstream {
            downstream.do_send(msg);
        }
    }
}

impl Handler<LimiterIdle> for SourceDirectory {
    type Result = ();

    fn handle(&mut self, msg: LimiterIdle, _ctx: &mut Self::Context) {
        let Some(entry) = self.limiters.get(&msg.source) else {
            return;
        };
        if entry.sent == msg.handled {
            // Forgetting the address lets the limiter stop for good: a supervisor restarts an actor only while
            // someone can still reach it.
            if let Some(entry) = self.limiters.remove(&msg.source) {
                entry.addr.do_send(Retire);
            }
        }
    }
}

impl Handler<PauseChanged> for SourceDirectory {
    type Result = ();

    fn handle(&mut self, msg: PauseChanged, ctx: &mut Self::Context) {
        // A live limiter reloads; a new one loads the pause as it starts (and releases its backlog on resume).
        if self.limiters.contains_key(&msg.source) {
            self.tell(&msg.source, ctx, ReloadPause);
        } else {
            self.entry(&msg.source, ctx);
        }
    }
}

impl Handler<DiscardBacklog> for SourceDirectory {
    type Result = ResponseFuture<Result<u64, SourceError>>;

    fn handle(&mut self, msg: DiscardBacklog, ctx: &mut Self::Context) -> Self::Result {
        let entry = self.entry(&msg.source, ctx);
        entry.sent += 1;
        let limiter = entry.addr.clone();
        Box::pin(async move {
            limiter
                .send(DiscardDeferred)
                .await
                .unwrap_or(Err(SourceError::Gone))
        })
    }
}

impl Handler<ReleasedCounts> for SourceDirectory {
    type Result = actix::MessageResult<ReleasedCounts>;

    fn handle(&mut self, msg: ReleasedCounts, _ctx: &mut Self::Context) -> Self::Result {
        actix::MessageResult(
            msg.sources
                .into_iter()
                .map(|s| {
                    let n = self.released.get(&s).copied().unwrap_or(0);
                    (s, n)
                })
                .collect(),
        )
    }
}

impl Handler<DrainSources> for SourceDirectory {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: DrainSources, _ctx: &mut Self::Context) -> Self::Result {
        let limiters: Vec<Addr<SourceRateLimiter>> = self
            .limiters
            .values_mut()
            .map(|entry| {
                entry.sent += 1;
                entry.addr.clone()
            })
            .collect();
        let flushed = futures::future::join_all(limiters.into_iter().map(|l| async move {
            let _ = l.send(FlushDeferrals).await;
        }));
        // Write what is pending now, directly: a write in progress finishes on its own.
        let deltas: Vec<StatsDelta> = self.pending.drain().map(|(_, d)| d).collect();
        let storage = self.storage.clone();
        Box::pin(
            async move {
                flushed.await;
                if let Err(e) = storage.sources().add_stats(deltas).await {
                    tracing::warn!(error.message = %e, "Could not write the last source counters at shutdown.");
                }
            }
            .into_actor(self),
        )
    }
}

#[cfg(test)]
crate::actors::messages::stops_on_crash!(SourceDirectory);
