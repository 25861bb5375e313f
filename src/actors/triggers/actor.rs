//! `TriggerActor`: one per trigger (SPEC §5.5–§5.8). It owns the trigger's auto-pause machine, throttle window,
//! concurrency cap and retry schedule, and — on the instance that holds the delivery lease — drains the trigger's
//! outbox: due deliveries in event order, each claimed (`delivering`) before its attempt, each attempt recorded
//! with the delivery's new status in one transaction.
//!
//! Storage is the truth: the actor reads its state (`triggers` head + recent first failures) when it starts, when
//! it becomes the owner and whenever another writer moved the state (a compare-and-set on `state_version` tells).

use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;

use super::attempt::{Deliverer, Tried};
use crate::actors::TriggerNotice;
use crate::domain::StoredEvent;
use crate::storage::{Storage, StorageError};
use crate::trigger::{
    AttemptOutcome, AttemptRecord, AttemptResult, CompiledTrigger, Delivery, DeliveryGate,
    DeliveryStatus, Ended, Gate, PauseConfig, PauseMachine, StateChange, StateHead, TriggerState,
    Wait, is_expired, next_status,
};
use crate::views::{delivery_failed_frame_data, trigger_state_frame_data};

/// Deliveries fetched per pump when the trigger has no concurrency cap.
const DEFAULT_CONCURRENCY: u32 = 64;
/// How long to wait before reading again after a storage failure.
const STORAGE_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// Work may be due: new deliveries were recorded, one was retried or redriven, or a timer fired.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Wake;

/// The trigger's definition or state changed (seen by the directory's poll, or after a local write).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Reload {
    /// The definition now.
    pub trigger: Arc<CompiledTrigger>,
    /// The state head now.
    pub head: StateHead,
}

/// Whether this instance holds the delivery lease.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct SetOwner(pub bool);

/// Stop: the trigger was deleted.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct StopTrigger;

/// An on-call command (SPEC §6.4).
#[derive(Debug, Clone)]
pub enum Command {
    /// Pause, with a reason and an optional duration.
    Pause {
        /// Why.
        reason: String,
        /// How long (`None`: until resumed).
        duration: Option<TimeDelta>,
    },
    /// Resume, straight to `running`.
    Resume {
        /// Why.
        reason: String,
    },
}

/// An on-call command from `actor`, answered with the trigger's state afterwards.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<StateHead, StorageError>")]
pub struct Control {
    /// The command.
    pub command: Command,
    /// The token subject.
    pub actor: String,
}

/// One attempt ended (sent by the actor to itself).
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct AttemptEnded {
    delivery: Delivery,
    /// The half-open probe: a failure puts it back in line (`held`) instead of scheduling a retry.
    probe: bool,
    started_at: DateTime<Utc>,
    tried: Tried,
}

