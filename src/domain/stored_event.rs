//! [`StoredEvent`]: an event as Herald holds it once persisted, the value every reader (queries, live sessions,
//! limiters, metrics) works with.

use chrono::{DateTime, Utc};

use crate::domain::{Envelope, Severity};

/// An event as stored. It lives in the domain, not in storage, because filters, views, actors and metrics all read
/// it, and none of them should depend on the database layer to do so.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The envelope.
    pub envelope: Envelope,
    /// Position in commit order.
    pub ingress_sequence: i64,
    /// Computed at ingest (SPEC §6.1).
    pub severity: Severity,
    /// When Herald accepted it.
    pub received_at: DateTime<Utc>,
    /// The payload schema version, when the type has a schema.
    pub schema_version: Option<i32>,
}

#[cfg(test)]
impl StoredEvent {
    /// A stored event for unit tests: `body` parsed as an envelope (given an `id` when it has none), at
    /// `sequence`, severity info, received now, without a schema version. Override fields with `..`.
    ///
    /// # Panics
    /// When `body` is not a valid envelope.
    pub(crate) fn sample(body: serde_json::Value, sequence: i64) -> StoredEvent {
        let envelope = Envelope::parse(body, &crate::domain::ParseContext::new(Utc::now()), || {
            crate::domain::EventId::from_ulid(ulid::Ulid::generate())
        })
        .expect("a valid test envelope");
        StoredEvent {
            envelope,
            ingress_sequence: sequence,
            severity: Severity::Info,
            received_at: Utc::now(),
            schema_version: None,
        }
    }
}
