//! Queue adapters: how accepted envelopes travel to whoever stores them, as [`IngestBatch`] messages (the ingress
//! router handles them; the queue only knows a `Recipient<IngestBatch>`).
//!
//! Two adapters stand behind one interface, [`Queue`]: [`RedisStreams`] (production: `XADD` on accept, a consumer
//! group shared by every instance) and [`InlineQueue`] (embedded: in-process, and an envelope is accepted only once
//! its batch is committed, so nothing accepted is lost on restart).

mod ingest_batch;
mod inline;
mod redis_streams;

use std::sync::Arc;

use actix::Recipient;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::domain::{Envelope, EventId};
use crate::redis::RedisError;

pub use ingest_batch::{IngestBatch, IngestError};
pub use inline::InlineQueue;
pub use redis_streams::{RedisStreams, StreamSettings};

/// What the HTTP ingress tells a publisher about one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Durably accepted; `duplicate` when the id was already stored with the same content.
    Accepted {
        /// The event id (assigned when the envelope had none).
        id: EventId,
        /// The id was already stored with the same content.
        duplicate: bool,
    },
    /// The id is already stored with a different type, source or payload.
    Conflict {
        /// The conflicting id.
        id: EventId,
    },
}

/// One queue's state for `/admin/event-health` and `/admin/queue-health` (SPEC §6.9).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueHealth {
    /// Entries without an outcome yet: not yet delivered to a consumer, plus [`QueueHealth::pending`].
    pub depth: u64,
    /// Entries delivered to a consumer (or a batch in flight) and not yet acknowledged.
    pub pending: u64,
    /// Age of the oldest entry without an outcome, in milliseconds; `None` when there is none.
    pub oldest_pending_age_ms: Option<u64>,
    /// Consumers reading the queue (redis: those active within the claim idle time; inline: the batcher).
    pub consumers: u64,
    /// Entries the queue holds in all, acknowledged ones included (the Redis stream's `XLEN`); `None` inline.
    pub length: Option<u64>,
}

/// The queue could not make envelopes durable; nothing of the request was accepted.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis failed, or could not be reached.
    #[error(transparent)]
    Redis(#[from] RedisError),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// Persisting the batch failed; nothing of it was stored. Shared by every request of the batch.
    #[error("could not persist the batch: {0}")]
    Persist(#[source] Arc<IngestError>),
    /// The queue's backing service is unreachable; nothing was sent.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// Herald is shutting down and no longer accepts events.
    #[error("Herald is shutting down")]
    ShuttingDown,
}

impl From<fred::error::Error> for QueueError {
    fn from(e: fred::error::Error) -> QueueError {
        QueueError::Redis(RedisError::Command(e))
    }
}

/// The configured queue adapter.
#[derive(Clone)]
pub enum Queue {
    /// Redis Streams.
    Redis(RedisStreams),
    /// In-process.
    Inline(InlineQueue),
}

impl Queue {
    /// Makes `envelopes` durable, answering one outcome per envelope in order.
    ///
    /// # Errors
    /// [`QueueError`] when nothing could be made durable.
    pub async fn publish(
        &self,
        envelopes: Vec<Envelope>,
    ) -> Result<Vec<PublishOutcome>, QueueError> {
        match self {
            Queue::Redis(q) => q.publish(envelopes).await,
            Queue::Inline(q) => q.publish(envelopes).await,
        }
    }

    /// The ingress stream's key in redis mode; inline mode reads no stream.
    pub fn stream_key(&self) -> Option<&str> {
        match self {
            Queue::Redis(q) => Some(q.stream_key()),
            Queue::Inline(_) => None,
        }
    }

    /// Starts the consumers that feed `router`; they stop reading when `shutdown` turns true and the returned
    /// task ends once every batch in flight has a durable outcome.
    pub fn start(
        &self,
        router: Recipient<IngestBatch>,
        shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        match self {
            Queue::Redis(q) => q.start(router, shutdown),
            Queue::Inline(q) => q.start(router, shutdown),
        }
    }

    /// The queue's depth, pending entries, oldest pending age and consumers. Bounded work: in redis mode a few
    /// `XINFO`/`XPENDING`-summary/`XRANGE … COUNT 1` commands, whatever the stream's size.
    ///
    /// # Errors
    /// [`QueueError::Redis`] when Redis does not answer.
    pub async fn health(&self) -> Result<QueueHealth, QueueError> {
        match self {
            Queue::Redis(q) => q.health().await,
            Queue::Inline(q) => Ok(q.health()),
        }
    }

    /// Checks that the queue's backing service answers (`/readyz`).
    ///
    /// # Errors
    /// [`QueueError::Redis`] when Redis does not answer.
    pub async fn ping(&self) -> Result<(), QueueError> {
        match self {
            Queue::Redis(q) => q.ping().await,
            Queue::Inline(_) => Ok(()),
        }
    }
}
