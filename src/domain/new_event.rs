//! [`NewEvent`] and what persisting it came to ([`EventOutcome`], [`PersistOutcome`]): the values ingest hands to
//! storage and gets back, so that ingest (pure) and storage (I/O) share them without importing each other.

use chrono::{DateTime, Utc};

use crate::domain::{Envelope, RawEntry, Severity, StoredEvent};

/// An event ready to be stored.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The validated envelope.
    pub envelope: Envelope,
    /// Its severity, computed once at ingest (SPEC §6.1).
    pub severity: Severity,
    /// When Herald accepted it.
    pub received_at: DateTime<Utc>,
    /// The stream entry it came from.
    pub stream_id: Option<String>,
    /// For stream entries: the raw entry, so that an id conflict found at persistence becomes a dead letter in
    /// the same transaction. HTTP callers leave it `None` and answer the conflict with `409` instead.
    pub raw_on_conflict: Option<RawEntry>,
    /// [`Envelope::content_hash`], computed once when the event is made (during validation, off the write path)
    /// and compared with the stored hash when its id turns out to exist.
    pub content_hash: String,
    /// The version of its type's active schema the payload passed; `None` when the type has no schema. Set by
    /// ingest after [`crate::domain::SchemaCatalog::check`].
    pub schema_version: Option<i32>,
}

impl NewEvent {
    /// An event accepted at `received_at` with its `severity` (read by [`crate::insights::severity_of`] at
    /// ingest; the caller computes it so the domain does not depend on the insights it feeds).
    pub fn new(
        envelope: Envelope,
        severity: Severity,
        received_at: DateTime<Utc>,
        stream_id: Option<String>,
        raw_on_conflict: Option<RawEntry>,
    ) -> NewEvent {
        NewEvent {
            content_hash: envelope.content_hash(),
            envelope,
            severity,
            received_at,
            stream_id,
            raw_on_conflict,
            schema_version: None,
        }
    }

    /// The event, recorded as having passed version `schema_version` of its type's schema.
    pub fn with_schema_version(mut self, schema_version: Option<i32>) -> NewEvent {
        self.schema_version = schema_version;
        self
    }

    /// The event as stored at `ingress_sequence`.
    pub fn into_stored(self, ingress_sequence: i64) -> StoredEvent {
        StoredEvent {
            envelope: self.envelope,
            ingress_sequence,
            severity: self.severity,
            received_at: self.received_at,
            schema_version: self.schema_version,
        }
    }
}

/// What happened to one [`NewEvent`] of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Newly stored with this `ingressSequence`.
    Stored(i64),
    /// The id was already stored with the same content.
    Duplicate,
    /// The id was already stored with different content (dead-lettered when it came from the stream).
    Conflict,
}

/// What persisting a batch came to.
#[derive(Debug, Default)]
pub struct PersistOutcome {
    /// One outcome per input event, in input order.
    pub outcomes: Vec<EventOutcome>,
    /// The newly stored events, in `ingressSequence` order.
    pub stored: Vec<StoredEvent>,
}
