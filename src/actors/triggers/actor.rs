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

use super::attempt::{Deliverer, Tried};
use crate::actors::TriggerNotice;
use crate::storage::{Storage, StorageError};
use crate::trigger::{
    AttemptResult, CompiledTrigger, Delivery, DeliveryGate, PauseConfig, PauseMachine, StateChange,
    StateHead, TriggerState,
};
use crate::views::trigger_state_frame_data;

/// How long to wait before reading again after a storage failure.
pub(super) const STORAGE_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// Work may be due: new deliveries were recorded, one was retried or redriven, or a timer fired.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Wake;

/// New `pending` deliveries were committed (by the evaluation writer), with their events: the owner starts
/// them without reading them back, when nothing older waits; otherwise they are a [`Wake`].
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct FreshDeliveries {
    /// The deliveries, in event order, with their events.
    pub deliveries: Vec<(Delivery, crate::domain::StoredEvent)>,
}

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
pub(super) struct AttemptEnded {
    pub(super) delivery: Delivery,
    /// The half-open probe: a failure puts it back in line (`held`) instead of scheduling a retry.
    pub(super) probe: bool,
    pub(super) started_at: DateTime<Utc>,
    pub(super) tried: Tried,
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

/// What the directory read for an actor at launch, so that 10,000 actors starting at once do not each read
/// their state (and their outbox when they have none).
#[derive(Debug, Clone, Default)]
pub struct Preload {
    /// The first failures of the trigger's current auto-pause window.
    pub failures: Vec<DateTime<Utc>>,
    /// Whether it has deliveries waiting or in flight.
    pub has_work: bool,
}

/// One trigger's delivery state.
pub struct TriggerActor {
    pub(super) trigger: Arc<CompiledTrigger>,
    pub(super) head: StateHead,
    pub(super) machine: PauseMachine,
    pub(super) gate: DeliveryGate,
    pub(super) config: PauseConfig,
    pub(super) storage: Storage,
    pub(super) clock: WallClock,
    pub(super) deliverer: Arc<Deliverer>,
    pub(super) notices: Option<Recipient<TriggerNotice>>,
    pub(super) owner: bool,
    pub(super) pumping: bool,
    pub(super) again: bool,
    pub(super) timer: Option<SpawnHandle>,
    /// Attempts that ended and are not yet on record, with their deliveries.
    pub(super) finished: Vec<(AttemptResult, Delivery)>,
    /// A write of `finished` is in progress.
    pub(super) recording: bool,
    /// The last read of due deliveries found fewer than it asked for: nothing older than new work waits.
    pub(super) caught_up: bool,
    /// Built with its state: the first start need not read it.
    pub(super) preloaded: bool,
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
    /// An actor for `trigger` in state `head`. With a [`Preload`] (read by the directory for every trigger at
    /// once) its first start reads nothing, and reads its outbox only when it has work (or a pause to time);
    /// without, it reads its state and failure window when it starts, as every restart does.
    pub fn new(
        trigger: Arc<CompiledTrigger>,
        head: StateHead,
        deps: TriggerDeps,
        owner: bool,
        preload: Option<Preload>,
    ) -> Self {
        let has_work = preload.as_ref().is_none_or(|p| p.has_work);
        let preloaded = preload.is_some();
        let machine = replay(
            deps.pause,
            &head,
            preload.map(|p| p.failures).unwrap_or_default(),
        );
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
            finished: Vec::new(),
            recording: false,
            caught_up: !has_work,
            preloaded,
        }
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Re-reads the state head and the failure window, then pumps.
    pub(super) fn load_state(&mut self, ctx: &mut Context<Self>) {
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
    pub(super) fn persist(&mut self, change: StateChange, ctx: &mut Context<Self>) {
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
        ctx.spawn(write.into_actor(self).map(|written, actor, ctx| match written {
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
pub(super) fn replay(
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
        if std::mem::take(&mut self.preloaded) {
            // Caught up: nothing waits in storage, so the first work is the next `FreshDeliveries`.
            if !self.caught_up || self.machine.state() != TriggerState::Running {
                self.pump(ctx);
            }
        } else {
            self.load_state(ctx);
        }
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

impl Handler<FreshDeliveries> for TriggerActor {
    type Result = ();

    fn handle(&mut self, msg: FreshDeliveries, ctx: &mut Self::Context) {
        let cap = self
            .trigger
            .definition
            .max_concurrency
            .unwrap_or(super::work::DEFAULT_CONCURRENCY);
        let room = cap.saturating_sub(self.gate.in_flight()) as usize;
        // The fast path only when this instance delivers, the trigger runs, no older delivery is known to wait
        // (the last read found everything), and all of them fit. A read in flight may return some of them too:
        // a claim takes a row only in the version it was read, so the second start of one claims nothing and
        // lets it go. A throttled trigger would count that second start in its window, so it waits for the read.
        if self.owner
            && self.machine.state() == TriggerState::Running
            && self.caught_up
            && (!self.pumping || self.trigger.definition.throttle.is_none())
            && msg.deliveries.len() <= room
        {
            self.dispatch(msg.deliveries, ctx);
        } else {
            self.pump(ctx);
        }
    }
}

impl Handler<Reload> for TriggerActor {
    type Result = ();

    fn handle(&mut self, msg: Reload, ctx: &mut Self::Context) {
        if msg.trigger.version != self.trigger.version {
            let throttle_changed =
                msg.trigger.definition.throttle != self.trigger.definition.throttle;
            self.gate = DeliveryGate::new(
                msg.trigger.definition.throttle,
                msg.trigger.definition.max_concurrency,
            );
            self.trigger = msg.trigger;
            if throttle_changed && self.owner {
                // Throttled deliveries waited on the old window: the new one decides afresh.
                let storage = self.storage.clone();
                let id = self.trigger.id.clone();
                let now = self.now();
                ctx.spawn(
                    async move { storage.deliveries().release_throttled(&id, now).await }
                        .into_actor(self)
                        .map(|_, _, _| ()),
                );
            }
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
        self.finished.push((result, msg.delivery));
        self.gate.finish();
        self.record(ctx);
        // A slot is free: when work waits in storage, read it; when not, the next is a `FreshDeliveries`.
        if !self.caught_up {
            self.pump(ctx);
        }
    }
}
