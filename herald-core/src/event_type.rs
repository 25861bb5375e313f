//! `EventType`: the namespaced name triggers and subscriptions match on.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ValidationError;

/// The longest event type SPEC §1 allows, in characters (the charset is ASCII, so also in bytes).
pub const EVENT_TYPE_MAX_CHARS: usize = 200;

const FIELD: &str = "type";

/// The rule, phrased once so every rejection tells the publisher the same thing.
const NAMESPACED_RULE: &str = concat!(
    "must be namespaced like service.domain.action: ",
    "at least two segments of [A-Za-z0-9_-] joined by '.'"
);

/// An event type such as `metastore.dataset.created`: segments of `[A-Za-z0-9_-]+` joined by `.`, at least two,
/// at most 200 characters.
///
/// Case-sensitive: `Order.Created` and `order.created` are different types. Requiring a namespace keeps type
/// patterns (`metastore.*`) meaningful across services. `.` cannot appear inside a segment, so patterns can split
/// on it without ambiguity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(String);

impl EventType {
    /// Accepts `s` when it is a namespaced type of at most 200 characters.
    ///
    /// # Errors
    ///
    /// `invalid_field` on field `type` when `s` is empty, too long, has fewer than two segments, an empty segment
    /// (`a..b`, `.a`, `a.`) or a character outside `[A-Za-z0-9_-.]`.
    pub fn parse(s: String) -> Result<EventType, ValidationError> {
        if s.is_empty() {
            return Err(ValidationError::invalid(FIELD, "must not be empty"));
        }
        let mut segments = 0usize;
        for segment in s.split('.') {
            if segment.is_empty() || !segment.chars().all(is_segment_char) {
                return Err(ValidationError::invalid(FIELD, NAMESPACED_RULE));
            }
            segments += 1;
        }
        if segments < 2 {
            return Err(ValidationError::invalid(FIELD, NAMESPACED_RULE));
        }
        if s.len() > EVENT_TYPE_MAX_CHARS {
            return Err(ValidationError::invalid(
                FIELD,
                format_args!(
                    "must be at most {EVENT_TYPE_MAX_CHARS} characters (got {})",
                    s.len()
                ),
            ));
        }
        Ok(EventType(s))
    }

    /// The type as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The dot-separated segments, in order (`["metastore", "dataset", "created"]`).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

fn is_segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl AsRef<str> for EventType {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventType {
    /// Deserialising runs [`EventType::parse`], so a wire struct can never hold an invalid type.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        EventType::parse(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use proptest::prelude::*;

    fn assert_rejected(s: &str) -> ValidationError {
        let err = EventType::parse(s.to_owned()).expect_err(s);
        assert_eq!(err.code, ErrorCode::InvalidField);
        assert_eq!(err.field.as_deref(), Some("type"));
        assert!(err.message.starts_with("`type` "), "{}", err.message);
        err
    }

    #[test]
    fn an_empty_type_is_rejected() {
        assert_rejected("");
    }

    #[test]
    fn a_single_segment_type_is_rejected_with_the_namespacing_rule() {
        let err = assert_rejected("created");
        assert_eq!(
            err.message,
            "`type` must be namespaced like service.domain.action: at least two segments of [A-Za-z0-9_-] joined by '.'"
        );
    }

    #[test]
    fn empty_segments_are_rejected() {
        for bad in [".", "a.", ".a", "a..b"] {
            assert_rejected(bad);
        }
    }

    #[test]
    fn characters_outside_the_segment_charset_are_rejected() {
        for bad in ["a.b c", "a.b/c", "a.b*", "a.é", "a:b.c"] {
            assert_rejected(bad);
        }
    }

    #[test]
    fn a_type_of_200_chars_passes_and_201_fails() {
        let ok = format!("a.{}", "b".repeat(198));
        assert!(EventType::parse(ok).is_ok());
        let err = assert_rejected(&format!("a.{}", "b".repeat(199)));
        assert!(err.message.contains("at most 200"));
    }

    #[test]
    fn types_are_case_sensitive() {
        let upper = EventType::parse("Order.Created".to_owned()).expect("valid");
        let lower = EventType::parse("order.created".to_owned()).expect("valid");
        assert_ne!(upper, lower);
    }

    #[test]
    fn segments_are_split_on_dots() {
        let t = EventType::parse("metastore.dataset.created".to_owned()).expect("valid");
        assert_eq!(
            t.segments().collect::<Vec<_>>(),
            ["metastore", "dataset", "created"]
        );
    }

    proptest! {
        #[test]
        fn valid_generated_types_parse(s in "[A-Za-z0-9_-]{1,20}(\\.[A-Za-z0-9_-]{1,20}){1,8}") {
            let t = EventType::parse(s.clone()).expect("valid type");
            prop_assert_eq!(t.as_str(), s.as_str());
        }

        #[test]
        fn single_segments_never_parse(s in "[A-Za-z0-9_-]{1,50}") {
            prop_assert!(EventType::parse(s).is_err());
        }
    }
}
