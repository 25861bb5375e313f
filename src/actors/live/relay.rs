//! The WebSocket hub's end of the live relay between instances (SPEC §13): [`Relay`] runs the Redis transport,
//! [`LiveRelay`], and hands every batch another instance published to the hub as
//! [`RelayedEvents`] (and every notice as [`RelayedNotice`]). The transport (channel, wire form, reconnects) lives in [`crate::redis`]; this file is only
//! the wiring to the actor.

use std::sync::Arc;

use actix::Recipient;

use super::notice::RelayedNotice;
use super::ws_hub::RelayedEvents;
use crate::domain::StoredEvent;
use crate::redis::{LiveRelay, RedisError, Relayed};

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
        events: Recipient<RelayedEvents>,
        notices: Recipient<RelayedNotice>,
    ) -> Result<Relay, RedisError> {
        LiveRelay::start(settings, move |relayed| match relayed {
            Relayed::Events(batch) => events.do_send(RelayedEvents { events: batch }),
            Relayed::Notice { frame_type, data } => {
                notices.do_send(RelayedNotice { frame_type, data });
            }
        })
        .await
        .map(Relay)
    }

    /// Publishes an operator notice this instance recorded, for the sessions of the others.
    pub fn publish_notice(&mut self, frame_type: &'static str, data: serde_json::Value) {
        self.0.publish_notice(frame_type, data);
    }

    /// Publishes a batch this instance stored (dropped, and logged, when the publisher is too far behind).
    pub fn publish(&mut self, events: Arc<[StoredEvent]>) {
        self.0.publish(events);
    }
}
