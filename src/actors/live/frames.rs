//! The WebSocket wire (SPEC §7), without actix: the server frames, each serialized once ([`EventFrames`] for
//! events, shared by every session), and the client frames ([`ClientFrame::parse`]).
//!
//! # Format
//! Server frames, all JSON text frames:
//! - `{"type": "connection.ack", "data": {"now", "sessionId"}}`, once, first;
//! - `{"type": "workflow.event.received", "data": {"event": <view §6.1>}, "emittedAt"}` for every event;
//! - for an event with a derived view (SPEC §6.1 `derived`), a second, typed frame right after it:
//!   `{"type": "<event type, e.g. asset.produced>", "data": {"event": <view>, "derived": <derived payload>},
//!   "emittedAt"}`, where `derived` holds only the recognised fields ([`crate::insights::derived_of`]);
//! - `{"type": "pong"}`; `{"type": "subscribed", "data": {"filters", "since"}}`;
//! - `{"type": "lagged", "data": {"missed": n, "resumeFrom": "<seq>"}}`: `n` events (not frames: an event's typed
//!   frame is skipped with it) were skipped; `resumeFrom` is the last sequence sent before the gap, so a
//!   subscribe with `since: resumeFrom` re-sends everything skipped;
//! - `{"type": "error", "data": {"code", "message", "field"?}}`;
//! - operator notices, sent to every session whatever its filters: `{"type": "source.paused", "data": {"source",
//!   "kind": "manual" | "rate_limit", "reason", "actor", "pausedAt", "until"}, "emittedAt"}` when a pause starts
//!   or changes, and `{"type": "source.resumed", "data": {"source", "ended": "resumed" | "expired"}, "emittedAt"}`
//!   when it ends (built by the hub from a `SourceNotice`, in `ws_notice.rs`).
//!
//! Client frames (text, at most [`MAX_INBOUND_FRAME_BYTES`]; a larger one closes the session with 1009):
//! - `ping` (bare, or the JSON string `"ping"`) or `{"type": "ping"}` → `{"type": "pong"}`;
//! - `{"type": "subscribe", "filters": {type, source, correlationId, severity, jsonPath}?, "since": "<seq>"?}` →
//!   `{"type": "subscribed", "data": {"filters", "since"}}`, then (with `since`) the stored events after it, then
//!   live ones. A new subscribe replaces the previous one; one that is refused leaves the previous one in place.
//!
//! Anything else gets `{"type": "error", "data": {"code", "message", "field"?}}` and the session stays open:
//! `invalid_json` (not JSON, not an object, a binary frame), `missing_field`/`invalid_field` (`type`),
//! `unknown_field` (a key outside the frame's), the filter's own codes (`invalid_pattern`, `invalid_json_path`,
//! `invalid_parameter`, `unknown_field`, with `field` = `filters.<name>`), `invalid_parameter` (`since` not a
//! sequence), `since_too_old` (more than [`SINCE_MAX_EVENTS`] stored events after it), and `query_timeout` /
//! `unavailable` when the backfill cannot be read (the subscription then goes live from where the backfill
//! stopped, and the message says where to resume).

use bytestring::ByteString;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::{ErrorCode, SourceName, SourcePause, StoredEvent, format_timestamp};
use crate::filter::EventFilter;
use crate::views::{
    AckData, ErrorData, EventFrameData, EventView, FrameView, LaggedData, SourcePauseView,
    SourceResumedView, SubscribedData,
};

/// Largest inbound message (SPEC §7: 64 KiB).
pub const MAX_INBOUND_FRAME_BYTES: usize = 64 * 1024;
/// Most stored events a `since` may reach back over (SPEC §7); past it, page through `/admin/events`.
pub const SINCE_MAX_EVENTS: u64 = 10_000;

/// The frames of one stored event, serialized once and shared by every session it goes to (cloning a
/// [`ByteString`] only counts a reference).
#[derive(Debug, Clone)]
pub struct EventFrames {
    /// The event's `ingressSequence`.
    pub sequence: i64,
    /// `workflow.event.received`.
    pub frame: ByteString,
    /// The typed frame of a derived event (`asset.produced`, …), sent right after `frame`.
    pub typed: Option<ByteString>,
}

