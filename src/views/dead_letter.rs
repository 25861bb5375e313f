//! [`DeadLetterView`]: a dead letter as `GET /admin/dead-letters` sends it (SPEC §3).

use serde::Serialize;

use crate::domain::{DeadLetter, format_timestamp};

/// A dead letter: `{id, reason, message, source, eventId, streamId, raw, receivedAt, redrivenAt}`, absent
/// fields `null`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterView<'a> {
    /// The envelope's id, when readable.
    pub event_id: Option<&'a str>,
    /// A ULID.
    pub id: &'a str,
    /// What is wrong.
    pub message: &'a str,
    /// The raw entry.
    pub raw: &'a str,
    /// The reason code.
    pub reason: &'a str,
    /// When it was recorded.
    pub received_at: String,
    /// When it was redriven.
    pub redriven_at: Option<String>,
    /// The envelope's source, when readable.
    pub source: Option<&'a str>,
    /// The stream entry id.
    pub stream_id: Option<&'a str>,
}

impl<'a> DeadLetterView<'a> {
    /// The view of `letter`.
    pub fn of(letter: &'a DeadLetter) -> DeadLetterView<'a> {
        DeadLetterView {
            id: &letter.id,
            reason: &letter.reason,
            message: &letter.message,
            source: letter.source.as_deref(),
            event_id: letter.event_id.as_deref(),
            stream_id: letter.stream_id.as_deref(),
            raw: &letter.raw,
            received_at: format_timestamp(letter.received_at),
            redriven_at: letter.redriven_at.map(format_timestamp),
        }
    }
}
