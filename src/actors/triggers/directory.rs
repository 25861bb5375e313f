//! `TriggerDirectory`: one per process. It keeps the matching index (type and source patterns → triggers), starts
//! one supervised [`TriggerActor`] per trigger, evaluates every released event against the triggers that select
//! it, and hands the outcome rows to the evaluation writer (`evaluator.rs`), which commits them and wakes the
//! actors with new work.
//!
//! - **Changes.** HTTP tells it at once (`TriggerChanged`) after a create, update or delete on this instance;
//!   every [`POLL_INTERVAL`] it compares every trigger's `(version, state_version)` with what it holds, so a
//!   change made on another instance (a pause included) holds here within a second.
//! - **Ownership.** Deliveries are made by the instance holding the `trigger-deliveries` lease (SPEC §13): one
//!   owner makes a trigger's throttle, concurrency cap and failure count deployment-wide. The directory renews
//!   it every [`LEASE_RENEW`] and, when it takes it over, first turns the previous owner's `delivering` rows back
//!   to `retrying` (at-least-once, §5.5). The owner also looks every poll for `pending` rows recorded by other
//!   instances and wakes their actors.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::actor::{
    Control, Preload, Reload, SetOwner, StopTrigger, TriggerActor, TriggerDeps, Wake,
};
use super::evaluator::{EvaluationJob, Fresh, Settled, WakeList, spawn_evaluator};
use crate::actors::{EventsReleased, EventsStored};
use crate::domain::StoredEvent;
use crate::redis::InstanceId;
use crate::storage::{LeaseError, Storage, StorageError, TriggerVersions};
use crate::trigger::{
    CompiledTrigger, DefinitionRules, DeliveryStatus, EvaluationLedger, MatchIndex, NewDelivery,
    StateHead, Verdict, evaluate, event_json,
};

/// How often the directory looks for changes made elsewhere.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How often the delivery lease is renewed (or, by a standby, tried).
pub const LEASE_RENEW: Duration = Duration::from_secs(2);
/// How long the delivery lease lasts without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// The delivery lease's name.
pub const DELIVERY_LEASE: &str = "trigger-deliveries";

pub(super) struct Entry {
    pub(super) trigger: Arc<CompiledTrigger>,
    pub(super) versions: TriggerVersions,
    pub(super) addr: Addr<TriggerActor>,
}

/// The trigger directory.
pub struct TriggerDirectory {
    pub(super) storage: Storage,
    rules: DefinitionRules,
    deps: TriggerDeps,
    pub(super) instance: String,
    index: MatchIndex<Arc<str>>,
    pub(super) entries: HashMap<Arc<str>, Entry>,
    pub(super) evaluator: mpsc::UnboundedSender<EvaluationJob>,
    pub(super) ledger: EvaluationLedger,
    pub(super) recovering: bool,
    pub(super) marking: bool,
    pub(super) owner: bool,
    pub(super) polling: bool,
    /// A catalog version read is in progress.
    pub(super) checking: bool,
    pub(super) pending_seen_at: DateTime<Utc>,
    /// A look for `pending` rows recorded elsewhere is in progress.
    pub(super) waking: bool,
    /// Redis mode: other instances may change triggers, so evaluation waits for a catalog as fresh as its events.
    pub(super) shared: bool,
    /// The newest `trigger_changes` id this directory has applied.
    pub(super) catalog_version: i64,
    /// The newest `trigger_state_changes` id this directory has applied.
    pub(super) state_log_version: i64,
    /// Every trigger change committed before this time is applied.
    pub(super) fresh_as_of: DateTime<Utc>,
    /// Released events waiting for a fresh enough catalog, in arrival order.
    pub(super) waiting: std::collections::VecDeque<EventsReleased>,
    ids: ulid::Generator,
}

/// A trigger was created, updated or deleted on this instance: reload it before answering.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct TriggerChanged {
    /// The trigger.
    pub id: String,
}

/// An on-call command for one trigger; `None` when the trigger is unknown here.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Option<StateHead>, StorageError>")]
pub struct ControlTrigger {
    /// The trigger.
    pub id: String,
    /// The command.
    pub control: Control,
}

/// Shutdown: answered once the outcomes queued so far are committed; then the trigger actors and the directory
/// stop (attempts in flight stay `delivering`; the next lease holder tries them again).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct DrainTriggers;

/// Deliveries of a trigger were retried, redriven or cancelled: wake its actor.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct WakeTrigger {
    /// The trigger.
    pub id: String,
}