impl EventFrames {
    /// Serializes `event`'s frames, stamped `emitted_at`.
    pub fn of(event: &StoredEvent, emitted_at: DateTime<Utc>) -> EventFrames {
        let view = EventView::of(event);
        let emitted_at = format_timestamp(emitted_at);
        let typed = view.derived_payload().map(|derived| {
            frame(&FrameView {
                frame_type: event.envelope.event_type.as_str(),
                data: EventFrameData {
                    event: &view,
                    derived: Some(derived),
                },
                emitted_at: Some(emitted_at.clone()),
            })
        });
        EventFrames {
            sequence: event.ingress_sequence,
            frame: frame(&FrameView {
                frame_type: "workflow.event.received",
                data: EventFrameData {
                    event: &view,
                    derived: None,
                },
                emitted_at: Some(emitted_at),
            }),
            typed,
        }
    }

    /// Bytes queued when these frames are handed to a session.
    pub fn len(&self) -> usize {
        self.frame.len() + self.typed.as_ref().map_or(0, |t| t.len())
    }

    /// Never true: an event always has its `workflow.event.received` frame.
    pub fn is_empty(&self) -> bool {
        false
    }
}

fn frame<D: Serialize>(frame: &FrameView<'_, D>) -> ByteString {
    // A frame holds only strings, numbers and JSON values, whose serialization cannot fail; should it ever,
    // the session gets an empty frame rather than a panic in the actor.
    ByteString::from(serde_json::to_string(frame).unwrap_or_default())
}

/// `connection.ack`.
pub fn ack_frame(now: DateTime<Utc>, session_id: &str) -> ByteString {
    frame(&FrameView {
        frame_type: "connection.ack",
        data: AckData {
            now: format_timestamp(now),
            session_id,
        },
        emitted_at: None,
    })
}

/// `pong`.
pub fn pong_frame() -> ByteString {
    ByteString::from_static(r#"{"type":"pong"}"#)
}

/// `subscribed`, echoing the filters as given and the `since` taken (`null` without one).
pub fn subscribed_frame(filters: &Value, since: Option<i64>) -> ByteString {
    frame(&FrameView {
        frame_type: "subscribed",
        data: SubscribedData {
            filters,
            since: since.map(|s| s.to_string()),
        },
        emitted_at: None,
    })
}

/// `error`, with `field` when the error is about one.
pub fn error_frame(code: &str, message: &str, field: Option<&str>) -> ByteString {
    frame(&FrameView {
        frame_type: "error",
        data: ErrorData {
            code,
            message,
            field,
        },
        emitted_at: None,
    })
}

/// `source.paused`: `pause` started or changed (its reason or end).
pub fn source_paused_frame(pause: &SourcePause, emitted_at: DateTime<Utc>) -> ByteString {
    frame(&FrameView {
        frame_type: "source.paused",
        data: SourcePauseView::of(pause),
        emitted_at: Some(format_timestamp(emitted_at)),
    })
}

/// `source.resumed`: the pause of `source` ended, by hand or because its end came (`expired`).
pub fn source_resumed_frame(
    source: &SourceName,
    expired: bool,
    emitted_at: DateTime<Utc>,
) -> ByteString {
    frame(&FrameView {
        frame_type: "source.resumed",
        data: SourceResumedView::of(source, expired),
        emitted_at: Some(format_timestamp(emitted_at)),
    })
}

/// A trigger notice (`trigger.paused`, `trigger.resumed`, `delivery.failed`, `workflow.run.requested`) with
/// its data, built by the views.
pub fn trigger_frame(
    frame_type: &str,
    data: &serde_json::Value,
    emitted_at: DateTime<Utc>,
) -> ByteString {
    frame(&FrameView {
        frame_type,
        data,
        emitted_at: Some(format_timestamp(emitted_at)),
    })
}

/// `lagged`.
pub fn lagged_frame(missed: u64, resume_from: i64) -> ByteString {
    frame(&FrameView {
        frame_type: "lagged",
        data: LaggedData {
            missed,
            resume_from: resume_from.to_string(),
        },
        emitted_at: None,
    })
}

/// A parsed client frame.
#[derive(Debug)]
pub enum ClientFrame {
    /// `ping`.
    Ping,
    /// `subscribe` (boxed: a parsed filter is large, a ping is nothing).
    Subscribe(Box<SubscribeRequest>),
}

/// A parsed `subscribe`.
#[derive(Debug)]
pub struct SubscribeRequest {
    /// The filters as given, echoed in `subscribed`.
    pub filters: Value,
    /// The parsed filter.
    pub filter: EventFilter,
    /// Resume after this `ingressSequence`.
    pub since: Option<i64>,
}

/// Why a client frame is refused; becomes an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The SPEC code.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// The field at fault.
    pub field: Option<String>,
}

