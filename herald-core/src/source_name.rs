//! `SourceName`: who published an event.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ValidationError;

/// The longest source SPEC §1 allows, in characters (the charset is ASCII, so also in bytes).
pub const SOURCE_NAME_MAX_CHARS: usize = 200;

const FIELD: &str = "source";

/// The logical publisher of an event: a dotted name (`metastore.api`) or a URI reference (`/sensors/tn-1`,
/// `urn:svc:x`), 1–200 characters of `[A-Za-z0-9._:/@+~-]`.
///
/// The charset admits URI references so CloudEvents `source` values map over unchanged, yet excludes spaces, `?`,
/// `#`, `%` and `*` so a source is safe as a rate-limiter key, in a URL path segment once encoded, and in patterns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceName(String);

impl SourceName {
    /// Accepts `s` when it is 1–200 characters of `[A-Za-z0-9._:/@+~-]`.
    ///
    /// # Errors
    ///
    /// `invalid_field` on field `source` when `s` is empty, too long or holds another character.
    pub fn parse(s: String) -> Result<SourceName, ValidationError> {
        if s.is_empty() {
            return Err(ValidationError::invalid(FIELD, "must not be empty"));
        }
        if !s.chars().all(is_source_char) {
            return Err(ValidationError::invalid(
                FIELD,
                "must be a name like metastore.api or a URI reference like /sensors/tn-1: only [A-Za-z0-9._:/@+~-]",
            ));
        }
        if s.len() > SOURCE_NAME_MAX_CHARS {
            return Err(ValidationError::invalid(
                FIELD,
                format_args!(
                    "must be at most {SOURCE_NAME_MAX_CHARS} characters (got {})",
                    s.len()
                ),
            ));
        }
        Ok(SourceName(s))
    }

    /// The source as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_source_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '@' | '+' | '~' | '-')
}

impl AsRef<str> for SourceName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SourceName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SourceName {
    /// Deserialising runs [`SourceName::parse`], so a wire struct can never hold an invalid source.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        SourceName::parse(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use proptest::prelude::*;

    fn assert_rejected(s: &str) {
        let err = SourceName::parse(s.to_owned()).expect_err(s);
        assert_eq!(err.code, ErrorCode::InvalidField);
        assert_eq!(err.field.as_deref(), Some("source"));
        assert!(err.message.starts_with("`source` "), "{}", err.message);
    }

    #[test]
    fn an_empty_source_is_rejected() {
        assert_rejected("");
    }

    #[test]
    fn a_source_with_a_character_outside_the_charset_is_rejected() {
        for bad in ["a b", "a?b", "a#b", "a%20", "a*", "é"] {
            assert_rejected(bad);
        }
    }

    #[test]
    fn a_source_of_200_chars_passes_and_201_fails() {
        assert!(SourceName::parse("s".repeat(200)).is_ok());
        assert_rejected(&"s".repeat(201));
    }

    #[test]
    fn logical_names_and_uri_references_are_accepted() {
        for ok in [
            "metastore.api",
            "/sensors/tn-1",
            "urn:svc:x",
            "user@host",
            "a+b~c_d",
        ] {
            let source = SourceName::parse(ok.to_owned()).expect(ok);
            assert_eq!(source.as_str(), ok);
        }
    }

    proptest! {
        #[test]
        fn valid_generated_sources_parse(s in "[A-Za-z0-9._:/@+~-]{1,200}") {
            let source = SourceName::parse(s.clone()).expect("valid source");
            prop_assert_eq!(source.as_str(), s.as_str());
        }
    }
}