impl TriggerDirectory {
    /// Loads every trigger, takes the delivery lease if it is free, and starts the directory and its actors.
    ///
    /// # Errors
    /// When the triggers cannot be read.
    pub async fn launch(
        storage: Storage,
        rules: DefinitionRules,
        deps: TriggerDeps,
        instance: &InstanceId,
        shared: bool,
    ) -> anyhow::Result<Addr<TriggerDirectory>> {
        let started = Utc::now();
        let catalog_version = storage.triggers().catalog_version().await?;
        let state_log_version = storage.triggers().state_log_version().await?;
        let records = storage.triggers().all().await?;
        let busy: std::collections::HashSet<String> = storage
            .deliveries()
            .triggers_with_open_work()
            .await?
            .into_iter()
            .collect();
        let mut failures = storage
            .triggers()
            .all_first_failures_since(started - deps.pause.window)
            .await?;
        let max_stored = storage.evaluation_marks().max_sequence().await?;
        let instance = instance.to_string();
        let owner = take_lease(&storage, &instance).await;
        let addr = TriggerDirectory::create(move |ctx| {
            let evaluator = spawn_evaluator(storage.clone(), ctx.address().recipient());
            let mut directory = TriggerDirectory {
                storage,
                rules,
                deps,
                instance,
                index: MatchIndex::new(),
                entries: HashMap::new(),
                evaluator,
                ledger: EvaluationLedger::starting_after(max_stored),
                recovering: false,
                marking: false,
                owner,
                polling: false,
                checking: false,
                pending_seen_at: Utc::now(),
                waking: false,
                shared,
                catalog_version,
                state_log_version,
                fresh_as_of: started,
                waiting: std::collections::VecDeque::new(),
                ids: ulid::Generator::new(),
            };
            for record in records {
                let versions = TriggerVersions {
                    version: record.version,
                    state_version: record.head.version,
                };
                let preload = Preload {
                    failures: failures.remove(&record.id).unwrap_or_default(),
                    has_work: busy.contains(&record.id),
                };
                directory.install(&record, versions, Some(preload), ctx);
            }
            directory
        });
        Ok(addr)
    }

