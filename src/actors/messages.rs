//! Messages handled by more than one actor.

use std::sync::Arc;

use actix::Message;

use crate::storage::StoredEvent;

/// Newly stored events of one ingest batch, in `ingressSequence` order. Duplicates are never in it, so nothing
/// downstream (WebSocket fan-out, source limiters, triggers) sees an event twice.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct EventsStored {
    /// The events, shared by every subscriber rather than copied for each.
    pub events: Arc<[StoredEvent]>,
}