/// The wall clock the trigger actors read (their times are compared with stored times and event times, so a
/// monotonic clock from process start would not do); tests hand in one they move by hand.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl WallClock {
    /// The system clock.
    pub fn system() -> WallClock {
        WallClock(Arc::new(Utc::now))
    }

    /// Any clock.
    pub fn new(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> WallClock {
        WallClock(Arc::new(now))
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

/// One trigger's delivery state.
pub struct TriggerActor {
    trigger: Arc<CompiledTrigger>,
    head: StateHead,
    machine: PauseMachine,
    gate: DeliveryGate,
    config: PauseConfig,
    storage: Storage,
    clock: WallClock,
    deliverer: Arc<Deliverer>,
    notices: Option<Recipient<TriggerNotice>>,
    owner: bool,
    pumping: bool,
    again: bool,
    timer: Option<SpawnHandle>,
}

/// What a trigger actor is built from.
#[derive(Clone)]
pub struct TriggerDeps {
    /// The database.
    pub storage: Storage,
    /// The clock.
    pub clock: WallClock,
    /// Performs attempts.
    pub deliverer: Arc<Deliverer>,
    /// Where notices go.
    pub notices: Option<Recipient<TriggerNotice>>,
    /// The auto-pause settings.
    pub pause: PauseConfig,
}

impl TriggerActor {
    /// An actor for `trigger` in state `head`; it reads its failure window when it starts.
    pub fn new(
        trigger: Arc<CompiledTrigger>,
        head: StateHead,
        deps: TriggerDeps,
        owner: bool,
    ) -> Self {
        let machine = replay(deps.pause, &head, []);
        let gate = DeliveryGate::new(
            trigger.definition.throttle,
            trigger.definition.max_concurrency,
        );
        TriggerActor {
            trigger,
            head,
            machine,
            gate,
            config: deps.pause,
            storage: deps.storage,
            clock: deps.clock,
            deliverer: deps.deliverer,
            notices: deps.notices,
            owner,
            pumping: false,
            again: false,
            timer: None,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Re-reads the state head and the failure window, then pumps.
    fn load_state(&mut self, ctx: &mut Context<Self>) {
        let storage = self.storage.clone();
        let id = self.trigger.id.clone();
        let since = self.now() - self.config.window;
        let read = async move {
            let record = storage.triggers().find_fresh(&id).await?;
            let failures = storage.triggers().first_failures_since(&id, since).await?;
            Ok::<_, StorageError>((record, failures))
        };
        ctx.spawn(read.into_actor(self).map(|read, actor, ctx| match read {
            Ok((Some(record), failures)) => {
                actor.head = record.head;
                actor.machine = replay(actor.config, &actor.head, failures);
                actor.pump(ctx);
            }
            Ok((None, _)) => ctx.stop(),
            Err(e) => {
                tracing::warn!(trigger_id = %actor.trigger.id, error = %e, "Reading the trigger's state failed; retrying.");
                ctx.run_later(STORAGE_RETRY, |actor, ctx| actor.load_state(ctx));
            }
        }));
    }

    /// Appends an automatic transition; if another writer moved the state first, re-reads it instead.
    fn persist(&mut self, change: StateChange, ctx: &mut Context<Self>) {
        let storage = self.storage.clone();
        let id = self.trigger.id.clone();
        let expected = self.head.version;
        let write = async move {
            storage
                .triggers()
                .change_state(&id, expected, &change)
                .await
                .map(|h| (h, change))
        };
        ctx.wait(write.into_actor(self).map(|written, actor, ctx| match written {
            Ok((Some(head), change)) => {
                actor.head = head;
                actor.announce(&change);
            }
            Ok((None, _)) => actor.load_state(ctx),
            Err(e) => {
                tracing::warn!(trigger_id = %actor.trigger.id, error = %e, "Recording a state change failed; re-reading the state.");
                ctx.run_later(STORAGE_RETRY, |actor, ctx| actor.load_state(ctx));
            }
        }));
    }

    fn announce(&self, change: &StateChange) {
        let frame_type = match change.to {
            TriggerState::Paused => "trigger.paused",
            TriggerState::Running => "trigger.resumed",
            TriggerState::HalfOpen => return,
        };
        tracing::info!(trigger_id = %self.trigger.id, from = change.from.as_str(), to = change.to.as_str(), reason = %change.reason, actor = %change.actor, "Trigger state changed.");
        if let Some(notices) = &self.notices {
            notices.do_send(TriggerNotice {
                frame_type,
                data: trigger_state_frame_data(&self.trigger.id, &self.trigger.name, change),
            });
        }
    }

    /// Reads due deliveries and starts what the pause machine, the throttle and the cap allow.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if !self.owner {
            return;
        }
        if self.pumping {
            self.again = true;
            return;
        }
        let now = self.now();
        if let Some(change) = self.machine.tick(now) {
            self.persist(change, ctx);
        }
        if self.machine.state() == TriggerState::Paused {
            self.hold_pending(now, ctx);
            if let Some(until) = self.machine.paused_until() {
                self.wake_at(until, ctx);
            }
            return;
        }
        let cap = self
            .trigger
            .definition
            .max_concurrency
            .unwrap_or(DEFAULT_CONCURRENCY);
        let room = cap.saturating_sub(self.gate.in_flight());
        if room == 0 {
            return;
        }
        let limit = if self.machine.state() == TriggerState::HalfOpen {
            1
        } else {
            room
        };
        self.pumping = true;
        let storage = self.storage.clone();
        let id = self.trigger.id.clone();
        let read = async move { storage.deliveries().due(&id, now, u64::from(limit)).await };
        ctx.spawn(read.into_actor(self).map(move |due, actor, ctx| {
            actor.pumping = false;
            match due {
                Ok(due) => {
                    let full = due.len() as u32 >= limit;
                    actor.dispatch(due, ctx);
                    if full || std::mem::take(&mut actor.again) {
                        ctx.notify(Wake);
                    } else {
                        actor.schedule_next(ctx);
                    }
                }
                Err(e) => {
                    tracing::warn!(trigger_id = %actor.trigger.id, error = %e, "Reading due deliveries failed; retrying.");
                    ctx.run_later(STORAGE_RETRY, |actor, ctx| actor.pump(ctx));
                }
            }
        }));
    }

    fn hold_pending(&mut self, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        let storage = self.storage.clone();
        let id = self.trigger.id.clone();
        ctx.spawn(
            async move { storage.deliveries().hold_pending(&id, now).await }
                .into_actor(self)
                .map(|held, actor, _| {
                    if let Err(e) = held {
                        tracing::warn!(trigger_id = %actor.trigger.id, error = %e, "Marking deliveries held failed; the next wake retries.");
                    }
                }),
        );
    }

    fn dispatch(&mut self, due: Vec<(Delivery, StoredEvent)>, ctx: &mut Context<Self>) {
        let now = self.now();
        let mut expired = Vec::new();
        let mut start = Vec::new();
        let mut throttled: Option<(Vec<String>, Option<DateTime<Utc>>)> = None;
        for (delivery, event) in due {
            if let Some((ids, _)) = &mut throttled {
                ids.push(delivery.id);
                continue;
            }
            if is_expired(event.envelope.occurred_at, event.envelope.ttl_ms, now) {
                expired.push(delivery.id);
                continue;
            }
            let probe = match self.machine.gate() {
                Gate::Hold => break,
                Gate::Go => false,
                Gate::Probe => true,
            };
            match self.gate.try_start(now) {
                Ok(()) => start.push((delivery, event, probe)),
                Err(Wait::Until(at)) => throttled = Some((vec![delivery.id], Some(at))),
                Err(Wait::ForAFinish) => throttled = Some((vec![delivery.id], None)),
            }
        }
        let storage = self.storage.clone();
        if let Some((ids, at)) = throttled {
            if let Some(at) = at {
                self.wake_at(at, ctx);
            }
            let storage = storage.clone();
            ctx.spawn(fut::wrap_future(async move {
                if let Err(e) = storage.deliveries().park(&ids, DeliveryStatus::Throttled, at, now).await {
                    tracing::warn!(error = %e, "Marking deliveries throttled failed; they stay due.");
                }
            }));
        }
        if !expired.is_empty() {
            let storage = storage.clone();
            ctx.spawn(fut::wrap_future(async move {
                if let Err(e) = storage
                    .deliveries()
                    .park(&expired, DeliveryStatus::Expired, None, now)
                    .await
                {
                    tracing::warn!(error = %e, "Marking deliveries expired failed; they stay due.");
                }
            }));
        }
        if start.is_empty() {
            return;
        }
        let ids: Vec<String> = start.iter().map(|(d, _, _)| d.id.clone()).collect();
        let claim = async move { storage.deliveries().claim(&ids, now).await };
        ctx.wait(claim.into_actor(self).map(move |claimed, actor, ctx| {
            let claimed = match claimed {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(trigger_id = %actor.trigger.id, error = %e, "Claiming deliveries failed; retrying.");
                    for _ in &start {
                        actor.gate.finish();
                    }
                    actor.machine = replay(actor.config, &actor.head, []);
                    ctx.run_later(STORAGE_RETRY, |actor, ctx| actor.pump(ctx));
                    return;
                }
            };
            for (mut delivery, event, probe) in start {
                if !claimed.contains(&delivery.id) {
                    actor.gate.finish();
                    continue;
                }
                delivery.attempts += 1;
                delivery.status = DeliveryStatus::Delivering;
                let deliverer = actor.deliverer.clone();
                let trigger = actor.trigger.clone();
                let started_at = actor.now();
                let run = async move {
                    let tried = deliverer.attempt(trigger, delivery.clone(), event, started_at).await;
                    AttemptEnded { delivery, probe, started_at, tried }
                };
                ctx.spawn(run.into_actor(actor).map(|ended, _, ctx| ctx.notify(ended)));
            }
        }));
    }

    fn wake_at(&mut self, at: DateTime<Utc>, ctx: &mut Context<Self>) {
        let delay = (at - self.now()).to_std().unwrap_or_default();
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        self.timer = Some(ctx.run_later(delay, |actor, ctx| {
            actor.timer = None;
            actor.pump(ctx);
        }));
    }

    /// Sets the timer for the next delivery waiting on a time (a retry, a throttle window).
    fn schedule_next(&mut self, ctx: &mut Context<Self>) {
        let storage = self.storage.clone();
        let id = self.trigger.id.clone();
        ctx.spawn(
            async move { storage.deliveries().next_due_at(&id).await }
                .into_actor(self)
                .map(|next, actor, ctx| {
                    if let Ok(Some(at)) = next {
                        actor.wake_at(at.max(actor.now()), ctx);
                    }
                }),
        );
    }

    /// What an attempt makes of its delivery, and of the pause machine.
    fn judge(
        &mut self,
        delivery: &Delivery,
        probe: bool,
        started_at: DateTime<Utc>,
        tried: &Tried,
    ) -> (AttemptResult, Option<StateChange>) {
        let now = self.now();
        let jitter = rand::rng().random_range(-1.0..=1.0);
        let (status, next_attempt_at) = next_status(
            &self.trigger.definition.retry,
            Ended {
                outcome: tried.outcome,
                attempts: delivery.attempts.max(1) as u32,
                probe,
                retry_after: tried.retry_after,
            },
            now,
            jitter,
        );
        let change = match tried.outcome {
            AttemptOutcome::Delivered => self.machine.record_success(now),
            _ => self.machine.record_failure(now, delivery.attempts <= 1),
        };
        let result = AttemptResult {
            attempt: AttemptRecord {
                delivery_id: delivery.id.clone(),
                attempt: delivery.attempts,
                started_at,
                finished_at: now,
                status_code: tried.status_code,
                error: tried.error.clone(),
                duration_ms: tried.duration.as_millis() as i64,
                outcome: tried.outcome,
            },
            status,
            next_attempt_at,
        };
        (result, change)
    }

    fn command(
        &mut self,
        command: &Command,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Option<StateChange> {
        match command {
            Command::Pause { reason, duration } => {
                self.machine.pause(now, reason, actor, *duration)
            }
            Command::Resume { reason } => self.machine.resume(now, reason, actor),
        }
    }
}

/// A machine in the state `head` records, with `failures` in its window.
fn replay(
    config: PauseConfig,
    head: &StateHead,
    failures: impl IntoIterator<Item = DateTime<Utc>>,
) -> PauseMachine {
    let change = StateChange {
        at: head.at,
        from: head.state,
        to: head.state,
        reason: head.reason.clone(),
        actor: head.actor.clone(),
        until: head.until,
    };
    PauseMachine::replay(config, &[change], failures)
}

impl Actor for TriggerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.load_state(ctx);
    }
}

