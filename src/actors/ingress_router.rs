//! `IngressRouter`: validates batches from the queue adapters, persists them, answers with each entry's durable
//! outcome (so the adapter may `XACK` or answer HTTP), and tells subscribers what was newly stored.
//!
//! Writes are group-committed: batches that arrive while a write is in progress wait in the router's queue and
//! are then written together, in one transaction. Every write takes the sequence lock anyway (see
//! [`crate::storage::EventsRepo::persist_batch`]), so writing batches one by one would only add a lock hand-off,
//! a statement and a commit per batch.

use std::collections::VecDeque;
use std::sync::Arc;

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, Recipient,
    ResponseActFuture, Supervised, Supervisor, WrapFuture,
};
use actix_rt::Arbiter;
use chrono::Utc;
use tokio::sync::oneshot;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::messages::EventsStored;
use crate::domain::{ErrorCode, SharedCatalog};
use crate::domain::{EventOutcome, NewDeadLetter, NewEvent, PersistOutcome};
use crate::ingest::{EntryOutcome, PreparedBatch};
use crate::metrics::{Metrics, WriteCounts};
use crate::queue::{IngestBatch, IngestError};
use crate::storage::{EncodedEvents, Storage};
use crate::trace_context::{self, MAX_SPAN_LINKS};

/// Most events written in one transaction when queued batches are merged.
const MAX_EVENTS_PER_WRITE: usize = 2_000;

/// Register a subscriber for [`EventsStored`].
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SubscribeStored {
    /// Who to tell.
    pub recipient: Recipient<EventsStored>,
}

/// A validated batch waiting for the next write.
struct Pending {
    prepared: PreparedBatch,
    events: EncodedEvents,
    dead_letters: Vec<NewDeadLetter>,
    reply: oneshot::Sender<Result<Vec<EntryOutcome>, IngestError>>,
}

/// Validates and persists ingest batches. Supervised: a restart keeps its storage handle and subscribers (the
/// supervisor re-uses the same value) and drops its write queue, whose senders then get
/// [`IngestError::Restarted`] and retry; every other piece of state lives in the database.
pub struct IngressRouter {
    storage: Storage,
    max_payload_bytes: usize,
    schemas: SharedCatalog,
    subscribers: Vec<Recipient<EventsStored>>,
    queue: VecDeque<Pending>,
    writing: bool,
    starts: u32,
    metrics: Metrics,
}

impl IngressRouter {
    /// A router that stores through `storage` and rejects payloads over `max_payload_bytes`.
    pub fn new(storage: Storage, max_payload_bytes: usize) -> IngressRouter {
        IngressRouter {
            storage,
            max_payload_bytes,
            schemas: SharedCatalog::empty(),
            subscribers: Vec::new(),
            queue: VecDeque::new(),
            writing: false,
            starts: 0,
            metrics: Metrics::detached(),
        }
    }

    /// Counts outcomes (stored, duplicates, dead letters, write time, lag) in `metrics` instead of a detached
    /// set nobody scrapes.
    pub fn with_metrics(mut self, metrics: Metrics) -> IngressRouter {
        self.metrics = metrics;
        self
    }

    /// Checks stream payloads against the schemas `schemas` holds at each batch (the registry keeps it fresh),
    /// instead of an empty catalog that accepts every type.
    pub fn with_schemas(mut self, schemas: SharedCatalog) -> IngressRouter {
        self.schemas = schemas;
        self
    }

    /// Starts `router`, supervised, on an arbiter (thread) of its own, and answers its address and that arbiter
    /// (stop it once ingest has drained). Its own thread keeps the group commit's bookkeeping and the answers to
    /// the queue adapters off the main arbiter, where the source actors, the WebSocket hub and the consumer loops
    /// run; validation already runs on the blocking pool and storage I/O is shared by every thread either way.
    /// A restart happens on the same arbiter: the supervisor lives there too.
    pub fn launch(router: IngressRouter) -> (Addr<IngressRouter>, Arbiter) {
        let arbiter = Arbiter::new();
        let addr = Supervisor::start_in_arbiter(&arbiter.handle(), move |_| router);
        (addr, arbiter)
    }

