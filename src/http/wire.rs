//! Request bodies as typed wire structs (STYLE §3.2): a body is read into a `#[derive(Deserialize)]` struct with
//! `deny_unknown_fields`, then converted into domain values with `TryFrom`, so handlers never walk a
//! `serde_json::Value` field by field.
//!
//! SPEC answers each bad field with its own code and `details.field` (`missing_field`, `invalid_field`,
//! `unknown_field`), which serde's first-error-wins does not tell apart. So every field of a wire struct is a
//! [`Field`], which never fails to deserialize: it records absent, given, or given with the wrong JSON type, and
//! the `TryFrom` decides the code. Unknown keys are found before serde runs, against the field names the wire
//! struct declares ([`WireBody::FIELDS`]), the way the envelope checks `ENVELOPE_FIELDS`: no error message is
//! parsed for a field name.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::domain::{ValidationError, parse_time_bound};

/// One field of a wire struct: absent (or `null`, which means absent), given with the expected type, or given
/// with another JSON type (kept for the message).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    /// Not in the body, or `null`.
    #[default]
    Absent,
    /// Present with the expected JSON type.
    Given(T),
    /// Present with another JSON type.
    WrongType(Value),
}

impl<T> Field<T> {
    /// The value, `None` when absent; `wrong_type` is the error for a value of the wrong JSON type.
    ///
    /// # Errors
    /// `wrong_type()` when the field holds another JSON type.
    pub fn optional(
        self,
        wrong_type: impl FnOnce() -> ValidationError,
    ) -> Result<Option<T>, ValidationError> {
        match self {
            Field::Absent => Ok(None),
            Field::Given(value) => Ok(Some(value)),
            Field::WrongType(_) => Err(wrong_type()),
        }
    }

    /// The value of the required field `name`.
    ///
    /// # Errors
    /// `missing_field` naming `name` when absent, `wrong_type()` when it holds another JSON type.
    pub fn required(
        self,
        name: &str,
        wrong_type: impl FnOnce() -> ValidationError,
    ) -> Result<T, ValidationError> {
        self.optional(wrong_type)?
            .ok_or_else(|| ValidationError::missing(name))
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Field<T>, D::Error> {
        Ok(match Option::<Value>::deserialize(deserializer)? {
            None => Field::Absent,
            Some(value) => match T::deserialize(&value) {
                Ok(given) => Field::Given(given),
                Err(_) => Field::WrongType(value),
            },
        })
    }
}

/// A request body's wire struct: every field a [`Field`] with `#[serde(default)]`, and its wire names listed.
pub trait WireBody: DeserializeOwned {
    /// The keys the body may hold, as sent (camelCase).
    const FIELDS: &'static [&'static str];
}

/// Reads `body` as the wire struct `W`.
///
/// # Errors
/// `invalid_json` when the body is not JSON or not an object; `unknown_field` naming the first key (in sorted
/// order) that `W` does not define.
pub fn parse_body<W: WireBody>(body: &[u8]) -> Result<W, ValidationError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ValidationError::invalid_json(format!("the body is not valid JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(ValidationError::invalid_json(
            "the body must be a JSON object",
        ));
    };
    if let Some(unknown) = object.keys().find(|key| !W::FIELDS.contains(&key.as_str())) {
        return Err(ValidationError::unknown(unknown));
    }
    // With every key known and every field a `Field`, deserializing cannot fail; should a wire struct break that
    // rule, its caller still gets a 400 rather than a panic.
    serde_json::from_value(value)
        .map_err(|e| ValidationError::invalid_json(format!("the body does not fit: {e}")))
}

/// The required time field `name`: an RFC 3339 time with an offset, or a date (UTC midnight).
///
/// # Errors
/// `missing_field` or `invalid_field` naming `name`.
pub fn required_time(
    field: Field<String>,
    name: &str,
) -> Result<chrono::DateTime<chrono::Utc>, ValidationError> {
    let text = field.required(name, || {
        ValidationError::invalid(name, "must be an RFC 3339 time or a date")
    })?;
    parse_time_bound(&text).ok_or_else(|| {
        ValidationError::invalid(
            name,
            "must be an RFC 3339 time with an offset, or a date (UTC midnight)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        name: Field<String>,
        #[serde(default)]
        duration_ms: Field<u64>,
    }

    impl WireBody for Body {
        const FIELDS: &'static [&'static str] = &["name", "durationMs"];
    }

    #[test]
    fn fields_record_absent_null_given_and_wrong_type_without_failing() {
        let body: Body = parse_body(br#"{"name": null, "durationMs": "5"}"#).unwrap();
        assert_eq!(body.name, Field::Absent);
        assert_eq!(body.duration_ms, Field::WrongType(Value::from("5")));
        let body: Body = parse_body(br#"{"name": "a", "durationMs": 5}"#).unwrap();
        assert_eq!(
            (body.name, body.duration_ms),
            (Field::Given("a".into()), Field::Given(5))
        );
        let body: Body = parse_body(br#"{"durationMs": 1.5}"#).unwrap();
        assert!(matches!(body.duration_ms, Field::WrongType(_)));
    }

    #[test]
    fn an_unknown_key_is_named_and_non_objects_are_invalid_json() {
        let e = parse_body::<Body>(br#"{"name": "a", "na`me, expected": 1}"#).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.field.as_deref()),
            ("unknown_field", Some("na`me, expected"))
        );
        let e = parse_body::<Body>(br#"{"durationMS": 1}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("durationMS"));
        for raw in [&b"{"[..], b"[]", b"\"a\""] {
            assert_eq!(
                parse_body::<Body>(raw).unwrap_err().code.as_str(),
                "invalid_json"
            );
        }
    }
}