    /// Starts, replaces or keeps the actor of `record`.
    pub(super) fn install(
        &mut self,
        record: &crate::trigger::TriggerRecord,
        versions: TriggerVersions,
        preload: Option<Preload>,
        _ctx: &mut Context<Self>,
    ) {
        let compiled = match CompiledTrigger::compile(record, &self.rules) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::error!(trigger_id = %record.id, error = %e, "A stored trigger no longer compiles under this configuration; it is not evaluated until fixed.");
                self.remove(&record.id);
                return;
            }
        };
        let id: Arc<str> = Arc::from(record.id.as_str());
        self.index.remove(&id);
        self.index.insert(
            id.clone(),
            compiled.definition.event_type.clone(),
            compiled.definition.event_source.clone(),
        );
        match self.entries.get_mut(&id) {
            Some(entry) => {
                entry.trigger = compiled.clone();
                entry.versions = versions;
                entry.addr.do_send(Reload {
                    trigger: compiled,
                    head: record.head.clone(),
                });
            }
            None => {
                let trigger = compiled.clone();
                let head = record.head.clone();
                let deps = self.deps.clone();
                let owner = self.owner;
                let addr = Supervisor::start(move |_| {
                    TriggerActor::new(trigger, head, deps, owner, preload)
                });
                self.entries.insert(
                    id,
                    Entry {
                        trigger: compiled,
                        versions,
                        addr,
                    },
                );
            }
        }
    }

    pub(super) fn remove(&mut self, id: &str) {
        let key: Arc<str> = Arc::from(id);
        self.index.remove(&key);
        if let Some(entry) = self.entries.remove(&key) {
            entry.addr.do_send(StopTrigger);
        }
    }

    /// Reads one trigger afresh and installs or removes it.
    fn refresh(&mut self, id: String) -> ResponseActFuture<Self, ()> {
        let storage = self.storage.clone();
        Box::pin(
            async move { storage.triggers().find_fresh(&id).await.map(|r| (id, r)) }
                .into_actor(self)
                .map(|read, directory, ctx| match read {
                    Ok((_, Some(record))) => {
                        let versions = TriggerVersions {
                            version: record.version,
                            state_version: record.head.version,
                        };
                        directory.install(&record, versions, None, ctx);
                    }
                    Ok((id, None)) => directory.remove(&id),
                    Err(e) => {
                        tracing::warn!(error = %e, "Reading a changed trigger failed; the next poll picks the change up.");
                    }
                }),
        )
    }

    fn renew_lease(&mut self, ctx: &mut Context<Self>) {
        let storage = self.storage.clone();
        let instance = self.instance.clone();
        let was_owner = self.owner;
        let renew = async move {
            if was_owner {
                let ttl = chrono::Duration::from_std(LEASE_TTL).unwrap_or_default();
                match storage.leases().renew(DELIVERY_LEASE, &instance, ttl).await {
                    Ok(()) => true,
                    Err(e @ LeaseError::Lost { .. }) => {
                        tracing::warn!(error = %e, "The trigger delivery lease was lost; another instance delivers.");
                        false
                    }
                    // A failed write is not a lost lease: it lasts LEASE_TTL, and the next renewal tries again.
                    // Giving it up here would make the next take reset this instance's own attempts in flight.
                    Err(e) => {
                        tracing::warn!(error = %e, "Renewing the trigger delivery lease failed; trying again.");
                        true
                    }
                }
            } else {
                take_lease(&storage, &instance).await
            }
        };
        ctx.spawn(renew.into_actor(self).map(move |owner, directory, _| {
            if owner != directory.owner {
                directory.owner = owner;
                for entry in directory.entries.values() {
                    entry.addr.do_send(SetOwner(owner));
                }
            }
        }));
    }

    /// The outcome rows of `events` for every trigger that selects them, and the actors with new `pending` work.
    pub(super) fn outcomes<'e>(
        &mut self,
        events: impl Iterator<Item = &'e StoredEvent>,
    ) -> (Vec<NewDelivery>, WakeList) {
        let now = self.deps.clock.now();
        let mut rows = Vec::new();
        let mut wake = Vec::new();
        for event in events {
            let envelope = &event.envelope;
            let matches = self
                .index
                .lookup(envelope.event_type.as_str(), envelope.source.as_str());
            if matches.ids.is_empty() {
                continue;
            }
            let json = event_json(event);
            for id in matches.ids {
                let Some(entry) = self.entries.get(&id) else {
                    continue;
                };
                let trigger = &entry.trigger;
                // A trigger evaluates the events stored after it was created (SPEC §3), also when it reaches
                // this instance's catalog after the event did, or when a crashed instance's events are evaluated
                // again.
                if !trigger.definition.active || trigger.created_at > event.received_at {
                    continue;
                }
                let verdict = evaluate(
                    &trigger.definition,
                    &trigger.json,
                    &json,
                    (envelope.occurred_at, envelope.ttl_ms),
                    now,
                );
                let (status, filtered_predicate, idempotency_key) = match verdict {
                    Verdict::Filtered { index } => {
                        (DeliveryStatus::Filtered, Some(index as i32), None)
                    }
                    Verdict::Expired => (DeliveryStatus::Expired, None, None),
                    Verdict::Deliver { idempotency_key } => {
                        (DeliveryStatus::Pending, None, idempotency_key)
                    }
                };
                let delivery_id = self
                    .ids
                    .generate()
                    .unwrap_or_else(|_| ulid::Ulid::generate())
                    .to_string();
                let row = NewDelivery {
                    id: delivery_id,
                    trigger_id: trigger.id.clone(),
                    trigger_version: trigger.version,
                    event_id: envelope.id.as_str().to_owned(),
                    event_sequence: event.ingress_sequence,
                    replay_id: String::new(),
                    status,
                    filtered_predicate,
                    idempotency_key,
                };
                if status == DeliveryStatus::Pending {
                    wake.push(Fresh {
                        trigger: id.clone(),
                        addr: entry.addr.clone(),
                        delivery: row.pending(now),
                        event: event.clone(),
                    });
                }
                rows.push(row);
            }
        }
        (rows, wake)
    }

    pub(super) fn evaluate_now(&mut self, msg: &EventsReleased) {
        let (rows, wake) = self.outcomes(msg.events.iter());
        let settle = msg.events.sequences();
        if rows.is_empty() {
            self.ledger.settled(settle);
            return;
        }
        let job = EvaluationJob {
            rows,
            wake,
            settle,
            done: None,
        };
        if self.evaluator.send(job).is_err() {
            tracing::error!("The evaluation writer stopped; trigger outcomes are not recorded.");
        }
    }
}

