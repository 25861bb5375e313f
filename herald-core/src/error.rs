//! The error vocabulary shared by every parser in `domain`.
//!
//! SPEC's error table and its dead-letter reasons are one closed set of snake_case codes. Keeping them in one enum
//! means an HTTP response, a dead-letter row and a WebSocket error frame can never disagree on spelling.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Every error code SPEC defines, plus the dead-letter reasons (`missing_envelope`, `poison`, `schema_mismatch`).
///
/// The HTTP status for a code is the HTTP layer's business; this enum only names the failure. Serialises as its
/// snake_case string, the same text [`ErrorCode::as_str`] returns, and deserialises from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body or stream entry is not JSON, or not the JSON shape expected at the top level.
    InvalidJson,
    /// A required field is absent (or `null`, which means absent).
    MissingField,
    /// A field is present but breaks its rule (type, charset, length, range).
    InvalidField,
    /// A field that the contract does not define; rejected so that typos never pass silently.
    UnknownField,
    /// `payload` or `metadata` is larger than its serialised-size limit.
    PayloadTooLarge,
    /// A query or path parameter is malformed.
    InvalidParameter,
    /// A pagination cursor cannot be decoded.
    InvalidCursor,
    /// A SQL/JSON path expression does not parse.
    InvalidJsonPath,
    /// A type or source pattern does not parse.
    InvalidPattern,
    /// Every envelope of a batch was rejected.
    BatchRejected,
    /// No valid token was presented.
    Unauthorized,
    /// The token lacks the required scope.
    Forbidden,
    /// The addressed resource does not exist.
    NotFound,
    /// An event id already exists with different content.
    IdConflict,
    /// The request body exceeds `HERALD_MAX_BODY_BYTES`.
    BodyTooLarge,
    /// The request `Content-Type` is not one Herald reads.
    UnsupportedMediaType,
    /// A query ran past its time budget.
    QueryTimeout,
    /// A dependency (database, Redis) is down.
    Unavailable,
    /// Dead-letter reason: a stream entry has no `envelope` field.
    MissingEnvelope,
    /// Dead-letter reason: an entry was delivered 5 times without reaching an outcome.
    Poison,
    /// The payload does not validate against its type's active JSON Schema (also a dead-letter reason).
    SchemaMismatch,
    /// The type has no schema while `HERALD_REQUIRE_SCHEMAS=true` (also a dead-letter reason).
    SchemaRequired,
    /// A schema given for registration does not compile.
    InvalidSchema,
    /// The thing addressed is not in a state the request applies to (retrying a delivered delivery).
    InvalidState,
}

impl ErrorCode {
    /// Every code, in SPEC's table order, for exhaustive tests and documentation generators.
    pub const ALL: [ErrorCode; 24] = [
        ErrorCode::InvalidJson,
        ErrorCode::MissingField,
        ErrorCode::InvalidField,
        ErrorCode::UnknownField,
        ErrorCode::PayloadTooLarge,
        ErrorCode::InvalidParameter,
        ErrorCode::InvalidCursor,
        ErrorCode::InvalidJsonPath,
        ErrorCode::InvalidPattern,
        ErrorCode::BatchRejected,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::IdConflict,
        ErrorCode::BodyTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::QueryTimeout,
        ErrorCode::Unavailable,
        ErrorCode::MissingEnvelope,
        ErrorCode::Poison,
        ErrorCode::SchemaMismatch,
        ErrorCode::SchemaRequired,
        ErrorCode::InvalidSchema,
        ErrorCode::InvalidState,
    ];

    /// The wire spelling used in `{"error": {"code": ...}}` and in dead-letter `reason` columns.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::InvalidParameter => "invalid_parameter",
            ErrorCode::InvalidCursor => "invalid_cursor",
            ErrorCode::InvalidJsonPath => "invalid_json_path",
            ErrorCode::InvalidPattern => "invalid_pattern",
            ErrorCode::BatchRejected => "batch_rejected",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::IdConflict => "id_conflict",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::QueryTimeout => "query_timeout",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::MissingEnvelope => "missing_envelope",
            ErrorCode::Poison => "poison",
            ErrorCode::SchemaMismatch => "schema_mismatch",
            ErrorCode::SchemaRequired => "schema_required",
            ErrorCode::InvalidSchema => "invalid_schema",
            ErrorCode::InvalidState => "invalid_state",
        }
    }
}

