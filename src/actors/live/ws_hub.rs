//! `WsHub`: the registry of WebSocket sessions and the fan-out of stored events to them (SPEC §7), plus the live
//! relay to and from other instances (SPEC §13).
//!
//! The hub subscribes to the [`IngressRouter`](crate::actors::IngressRouter)'s [`EventsStored`]. For each event it checks
//! every session's filter, serializes the event's frames once for all the sessions that want it
//! ([`EventFrames`]), and hands them over with `try_send`, never `do_send` (STYLE §2.4), after checking the
//! session's [`QueueGauge`]: a session with 1,000 frames or 4 MiB queued has events skipped and counted
//! ([`LagBook`]), and gets a `lagged` notice as soon as it has room again: with the next event it is sent, or on
//! the hub's [`LAG_NOTICE_INTERVAL`] tick when no event comes. Then it publishes the batch to the relay, which
//! brings it to the sessions of every other instance as [`RelayedEvents`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, Addr, AsyncContext, Context, Handler, Message, Recipient, Supervised, Supervisor,
};
use anyhow::Context as _;
use chrono::Utc;
use ulid::Ulid;

use super::feed::{FeedItem, LagBook, Offer, QueueGauge};
use super::frames::EventFrames;
use bytestring::ByteString;

use super::notice::{RelayedNotice, SourceNotice, TriggerNotice};
use super::relay::{Relay, RelaySettings};
use super::ws_session::{Deliver, GoingAway};
use crate::actors::SubscribeStored;
use crate::actors::messages::EventsStored;
use crate::domain::StoredEvent;
use crate::filter::EventFilter;
use crate::metrics::Metrics;

/// How often the hub looks for lagging sessions that have room for their `lagged` notice again.
pub const LAG_NOTICE_INTERVAL: Duration = Duration::from_millis(100);

/// Register a new session; it receives every event until it subscribes.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Connect {
    /// The session's id (its `sessionId`).
    pub session_id: Ulid,
    /// Where its frames go.
    pub deliver: Recipient<Deliver>,
    /// Told to close with 1001 at shutdown.
    pub going_away: Recipient<GoingAway>,
    /// What the session has queued, shared with it.
    pub gauge: Arc<QueueGauge>,
}

/// Replace a session's filter. Answered once applied: every frame sent after the answer carries `generation`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    /// The session.
    pub session_id: Ulid,
    /// The subscription's number; frames of earlier ones still in the session's mailbox are dropped by it.
    pub generation: u64,
    /// The new filter.
    pub filter: Arc<EventFilter>,
}

/// Unregister a session (sent from its `stopping()`, on every exit path).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    /// The session.
    pub session_id: Ulid,
}

/// Events another instance stored, read from the relay channel by the relay's subscriber task.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RelayedEvents {
    /// The events, in the order the other instance stored them.
    pub events: Vec<StoredEvent>,
}

/// Shutdown, first step: close every session with 1001 (going away) and refuse new ones. Answers how many
/// sessions were told.
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct CloseSessions;

/// Shutdown, last step (after ingest has drained, so the final batches are still relayed): stop the relay.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopRelay;

/// Attach the relay once it is connected (it needs the hub's address first).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AttachRelay {
    /// The relay's publishing end.
    pub relay: Relay,
}

/// What a session needs to talk to the hub: one [`Recipient`] per message it sends (STYLE §2.2).
#[derive(Debug, Clone)]
pub struct WsHubLink {
    /// [`Connect`].
    pub connect: Recipient<Connect>,
    /// [`Subscribe`].
    pub subscribe: Recipient<Subscribe>,
    /// [`Disconnect`].
    pub disconnect: Recipient<Disconnect>,
}

impl WsHubLink {
    /// The link to a running hub.
    pub fn to(hub: &Addr<WsHub>) -> WsHubLink {
        WsHubLink {
            connect: hub.clone().recipient(),
            subscribe: hub.clone().recipient(),
            disconnect: hub.clone().recipient(),
        }
    }
}

/// One registered session.
struct SessionEntry {
    deliver: Recipient<Deliver>,
    going_away: Recipient<GoingAway>,
    gauge: Arc<QueueGauge>,
    /// `None` until the first subscribe: every event.
    filter: Option<Arc<EventFilter>>,
    generation: u64,
    book: LagBook,
}