    /// Starts a write of everything queued (up to [`MAX_EVENTS_PER_WRITE`] events), unless one is in progress.
    fn write_next(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.queue.is_empty() {
            return;
        }
        self.writing = true;
        let mut group = Vec::new();
        let mut size = 0;
        while let Some(next) = self.queue.front() {
            if !group.is_empty() && size + next.events.len() > MAX_EVENTS_PER_WRITE {
                break;
            }
            size += next.events.len();
            group.extend(self.queue.pop_front());
        }
        let mut events = EncodedEvents::default();
        let mut dead_letters = Vec::new();
        let mut counts = Vec::with_capacity(group.len());
        for pending in &mut group {
            counts.push(pending.events.len());
            events.append(&mut pending.events);
            dead_letters.append(&mut pending.dead_letters);
        }
        // Stream entries (they keep their raw entry) are dead-lettered when their id conflicts; HTTP envelopes
        // are answered 409 instead. Noted before the events move into the write.
        let dead_letter_on_conflict: Vec<bool> = events
            .events()
            .iter()
            .map(|e| e.raw_on_conflict.is_some())
            .collect();
        let span = batch_span(events.events(), dead_letters.len());
        let storage = self.storage.clone();
        let persist = async move {
            let started = std::time::Instant::now();
            let result = storage.events().persist_encoded(events, dead_letters).await;
            (result, started.elapsed())
        }
        .instrument(span);
        ctx.spawn(
            persist
                .into_actor(self)
                .map(move |(result, elapsed), act, ctx| {
                    act.writing = false;
                    match result {
                        Ok(persisted) if persisted.outcomes.len() != counts.iter().sum::<usize>() => {
                            // Answering from outcomes that do not line up with the entries would tell an adapter
                            // the wrong fate of an event. The batch may be committed: the senders retry, and
                            // storage answers the retries as duplicates.
                            tracing::error!(outcomes = persisted.outcomes.len(), entries = counts.iter().sum::<usize>(), "Storage answered a write with the wrong number of outcomes; the ingress router restarts.");
                            for pending in group {
                                let _ = pending.reply.send(Err(IngestError::Restarted));
                            }
                            act.notify_stored(persisted.stored);
                            ctx.stop();
                            return;
                        }
                        Ok(persisted) => {
                            let mut written =
                                persistence_counts(&persisted.outcomes, &dead_letter_on_conflict);
                            let mut outcomes = persisted.outcomes.into_iter();
                            for (pending, count) in group.into_iter().zip(counts) {
                                let part =
                                    PersistOutcome { outcomes: outcomes.by_ref().take(count).collect(), stored: vec![] };
                                let answer = pending.prepared.outcomes(&part);
                                written.dead_lettered.extend(dead_letter_reasons(&answer));
                                let _ = pending.reply.send(Ok(answer));
                            }
                            act.metrics.ingest_written(&persisted.stored, &written, elapsed);
                            act.notify_stored(persisted.stored);
                        }
                        Err(e) => {
                            tracing::warn!(error.message = %e, error.cause_chain = ?e, "Ingest write failed.");
                            let e = Arc::new(e);
                            for pending in group {
                                let _ = pending.reply.send(Err(IngestError::Storage(e.clone())));
                            }
                        }
                    }
                    act.write_next(ctx);
                }),
        );
    }

    fn notify_stored(&mut self, stored: Vec<crate::domain::StoredEvent>) {
        if stored.is_empty() {
            return;
        }
        let message = EventsStored {
            events: Arc::from(stored),
        };
        // A subscriber whose mailbox is gone is dropped; one that is merely busy keeps its place.
        self.subscribers.retain(|s| s.connected());
        for subscriber in &self.subscribers {
            subscriber.do_send(message.clone());
        }
    }
}

/// Duplicates, and conflicts that became dead letters (stream entries), among a write's `outcomes`.
fn persistence_counts(outcomes: &[EventOutcome], dead_letter_on_conflict: &[bool]) -> WriteCounts {
    let mut counts = WriteCounts::default();
    for (outcome, dead_letter) in outcomes.iter().zip(dead_letter_on_conflict) {
        match outcome {
            EventOutcome::Duplicate => counts.duplicates += 1,
            EventOutcome::Conflict if *dead_letter => {
                counts.dead_lettered.push(ErrorCode::IdConflict)
            }
            _ => {}
        }
    }
    counts
}

/// The reasons of the dead letters among a batch's answers.
fn dead_letter_reasons(answer: &[EntryOutcome]) -> impl Iterator<Item = ErrorCode> + '_ {
    answer.iter().filter_map(|o| match o {
        EntryOutcome::DeadLettered(reason) => Some(*reason),
        _ => None,
    })
}

