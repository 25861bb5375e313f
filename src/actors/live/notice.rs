//! Operator notices for the WebSocket sessions (SPEC §7): the typed [`SourceNotice`] the source directory sends,
//! and its wire form, which the [`WsHub`](super::WsHub) builds. The directory says what happened; how it looks
//! on the wire is the hub's business, beside the other frames.
//!
//! # Format
//! - `{"type": "source.paused", "data": {"source", "kind": "manual" | "rate_limit", "reason", "actor", "pausedAt",
//!   "until"}, "emittedAt"}` when a pause starts or changes;
//! - `{"type": "source.resumed", "data": {"source", "ended": "resumed" | "expired"}, "emittedAt"}` when it ends.

use actix::Message;
use bytestring::ByteString;
use chrono::{DateTime, Utc};

use super::frames::{source_paused_frame, source_resumed_frame, trigger_frame};
use crate::domain::{SourceName, SourcePause};

/// A source's pause started, changed or ended (whoever did it, on whichever instance, or by expiry). Sent by the
/// `SourceDirectory`'s pause poll to the hub, which hands it to every session whatever its filters.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub enum SourceNotice {
    /// The pause in force now (new, or with another reason, kind or end).
    Paused(SourcePause),
    /// The source's pause ended.
    Resumed {
        /// The source.
        source: SourceName,
        /// How it ended.
        ended: PauseEnd,
    },
}

/// How a pause ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseEnd {
    /// Resumed by hand (`POST /admin/sources/resume`, on any instance).
    Resumed,
    /// Its `until` came.
    Expired,
}

impl PauseEnd {
    /// The wire value of `ended`.
    pub fn as_str(self) -> &'static str {
        match self {
            PauseEnd::Resumed => "resumed",
            PauseEnd::Expired => "expired",
        }
    }
}

impl SourceNotice {
    /// The frame, serialized once for every session, stamped `emittedAt`.
    pub fn frame(&self, emitted_at: DateTime<Utc>) -> ByteString {
        match self {
            SourceNotice::Paused(pause) => source_paused_frame(pause, emitted_at),
            SourceNotice::Resumed { source, ended } => {
                source_resumed_frame(source, *ended == PauseEnd::Expired, emitted_at)
            }
        }
    }
}

/// What a `TriggerActor` tells operators: a state change, a failed delivery, or (inline mode) a workflow run
/// request. Sent to the hub, which hands it to every session whatever its filters.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct TriggerNotice {
    /// `trigger.paused`, `trigger.resumed`, `delivery.failed` or `workflow.run.requested`.
    pub frame_type: &'static str,
    /// The frame's data, built by the views.
    pub data: serde_json::Value,
}

impl TriggerNotice {
    /// The frame, serialized once for every session, stamped `emittedAt`.
    pub fn frame(&self, emitted_at: DateTime<Utc>) -> ByteString {
        trigger_frame(self.frame_type, &self.data, emitted_at)
    }
}

/// An operator notice another instance recorded (`trigger.paused`, `delivery.failed`, …), read from the relay and
/// handed to every session here.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RelayedNotice {
    /// The frame's type.
    pub frame_type: String,
    /// The frame's data.
    pub data: serde_json::Value,
}

impl RelayedNotice {
    /// The frame, stamped `emittedAt` by this instance.
    pub fn frame(&self, emitted_at: DateTime<Utc>) -> ByteString {
        trigger_frame(&self.frame_type, &self.data, emitted_at)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{PauseKind, format_timestamp};
    use crate::views::SourcePauseView;

    #[test]
    fn a_resumed_notice_says_how_the_pause_ended() {
        let source = SourceName::parse("a.api".into()).unwrap();
        let at = Utc::now();
        let frame = SourceNotice::Resumed {
            source,
            ended: PauseEnd::Expired,
        }
        .frame(at);
        let value: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            value,
            json!({"type": "source.resumed", "data": {"source": "a.api", "ended": "expired"}, "emittedAt": format_timestamp(at)})
        );
    }

    #[test]
    fn a_paused_notice_carries_the_pause_view() {
        let pause = SourcePause {
            source: SourceName::parse("a.api".into()).unwrap(),
            kind: PauseKind::Manual,
            reason: "incident 42".into(),
            actor: "oncall".into(),
            paused_at: Utc::now(),
            until: None,
        };
        let at = Utc::now();
        let value: serde_json::Value =
            serde_json::from_str(&SourceNotice::Paused(pause.clone()).frame(at)).unwrap();
        assert_eq!(value["type"], "source.paused");
        assert_eq!(
            value["data"],
            serde_json::to_value(SourcePauseView::of(&pause)).unwrap()
        );
        assert_eq!(value["emittedAt"], format_timestamp(at));
    }
}
