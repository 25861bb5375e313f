//! Messages handled by more than one actor.

use std::sync::Arc;

use actix::Message;

use crate::domain::SourceName;
use crate::domain::StoredEvent;

/// Newly stored events of one ingest batch, in `ingressSequence` order. Duplicates are never in it, so nothing
/// downstream (WebSocket fan-out, source limiters, triggers) sees an event twice.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct EventsStored {
    /// The events, shared by every subscriber rather than copied for each.
    pub events: Arc<[StoredEvent]>,
}

/// Some events of one shared batch, picked without copying them: the source directory splits each
/// [`EventsStored`] batch by source this way, and a released backlog arrives as a batch of its own.
#[derive(Debug, Clone)]
pub struct EventSelection {
    batch: Arc<[StoredEvent]>,
    /// Indexes into `batch`, in `ingressSequence` order.
    positions: Vec<u32>,
}

impl EventSelection {
    /// Every event of `batch`.
    pub fn whole(batch: Arc<[StoredEvent]>) -> EventSelection {
        // A batch holds at most a few thousand events; u32 indexes are ample.
        let positions = (0..batch.len() as u32).collect();
        EventSelection { batch, positions }
    }

    /// The events of `batch` at `positions` (in `ingressSequence` order). Positions out of range are skipped.
    pub fn new(batch: Arc<[StoredEvent]>, mut positions: Vec<u32>) -> EventSelection {
        positions.retain(|&p| (p as usize) < batch.len());
        EventSelection { batch, positions }
    }

    /// How many events are selected.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The selected events, in order.
    pub fn iter(&self) -> impl Iterator<Item = &StoredEvent> {
        self.positions.iter().map(|&p| &self.batch[p as usize])
    }

    /// The selected events' `ingressSequence`s, in order.
    pub fn sequences(&self) -> Vec<i64> {
        self.iter().map(|e| e.ingress_sequence).collect()
    }

    /// The first `at` events and the rest (`at` is clamped to the length).
    pub fn split_at(self, at: usize) -> (EventSelection, EventSelection) {
        let at = at.min(self.positions.len());
        let mut head = self.positions;
        let tail = head.split_off(at);
        (
            EventSelection {
                batch: self.batch.clone(),
                positions: head,
            },
            EventSelection {
                batch: self.batch,
                positions: tail,
            },
        )
    }
}

/// Events of one source that its rate limiter lets go to trigger evaluation (SPEC §3 step 4 → 5), in
/// `ingressSequence` order: either at once on arrival, or later from its deferred backlog. Each event is released
/// exactly once per deployment.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct EventsReleased {
    /// The source.
    pub source: SourceName,
    /// The released events.
    pub events: EventSelection,
}

/// Stop an actor as if its state were corrupt, so its supervisor restarts it: the tests of every supervised actor
/// exercise the restart path with it.
#[cfg(test)]
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Crash;

/// Has `$actor` stop on [`Crash`].
#[cfg(test)]
macro_rules! stops_on_crash {
    ($actor:ty) => {
        impl actix::Handler<$crate::actors::messages::Crash> for $actor {
            type Result = ();

            fn handle(&mut self, _msg: $crate::actors::messages::Crash, ctx: &mut Self::Context) {
                actix::ActorContext::stop(ctx);
            }
        }
    };
}
#[cfg(test)]
pub(crate) use stops_on_crash;
