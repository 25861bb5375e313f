//! The WebSocket server frames of SPEC §7 as typed shapes: one envelope, [`FrameView`] (`{type, data?,
//! emittedAt?}`), and the data of each frame that is not a domain view of its own. The live session serializes
//! these; the event and source views inside them are the same structs HTTP sends.

use serde::Serialize;
use serde_json::Value;

use crate::views::EventView;

/// A server frame: `{"type", "data", "emittedAt"?}`. Notices and events carry `emittedAt`; replies to the client
/// (`connection.ack`, `subscribed`, `lagged`, `error`) do not.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameView<'a, D> {
    /// What the frame says.
    pub data: D,
    /// When the frame was emitted, for notices and events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emitted_at: Option<String>,
    /// The frame type (`workflow.event.received`, `source.paused`, …, or a derived event's own type).
    #[serde(rename = "type")]
    pub frame_type: &'a str,
}

/// The data of an event frame: `{event}`, and for a derived event's typed frame `{event, derived}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventFrameData<'a> {
    /// The derived payload (typed frames only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derived: Option<&'a Value>,
    /// The event view.
    pub event: &'a EventView<'a>,
}

/// The data of `connection.ack`: `{now, sessionId}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AckData<'a> {
    /// The server's clock.
    pub now: String,
    /// The session's id.
    pub session_id: &'a str,
}

/// The data of `subscribed`: the filters as given and the `since` taken (`null` without one).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedData<'a> {
    /// The filters, echoed.
    pub filters: &'a Value,
    /// The sequence resumed after, as a string.
    pub since: Option<String>,
}

/// The data of `error`: `{code, message, field?}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorData<'a> {
    /// The SPEC code.
    pub code: &'a str,
    /// The field at fault, when the error is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    /// A sentence for people.
    pub message: &'a str,
}

/// The data of `lagged`: `{missed, resumeFrom}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LaggedData {
    /// Events skipped.
    pub missed: u64,
    /// The last sequence sent before the gap, as a string.
    pub resume_from: String,
}
