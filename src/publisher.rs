//! `herald::publisher`: the publisher SDK (the `herald-client` crate, SPEC §2.3) and the in-process handle for code
//! running inside a Herald process.
//!
//! Services that only publish depend on `herald-client` directly; code linked with the server takes it from here,
//! and gets an [`EventPublisher`] on the running server from [`crate::startup::Application::publisher`].

pub use herald_client::*;

use async_trait::async_trait;

use crate::domain::SharedCatalog;
use crate::queue::{PublishOutcome, Queue, QueueError};

/// A running Herald's queue, as an [`InlineSink`]: what `POST /events` does for one envelope (the per-type
/// schema check, then the queue), without HTTP.
#[derive(Clone)]
pub struct InlineHandle {
    queue: Queue,
    schemas: SharedCatalog,
}

impl InlineHandle {
    /// A handle on `queue`, checking payloads against `schemas`.
    pub fn new(queue: Queue, schemas: SharedCatalog) -> InlineHandle {
        InlineHandle { queue, schemas }
    }
}

#[async_trait]
impl InlineSink for InlineHandle {
    async fn publish(&self, envelope: Envelope) -> Result<(), InlineError> {
        if let Err(violation) = self
            .schemas
            .load()
            .check(&envelope.event_type, &envelope.payload)
        {
            return Err(InlineError::Refused {
                status: 400,
                code: violation.code().to_string(),
                message: violation.to_string(),
            });
        }
        let outcomes = self
            .queue
            .publish(vec![envelope])
            .await
            .map_err(|e| match e {
                QueueError::ShuttingDown => InlineError::Refused {
                    status: 503,
                    code: ErrorCode::Unavailable.as_str().to_owned(),
                    message: e.to_string(),
                },
                other => InlineError::Unavailable(other.to_string()),
            })?;
        match outcomes.into_iter().next() {
            Some(PublishOutcome::Accepted { .. }) => Ok(()),
            Some(PublishOutcome::Conflict { id }) => Err(InlineError::Refused {
                status: 409,
                code: ErrorCode::IdConflict.as_str().to_owned(),
                message: format!(
                    "an event with id `{id}` is already stored with a different type, source or payload"
                ),
            }),
            None => Err(InlineError::Unavailable(
                "the queue answered no outcome".to_owned(),
            )),
        }
    }
}