impl FrameError {
    /// An error with a SPEC code.
    pub fn new(code: ErrorCode, field: Option<&str>, message: impl Into<String>) -> FrameError {
        FrameError {
            code: code.as_str(),
            message: message.into(),
            field: field.map(str::to_owned),
        }
    }

    /// The `error` frame.
    pub fn frame(&self) -> ByteString {
        error_frame(self.code, &self.message, self.field.as_deref())
    }
}

impl ClientFrame {
    /// Parses a text frame.
    ///
    /// # Errors
    /// A [`FrameError`] as listed in the module documentation.
    pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
        if text.trim() == "ping" {
            return Ok(ClientFrame::Ping);
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            FrameError::new(
                ErrorCode::InvalidJson,
                None,
                format!("the frame is not valid JSON: {e}"),
            )
        })?;
        let mut object = match value {
            Value::String(s) if s == "ping" => return Ok(ClientFrame::Ping),
            Value::Object(object) => object,
            _ => {
                return Err(FrameError::new(
                    ErrorCode::InvalidJson,
                    None,
                    "a client frame must be a JSON object such as {\"type\": \"ping\"}",
                ));
            }
        };
        let kind = match object.remove("type") {
            None | Some(Value::Null) => {
                return Err(FrameError::new(
                    ErrorCode::MissingField,
                    Some("type"),
                    "a client frame needs a type: ping or subscribe",
                ));
            }
            Some(Value::String(kind)) => kind,
            Some(_) => {
                return Err(FrameError::new(
                    ErrorCode::InvalidField,
                    Some("type"),
                    "type must be a string: ping or subscribe",
                ));
            }
        };
        match kind.as_str() {
            "ping" => Ok(ClientFrame::Ping),
            "subscribe" => parse_subscribe(object).map(|s| ClientFrame::Subscribe(Box::new(s))),
            other => Err(FrameError::new(
                ErrorCode::InvalidField,
                Some("type"),
                format!("unknown frame type {other:?}; client frames are ping and subscribe"),
            )),
        }
    }
}

fn parse_subscribe(mut object: Map<String, Value>) -> Result<SubscribeRequest, FrameError> {
    if let Some(unknown) = object
        .keys()
        .find(|k| !["filters", "since"].contains(&k.as_str()))
    {
        return Err(FrameError::new(
            ErrorCode::UnknownField,
            Some(unknown),
            format!(
                "unknown field {unknown:?} in subscribe; its fields are type, filters and since"
            ),
        ));
    }
    let filters = match object.remove("filters") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(f)) => Value::Object(f),
        Some(_) => {
            return Err(FrameError::new(
                ErrorCode::InvalidField,
                Some("filters"),
                "filters must be an object of type, source, correlationId, severity and jsonPath",
            ));
        }
    };
    let filter = match &filters {
        Value::Object(map) => EventFilter::from_json(map),
        _ => Ok(EventFilter::default()),
    }
    .map_err(|e| FrameError {
        code: e.code.as_str(),
        message: e.message,
        field: e.field,
    })?;
    let since = match object.remove("since") {
        None | Some(Value::Null) => None,
        Some(value) => Some(parse_since(&value)?),
    };
    Ok(SubscribeRequest {
        filters,
        filter,
        since,
    })
}

