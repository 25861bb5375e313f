//! `IngressRouter`: validates batches from the queue adapters, persists them in one transaction each, answers
//! with each entry's durable outcome (so the adapter may `XACK` or answer HTTP), and tells subscribers what was
//! newly stored.

use std::sync::Arc;

use actix::{
    Actor, ActorFutureExt, Context, Handler, Message, Recipient, ResponseActFuture, Supervised,
    WrapFuture,
};
use chrono::Utc;

use super::messages::EventsStored;
use crate::ingest::{EntryOutcome, IngressEntry, PreparedBatch};
use crate::storage::{Storage, StorageError};

/// Validate and persist a batch; answers once every entry's outcome is durable.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<EntryOutcome>, IngestError>")]
pub struct IngestBatch {
    /// The entries, in queue order.
    pub entries: Vec<IngressEntry>,
}

/// Register a subscriber for [`EventsStored`].
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SubscribeStored {
    /// Who to tell.
    pub recipient: Recipient<EventsStored>,
}

/// Stop the router as if its state were corrupt, so its supervisor restarts it (tests exercise the restart path).
#[cfg(test)]
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Crash;

/// Why a batch has no durable outcome yet; the sender keeps the entries and retries.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Storage failed; nothing of the batch was stored.
    #[error("could not persist the batch")]
    Storage(#[from] StorageError),
    /// The validation task died (a bug: validation never panics by design).
    #[error("validation failed unexpectedly: {0}")]
    Validation(String),
}

/// Validates and persists ingest batches. Supervised: a restart keeps its storage handle and subscribers (the
/// supervisor re-uses the same value) and has nothing else to rebuild, because every batch's state lives in the
/// batch's own future and in the database.
pub struct IngressRouter {
    storage: Storage,
    max_payload_bytes: usize,
    subscribers: Vec<Recipient<EventsStored>>,
    starts: u32,
}

impl IngressRouter {
    /// A router that stores through `storage` and rejects payloads over `max_payload_bytes`.
    pub fn new(storage: Storage, max_payload_bytes: usize) -> IngressRouter {
        IngressRouter {
            storage,
            max_payload_bytes,
            subscribers: Vec::new(),
            starts: 0,
        }
    }
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
        tracing::warn!(starts = self.starts, "Ingress router restarting.");
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
        let storage = self.storage.clone();
        let max_payload_bytes = self.max_payload_bytes;
        Box::pin(
            async move {
                // Validation is CPU work (JSON parsing, hashing): off the actor's thread, so it never delays the
                // continuation of a batch that holds the sequence lock.
                let mut prepared = actix_rt::task::spawn_blocking(move || {
                    PreparedBatch::prepare(msg.entries, max_payload_bytes, Utc::now())
                })
                .await
                .map_err(|e| IngestError::Validation(e.to_string()))?;
                let (events, dead_letters) = prepared.take_rows();
                let persisted = storage.events().persist_batch(events, dead_letters).await?;
                Ok::<_, IngestError>((prepared, persisted))
            }
            .into_actor(self)
            .map(|result, act, _ctx| {
                let (prepared, persisted) = result?;
                let outcomes = prepared.outcomes(&persisted);
                if !persisted.stored.is_empty() {
                    let message = EventsStored {
                        events: Arc::from(persisted.stored),
                    };
                    // A subscriber whose mailbox is gone is dropped; one that is merely busy keeps its place.
                    act.subscribers.retain(|s| s.connected());
                    for subscriber in &act.subscribers {
                        subscriber.do_send(message.clone());
                    }
                }
                Ok(outcomes)
            }),
        )
    }
}

#[cfg(test)]
impl Handler<Crash> for IngressRouter {
    type Result = ();

    fn handle(&mut self, _msg: Crash, ctx: &mut Self::Context) {
        use actix::ActorContext;
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::Supervisor;

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
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("h.db").display());
        let storage = Storage::connect(&url).await.unwrap();
        storage.migrate().await.unwrap();
        let router = Supervisor::start(move |_| IngressRouter::new(storage, 262_144));
        router.send(Crash).await.unwrap();
        router.send(Crash).await.unwrap();
        assert_eq!(
            router.send(Starts).await.unwrap(),
            3,
            "one start and two restarts"
        );
        let outcomes = router
            .send(IngestBatch { entries: vec![] })
            .await
            .unwrap()
            .unwrap();
        assert!(outcomes.is_empty());
    }
}
