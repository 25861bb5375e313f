//! `CorrelationId`: the free-form id that ties related events together.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ValidationError;

/// The longest correlation or causation id SPEC §1 allows, in characters (Unicode scalar values, not bytes).
pub const CORRELATION_ID_MAX_CHARS: usize = 256;

/// The value of `correlationId` or `causationId`: 1–256 characters, any characters.
///
/// One type serves both fields because they share a rule and both hold ids minted by other systems (trace ids,
/// request ids, another event's id), whose format Herald cannot know; hence no charset restriction. The length
/// counts characters, not bytes, so a limit stated to a publisher in characters means what it says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId(String);

impl CorrelationId {
    /// Parses the value of `correlationId`. Use [`CorrelationId::parse_field`] for `causationId`, so the error
    /// names the right field.
    ///
    /// # Errors
    ///
    /// As [`CorrelationId::parse_field`], on field `correlationId`.
    pub fn parse(s: String) -> Result<CorrelationId, ValidationError> {
        Self::parse_field(s, "correlationId")
    }

    /// Accepts `s` when it has 1–256 characters; errors name `field`.
    ///
    /// # Errors
    ///
    /// `invalid_field` on `field` when `s` is empty or longer than 256 characters.
    pub fn parse_field(s: String, field: &str) -> Result<CorrelationId, ValidationError> {
        if s.is_empty() {
            return Err(ValidationError::invalid(field, "must not be empty"));
        }
        // Bytes bound characters from above, so the char count is only needed for long strings.
        if s.len() > CORRELATION_ID_MAX_CHARS {
            let chars = s.chars().count();
            if chars > CORRELATION_ID_MAX_CHARS {
                return Err(ValidationError::invalid(
                    field,
                    format_args!(
                        "must be at most {CORRELATION_ID_MAX_CHARS} characters (got {chars})"
                    ),
                ));
            }
        }
        Ok(CorrelationId(s))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for CorrelationId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for CorrelationId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CorrelationId {
    /// Deserialising runs [`CorrelationId::parse`], so a wire struct can never hold an invalid id.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        CorrelationId::parse(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use proptest::prelude::*;

    #[test]
    fn an_empty_correlation_id_is_rejected() {
        let err = CorrelationId::parse(String::new()).expect_err("empty");
        assert_eq!(err.code, ErrorCode::InvalidField);
        assert_eq!(err.field.as_deref(), Some("correlationId"));
    }

    #[test]
    fn an_id_of_256_chars_passes_and_257_fails() {
        assert!(CorrelationId::parse("c".repeat(256)).is_ok());
        let err = CorrelationId::parse("c".repeat(257)).expect_err("too long");
        assert_eq!(err.code, ErrorCode::InvalidField);
        assert!(err.message.contains("at most 256"), "{}", err.message);
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        // 256 two-byte characters: 512 bytes, still within the limit.
        assert!(CorrelationId::parse("é".repeat(256)).is_ok());
        assert!(CorrelationId::parse("é".repeat(257)).is_err());
    }

    #[test]
    fn errors_name_the_field_they_were_parsed_for() {
        let err = CorrelationId::parse_field(String::new(), "causationId").expect_err("empty");
        assert_eq!(err.field.as_deref(), Some("causationId"));
        assert!(err.message.starts_with("`causationId` "), "{}", err.message);
    }

    #[test]
    fn any_characters_are_allowed() {
        let id = CorrelationId::parse("trace id #1 / ü".to_owned()).expect("valid");
        assert_eq!(id.as_str(), "trace id #1 / ü");
    }

    proptest! {
        #[test]
        fn valid_generated_correlation_ids_parse(s in ".{1,256}") {
            let id = CorrelationId::parse(s.clone()).expect("valid id");
            prop_assert_eq!(id.as_str(), s.as_str());
        }
    }
}