/// A restarted actor re-reads its state (`started` runs again); in-flight attempts of the stopped one are
/// recorded when they end, or resumed by the next lease owner.
impl Supervised for TriggerActor {}

impl Handler<Wake> for TriggerActor {
    type Result = ();

    fn handle(&mut self, _msg: Wake, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}

impl Handler<Reload> for TriggerActor {
    type Result = ();

    fn handle(&mut self, msg: Reload, ctx: &mut Self::Context) {
        if msg.trigger.version != self.trigger.version {
            self.gate = DeliveryGate::new(
                msg.trigger.definition.throttle,
                msg.trigger.definition.max_concurrency,
            );
            self.trigger = msg.trigger;
        }
        if msg.head.version != self.head.version {
            self.load_state(ctx);
        } else {
            self.pump(ctx);
        }
    }
}

impl Handler<SetOwner> for TriggerActor {
    type Result = ();

    fn handle(&mut self, msg: SetOwner, ctx: &mut Self::Context) {
        let became = msg.0 && !self.owner;
        self.owner = msg.0;
        if became {
            self.load_state(ctx);
        }
    }
}

impl Handler<StopTrigger> for TriggerActor {
    type Result = ();

    fn handle(&mut self, _msg: StopTrigger, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<Control> for TriggerActor {
    type Result = ResponseActFuture<Self, Result<StateHead, StorageError>>;

    fn handle(&mut self, msg: Control, _ctx: &mut Self::Context) -> Self::Result {
        let storage = self.storage.clone();
        let id = self.trigger.id.clone();
        let config = self.config;
        let now = self.now();
        // Read the head afresh: another instance (or the owner's machine) may have moved it since our last read.
        let fresh = async move {
            let record = storage.triggers().find_fresh(&id).await?;
            Ok::<_, StorageError>((record, storage))
        };
        Box::pin(fresh.into_actor(self).then(move |read, actor, _| {
            let outcome: Result<(Option<StateChange>, i64, Storage), StorageError> =
                read.and_then(|(record, storage)| {
                    let record = record.ok_or_else(|| {
                        StorageError::Database(sea_orm::DbErr::RecordNotFound(
                            actor.trigger.id.clone(),
                        ))
                    })?;
                    if record.head.version != actor.head.version {
                        actor.head = record.head;
                        let failures: Vec<DateTime<Utc>> = Vec::new();
                        actor.machine = replay(config, &actor.head, failures);
                    }
                    let change = actor.command(&msg.command, &msg.actor, now);
                    Ok((change, actor.head.version, storage))
                });
            let id = actor.trigger.id.clone();
            let current = actor.head.clone();
            async move {
                let (change, expected, storage) = outcome?;
                type Written = Result<(StateHead, Option<StateChange>), StorageError>;
                let Some(change) = change else {
                    return Written::Ok((current, None));
                };
                match storage
                    .triggers()
                    .change_state(&id, expected, &change)
                    .await?
                {
                    Some(head) => Written::Ok((head, Some(change))),
                    // Moved between the read and the write: answer what is stored now; the caller may retry.
                    None => Written::Ok((
                        storage
                            .triggers()
                            .find_fresh(&id)
                            .await?
                            .map_or(current, |r| r.head),
                        None,
                    )),
                }
            }
            .into_actor(actor)
            .map(
                |written: Result<(StateHead, Option<StateChange>), StorageError>, actor, ctx| {
                    let (head, change) = written?;
                    actor.head = head.clone();
                    if let Some(change) = change {
                        actor.announce(&change);
                    }
                    actor.pump(ctx);
                    Ok(head)
                },
            )
        }))
    }
}

impl Handler<AttemptEnded> for TriggerActor {
    type Result = ();

    fn handle(&mut self, msg: AttemptEnded, ctx: &mut Self::Context) {
        let (result, change) = self.judge(&msg.delivery, msg.probe, msg.started_at, &msg.tried);
        if let Some(change) = change {
            self.persist(change, ctx);
        }
        self.record(result, msg.delivery, ctx);
    }
}

impl TriggerActor {
    /// Records an attempt and its delivery's new status; a failed write is retried (the attempt happened and
    /// must be on record), the concurrency slot stays taken until it is.
    fn record(&mut self, result: AttemptResult, mut delivery: Delivery, ctx: &mut Context<Self>) {
        let storage = self.storage.clone();
        let id = self.trigger.id.clone();
        let write = async move {
            let written = storage
                .deliveries()
                .finish(&id, std::slice::from_ref(&result))
                .await;
            (written, result)
        };
        ctx.spawn(write.into_actor(self).map(move |(written, result), actor, ctx| {
            if let Err(e) = written {
                tracing::warn!(trigger_id = %actor.trigger.id, delivery_id = %delivery.id, error = %e, "Recording an attempt failed; retrying.");
                ctx.run_later(STORAGE_RETRY, move |actor, ctx| actor.record(result, delivery, ctx));
                return;
            }
            actor.gate.finish();
            if result.status == DeliveryStatus::Failed {
                delivery.status = DeliveryStatus::Failed;
                delivery.last_error = result.attempt.error.clone();
                delivery.last_status_code = result.attempt.status_code;
                if let Some(notices) = &actor.notices {
                    notices.do_send(TriggerNotice {
                        frame_type: "delivery.failed",
                        data: delivery_failed_frame_data(&actor.trigger.name, &delivery),
                    });
                }
            }
            actor.pump(ctx);
        }));
    }
}
