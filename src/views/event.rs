//! [`EventView`]: the event of SPEC §6.1, as `GET /admin/events`, the timeline and every WebSocket event frame
//! send it.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::{StoredEvent, format_timestamp};
use crate::insights::{derived_of, links_of};
use crate::trigger::{AttemptRecord, Delivery};
use crate::views::{AttemptView, DeliveryView};

/// The event view. Absent optional fields are `null`, never left out, so clients read one shape;
/// `ingressSequence` is a string so that JavaScript clients never lose precision.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventView<'a> {
    /// The causation id.
    pub causation_id: Option<&'a str>,
    /// The correlation id.
    pub correlation_id: Option<&'a str>,
    /// The typed view of a platform event (`{type, payload}`), `null` for other events.
    pub derived: Option<Value>,
    /// The event id.
    pub id: &'a str,
    /// Position in commit order, as a string.
    pub ingress_sequence: String,
    /// Links read out of payload and metadata.
    pub links: Value,
    /// The metadata object.
    pub metadata: Option<&'a Map<String, Value>>,
    /// When it happened, per the producer.
    pub occurred_at: String,
    /// The payload as given.
    pub payload: &'a Value,
    /// When Herald accepted it.
    pub received_at: String,
    /// The payload schema version.
    pub schema_version: Option<i32>,
    /// Severity, computed at ingest.
    pub severity: &'static str,
    /// The source.
    pub source: &'a str,
    /// Time to live in milliseconds.
    pub ttl_ms: Option<i64>,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: &'a str,
}

impl<'a> EventView<'a> {
    /// The view of `event`.
    pub fn of(event: &'a StoredEvent) -> EventView<'a> {
        let e = &event.envelope;
        EventView {
            id: e.id.as_str(),
            event_type: e.event_type.as_str(),
            source: e.source.as_str(),
            occurred_at: format_timestamp(e.occurred_at),
            received_at: format_timestamp(event.received_at),
            ingress_sequence: event.ingress_sequence.to_string(),
            payload: &e.payload,
            correlation_id: e.correlation_id.as_ref().map(|c| c.as_str()),
            causation_id: e.causation_id.as_ref().map(|c| c.as_str()),
            ttl_ms: e.ttl_ms,
            metadata: e.metadata.as_ref(),
            schema_version: event.schema_version,
            severity: event.severity.as_str(),
            links: links_of(&e.payload, e.metadata.as_ref()).to_json(),
            derived: derived_of(&e.event_type, &e.payload),
        }
    }

    /// The derived payload alone (the `derived` of a typed WebSocket frame), when the event has a derived view.
    pub fn derived_payload(&self) -> Option<&Value> {
        self.derived
            .as_ref()
            .map(|d| d.get("payload").unwrap_or(&Value::Null))
    }
}

/// What a timeline item links to: the event a delivery was made for, the delivery an attempt belongs to, or the
/// event a caused event names as its `causationId` (when that event is in the same timeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParentLink<'a> {
    /// `event` or `delivery`.
    pub kind: &'static str,
    /// Its id.
    pub id: &'a str,
}

/// One item of `GET /admin/events/timeline`: `{kind, at, parent, event | delivery | attempt}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineItemView<'a> {
    /// When it happened (`occurredAt` for an event, `createdAt` for a delivery, `startedAt` for an attempt).
    pub at: String,
    /// An attempt (`kind: "attempt"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<AttemptView<'a>>,
    /// A delivery (`kind: "delivery"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryView<'a>>,
    /// The delivery an attempt belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<&'a str>,
    /// The event (`kind: "event"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventView<'a>>,
    /// What the item is: `event`, `delivery` or `attempt`.
    pub kind: &'static str,
    /// What it links to; `null` for an event that names no cause in the timeline.
    pub parent: Option<ParentLink<'a>>,
}

impl<'a> TimelineItemView<'a> {
    /// The timeline item of `event`; `cause_listed` says whether the event its `causationId` names is in the
    /// same timeline, and so its parent.
    pub fn event(
        event: &'a StoredEvent,
        cause_listed: impl Fn(&str) -> bool,
    ) -> TimelineItemView<'a> {
        let parent = event
            .envelope
            .causation_id
            .as_ref()
            .map(|c| c.as_str())
            .filter(|id| cause_listed(id))
            .map(|id| ParentLink { kind: "event", id });
        TimelineItemView {
            kind: "event",
            parent,
            at: format_timestamp(event.envelope.occurred_at),
            event: Some(EventView::of(event)),
            delivery: None,
            delivery_id: None,
            attempt: None,
        }
    }

    /// The timeline item of a delivery the event caused.
    pub fn delivery(delivery: &'a Delivery) -> TimelineItemView<'a> {
        TimelineItemView {
            kind: "delivery",
            parent: Some(ParentLink {
                kind: "event",
                id: &delivery.event_id,
            }),
            at: format_timestamp(delivery.created_at),
            event: None,
            delivery: Some(DeliveryView::of(delivery)),
            delivery_id: None,
            attempt: None,
        }
    }

    /// The timeline item of one attempt of a delivery.
    pub fn attempt(attempt: &'a AttemptRecord) -> TimelineItemView<'a> {
        TimelineItemView {
            kind: "attempt",
            parent: Some(ParentLink {
                kind: "delivery",
                id: &attempt.delivery_id,
            }),
            at: format_timestamp(attempt.started_at),
            event: None,
            delivery: None,
            delivery_id: Some(&attempt.delivery_id),
            attempt: Some(AttemptView::of(attempt)),
        }
    }

    /// Orders items of one instant: an event before the deliveries it caused, a delivery before its attempts.
    pub fn rank(&self) -> u8 {
        match self.kind {
            "event" => 0,
            "delivery" => 1,
            _ => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_view_names_every_field_and_writes_absent_ones_as_null() {
        let event = StoredEvent::sample(
            json!({"id": "e-1", "type": "a.b", "source": "svc", "payload": {"n": 1}}),
            42,
        );
        let view = serde_json::to_value(EventView::of(&event)).unwrap();
        let keys: Vec<&str> = view
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = [
            "id",
            "type",
            "source",
            "occurredAt",
            "receivedAt",
            "ingressSequence",
            "payload",
            "correlationId",
            "causationId",
            "ttlMs",
            "metadata",
            "schemaVersion",
            "severity",
            "links",
            "derived",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(view["ingressSequence"], "42");
        assert_eq!(view["correlationId"], Value::Null);
        assert_eq!(view["derived"], Value::Null);
        assert_eq!(view["payload"], json!({"n": 1}));
    }

    #[test]
    fn a_timeline_event_links_to_its_cause_only_when_the_cause_is_listed() {
        let caused = StoredEvent::sample(
            json!({"id": "e-2", "type": "a.b", "source": "svc", "causationId": "e-1"}),
            43,
        );
        let listed =
            serde_json::to_value(TimelineItemView::event(&caused, |id| id == "e-1")).unwrap();
        assert_eq!(listed["parent"], json!({"kind": "event", "id": "e-1"}));
        assert_eq!(listed["kind"], "event");
        let unlisted = serde_json::to_value(TimelineItemView::event(&caused, |_| false)).unwrap();
        assert_eq!(
            unlisted["parent"],
            Value::Null,
            "written as null, not left out"
        );
    }
}
