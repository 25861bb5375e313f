//! One replay's run (SPEC §6.2): reads the range's events oldest first from the replay's cursor, a step at a
//! time, records the deliveries of each step with the moved cursor in one transaction
//! ([`ReplaysRepo::advance`](crate::storage::ReplaysRepo::advance)), wakes the triggers that got some, and waits
//! for the [`Pacer`] between steps. A plain future the [`ReplayRunner`](super::ReplayRunner) spawns and cancels;
//! everything it needs to resume is in storage.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use actix::Recipient;
use chrono::Utc;

use crate::actors::WakeTrigger;
use crate::filter::EventFilter;
use crate::storage::{EventQuery, Storage, StorageError};
use crate::trigger::{
    CompiledTrigger, DefinitionRules, DeliveryStatus, MAX_STEP_EVENTS, NewDelivery, Pacer, Replay,
    ReplayStatus, ReplayStep, event_json, replay_selects, step_events,
};

/// How long counting the range may take; past it the replay runs without a total (progress shows 0 until done).
const COUNT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a run needs, cheap to clone.
#[derive(Clone)]
pub struct RunDeps {
    /// The database.
    pub storage: Storage,
    /// To compile the named triggers.
    pub rules: DefinitionRules,
    /// The trigger directory, woken for each trigger a step recorded deliveries for (when it is this instance's
    /// delivery owner it starts them at once; otherwise the owner's look at fresh `pending` rows finds them).
    pub wake: Option<Recipient<WakeTrigger>>,
    /// How long one read of events may take (`HERALD_QUERY_TIMEOUT_MS`).
    pub query_timeout: Duration,
}

/// How a run ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Every event was read and every delivery recorded.
    Completed,
    /// The replay was cancelled, finished elsewhere, or is gone: nothing more to do here.
    Stopped,
}

/// Runs the replay `id` from where storage says it is to its end.
///
/// # Errors
/// A storage error; what was recorded stays, and a later run resumes from it.
pub async fn run_replay(deps: RunDeps, id: String) -> Result<RunEnd, StorageError> {
    let storage = &deps.storage;
    let Some(replay) = storage.replays().find(&id).await? else {
        return Ok(RunEnd::Stopped);
    };
    if !replay.status.is_open() {
        return Ok(RunEnd::Stopped);
    }
    let request = &replay.request;
    let query = EventQuery {
        filter: EventFilter {
            event_type: request.event_type.clone(),
            source: request.source.clone(),
            ..EventFilter::default()
        },
        from: Some(request.from),
        to: Some(request.to),
    };
    if replay.status == ReplayStatus::Pending || replay.total.is_none() {
        let total = match storage
            .events()
            .count_upto(&query, replay.upper_sequence, COUNT_TIMEOUT)
            .await
        {
            Ok(n) => Some(n),
            Err(StorageError::QueryTimeout) => None,
            Err(e) => return Err(e),
        };
        let now = Utc::now();
        let started_at = replay.started_at.unwrap_or(now);
        if !storage.replays().start(&id, total, started_at, now).await? {
            return Ok(RunEnd::Stopped);
        }
        tracing::info!(replay_id = %id, events = ?total, dry_run = request.dry_run, "Replay started.");
    }
    let step_size = if request.dry_run {
        MAX_STEP_EVENTS
    } else {
        step_events(request.rate_per_second)
    };
    let mut pacer = Pacer::new(request.rate_per_second);
    let mut ids = ulid::Generator::new();
    let mut cursor = replay.cursor;
    // The named triggers, compiled again only when a trigger was created, changed or deleted since (the newest
    // `trigger_changes` id moved): one indexed read per step instead of reading and compiling each trigger.
    let mut triggers: Vec<CompiledTrigger> = Vec::new();
    let mut catalog = None;
    loop {
        let version = storage.triggers().catalog_version().await?;
        if catalog != Some(version) {
            triggers = load_triggers(&deps, &replay).await?;
            catalog = Some(version);
        }
        let events = storage
            .events()
            .list_after(&query, cursor, step_size, deps.query_timeout)
            .await?;
        let mut step = ReplayStep {
            from_cursor: cursor,
            cursor,
            scanned: 0,
            matched: 0,
            done: (events.len() as u64) < step_size,
        };
        let mut rows = Vec::new();
        for event in &events {
            if event.ingress_sequence > replay.upper_sequence {
                step.done = true;
                break;
            }
            step.scanned += 1;
            step.cursor = event.ingress_sequence;
            let json = event_json(event);
            let (event_type, source) = (
                event.envelope.event_type.as_str(),
                event.envelope.source.as_str(),
            );
            for trigger in &triggers {
                if !replay_selects(&trigger.definition, event_type, source, &json) {
                    continue;
                }
                step.matched += 1;
                if request.dry_run {
                    continue;
                }
                let delivery_id = ids
                    .generate()
                    .unwrap_or_else(|_| ulid::Ulid::generate())
                    .to_string();
                rows.push(NewDelivery {
                    id: delivery_id,
                    trigger_id: trigger.id.clone(),
                    trigger_version: trigger.version,
                    event_id: event.envelope.id.as_str().to_owned(),
                    event_sequence: event.ingress_sequence,
                    replay_id: id.clone(),
                    status: DeliveryStatus::Pending,
                    filtered_predicate: None,
                    idempotency_key: None,
                });
            }
        }
        if !storage
            .replays()
            .advance(&id, &step, &rows, Utc::now())
            .await?
        {
            return Ok(RunEnd::Stopped);
        }
        if let Some(wake) = &deps.wake {
            let woken: BTreeSet<&str> = rows.iter().map(|r| r.trigger_id.as_str()).collect();
            for trigger in woken {
                wake.do_send(WakeTrigger {
                    id: trigger.to_owned(),
                });
            }
        }
        if step.done {
            tracing::info!(replay_id = %id, "Replay completed.");
            return Ok(RunEnd::Completed);
        }
        cursor = step.cursor;
        if request.dry_run {
            tokio::task::yield_now().await;
        } else {
            let next = pacer.after(rows.len() as u64, Instant::now());
            tokio::time::sleep_until(next.into()).await;
        }
    }
}

/// The named triggers as they are now: a trigger deleted since the replay was asked for gets nothing more, and
/// one that no longer compiles is left out (logged), as the directory does.
async fn load_triggers(
    deps: &RunDeps,
    replay: &Replay,
) -> Result<Vec<CompiledTrigger>, StorageError> {
    let mut compiled = Vec::with_capacity(replay.request.trigger_ids.len());
    for id in &replay.request.trigger_ids {
        let Some(record) = deps.storage.triggers().find_fresh(id).await? else {
            continue;
        };
        match CompiledTrigger::compile(&record, &deps.rules) {
            Ok(trigger) => compiled.push(trigger),
            Err(e) => {
                tracing::warn!(replay_id = %replay.id, trigger_id = %id, error = %e, "A replayed trigger no longer compiles; it gets no replayed deliveries.");
            }
        }
    }
    Ok(compiled)
}