impl SessionEntry {
    fn wants(&self, event: &StoredEvent) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(event))
    }

    /// Hands `frames` over, or counts them as skipped.
    fn offer(&mut self, frames: &EventFrames) {
        let bytes = frames.len();
        match self.book.offer(&self.gauge, frames.sequence, bytes) {
            Offer::Skip => {}
            Offer::Send => self.send(frames, bytes),
            Offer::NoticeThenSend {
                missed,
                first_missed,
            } => {
                if self.notify(missed, first_missed) {
                    self.send(frames, bytes);
                } else {
                    self.book.skipped(frames.sequence);
                }
            }
        }
    }

    fn send(&mut self, frames: &EventFrames, bytes: usize) {
        // Counted before it is sent: the session may write it, and release it, before try_send returns.
        self.gauge.add(bytes);
        let sent = self.deliver.try_send(Deliver {
            generation: self.generation,
            item: FeedItem::Event(frames.clone()),
        });
        if sent.is_err() {
            self.gauge.release(bytes);
            self.book.skipped(frames.sequence);
        }
    }

    /// Sends a `lagged` notice; on failure it stays due.
    fn notify(&mut self, missed: u64, first_missed: i64) -> bool {
        let sent = self.deliver.try_send(Deliver {
            generation: self.generation,
            item: FeedItem::Lagged {
                missed,
                first_missed,
            },
        });
        if sent.is_err() {
            self.book.restore(missed, first_missed);
        }
        sent.is_ok()
    }
}

/// The session registry and fan-out. One per process, supervised; see `actors.md`.
#[derive(Default)]
pub struct WsHub {
    sessions: HashMap<Ulid, SessionEntry>,
    relay: Option<Relay>,
    metrics: Option<Metrics>,
    closing: bool,
    starts: u32,
}

impl WsHub {
    /// A hub with no sessions and no relay.
    pub fn new() -> WsHub {
        WsHub::default()
    }

    /// Reports the number of open sessions to `metrics` (`herald_websocket_sessions`).
    pub fn with_metrics(mut self, metrics: Metrics) -> WsHub {
        self.metrics = Some(metrics);
        self
    }

    /// Starts `hub`, supervised, on the current arbiter, subscribes it to the router's [`EventsStored`], and,
    /// given relay settings (redis mode), connects the relay and attaches it.
    ///
    /// # Errors
    /// When the relay cannot reach Redis, or the router is gone.
    pub async fn launch(
        hub: WsHub,
        router: Recipient<SubscribeStored>,
        relay: Option<RelaySettings>,
    ) -> anyhow::Result<Addr<WsHub>> {
        let hub = Supervisor::start(move |_| hub);
        router
            .send(SubscribeStored {
                recipient: hub.clone().recipient(),
            })
            .await
            .context("The ingress router stopped before the WebSocket hub could subscribe.")?;
        if let Some(settings) = relay {
            let relay = Relay::start(settings, hub.clone().recipient(), hub.clone().recipient())
                .await
                .context("Failed to connect the live relay to Redis (REDIS_URL).")?;
            hub.send(AttachRelay { relay })
                .await
                .context("The WebSocket hub stopped while starting.")?;
        }
        Ok(hub)
    }

    /// Hands each event to every session whose filter it passes.
    fn fan_out(&mut self, events: &[StoredEvent]) {
        if self.sessions.is_empty() {
            return;
        }
        let emitted_at = Utc::now();
        for event in events {
            let mut frames: Option<EventFrames> = None;
            for entry in self.sessions.values_mut() {
                if !entry.wants(event) {
                    continue;
                }
                let frames = frames.get_or_insert_with(|| EventFrames::of(event, emitted_at));
                entry.offer(frames);
            }
        }
    }

    fn report_sessions(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.set_websocket_sessions(self.sessions.len());
        }
    }

    /// Sends the `lagged` notices that are due to sessions that have room again.
    fn send_due_notices(&mut self) {
        for entry in self.sessions.values_mut() {
            if entry.book.is_lagging()
                && let Some((missed, first_missed)) = entry.book.notice_due(&entry.gauge)
            {
                entry.notify(missed, first_missed);
            }
        }
    }
}

impl Actor for WsHub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.starts += 1;
        tracing::debug!(starts = self.starts, "WebSocket hub started.");
        ctx.run_interval(LAG_NOTICE_INTERVAL, |hub, _ctx| hub.send_due_notices());
    }
}

impl Supervised for WsHub {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // The supervisor re-uses this value: the sessions are still connected and keep their registrations
        // (their mailboxes do not change), and the relay keeps running. `started()` sets the timer up again.
        tracing::warn!(
            starts = self.starts,
            sessions = self.sessions.len(),
            "WebSocket hub restarting."
        );
    }
}

