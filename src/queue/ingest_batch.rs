//! [`IngestBatch`]: what a queue adapter hands to whoever stores its entries, and the answer it waits for.
//!
//! Defined here, beside the adapters that send it, so the queue never imports the actor that handles it: the
//! adapters are given a `Recipient<IngestBatch>`, and the ingress router implements the handler.

use std::sync::Arc;

use actix::Message;

use crate::ingest::{EntryOutcome, IngressEntry};
use crate::storage::StorageError;

/// Validate and persist a batch; answers once every entry's outcome is durable, one outcome per entry in order.
/// Until then the sender keeps the entries (a stream adapter does not `XACK` them, an inline publisher is not
/// answered).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<EntryOutcome>, IngestError>")]
pub struct IngestBatch {
    /// The entries, in queue order.
    pub entries: Vec<IngressEntry>,
}

/// Why a batch has no durable outcome yet; the sender keeps the entries and retries.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Storage failed; nothing of the batch was stored. Shared: one failed write answers every batch in it.
    #[error("could not persist the batch: {0}")]
    Storage(#[source] Arc<StorageError>),
    /// The validation task died (a bug: validation never panics by design).
    #[error("validation failed unexpectedly: {0}")]
    Validation(#[source] tokio::task::JoinError),
    /// The router restarted before the batch's outcome was known: nothing of it was stored, or (when storage
    /// answered a write it could not interpret) it was and a retry is answered as duplicates.
    #[error("the ingress router restarted before the batch was written")]
    Restarted,
}