/// Takes the delivery lease if it is free, lapsed, or held by a dead process on this host.
async fn take_lease(storage: &Storage, instance: &str) -> bool {
    let ttl = chrono::Duration::from_std(LEASE_TTL).unwrap_or_default();
    // Whoever holds it, lapsed or not (`MIN_UTC`: no holder counts as expired): if that is this instance, the
    // attempts in flight are its own and still running, so nothing is resumed.
    let previous = storage
        .leases()
        .holder(DELIVERY_LEASE, DateTime::<Utc>::MIN_UTC)
        .await
        .ok()
        .flatten();
    match storage
        .leases()
        .acquire(
            DELIVERY_LEASE,
            instance,
            ttl,
            InstanceId::is_dead_process_here,
        )
        .await
    {
        Ok(()) if previous.as_deref() == Some(instance) => true,
        Ok(()) => {
            match storage
                .deliveries()
                .resume_in_flight(None, Utc::now())
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    deliveries = n,
                    "Took over the trigger delivery lease; deliveries in flight at the previous owner will be tried again."
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "Resuming deliveries in flight failed; they stay `delivering` until the next takeover.")
                }
            }
            true
        }
        Err(_) => false,
    }
}

impl Actor for TriggerDirectory {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(POLL_INTERVAL, |directory, ctx| directory.poll(ctx));
        self.start_marking(ctx);
        ctx.run_interval(LEASE_RENEW, |directory, ctx| directory.renew_lease(ctx));
    }
}

impl Handler<EventsReleased> for TriggerDirectory {
    type Result = ();

    fn handle(&mut self, msg: EventsReleased, ctx: &mut Self::Context) {
        self.evaluate(msg, ctx);
    }
}

/// Newly stored events (from the router): those some trigger selects enter the evaluation ledger.
impl Handler<EventsStored> for TriggerDirectory {
    type Result = ();

    fn handle(&mut self, msg: EventsStored, _ctx: &mut Self::Context) {
        // Every event enters the ledger, not only those the catalog selects now: a trigger created on another
        // instance a moment ago may select it once the catalog is fresh.
        for event in msg.events.iter() {
            self.ledger.stored(event.ingress_sequence, true);
        }
    }
}

impl Handler<Settled> for TriggerDirectory {
    type Result = ();

    fn handle(&mut self, msg: Settled, _ctx: &mut Self::Context) {
        self.ledger.settled(msg.sequences);
    }
}

impl Handler<TriggerChanged> for TriggerDirectory {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: TriggerChanged, _ctx: &mut Self::Context) -> Self::Result {
        self.refresh(msg.id)
    }
}

impl Handler<ControlTrigger> for TriggerDirectory {
    type Result = ResponseFuture<Result<Option<StateHead>, StorageError>>;

    fn handle(&mut self, msg: ControlTrigger, _ctx: &mut Self::Context) -> Self::Result {
        let addr = self.entries.get(msg.id.as_str()).map(|e| e.addr.clone());
        Box::pin(async move {
            let Some(addr) = addr else { return Ok(None) };
            match addr.send(msg.control).await {
                Ok(answer) => answer.map(Some),
                Err(e) => Err(StorageError::Database(sea_orm::DbErr::Custom(format!(
                    "the trigger's actor did not answer: {e}"
                )))),
            }
        })
    }
}

impl Handler<DrainTriggers> for TriggerDirectory {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: DrainTriggers, _ctx: &mut Self::Context) -> Self::Result {
        let (done, committed) = tokio::sync::oneshot::channel();
        let queued = self.evaluator.send(EvaluationJob {
            rows: Vec::new(),
            wake: Vec::new(),
            settle: Vec::new(),
            done: Some(done),
        });
        let storage = self.storage.clone();
        let instance = self.instance.clone();
        let owner = self.owner;
        Box::pin(
            async move {
                if queued.is_ok() {
                    let _ = committed.await;
                }
            }
            .into_actor(self)
            .then(move |_, d, _| {
                for entry in d.entries.values() {
                    entry.addr.do_send(StopTrigger);
                }
                d.owner = false;
                // Hand the deliveries over now rather than when the lease lapses: a restarted or another
                // instance takes them at its next look instead of up to a lease's length later. Attempts still in
                // flight here are recorded as they end, or resumed by the taker (SPEC §5.5 at-least-once).
                async move {
                    if owner
                        && let Err(e) = storage.leases().release(DELIVERY_LEASE, &instance).await
                    {
                        tracing::warn!(error = %e, "Releasing the trigger delivery lease failed; it lapses by itself.");
                    }
                }
                .into_actor(d)
            })
            .map(|_, _, ctx| ctx.stop()),
        )
    }
}

impl Handler<WakeTrigger> for TriggerDirectory {
    type Result = ();

    fn handle(&mut self, msg: WakeTrigger, _ctx: &mut Self::Context) {
        if let Some(entry) = self.entries.get(msg.id.as_str()) {
            entry.addr.do_send(Wake);
        }
    }
}