/// `since`: an `ingressSequence`, as the string events carry (a JSON integer is accepted too).
fn parse_since(value: &Value) -> Result<i64, FrameError> {
    let parsed = match value {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i64>().ok()
        }
        Value::Number(n) => n.as_i64().filter(|n| *n >= 0),
        _ => None,
    };
    parsed.ok_or_else(|| {
        FrameError::new(
            ErrorCode::InvalidParameter,
            Some("since"),
            format!(
                "since must be an ingressSequence, a string of digits such as \"123\"; got {value}"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused(text: &str) -> FrameError {
        ClientFrame::parse(text).expect_err("refused")
    }

    #[test]
    fn ping_comes_in_three_spellings() {
        for text in ["ping", "\"ping\"", r#"{"type": "ping"}"#] {
            assert!(
                matches!(ClientFrame::parse(text), Ok(ClientFrame::Ping)),
                "{text}"
            );
        }
    }

    #[test]
    fn a_subscribe_parses_its_filters_and_since() {
        let Ok(ClientFrame::Subscribe(s)) = ClientFrame::parse(
            r#"{"type": "subscribe", "filters": {"type": "a.**", "severity": ["error"]}, "since": "12"}"#,
        ) else {
            panic!("a subscribe");
        };
        assert_eq!(s.since, Some(12));
        assert!(s.filter.event_type.is_some());
        assert_eq!(s.filters["type"], "a.**");
        let Ok(ClientFrame::Subscribe(s)) = ClientFrame::parse(r#"{"type": "subscribe"}"#) else {
            panic!("a subscribe");
        };
        assert!(s.filter.is_empty());
        assert_eq!(s.since, None);
    }

    #[test]
    fn malformed_frames_are_refused_with_their_code() {
        assert_eq!(refused("{nope").code, "invalid_json");
        assert_eq!(refused("[1]").code, "invalid_json");
        assert_eq!(refused("{}").code, "missing_field");
        let e = refused(r#"{"type": 1}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("invalid_field", Some("type"))
        );
        let e = refused(r#"{"type": "dance"}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("invalid_field", Some("type"))
        );
        let e = refused(r#"{"type": "subscribe", "filter": {}}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("unknown_field", Some("filter"))
        );
        let e = refused(r#"{"type": "subscribe", "filters": []}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("invalid_field", Some("filters"))
        );
    }

    #[test]
    fn bad_filters_name_the_filter() {
        let e = refused(r#"{"type": "subscribe", "filters": {"jsonPath": "$.a ? ("}}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("invalid_json_path", Some("filters.jsonPath"))
        );
        let e = refused(r#"{"type": "subscribe", "filters": {"colour": "red"}}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("unknown_field", Some("filters.colour"))
        );
    }

    #[test]
    fn since_must_be_a_sequence() {
        for since in [r#""abc""#, r#""-1""#, r#""""#, "-1", "1.5", "true"] {
            let e = refused(&format!(r#"{{"type": "subscribe", "since": {since}}}"#));
            assert_eq!(
                (e.code, e.field.as_deref()),
                ("invalid_parameter", Some("since")),
                "{since}"
            );
        }
        let Ok(ClientFrame::Subscribe(s)) =
            ClientFrame::parse(r#"{"type": "subscribe", "since": 7}"#)
        else {
            panic!("a subscribe");
        };
        assert_eq!(s.since, Some(7));
    }

    #[test]
    fn derived_events_get_a_typed_frame_after_the_generic_one() {
        let event = StoredEvent::sample(
            json!({"id": "e-1", "type": "asset.produced", "source": "core.workflows",
                   "payload": {"assetId": "a-1", "workflowDefinitionId": "wf-1", "extra": 1}}),
            42,
        );
        let frames = EventFrames::of(&event, Utc::now());
        let generic: Value = serde_json::from_str(&frames.frame).expect("json");
        assert_eq!(generic["type"], "workflow.event.received");
        assert_eq!(generic["data"]["event"]["ingressSequence"], "42");
        let typed: Value =
            serde_json::from_str(frames.typed.as_deref().expect("a typed frame")).expect("json");
        assert_eq!(typed["type"], "asset.produced");
        assert_eq!(
            typed["data"]["derived"],
            json!({"assetId": "a-1", "workflowDefinitionId": "wf-1"})
        );
        assert_eq!(typed["data"]["event"]["id"], "e-1");
        assert_eq!(frames.len(), frames.frame.len() + typed.to_string().len());
    }

    #[test]
    fn every_frame_keeps_the_sorted_key_order_of_a_json_value() {
        let event = StoredEvent::sample(
            json!({"id": "e-1", "type": "asset.produced", "source": "core.workflows",
                   "correlationId": "c-1", "metadata": {"z": 1, "a": 2},
                   "payload": {"assetId": "a-1", "workflowDefinitionId": "wf-1"}}),
            42,
        );
        let events = EventFrames::of(&event, Utc::now());
        let source = SourceName::parse("a.b".to_owned()).unwrap();
        let pause = SourcePause {
            source: source.clone(),
            kind: crate::domain::PauseKind::Manual,
            reason: "deploy".into(),
            actor: "alice".into(),
            paused_at: Utc::now(),
            until: Some(Utc::now()),
        };
        let frames = [
            events.frame.clone(),
            events.typed.clone().expect("a typed frame"),
            ack_frame(Utc::now(), "s-1"),
            subscribed_frame(&json!({"type": "a.*"}), Some(3)),
            subscribed_frame(&json!({}), None),
            error_frame("invalid_field", "bad", Some("type")),
            error_frame("invalid_json", "bad", None),
            source_paused_frame(&pause, Utc::now()),
            source_resumed_frame(&source, true, Utc::now()),
            lagged_frame(3, 5),
        ];
        for frame in frames {
            let value: Value = serde_json::from_str(&frame).expect("json");
            assert_eq!(value.to_string(), *frame);
        }
    }
}
