//! Dead letters (SPEC §3): entries that could not become events, with the reason and the raw entry. A
//! [`NewDeadLetter`] is what ingest decides; a [`DeadLetter`] is what operators read back.

use chrono::{DateTime, Utc};

use crate::domain::{ErrorCode, truncate_to_millis};

/// The raw entry is kept up to this many bytes (SPEC §3: truncated to 1 MiB).
pub const RAW_LIMIT_BYTES: usize = 1 << 20;

/// A dead letter about to be recorded. Built by ingest (pure) and written by storage, so it lives in the domain.
#[derive(Debug, Clone)]
pub struct NewDeadLetter {
    /// A ULID, so dead letters sort by time.
    pub id: String,
    /// Why the entry could not become an event.
    pub reason: ErrorCode,
    /// What is wrong, as a sentence.
    pub message: String,
    /// The raw entry, at most [`RAW_LIMIT_BYTES`].
    pub raw: String,
    /// The stream entry id, for stream entries.
    pub stream_id: Option<String>,
    /// The envelope's source as read (possibly not a valid name).
    pub source: Option<String>,
    /// The envelope's id as read.
    pub event_id: Option<String>,
    /// When it was recorded, to the millisecond.
    pub received_at: DateTime<Utc>,
}

impl NewDeadLetter {
    /// A dead letter for `raw`, received now; `raw` is truncated to [`RAW_LIMIT_BYTES`] on a character boundary.
    pub fn new(
        reason: ErrorCode,
        message: String,
        raw: &str,
        stream_id: Option<String>,
        source: Option<String>,
        event_id: Option<String>,
    ) -> NewDeadLetter {
        NewDeadLetter {
            id: ulid::Ulid::generate().to_string(),
            reason,
            message,
            raw: truncate(raw, RAW_LIMIT_BYTES).to_owned(),
            stream_id,
            source,
            event_id,
            received_at: truncate_to_millis(Utc::now()),
        }
    }
}

fn truncate(s: &str, limit: usize) -> &str {
    if s.len() <= limit {
        return s;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A recorded dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// A ULID.
    pub id: String,
    /// The reason code.
    pub reason: String,
    /// What is wrong, as a sentence.
    pub message: String,
    /// The envelope's source, when readable.
    pub source: Option<String>,
    /// The envelope's id, when readable.
    pub event_id: Option<String>,
    /// The stream entry id, for stream entries.
    pub stream_id: Option<String>,
    /// The raw entry (at most 1 MiB).
    pub raw: String,
    /// When it was recorded.
    pub received_at: DateTime<Utc>,
    /// When an operator redrove it.
    pub redriven_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_entries_are_truncated_to_one_mebibyte_on_a_character_boundary() {
        let raw = "é".repeat(RAW_LIMIT_BYTES); // two bytes each
        let letter = NewDeadLetter::new(ErrorCode::InvalidJson, "m".into(), &raw, None, None, None);
        assert!(letter.raw.len() <= RAW_LIMIT_BYTES);
        assert!(letter.raw.len() > RAW_LIMIT_BYTES - 2);
        assert!(letter.raw.chars().all(|c| c == 'é'));
    }
}
