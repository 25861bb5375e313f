//! The live relay's transport between instances (SPEC §13), redis mode only: each instance publishes the events it
//! stored to one Redis pub/sub channel, tagged with its [`InstanceId`], and hands the events of every other
//! instance to a callback (the WebSocket hub's end, `actors::Relay`, turns them into a message to the hub). Each
//! event is stored by exactly one instance, so a client sees it exactly once whichever instance took it in.
//!
//! Two tasks: a publisher fed through a bounded channel (so the hub never waits on Redis; it publishes a batch only
//! when `PUBSUB NUMSUB` says another instance listens), and a subscriber on a
//! dedicated [`SubscriberClient`] that re-subscribes after every reconnect. Both end when the [`LiveRelay`] is
//! dropped (the last step of shutdown), the publisher after sending what it holds.
//!
//! Pub/sub is fire-and-forget: while Redis is unreachable, local delivery goes on, relayed events of that time
//! are lost to live clients (they remain stored; a client resumes with `since`), and errors are logged with a
//! growing interval rather than once per message.
//!
//! # Format
//! One JSON message per stored batch on `<HERALD_EVENT_STREAM>:live`:
//! `{"instance": "<host>-<pid>-<ulid>", "events": [{"envelope": <wire envelope>, "ingressSequence": 12,
//! "severity": "info", "receivedAt": "<RFC 3339>", "schemaVersion": null}]}`. The envelope is
//! [`Envelope::wire`], parsed back with [`Envelope::parse`], so the receiving instance holds the same
//! [`StoredEvent`] and filters it with the same code as a local one.
//!
//! An operator notice recorded on one instance (a trigger paused or resumed, a delivery failed for good) goes on
//! the same channel as `{"instance", "notice": {"type": "trigger.paused", "data": {...}}}`, so sessions on every
//! instance get it once, from whichever instance recorded it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fred::clients::SubscriberClient;
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::retry::{Backoff, is_shutting_down};
use super::{InstanceId, RedisError};
use crate::domain::StoredEvent;
use crate::domain::{Envelope, EventId, ParseContext, Severity, ValidationError, WireEnvelope};
use crate::telemetry::RateLimitedLog;

/// Batches the publisher may hold while Redis is slow; past it, batches are dropped (and counted in the log).
const OUTBOX_BATCHES: usize = 1_024;
/// Messages the subscriber client buffers before its reader falls behind (fred's default is 32).
const SUBSCRIBER_BUFFER: usize = 4_096;
/// How long start-up waits for the first subscription before carrying on and retrying in the background; also
/// the deadline of each later attempt.
const FIRST_SUBSCRIBE_WAIT: Duration = Duration::from_secs(5);

/// Where the relay runs.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// `REDIS_URL`.
    pub redis_url: SecretString,
    /// The pub/sub channel: `<HERALD_EVENT_STREAM>:live`, so deployments (and tests) with their own stream key
    /// never hear each other.
    pub channel: String,
    /// The tag on this instance's messages, by which it skips its own batches when they come back.
    pub instance: InstanceId,
}

impl RelaySettings {
    /// The channel for an ingress stream key.
    pub fn channel_for(stream: &str) -> String {
        format!("{stream}:live")
    }
}

/// What another instance published.
#[derive(Debug)]
pub enum Relayed {
    /// A batch it stored.
    Events(Vec<StoredEvent>),
    /// An operator notice it recorded: the frame's type and data.
    Notice {
        /// `trigger.paused`, `trigger.resumed`, `delivery.failed`, …
        frame_type: String,
        /// The frame's data.
        data: Value,
    },
}

/// What the relay does with another instance's message: the actors hand it to the WebSocket hub.
type Deliver = Box<dyn Fn(Relayed) + Send>;

