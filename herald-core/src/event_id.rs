//! `EventId`: the caller-chosen or Herald-assigned unique id of an event.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use ulid::{Generator, Ulid};

use super::error::ValidationError;

/// The longest id SPEC §1 allows, in characters (all allowed characters are ASCII, so also in bytes).
pub const EVENT_ID_MAX_CHARS: usize = 128;

const FIELD: &str = "id";

/// An event id: 1–128 characters of `[A-Za-z0-9._:-]`.
///
/// The charset is narrow on purpose: ids appear in URLs (`/events/{id}`), Redis keys and log lines, so they never
/// need escaping. Herald-assigned ids are ULIDs (26 Crockford base32 characters), which sort by time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(String);

impl EventId {
    /// Accepts `s` when it is 1–128 characters of `[A-Za-z0-9._:-]`.
    ///
    /// # Errors
    ///
    /// `invalid_field` on field `id` when `s` is empty, too long or holds another character.
    pub fn parse(s: String) -> Result<EventId, ValidationError> {
        if s.is_empty() {
            return Err(ValidationError::invalid(FIELD, "must not be empty"));
        }
        if !s.chars().all(is_id_char) {
            return Err(ValidationError::invalid(
                FIELD,
                "must contain only [A-Za-z0-9._:-]",
            ));
        }
        if s.len() > EVENT_ID_MAX_CHARS {
            return Err(ValidationError::invalid(
                FIELD,
                format_args!(
                    "must be at most {EVENT_ID_MAX_CHARS} characters (got {})",
                    s.len()
                ),
            ));
        }
        Ok(EventId(s))
    }

    /// The id whose text is `ulid`'s canonical 26-character form. Always valid: ULIDs use only `[0-9A-Z]`.
    pub fn from_ulid(ulid: Ulid) -> EventId {
        EventId(ulid.to_string())
    }

    /// A fresh ULID id from a monotonic generator, so ids made in the same millisecond still sort in creation order.
    ///
    /// When the generator's random part would overflow within one millisecond, the id moves into the next
    /// millisecond instead of failing: an id must always be produced, and order is what matters here.
    pub fn generate(generator: &mut Generator) -> EventId {
        let ulid = generator
            .generate()
            .unwrap_or_else(|overflow| overflow.commit_overflow_increment());
        EventId::from_ulid(ulid)
    }

    /// The id of an envelope without `id` read from a Redis stream: the same entry always yields the same id.
    ///
    /// SPEC §1 demands this so that a re-delivered entry (after a crash, or claimed by another instance) cannot be
    /// stored twice. The ULID's 48-bit time is the milliseconds part of `entry_id` (`1732269600000-0`: the text
    /// before `-`), or 0 when that does not parse as a 48-bit number; its 80 random bits are the first 10 bytes of
    /// SHA-256 of `stream_key + "\n" + entry_id`, so two streams that happen to share an entry id get distinct ids.
    pub fn from_stream_entry(stream_key: &str, entry_id: &str) -> EventId {
        let millis_text = entry_id.split('-').next().unwrap_or_default();
        let millis = millis_text
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms < (1u64 << Ulid::TIME_BITS))
            .unwrap_or(0);

        let mut hasher = Sha256::new();
        hasher.update(stream_key.as_bytes());
        hasher.update(b"\n");
        hasher.update(entry_id.as_bytes());
        let digest = hasher.finalize();
        let random = digest
            .iter()
            .take(10)
            .fold(0u128, |acc, byte| (acc << 8) | u128::from(*byte));

        EventId::from_ulid(Ulid::from_parts(millis, random))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

impl AsRef<str> for EventId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventId {
    /// Deserialising runs [`EventId::parse`], so a wire struct can never hold an invalid id.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        EventId::parse(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use proptest::prelude::*;

    fn assert_rejected(s: &str) {
        let err = EventId::parse(s.to_owned()).expect_err(s);
        assert_eq!(err.code, ErrorCode::InvalidField);
        assert_eq!(err.field.as_deref(), Some("id"));
        assert!(err.message.starts_with("`id` "), "{}", err.message);
    }

    #[test]
    fn an_empty_id_is_rejected() {
        assert_rejected("");
    }

