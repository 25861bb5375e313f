//! Request bodies as typed wire structs (STYLE §3.2): a body is read into a `#[derive(Deserialize)]` struct with
//! `deny_unknown_fields`, then converted into domain values with `TryFrom`, so handlers never walk a
//! `serde_json::Value` field by field.
//!
//! SPEC answers each bad field with its own code and `details.field` (`missing_field`, `invalid_field`,
//! `unknown_field`), which serde's first-error-wins does not tell apart. So every field of a wire struct is a
//! [`Field`], which never fails to deserialize: it records absent, given, or given with the wrong JSON type, and
//! the `TryFrom` decides the code. The only error serde itself raises is then an unknown field, read back as a
//! typed [`ValidationError`] by [`parse_body`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::domain::ValidationError;

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

/// Reads `body` as the wire struct `W` (whose fields are all [`Field`]s with `#[serde(default)]`).
///
/// # Errors
/// `invalid_json` when the body is not JSON or not an object; `unknown_field` naming the first key `W` does not
/// define.
pub fn parse_body<W: DeserializeOwned>(body: &[u8]) -> Result<W, ValidationError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ValidationError::invalid_json(format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ValidationError::invalid_json(
            "the body must be a JSON object",
        ));
    }
    serde_json::from_value(value).map_err(|e| unknown_field(&e))
}

/// The `unknown_field` error of serde's `deny_unknown_fields` message (``unknown field `x`, expected …``), the
/// only error a struct of [`Field`]s can raise.
fn unknown_field(e: &serde_json::Error) -> ValidationError {
    let message = e.to_string();
    let field = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once("`, expected"))
        .map_or(message.as_str(), |(field, _)| field);
    ValidationError::unknown(field)
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