/// What this instance publishes.
enum Outgoing {
    Events(Arc<[StoredEvent]>),
    Notice(&'static str, Value),
}

/// The running relay: publishing is a `try_send` on a bounded channel, so the caller never waits on Redis.
/// Dropping it stops both tasks.
pub struct LiveRelay {
    outbox: mpsc::Sender<Outgoing>,
    dropped: RateLimitedLog,
    /// Dropped with the relay; the subscriber task stops when it sees the sender gone.
    _stop: watch::Sender<bool>,
}

impl std::fmt::Debug for LiveRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveRelay").finish_non_exhaustive()
    }
}

impl LiveRelay {
    /// Connects the publisher and the subscriber and subscribes (waiting up to 5 s, so a freshly started instance
    /// hears its peers; past it the subscriber keeps trying in the background). `deliver` gets each batch another
    /// instance published, in the order read; it runs on the subscriber task, so it must not block.
    ///
    /// # Errors
    /// [`RedisError::InvalidUrl`] when the URL does not parse; [`RedisError::Connect`] when the publisher cannot
    /// reach Redis.
    pub async fn start(
        settings: RelaySettings,
        deliver: impl Fn(Relayed) + Send + 'static,
    ) -> Result<LiveRelay, RedisError> {
        let publisher = super::client(&settings.redis_url).await?;
        let subscriber = super::subscriber(&settings.redis_url, SUBSCRIBER_BUFFER)?;
        let (outbox, inbox) = mpsc::channel(OUTBOX_BATCHES);
        let (stop, stopped) = watch::channel(false);
        actix_rt::spawn(publish_loop(
            publisher,
            settings.channel.clone(),
            settings.instance.clone(),
            inbox,
        ));
        let subscribed = subscriber.message_rx();
        let _connection = subscriber.connect();
        let first = tokio::time::timeout(
            FIRST_SUBSCRIBE_WAIT,
            subscribe(&subscriber, &settings.channel),
        )
        .await;
        let ready = match first {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::error!(error.message = %e, channel = %settings.channel, "Could not subscribe to the live relay; retrying in the background.");
                false
            }
            Err(_) => {
                tracing::error!(channel = %settings.channel, "Subscribing to the live relay timed out; retrying in the background.");
                false
            }
        };
        actix_rt::spawn(subscribe_loop(
            Subscription {
                client: subscriber,
                channel: settings.channel,
                instance: settings.instance,
                messages: subscribed,
                deliver: Box::new(deliver),
            },
            ready,
            stopped,
        ));
        Ok(LiveRelay {
            outbox,
            dropped: RateLimitedLog::default(),
            _stop: stop,
        })
    }

    /// Publishes a batch this instance stored, unless the publisher is too far behind (then the batch is dropped
    /// and the drop logged, rate-limited).
    pub fn publish(&mut self, events: Arc<[StoredEvent]>) {
        if let Err(mpsc::error::TrySendError::Full(Outgoing::Events(events))) =
            self.outbox.try_send(Outgoing::Events(events))
            && let Some(suppressed) = self.dropped.due(Instant::now())
        {
            tracing::error!(
                events = events.len(),
                suppressed,
                "The live relay is behind; dropped a batch. Clients on other instances miss it live (it is stored)."
            );
        }
    }

    /// Publishes an operator notice this instance recorded (dropped like a batch when the publisher is behind:
    /// the state it announces is also in the API).
    pub fn publish_notice(&mut self, frame_type: &'static str, data: Value) {
        if self
            .outbox
            .try_send(Outgoing::Notice(frame_type, data))
            .is_err()
            && let Some(suppressed) = self.dropped.due(Instant::now())
        {
            tracing::error!(
                frame_type,
                suppressed,
                "The live relay is behind; dropped a notice. Clients on other instances miss it live."
            );
        }
    }
}

async fn publish_loop(
    client: fred::clients::Client,
    channel: String,
    instance: InstanceId,
    mut inbox: mpsc::Receiver<Outgoing>,
) {
    let mut errors = RateLimitedLog::default();
    while let Some(outgoing) = inbox.recv().await {
        if !others_listen(&client, &channel).await {
            continue;
        }
        let message = match outgoing {
            Outgoing::Events(batch) => encode(instance.as_str(), &batch),
            Outgoing::Notice(frame_type, data) => {
                encode_notice(instance.as_str(), frame_type, &data)
            }
        };
        match client.publish::<i64, _, _>(channel.as_str(), message).await {
            Ok(_) => errors.reset(),
            Err(e) => {
                if let Some(suppressed) = errors.due(Instant::now()) {
                    tracing::error!(
                        error.message = %e, suppressed, %channel,
                        "Could not publish to the live relay; local clients are unaffected."
                    );
                }
            }
        }
    }
    let _ = client.quit().await;
}