    #[test]
    fn an_id_with_a_character_outside_the_charset_is_rejected() {
        for bad in ["a b", "a/b", "a#b", "é", "a\n"] {
            assert_rejected(bad);
        }
    }

    #[test]
    fn an_id_of_128_chars_passes_and_129_fails() {
        assert!(EventId::parse("a".repeat(128)).is_ok());
        assert_rejected(&"a".repeat(129));
    }

    #[test]
    fn every_allowed_punctuation_mark_is_accepted() {
        let id = EventId::parse("order-1.v2_x:y".to_owned()).expect("valid");
        assert_eq!(id.as_str(), "order-1.v2_x:y");
        assert_eq!(id.to_string(), "order-1.v2_x:y");
    }

    #[test]
    fn generated_ids_are_valid_ulids_in_increasing_order() {
        let mut generator = Generator::new();
        let first = EventId::generate(&mut generator);
        let second = EventId::generate(&mut generator);
        assert!(first < second);
        assert!(Ulid::from_string(first.as_str()).is_ok());
        assert_eq!(EventId::parse(first.to_string()), Ok(first));
    }

    #[test]
    fn from_stream_entry_is_deterministic() {
        let a = EventId::from_stream_entry("herald:events", "1732269600000-0");
        let b = EventId::from_stream_entry("herald:events", "1732269600000-0");
        assert_eq!(a, b);
    }

    #[test]
    fn from_stream_entry_differs_per_stream_key_and_per_entry() {
        let base = EventId::from_stream_entry("herald:events", "1732269600000-0");
        assert_ne!(
            base,
            EventId::from_stream_entry("other:events", "1732269600000-0")
        );
        assert_ne!(
            base,
            EventId::from_stream_entry("herald:events", "1732269600000-1")
        );
    }

    #[test]
    fn from_stream_entry_carries_the_entry_milliseconds_as_the_ulid_time() {
        let id = EventId::from_stream_entry("herald:events", "1732269600123-7");
        let ulid = Ulid::from_string(id.as_str()).expect("a ULID");
        assert_eq!(ulid.timestamp_ms(), 1_732_269_600_123);
    }

    #[test]
    fn from_stream_entry_random_bits_are_the_hash_prefix() {
        let id = EventId::from_stream_entry("k", "5-0");
        let ulid = Ulid::from_string(id.as_str()).expect("a ULID");
        let digest = Sha256::digest(b"k\n5-0");
        let mut expected = [0u8; 16];
        expected[6..].copy_from_slice(&digest[..10]);
        assert_eq!(ulid.random(), u128::from_be_bytes(expected));
    }

    #[test]
    fn from_stream_entry_with_an_unparsable_time_uses_zero() {
        let id = EventId::from_stream_entry("k", "not-a-number");
        let ulid = Ulid::from_string(id.as_str()).expect("a ULID");
        assert_eq!(ulid.timestamp_ms(), 0);
    }

    #[test]
    fn ids_serialise_as_plain_strings_and_deserialise_through_parse() {
        let id = EventId::parse("abc".to_owned()).expect("valid");
        assert_eq!(
            serde_json::to_value(&id).expect("serialises"),
            serde_json::json!("abc")
        );
        assert!(serde_json::from_value::<EventId>(serde_json::json!("a b")).is_err());
    }

    proptest! {
        #[test]
        fn valid_generated_ids_parse(s in "[A-Za-z0-9._:-]{1,128}") {
            let id = EventId::parse(s.clone()).expect("valid id");
            prop_assert_eq!(id.as_str(), s.as_str());
        }

        #[test]
        fn ids_with_a_foreign_character_are_rejected(
            prefix in "[A-Za-z0-9]{0,10}",
            bad in "[^A-Za-z0-9._:-]",
        ) {
            let candidate = format!("{prefix}{bad}");
            prop_assert!(EventId::parse(candidate).is_err());
        }

        #[test]
        fn stream_entry_ids_always_parse(key in ".{0,40}", entry in ".{0,40}") {
            let id = EventId::from_stream_entry(&key, &entry);
            prop_assert_eq!(EventId::parse(id.to_string()), Ok(id));
        }
    }
}