impl Handler<Connect> for WsHub {
    type Result = ();

    fn handle(&mut self, msg: Connect, _ctx: &mut Self::Context) {
        if self.closing {
            msg.going_away.do_send(GoingAway);
            return;
        }
        self.sessions.insert(
            msg.session_id,
            SessionEntry {
                deliver: msg.deliver,
                going_away: msg.going_away,
                gauge: msg.gauge,
                filter: None,
                generation: 0,
                book: LagBook::default(),
            },
        );
        self.report_sessions();
        tracing::debug!(session_id = %msg.session_id, sessions = self.sessions.len(), "WebSocket session connected.");
    }
}

impl Handler<Subscribe> for WsHub {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _ctx: &mut Self::Context) {
        if let Some(entry) = self.sessions.get_mut(&msg.session_id) {
            entry.filter = (!msg.filter.is_empty()).then_some(msg.filter);
            entry.generation = msg.generation;
            // Skips of the previous subscription no longer matter: the new one starts afresh (or from `since`).
            entry.book = LagBook::default();
        }
    }
}

impl Handler<Disconnect> for WsHub {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, _ctx: &mut Self::Context) {
        self.sessions.remove(&msg.session_id);
        self.report_sessions();
        tracing::debug!(session_id = %msg.session_id, sessions = self.sessions.len(), "WebSocket session disconnected.");
    }
}

impl Handler<EventsStored> for WsHub {
    type Result = ();

    fn handle(&mut self, msg: EventsStored, _ctx: &mut Self::Context) {
        self.fan_out(&msg.events);
        if let Some(relay) = &mut self.relay {
            relay.publish(msg.events);
        }
    }
}

/// An operator notice ([`SourceNotice`]): serialized once (`source.paused`, `source.resumed`), for every session
/// whatever its filters. A session whose mailbox is full misses it (notices are state changes that
/// `GET /admin/sources` and `/admin/event-health` also show, not events that `since` could recover).
impl Handler<SourceNotice> for WsHub {
    type Result = ();

    fn handle(&mut self, msg: SourceNotice, _ctx: &mut Self::Context) {
        self.notify_all(msg.frame(Utc::now()));
    }
}

/// A trigger notice, handed to every session like a [`SourceNotice`], and to the other instances' hubs through
/// the relay: a trigger's state changes and deliveries are recorded by one instance, and its notice is sent once.
impl Handler<TriggerNotice> for WsHub {
    type Result = ();

    fn handle(&mut self, msg: TriggerNotice, _ctx: &mut Self::Context) {
        self.notify_all(msg.frame(Utc::now()));
        if let Some(relay) = &mut self.relay {
            relay.publish_notice(msg.frame_type, msg.data);
        }
    }
}

/// A notice another instance recorded, handed to every session.
impl Handler<RelayedNotice> for WsHub {
    type Result = ();

    fn handle(&mut self, msg: RelayedNotice, _ctx: &mut Self::Context) {
        self.notify_all(msg.frame(Utc::now()));
    }
}

impl WsHub {
    fn notify_all(&self, frame: ByteString) {
        for (id, entry) in &self.sessions {
            let sent = entry.deliver.try_send(Deliver {
                generation: entry.generation,
                item: FeedItem::Notice(frame.clone()),
            });
            if sent.is_err() {
                tracing::debug!(session_id = %id, "A WebSocket session's mailbox is full; it misses a notice.");
            }
        }
    }
}

impl Handler<RelayedEvents> for WsHub {
    type Result = ();

    fn handle(&mut self, msg: RelayedEvents, _ctx: &mut Self::Context) {
        self.fan_out(&msg.events);
    }
}

impl Handler<CloseSessions> for WsHub {
    type Result = usize;

    fn handle(&mut self, _msg: CloseSessions, _ctx: &mut Self::Context) -> usize {
        self.closing = true;
        for entry in self.sessions.values() {
            // do_send, not try_send: a close must not be lost to a full mailbox. A session whose client stopped
            // reading may never take it; the HTTP server's shutdown timeout ends that connection.
            entry.going_away.do_send(GoingAway);
        }
        self.sessions.len()
    }
}

impl Handler<StopRelay> for WsHub {
    type Result = ();

    fn handle(&mut self, _msg: StopRelay, _ctx: &mut Self::Context) {
        // Dropping the relay closes the publisher's channel (it sends what it holds, then quits) and stops the
        // subscriber.
        self.relay = None;
    }
}