/// Whether an instance other than this one listens on `channel` (each instance has one subscriber on it). A
/// deployment of one instance would otherwise serialize every stored event, send it to Redis and read it back
/// only to drop it. `PUBSUB NUMSUB` is a tiny round trip per stored batch, checked right before the batch would
/// go out, so an instance that subscribes is served from the next batch on. When the answer cannot be had the
/// batch is published: the check saves work, it never decides delivery.
async fn others_listen(client: &fred::clients::Client, channel: &str) -> bool {
    match client
        .pubsub_numsub::<Vec<fred::types::Value>, _>(channel)
        .await
    {
        Ok(reply) => reply
            .get(1)
            .and_then(fred::types::Value::as_i64)
            .is_none_or(|listeners| listeners > 1),
        Err(_) => true,
    }
}

/// Waits for the connection (which reconnects by itself), then subscribes.
async fn subscribe(client: &SubscriberClient, channel: &str) -> Result<(), fred::error::Error> {
    client.wait_for_connect().await?;
    client.subscribe(channel).await
}

/// The subscriber's side of the relay.
struct Subscription {
    client: SubscriberClient,
    channel: String,
    instance: InstanceId,
    messages: tokio::sync::broadcast::Receiver<fred::types::Message>,
    deliver: Deliver,
}

