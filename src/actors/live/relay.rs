//! The WebSocket hub's end of the live relay between instances (SPEC §13): [`Relay`] runs the Redis transport,
//! [`LiveRelay`], and hands every batch another instance published to the hub as
//! [`RelayedEvents`]. The transport (channel, wire form, reconnects) lives in [`crate::redis`]; this file is only
//! the wiring to the actor.

use std::sync::Arc;

use actix::Recipient;

use super::ws_hub::RelayedEvents;
use crate::domain::StoredEvent;
use crate::redis::{LiveRelay, RedisError};

pub use crate::redis::RelaySettings;

/// The hub's end of the relay: publishing never waits on Redis. Dropping it stops the transport.
#[derive(Debug)]
pub struct Relay(LiveRelay);

impl Relay {
    /// Starts the transport, delivering other instances' batches to `hub`.
    ///
    /// # Errors
    /// When the URL is invalid or the publisher cannot reach Redis.
    pub async fn start(
        settings: RelaySettings,
        hub: Recipient<RelayedEvents>,
    ) -> Result<Relay, RedisError> {
        LiveRelay::start(settings, move |events| {
            hub.do_send(RelayedEvents { events });
        })
        .await
        .map(Relay)
    }

    /// Publishes a batch this instance stored (dropped, and logged, when the publisher is too far behind).
    pub fn publish(&mut self, events: Arc<[StoredEvent]>) {
        self.0.publish(events);
    }
}
