//! Events with their storage encoding done ahead of the write: each event's `COPY` line on PostgreSQL.
//!
//! Encoding is CPU work (serializing payload and metadata, quoting). Done inside
//! [`super::events::EventsRepo::persist_encoded`] it would sit on the critical path of the sequence lock, where
//! every other write waits; done by [`super::events::EventsRepo::encode`] where the caller validates (a blocking
//! task), it overlaps with the write in progress.

use std::fmt::Write as _;

use chrono::SecondsFormat;

use crate::domain::NewEvent;

/// A batch of events and, on PostgreSQL, one `COPY` line per event. Batches [`append`](Self::append) into one
/// write.
#[derive(Debug, Default)]
pub struct EncodedEvents {
    pub(super) events: Vec<NewEvent>,
    /// One line per event on PostgreSQL, none elsewhere: see [`copy_line`].
    pub(super) copy_lines: Vec<String>,
}

impl EncodedEvents {
    /// `events`, with their `COPY` lines when `copy` (PostgreSQL).
    pub(super) fn new(events: Vec<NewEvent>, copy: bool) -> EncodedEvents {
        let copy_lines = if copy {
            events.iter().map(copy_line).collect()
        } else {
            Vec::new()
        };
        EncodedEvents { events, copy_lines }
    }

    /// The events, in batch order.
    pub fn events(&self) -> &[NewEvent] {
        &self.events
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Moves `other`'s events (and lines) after these.
    pub fn append(&mut self, other: &mut EncodedEvents) {
        // Lines line up with events only when every part has them (they all come from the same repository).
        if self.copy_lines.len() == self.events.len()
            && other.copy_lines.len() == other.events.len()
        {
            self.copy_lines.append(&mut other.copy_lines);
        } else {
            self.copy_lines.clear();
            other.copy_lines.clear();
        }
        self.events.append(&mut other.events);
    }

    /// The `COPY` line of event `index`, written now if it was not written ahead.
    pub(super) fn copy_line(&self, index: usize) -> std::borrow::Cow<'_, str> {
        match self.copy_lines.get(index) {
            Some(line) if self.copy_lines.len() == self.events.len() => line.as_str().into(),
            _ => copy_line(&self.events[index]).into(),
        }
    }
}

/// `event` as one CSV line of the events `COPY` but its leading sequence: `,id,type,…\n`. Text is always quoted
/// (so an empty string is never read as NULL), NULL is an empty field, and times keep their microseconds.
pub(super) fn copy_line(event: &NewEvent) -> String {
    let e = &event.envelope;
    let payload = e.payload.to_string();
    // unwrap: a map of JSON values with string keys always serializes.
    let metadata = e
        .metadata
        .as_ref()
        .map(|m| serde_json::to_string(m).expect("metadata is plain JSON"));
    let mut row = String::with_capacity(256 + payload.len());
    push_csv_text(&mut row, Some(e.id.as_str()));
    push_csv_text(&mut row, Some(e.event_type.as_str()));
    push_csv_text(&mut row, Some(e.source.as_str()));
    for at in [e.occurred_at, event.received_at] {
        row.push(',');
        row.push_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true));
    }
    push_csv_text(&mut row, Some(&payload));
    push_csv_text(&mut row, e.correlation_id.as_ref().map(|c| c.as_str()));
    push_csv_text(&mut row, e.causation_id.as_ref().map(|c| c.as_str()));
    row.push(',');
    if let Some(ttl_ms) = e.ttl_ms {
        // unwrap: writing into a String cannot fail.
        write!(row, "{ttl_ms}").expect("a String accepts every write");
    }
    push_csv_text(&mut row, metadata.as_deref());
    push_csv_text(&mut row, Some(&event.content_hash));
    push_csv_text(&mut row, event.stream_id.as_deref());
    push_csv_text(&mut row, Some(event.severity.as_str()));
    row.push(',');
    if let Some(version) = event.schema_version {
        // unwrap: writing into a String cannot fail.
        write!(row, "{version}").expect("a String accepts every write");
    }
    row.push('\n');
    row
}

/// Appends `,` and `text` as a CSV field: quoted, inner quotes doubled; nothing at all for NULL.
fn push_csv_text(row: &mut String, text: Option<&str>) {
    row.push(',');
    if let Some(text) = text {
        row.push('"');
        for part in text.split_inclusive('"') {
            row.push_str(part);
            if part.ends_with('"') {
                row.push('"');
            }
        }
        row.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(text: Option<&str>) -> String {
        let mut row = String::new();
        push_csv_text(&mut row, text);
        row
    }

    #[test]
    fn csv_text_is_quoted_with_inner_quotes_doubled_and_null_is_an_empty_field() {
        assert_eq!(field(None), ",");
        assert_eq!(field(Some("")), r#","""#);
        assert_eq!(field(Some("plain")), r#","plain""#);
        assert_eq!(field(Some(r#"{"a":"b\"c"}"#)), r#","{""a"":""b\""c""}""#);
        // Only quotes are special inside a quoted CSV field: newlines, commas, backslashes and tabs pass as they are.
        assert_eq!(
            field(Some("two\nlines, \\ tab\t")),
            ",\"two\nlines, \\ tab\t\""
        );
    }

    fn event(id: &str) -> NewEvent {
        let stored = crate::domain::StoredEvent::sample(
            serde_json::json!({"id": id, "type": "test.event.happened", "source": "tests.encoded"}),
            0,
        );
        NewEvent::new(
            stored.envelope,
            stored.severity,
            stored.received_at,
            None,
            None,
        )
    }

    #[test]
    fn appended_batches_keep_each_line_beside_its_event() {
        let mut first = EncodedEvents::new(vec![event("e-1")], true);
        let mut second = EncodedEvents::new(vec![event("e-2"), event("e-3")], true);
        first.append(&mut second);
        assert_eq!(first.len(), 3);
        for (index, id) in ["e-1", "e-2", "e-3"].into_iter().enumerate() {
            assert!(first.copy_line(index).starts_with(&format!(",\"{id}\",")));
        }
    }

    #[test]
    fn a_batch_without_lines_gets_them_written_when_asked() {
        let mut first = EncodedEvents::new(vec![event("e-1")], true);
        let mut second = EncodedEvents::new(vec![event("e-2")], false);
        first.append(&mut second);
        assert_eq!(first.copy_line(1), copy_line(&first.events()[1]));
        assert!(first.copy_line(0).starts_with(",\"e-1\","));
    }
}