async fn subscribe_loop(
    mut sub: Subscription,
    mut subscribed: bool,
    mut stop: watch::Receiver<bool>,
) {
    let mut errors = RateLimitedLog::default();
    let mut backoff = Backoff::new();
    // Re-subscribes after every reconnect.
    let manager = sub.client.manage_subscriptions();
    let mut connection_errors = sub.client.error_rx();
    let channel = sub.channel.clone();
    let own = own_prefix(sub.instance.as_str());
    while !is_shutting_down(&stop) {
        if !subscribed {
            let outcome = tokio::select! {
                outcome = tokio::time::timeout(FIRST_SUBSCRIBE_WAIT, subscribe(&sub.client, &channel)) => outcome,
                _ = stop.changed() => break,
            };
            match outcome {
                Ok(Ok(())) => {
                    tracing::info!(%channel, "Subscribed to the live relay.");
                    subscribed = true;
                    backoff.reset();
                    errors.reset();
                }
                failed => {
                    if let Some(suppressed) = errors.due(Instant::now()) {
                        let message = match failed {
                            Ok(Err(e)) => e.to_string(),
                            _ => "timed out".to_owned(),
                        };
                        tracing::error!(error.message = %message, suppressed, %channel, attempt = backoff.attempts() + 1, "Could not subscribe to the live relay; retrying.");
                    }
                    if !backoff.wait(&mut stop).await {
                        break;
                    }
                    continue;
                }
            }
        }
        tokio::select! {
            message = sub.messages.recv() => match message {
                Ok(message) => {
                    if let Some(relayed) = decode(&message.value, sub.instance.as_str(), &own, &mut errors) {
                        (sub.deliver)(relayed);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    if let Some(suppressed) = errors.due(Instant::now()) {
                        tracing::error!(messages = n, suppressed, "The live relay reader fell behind; relayed batches were lost.");
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            error = connection_errors.recv() => {
                if let Ok((e, _)) = error
                    && let Some(suppressed) = errors.due(Instant::now())
                {
                    tracing::error!(error.message = %e, suppressed, "The live relay lost Redis; reconnecting. Local clients are unaffected.");
                }
            }
            _ = stop.changed() => break,
        }
    }
    manager.abort();
    let _ = sub.client.unsubscribe(channel.as_str()).await;
    let _ = sub.client.quit().await;
}

/// A relay message as read: every field owned, the envelope parsed again on arrival.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RelayMessage {
    instance: String,
    #[serde(default)]
    events: Vec<RelayedEvent>,
    #[serde(default)]
    notice: Option<RelayedNotice>,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct RelayedNotice {
    #[serde(rename = "type")]
    frame_type: String,
    data: Value,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RelayedEvent {
    envelope: Value,
    ingress_sequence: i64,
    severity: Severity,
    received_at: DateTime<Utc>,
    schema_version: Option<i32>,
}

/// A relay message as written, borrowed from the stored events: no payload is copied to publish it. `instance`
/// comes first, so that [`own_prefix`] finds this instance's messages without parsing them.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OutgoingMessage<'a> {
    instance: &'a str,
    events: Vec<OutgoingEvent<'a>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OutgoingEvent<'a> {
    envelope: WireEnvelope<'a>,
    ingress_sequence: i64,
    severity: Severity,
    received_at: DateTime<Utc>,
    schema_version: Option<i32>,
}

impl<'a> OutgoingEvent<'a> {
    fn of(event: &'a StoredEvent) -> OutgoingEvent<'a> {
        OutgoingEvent {
            envelope: event.envelope.wire(),
            ingress_sequence: event.ingress_sequence,
            severity: event.severity,
            received_at: event.received_at,
            schema_version: event.schema_version,
        }
    }
}

/// How this instance's own messages begin (`{"instance":"<id>",`): every instance hears its own batches come back,
/// and telling them apart by a prefix costs nothing, where parsing them would cost as much as storing them.
fn own_prefix(instance: &str) -> String {
    // unwrap: a string always serializes.
    let tag = serde_json::to_string(instance).expect("a string serializes");
    format!("{{\"instance\":{tag},")
}

impl RelayedEvent {
    /// The stored event back. The envelope passed every check when it was stored; it is parsed with the clock of
    /// its acceptance, so clock skew between instances cannot reject it, and without a payload limit, which was
    /// enforced at ingest.
    fn into_stored(self) -> Result<StoredEvent, ValidationError> {
        let ctx = ParseContext {
            max_payload_bytes: usize::MAX,
            now: self.received_at,
        };
        if self.envelope.get("id").and_then(Value::as_str).is_none() {
            return Err(ValidationError::invalid_json("a relayed event has no id"));
        }
        // The id is there, so the fallback is never called.
        let envelope =
            Envelope::parse(
                self.envelope,
                &ctx,
                || EventId::from_ulid(ulid::Ulid::nil()),
            )?;
        Ok(StoredEvent {
            envelope,
            ingress_sequence: self.ingress_sequence,
            severity: self.severity,
            received_at: self.received_at,
            schema_version: self.schema_version,
        })
    }
}

fn encode(instance: &str, events: &[StoredEvent]) -> String {
    let message = OutgoingMessage {
        instance,
        events: events.iter().map(OutgoingEvent::of).collect(),
    };
    // unwrap: plain data with string keys always serializes.
    serde_json::to_string(&message).expect("a relay message serializes")
}

fn encode_notice(instance: &str, frame_type: &str, data: &Value) -> String {
    // `instance` first, as in every message.
    let message =
        serde_json::json!({ "instance": instance, "notice": { "type": frame_type, "data": data } });
    // serde_json's maps keep keys sorted, and "instance" sorts before "notice".
    message.to_string()
}

/// The events or the notice of another instance's message; `None` for this instance's own messages and for
/// malformed ones (logged, rate-limited).
fn decode(
    value: &fred::types::Value,
    instance: &str,
    own_prefix: &str,
    errors: &mut RateLimitedLog,
) -> Option<Relayed> {
    let text = value.as_bytes_str()?;
    if text.starts_with(own_prefix) {
        return None;
    }
    let message: RelayMessage = match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(e) => {
            if let Some(suppressed) = errors.due(Instant::now()) {
                tracing::warn!(error.message = %e, suppressed, "Ignored a malformed live relay message.");
            }
            return None;
        }
    };
    if message.instance == instance {
        return None;
    }
    if let Some(notice) = message.notice {
        return Some(Relayed::Notice {
            frame_type: notice.frame_type,
            data: notice.data,
        });
    }
    let mut events = Vec::with_capacity(message.events.len());
    for event in message.events {
        match event.into_stored() {
            Ok(event) => events.push(event),
            Err(e) => {
                if let Some(suppressed) = errors.due(Instant::now()) {
                    tracing::warn!(error.message = %e, suppressed, "Ignored a relayed event that does not parse.");
                }
            }
        }
    }
    (!events.is_empty()).then_some(Relayed::Events(events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(id: &str, sequence: i64) -> StoredEvent {
        StoredEvent {
            severity: Severity::Warning,
            schema_version: Some(2),
            ..StoredEvent::sample(
                json!({"id": id, "type": "test.event.happened", "source": "tests",
                       "payload": {"n": sequence}, "correlationId": "c-1", "ttl": 5000,
                       "metadata": {"level": "warn"}}),
                sequence,
            )
        }
    }

    #[test]
    fn a_relayed_batch_rebuilds_the_same_stored_events_on_another_instance() {
        let events = vec![stored("e-1", 7), stored("e-2", 8)];
        let message = encode("a", &events);
        let mut log = RateLimitedLog::default();
        let back = decode(
            &fred::types::Value::from(message),
            "b",
            &own_prefix("b"),
            &mut log,
        );
        let Some(Relayed::Events(back)) = back else {
            panic!("events expected: {back:?}");
        };
        assert_eq!(back.len(), 2);
        for (original, relayed) in events.iter().zip(&back) {
            assert_eq!(original.envelope, relayed.envelope);
            assert_eq!(original.ingress_sequence, relayed.ingress_sequence);
            assert_eq!(original.severity, relayed.severity);
            assert_eq!(original.schema_version, relayed.schema_version);
        }
    }

    #[test]
    fn a_notice_reaches_other_instances_and_not_its_own() {
        let data = json!({"triggerId": "T", "reason": "deploy"});
        let message = encode_notice("a", "trigger.paused", &data);
        let mut log = RateLimitedLog::default();
        assert!(message.starts_with(&own_prefix("a")), "{message}");
        let value = fred::types::Value::from(message);
        assert!(decode(&value, "a", &own_prefix("a"), &mut log).is_none());
        match decode(&value, "b", &own_prefix("b"), &mut log) {
            Some(Relayed::Notice {
                frame_type,
                data: got,
            }) => {
                assert_eq!((frame_type.as_str(), got), ("trigger.paused", data));
            }
            other => panic!("a notice expected: {other:?}"),
        }
    }

    #[test]
    fn an_instance_ignores_its_own_batches() {
        let message = encode("a", &[stored("e-1", 1)]);
        let mut log = RateLimitedLog::default();
        assert!(own_prefix("a").len() < message.len() && message.starts_with(&own_prefix("a")));
        assert!(
            decode(
                &fred::types::Value::from(message.clone()),
                "a",
                &own_prefix("a"),
                &mut log
            )
            .is_none()
        );
        // Without the prefix shortcut, the parsed tag still tells (the prefix is a speed-up, not the rule).
        assert!(decode(&fred::types::Value::from(message), "a", "-", &mut log).is_none());
    }

    #[test]
    fn malformed_messages_are_ignored() {
        let mut log = RateLimitedLog::default();
        assert!(
            decode(
                &fred::types::Value::from("not json"),
                "a",
                &own_prefix("a"),
                &mut log
            )
            .is_none()
        );
        let no_id = json!({"instance": "b", "events": [{"envelope": {"type": "a.b", "source": "s"},
            "ingressSequence": 1, "severity": "info", "receivedAt": "2026-11-22T10:00:00Z", "schemaVersion": null}]});
        assert!(
            decode(
                &fred::types::Value::from(no_id.to_string()),
                "a",
                &own_prefix("a"),
                &mut log
            )
            .is_none()
        );
    }
}