/// The span of one ingest write, linked to the trace of every event that carries a `traceparent` (up to
/// [`MAX_SPAN_LINKS`]); `persist_batch` and its statements become its children.
fn batch_span(events: &[NewEvent], dead_letters: usize) -> tracing::Span {
    let span = tracing::info_span!("ingest_batch", events = events.len(), dead_letters);
    if span.is_disabled() {
        return span;
    }
    for context in events
        .iter()
        .filter_map(|e| trace_context::from_metadata(e.envelope.metadata.as_ref()))
        .take(MAX_SPAN_LINKS)
    {
        span.add_link(context);
    }
    span
}

impl Actor for IngressRouter {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        self.starts += 1;
        tracing::debug!(starts = self.starts, "Ingress router started.");
    }
}

impl Supervised for IngressRouter {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        tracing::warn!(
            starts = self.starts,
            queued = self.queue.len(),
            "Ingress router restarting."
        );
        // Dropping the replies tells each sender its batch was not written; the write in progress was cancelled
        // with the old context, and its transaction rolled back when its connection was dropped.
        self.queue.clear();
        self.writing = false;
    }
}

impl Handler<SubscribeStored> for IngressRouter {
    type Result = ();

    fn handle(&mut self, msg: SubscribeStored, _ctx: &mut Self::Context) {
        self.subscribers.push(msg.recipient);
    }
}

impl Handler<IngestBatch> for IngressRouter {
    type Result = ResponseActFuture<Self, Result<Vec<EntryOutcome>, IngestError>>;

    fn handle(&mut self, msg: IngestBatch, _ctx: &mut Self::Context) -> Self::Result {
        let max_payload_bytes = self.max_payload_bytes;
        let schemas = self.schemas.load();
        let storage = self.storage.clone();
        // Validation and encoding are CPU work (JSON parsing, schemas, hashing, the rows' text): off the actor's
        // thread and off the write path, so they overlap with the write in progress instead of delaying the next.
        let validate = actix_rt::task::spawn_blocking(move || {
            let mut prepared =
                PreparedBatch::prepare(msg.entries, max_payload_bytes, &schemas, Utc::now());
            let (events, dead_letters) = prepared.take_rows();
            (prepared, storage.events().encode(events), dead_letters)
        });
        Box::pin(
            async move { validate.await.map_err(IngestError::Validation) }
                .into_actor(self)
                .map(|validated, act, ctx| {
                    let (prepared, events, dead_letters) = validated?;
                    let (reply, answer) = oneshot::channel();
                    act.queue.push_back(Pending {
                        prepared,
                        events,
                        dead_letters,
                        reply,
                    });
                    act.write_next(ctx);
                    Ok(answer)
                })
                .then(|answer, act, _ctx| {
                    async move {
                        match answer {
                            Ok(answer) => answer.await.unwrap_or(Err(IngestError::Restarted)),
                            Err(e) => Err(e),
                        }
                    }
                    .into_actor(act)
                }),
        )
    }
}

#[cfg(test)]
super::messages::stops_on_crash!(IngressRouter);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::messages::Crash;
    use crate::ingest::IngressEntry;

    #[derive(Message)]
    #[rtype(result = "u32")]
    struct Starts;

    impl Handler<Starts> for IngressRouter {
        type Result = u32;
        fn handle(&mut self, _msg: Starts, _ctx: &mut Self::Context) -> u32 {
            self.starts
        }
    }

    #[actix_rt::test]
    async fn the_supervisor_restarts_a_stopped_router_and_keeps_it_serving() {
        // Arrange: the router on its own arbiter, as in production.
        let (_dir, storage) = Storage::scratch().await;
        let (router, arbiter) = IngressRouter::launch(IngressRouter::new(storage.clone(), 262_144));
        let envelope = crate::domain::StoredEvent::sample(
            serde_json::json!({"id": "r-1", "type": "test.event.happened", "source": "tests.router"}),
            0,
        )
        .envelope;

        // Act
        router.send(Crash).await.unwrap();
        router.send(Crash).await.unwrap();
        let outcomes = router
            .send(IngestBatch {
                entries: vec![IngressEntry::Envelope(envelope)],
            })
            .await
            .unwrap()
            .unwrap();

        // Assert
        assert_eq!(
            router.send(Starts).await.unwrap(),
            3,
            "one start and two restarts"
        );
        let [EntryOutcome::Stored(seq)] = outcomes[..] else {
            panic!("the event was not stored: {outcomes:?}");
        };
        let stored = storage.events().find("r-1").await.unwrap();
        assert_eq!(stored.map(|e| e.ingress_sequence), Some(seq));
        arbiter.stop();
    }
}