impl ErrorCode {
    /// The code spelled `code` (as stored in a dead-letter `reason` column or given as a `?reason=` filter), or
    /// `None` for text that is not a SPEC code.
    pub fn from_code(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|candidate| candidate.as_str() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored or wire spelling that names no variant of a closed set (a pause kind, a control action, a severity).
///
/// Kept apart from [`ValidationError`]: it is not input refused with a SPEC code but a value Herald wrote itself
/// and can no longer read, so storage wraps it as the cause of a corrupt row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownSpelling {
    /// What was being read (`pause kind`, `source control`, `severity`).
    pub what: &'static str,
    /// The spelling found.
    pub value: String,
}

impl UnknownSpelling {
    /// `value` names no `what`.
    pub fn new(what: &'static str, value: &str) -> UnknownSpelling {
        UnknownSpelling {
            what,
            value: value.to_owned(),
        }
    }
}

/// Why a piece of input was refused: the SPEC code, the offending field and a sentence for humans.
///
/// This is a plain value (no boxed source) because it sits on the hot ingest path (STYLE §5.3). `Display` is the
/// message alone, so it can go straight into `{"error": {"message": ...}}`; the code and field travel separately
/// (`details.field` in responses).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    /// The SPEC error code.
    pub code: ErrorCode,
    /// The dotted path of the offending field (`type`, `metadata.__workflow`), or `None` when the whole input is at
    /// fault (for example malformed JSON).
    pub field: Option<String>,
    /// A human sentence that names the field and states the rule it broke.
    pub message: String,
}

impl ValidationError {
    /// An error with every part chosen by the caller, for rules the shorthand constructors do not cover.
    pub fn new(code: ErrorCode, field: Option<String>, message: impl Into<String>) -> Self {
        ValidationError {
            code,
            field,
            message: message.into(),
        }
    }

    /// `missing_field`: a required field is absent or `null`.
    pub fn missing(field: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("`{field}` is required");
        Self::new(ErrorCode::MissingField, Some(field), message)
    }

    /// `invalid_field`. `rule` is the predicate of the sentence: `invalid("ttl", "must be at least 1")` reads
    /// "`ttl` must be at least 1", so every message names its field the same way.
    pub fn invalid(field: impl Into<String>, rule: impl fmt::Display) -> Self {
        let field = field.into();
        let message = format!("`{field}` {rule}");
        Self::new(ErrorCode::InvalidField, Some(field), message)
    }

    /// `unknown_field`: a key the contract does not define.
    pub fn unknown(field: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("`{field}` is not a known field");
        Self::new(ErrorCode::UnknownField, Some(field), message)
    }

    /// `payload_too_large`: the field's compact serde_json serialisation exceeds `limit_bytes`.
    pub fn too_large(field: impl Into<String>, limit_bytes: usize) -> Self {
        let field = field.into();
        let message = format!("`{field}` must be at most {limit_bytes} bytes as compact JSON");
        Self::new(ErrorCode::PayloadTooLarge, Some(field), message)
    }

    /// `invalid_json`: the input does not parse, or is not the expected JSON shape. `message` is used verbatim, so
    /// it should be a whole sentence carrying the position serde reports
    /// (`the body is not valid JSON: expected value at line 1 column 5`).
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidJson, None, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_serialises_to_its_as_str_spelling() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).expect("codes serialise");
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
            assert_eq!(code.to_string(), code.as_str());
        }
    }

    #[test]
    fn every_code_is_found_again_from_its_spelling() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(code.as_str()), Some(code));
            let json = serde_json::Value::String(code.as_str().to_owned());
            assert_eq!(serde_json::from_value::<ErrorCode>(json).ok(), Some(code));
        }
        assert_eq!(ErrorCode::from_code("Poison"), None);
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert!(seen.insert(s), "duplicate {s}");
        }
        assert_eq!(seen.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn missing_names_the_field_in_code_field_and_message() {
        let e = ValidationError::missing("type");
        assert_eq!(e.code, ErrorCode::MissingField);
        assert_eq!(e.field.as_deref(), Some("type"));
        assert_eq!(e.to_string(), "`type` is required");
    }

    #[test]
    fn invalid_reads_as_one_sentence_about_the_field() {
        let e = ValidationError::invalid("ttl", "must be at least 1");
        assert_eq!(e.code, ErrorCode::InvalidField);
        assert_eq!(e.field.as_deref(), Some("ttl"));
        assert_eq!(e.message, "`ttl` must be at least 1");
    }

    #[test]
    fn unknown_and_too_large_carry_their_codes() {
        assert_eq!(
            ValidationError::unknown("tpye").code,
            ErrorCode::UnknownField
        );
        let e = ValidationError::too_large("payload", 262_144);
        assert_eq!(e.code, ErrorCode::PayloadTooLarge);
        assert!(e.message.contains("262144"));
    }

    #[test]
    fn invalid_json_has_no_field_and_keeps_the_message_verbatim() {
        let e = ValidationError::invalid_json(
            "the body is not valid JSON: expected value at line 1 column 1",
        );
        assert_eq!(e.code, ErrorCode::InvalidJson);
        assert_eq!(e.field, None);
        assert_eq!(
            e.message,
            "the body is not valid JSON: expected value at line 1 column 1"
        );
    }
}
