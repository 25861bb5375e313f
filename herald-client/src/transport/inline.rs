//! The in-process transport: code running inside a Herald process hands envelopes straight to its queue.
//!
//! The server implements [`InlineSink`] (`herald::publisher::InlineHandle`); this crate only defines the seam, so
//! it never depends on the server.

use async_trait::async_trait;
use herald_core::Envelope;

/// Why an in-process publish failed.
#[derive(Debug, thiserror::Error)]
pub enum InlineError {
    /// The queue could not make the event durable now (storage or Redis down, shutting down): worth a retry.
    #[error("{0}")]
    Unavailable(String),
    /// The server refused the event: `code` is SPEC's (`schema_mismatch`, `schema_required`, `id_conflict`).
    #[error("{code}: {message}")]
    Refused {
        /// The HTTP status `POST /events` would have answered (400, 409, …).
        status: u16,
        /// SPEC's error code.
        code: String,
        /// What is wrong.
        message: String,
    },
}

/// A Herald queue reachable in-process.
#[async_trait]
pub trait InlineSink: Send + Sync {
    /// Makes a validated envelope durable, as `POST /events` would. `Ok` when stored or already stored with the
    /// same content.
    async fn publish(&self, envelope: Envelope) -> Result<(), InlineError>;
}