impl Handler<AttachRelay> for WsHub {
    type Result = ();

    fn handle(&mut self, msg: AttachRelay, _ctx: &mut Self::Context) {
        self.relay = Some(msg.relay);
    }
}

#[cfg(test)]
crate::actors::messages::stops_on_crash!(WsHub);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::messages::Crash;

    #[derive(Message)]
    #[rtype(result = "u32")]
    struct Starts;

    impl Handler<Starts> for WsHub {
        type Result = u32;

        fn handle(&mut self, _msg: Starts, _ctx: &mut Self::Context) -> u32 {
            self.starts
        }
    }

    /// Stands in for a session: keeps what it is handed.
    #[derive(Default)]
    struct Probe {
        items: Vec<FeedItem>,
    }

    impl Actor for Probe {
        type Context = Context<Self>;
    }

    impl Handler<Deliver> for Probe {
        type Result = ();

        fn handle(&mut self, msg: Deliver, _ctx: &mut Self::Context) {
            self.items.push(msg.item);
        }
    }

    impl Handler<GoingAway> for Probe {
        type Result = ();

        fn handle(&mut self, _msg: GoingAway, _ctx: &mut Self::Context) {}
    }

    /// The sequences a probe was handed. Its mailbox is read in order, so this answer comes after every frame the
    /// hub handed it before the question was asked.
    #[derive(Message)]
    #[rtype(result = "Vec<i64>")]
    struct Handed;

    impl Handler<Handed> for Probe {
        type Result = Vec<i64>;

        fn handle(&mut self, _msg: Handed, _ctx: &mut Self::Context) -> Vec<i64> {
            self.items
                .iter()
                .filter_map(|item| match item {
                    FeedItem::Event(frames) => Some(frames.sequence),
                    FeedItem::Lagged { .. } | FeedItem::Notice(_) => None,
                })
                .collect()
        }
    }

    fn stored(sequence: i64, event_type: &str) -> StoredEvent {
        StoredEvent::sample(
            serde_json::json!({"id": format!("e-{sequence}"), "type": event_type, "source": "tests"}),
            sequence,
        )
    }

    async fn connect(hub: &Addr<WsHub>) -> (Ulid, Addr<Probe>) {
        let probe = Probe::default().start();
        let session_id = Ulid::generate();
        hub.send(Connect {
            session_id,
            deliver: probe.clone().recipient(),
            going_away: probe.clone().recipient(),
            gauge: QueueGauge::new(),
        })
        .await
        .expect("hub answers");
        (session_id, probe)
    }

    #[actix_rt::test]
    async fn the_supervisor_restarts_a_stopped_hub_and_keeps_its_sessions() {
        let hub = Supervisor::start(|_| WsHub::new());
        let (_, probe) = connect(&hub).await;

        hub.send(Crash).await.expect("hub answers");
        hub.send(Crash).await.expect("hub answers");
        assert_eq!(hub.send(Starts).await.expect("hub answers"), 3);

        hub.send(RelayedEvents {
            events: vec![stored(1, "test.event.happened")],
        })
        .await
        .expect("hub answers");
        assert_eq!(probe.send(Handed).await.expect("probe answers"), [1]);
    }

    #[actix_rt::test]
    async fn a_session_only_gets_events_its_filter_passes() {
        let hub = WsHub::new().start();
        let (session_id, probe) = connect(&hub).await;
        let filter = EventFilter::from_json(
            serde_json::json!({"type": "keep.**"})
                .as_object()
                .expect("object"),
        )
        .expect("valid filter");
        hub.send(Subscribe {
            session_id,
            generation: 1,
            filter: Arc::new(filter),
        })
        .await
        .expect("hub answers");

        hub.send(RelayedEvents {
            events: vec![stored(1, "drop.this.one"), stored(2, "keep.this.one")],
        })
        .await
        .expect("hub answers");

        assert_eq!(probe.send(Handed).await.expect("probe answers"), [2]);
    }

    #[actix_rt::test]
    async fn a_disconnected_session_gets_nothing_more() {
        let hub = WsHub::new().start();
        let (session_id, probe) = connect(&hub).await;
        hub.send(Disconnect { session_id })
            .await
            .expect("hub answers");

        hub.send(RelayedEvents {
            events: vec![stored(1, "test.event.happened")],
        })
        .await
        .expect("hub answers");

        assert!(probe.send(Handed).await.expect("probe answers").is_empty());
    }
}
