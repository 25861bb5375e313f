//! `CloudEvent`: a CloudEvents 1.0 event (SPEC §1), turned into an [`Envelope`] by the envelope's own rules.
//!
//! # Format
//!
//! Structured mode (the JSON event format), as an HTTP body or a stream entry's `cloudevent` field:
//!
//! ```json
//! {"specversion": "1.0", "id": "e-1", "type": "billing.invoice.paid", "source": "/billing/api",
//!  "time": "2026-11-22T10:00:00Z", "subject": "inv-7", "datacontenttype": "application/json",
//!  "data": {"amount": 42}, "correlationid": "c-1", "traceparent": "00-…"}
//! ```
//!
//! Binary mode (HTTP): the attributes are `ce-<name>` headers (percent-decoded), `Content-Type` is
//! `datacontenttype` and the body is the data; see [`CloudEvent::binary`].
//!
//! # Mapping
//!
//! `id`→`id`, `type`→`type`, `source`→`source`, `time`→`occurredAt`, `data`→`payload`,
//! `correlationid`→`correlationId`, `causationid`→`causationId`. Every other attribute (`specversion`, `subject`,
//! `datacontenttype`, `dataschema`, extensions such as `traceparent`) goes to `metadata.cloudEvents`, so every
//! event that came in as a CloudEvent carries `metadata.cloudEvents.specversion` and can be written back out as
//! one.
//!
//! Data that is not JSON is kept as text: `data_base64` (structured) and a binary-mode body whose content type is
//! neither JSON nor `text/*` become a `payload` string holding the base64 text, with
//! `metadata.cloudEvents.data_base64: true` saying so (an attribute name can never hold `_`, so the marker cannot
//! collide with an extension). Herald stores JSON; refusing binary data would make Herald useless to publishers
//! that send protobuf or images, and decoding it would lose it.
//!
//! # Why not the `cloudevents-sdk` crate
//!
//! Its structured-mode decoder reports errors as serde message text ("missing field `id`"), while SPEC needs a
//! code and the attribute named, so every rule would be checked here first anyway; it refuses object data under a
//! non-JSON `datacontenttype` and extension values other than string, integer and boolean with the same
//! untyped errors; and its actix binding turns on actix-web's default features (brotli, zstd-sys, cookies, h2),
//! which Herald keeps off. What is left for it to do is the mapping below, which is the part Herald must own.
//!
//! Parsing builds envelope JSON and hands it to [`Envelope::parse`], so ids, types, sources, times, sizes and
//! correlation ids follow exactly one set of rules; only the names in its errors are translated back to the
//! CloudEvents attribute (or, in binary mode, the header) the publisher wrote.

mod binary;
pub use binary::BINARY_HEADER_PREFIX;
#[cfg(test)]
mod tests;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use herald_core::EventId;
use herald_core::{Envelope, ParseContext};
use herald_core::{ErrorCode, ValidationError};

/// The only `specversion` Herald reads.
pub const CLOUD_EVENTS_SPEC_VERSION: &str = "1.0";

/// The key under `metadata` that holds the attributes an envelope has no field for.
pub const CLOUD_EVENTS_METADATA_KEY: &str = "cloudEvents";

/// The marker in `metadata.cloudEvents` saying that `payload` is the base64 text of binary data.
pub const DATA_BASE64_MARKER: &str = "data_base64";

/// Attributes that become envelope fields, with the envelope field each becomes.
const MAPPED: [(&str, &str); 7] = [
    ("id", "id"),
    ("type", "type"),
    ("source", "source"),
    ("time", "occurredAt"),
    ("data", "payload"),
    ("correlationid", "correlationId"),
    ("causationid", "causationId"),
];

/// Attributes CloudEvents requires, in the order they are checked.
const REQUIRED: [&str; 4] = ["specversion", "id", "type", "source"];

/// Optional context attributes that CloudEvents defines as non-empty strings.
const OPTIONAL_STRINGS: [&str; 3] = ["subject", "datacontenttype", "dataschema"];

/// How a CloudEvent arrived; it decides how errors name what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudEventMode {
    /// A JSON object (HTTP structured or batch mode, the stream's `cloudevent` field): errors name the attribute.
    Structured,
    /// HTTP binary mode: errors name the `ce-*` header, or the body for the data.
    Binary,
}

/// A CloudEvent as received: its attributes and data as one JSON object, not yet checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudEvent {
    members: Map<String, Value>,
    mode: CloudEventMode,
}

impl CloudEvent {
    /// A structured-mode CloudEvent.
    ///
    /// # Errors
    /// `invalid_json` when `value` is not a JSON object.
    pub fn structured(value: Value) -> Result<CloudEvent, ValidationError> {
        match value {
            Value::Object(members) => Ok(CloudEvent {
                members,
                mode: CloudEventMode::Structured,
            }),
            other => Err(ValidationError::invalid_json(format!(
                "a CloudEvent must be a JSON object (got {})",
                describe(&other)
            ))),
        }
    }

    /// [`CloudEvent::parse`] of a structured-mode CloudEvent given as JSON text (a stream entry's `cloudevent`).
    ///
    /// # Errors
    /// `invalid_json` when `bytes` is not a JSON object; otherwise as [`CloudEvent::parse`].
    pub fn parse_slice(
        bytes: &[u8],
        ctx: &ParseContext,
        fallback_id: impl FnOnce() -> EventId,
    ) -> Result<Envelope, ValidationError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            ValidationError::invalid_json(format!("the CloudEvent is not valid JSON: {e}"))
        })?;
        CloudEvent::structured(value)?.parse(ctx, fallback_id)
    }

    /// Checks the CloudEvents rules, maps the event to an envelope and validates that with [`Envelope::parse`].
    ///
    /// Rules, in this order:
    /// - attribute names are lowercase ASCII letters and digits (`data` and `data_base64` aside) (`unknown_field`,
    ///   naming the first in sorted order, so `correlationId` never lands silently in metadata);
    /// - `specversion`, `id`, `type` and `source` are present (`missing_field`) and `specversion` is `1.0`
    ///   (`invalid_field`);
    /// - `data` and `data_base64` are not both present; `data_base64` is a base64 string (`invalid_field`);
    /// - `subject`, `datacontenttype` and `dataschema` are non-empty strings, and extension values are strings,
    ///   numbers or booleans, as the CloudEvents type system allows (`invalid_field`); `null` means absent;
    /// - then every rule of [`Envelope::parse`], whose errors name the CloudEvents attribute.
    ///
    /// `fallback_id` is only there for [`Envelope::parse`]: an `id` is required, so it is never called.
    ///
    /// # Errors
    /// The first rule broken, naming the attribute (structured) or header (binary).
    pub fn parse(
        self,
        ctx: &ParseContext,
        fallback_id: impl FnOnce() -> EventId,
    ) -> Result<Envelope, ValidationError> {
        let mode = self.mode;
        let envelope = self.into_envelope_json()?;
        Envelope::parse(envelope, ctx, fallback_id).map_err(|e| rename_error(e, mode))
    }

    /// The envelope JSON of this event, after the CloudEvents-only rules.
    fn into_envelope_json(self) -> Result<Value, ValidationError> {
        let mode = self.mode;
        let mut members = self.members;
        members.retain(|_, value| !value.is_null());
        if let Some(bad) = members.keys().filter(|k| !is_attribute_name(k)).min() {
            return Err(error(
                mode,
                ErrorCode::UnknownField,
                bad,
                "is not a CloudEvents attribute: attribute names are lowercase letters and digits \
                 (`correlationid`, not `correlationId`)",
            ));
        }
        for attribute in REQUIRED {
            if !members.contains_key(attribute) {
                return Err(error(
                    mode,
                    ErrorCode::MissingField,
                    attribute,
                    "is required",
                ));
            }
        }
        if members["specversion"] != CLOUD_EVENTS_SPEC_VERSION {
            return Err(error(
                mode,
                ErrorCode::InvalidField,
                "specversion",
                format_args!(
                    "must be \"{CLOUD_EVENTS_SPEC_VERSION}\" (got {})",
                    members["specversion"]
                ),
            ));
        }
        let base64_data = take_data_base64(&mut members, mode)?;
        check_context_values(&members, mode)?;

        let mut envelope = Map::new();
        for (attribute, field) in MAPPED {
            if let Some(value) = members.remove(attribute) {
                envelope.insert(field.to_owned(), value);
            }
        }
        if let Some(text) = base64_data {
            envelope.insert("payload".to_owned(), Value::String(text));
            members.insert(DATA_BASE64_MARKER.to_owned(), Value::Bool(true));
        }
        let mut metadata = Map::new();
        metadata.insert(CLOUD_EVENTS_METADATA_KEY.to_owned(), Value::Object(members));
        envelope.insert("metadata".to_owned(), Value::Object(metadata));
        Ok(Value::Object(envelope))
    }
}

/// CloudEvents attribute names: `[a-z0-9]+`. `data_base64` is the one member of the JSON format outside that set.
fn is_attribute_name(name: &str) -> bool {
    name == DATA_BASE64_MARKER
        || (!name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// Removes `data_base64` and returns its text, checked to be base64.
fn take_data_base64(
    members: &mut Map<String, Value>,
    mode: CloudEventMode,
) -> Result<Option<String>, ValidationError> {
    let Some(value) = members.remove(DATA_BASE64_MARKER) else {
        return Ok(None);
    };
    if members.contains_key("data") {
        return Err(error(
            mode,
            ErrorCode::InvalidField,
            DATA_BASE64_MARKER,
            "must not be sent together with `data`: a CloudEvent has one of them",
        ));
    }
    match value {
        Value::String(text) if STANDARD.decode(&text).is_ok() => Ok(Some(text)),
        _ => Err(error(
            mode,
            ErrorCode::InvalidField,
            DATA_BASE64_MARKER,
            "must be a base64 string (RFC 4648, with padding)",
        )),
    }
}

/// `subject`, `datacontenttype`, `dataschema` and the extensions, whose values stay as sent in metadata.
fn check_context_values(
    members: &Map<String, Value>,
    mode: CloudEventMode,
) -> Result<(), ValidationError> {
    for (name, value) in members {
        if name == "data" || MAPPED.iter().any(|(attribute, _)| attribute == name) {
            continue;
        }
        let fits = if OPTIONAL_STRINGS.contains(&name.as_str()) {
            value.as_str().is_some_and(|s| !s.is_empty())
        } else {
            matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
        };
        if !fits {
            let rule = if OPTIONAL_STRINGS.contains(&name.as_str()) {
                format!("must be a non-empty string (got {})", describe(value))
            } else {
                format!(
                    "must be a string, number or boolean, as CloudEvents attributes are (got {})",
                    describe(value)
                )
            };
            return Err(error(mode, ErrorCode::InvalidField, name, rule));
        }
    }
    Ok(())
}

/// What the publisher wrote for `attribute`: the attribute itself, or in binary mode its header (the body for
/// the data).
fn wire_name(mode: CloudEventMode, attribute: &str) -> (String, String) {
    match (mode, attribute) {
        (CloudEventMode::Structured, _) => (
            attribute.to_owned(),
            format!("CloudEvents attribute `{attribute}`"),
        ),
        (CloudEventMode::Binary, "data" | DATA_BASE64_MARKER) => (
            "body".to_owned(),
            "the body (the CloudEvent's data)".to_owned(),
        ),
        (CloudEventMode::Binary, _) => {
            let header = format!("ce-{attribute}");
            let phrase = format!("header `{header}`");
            (header, phrase)
        }
    }
}

fn error(
    mode: CloudEventMode,
    code: ErrorCode,
    attribute: &str,
    rule: impl std::fmt::Display,
) -> ValidationError {
    let (field, phrase) = wire_name(mode, attribute);
    ValidationError::new(code, Some(field), format!("{phrase} {rule}"))
}

/// An [`Envelope::parse`] error about the envelope built from a CloudEvent, renamed to what the publisher sent:
/// `occurredAt` becomes `time` (or `ce-time`), `payload` becomes `data` (or the body), and so on.
fn rename_error(e: ValidationError, mode: CloudEventMode) -> ValidationError {
    let Some(field) = e.field.as_deref() else {
        return e;
    };
    let quoted = format!("`{field}`");
    let (name, phrase) = match MAPPED.iter().find(|(_, f)| *f == field) {
        Some((attribute, _)) => wire_name(mode, attribute),
        None if field == "metadata" => (
            format!("metadata.{CLOUD_EVENTS_METADATA_KEY}"),
            "the CloudEvents attributes kept in `metadata.cloudEvents`".to_owned(),
        ),
        None => return e,
    };
    let message = match e.message.strip_prefix(&quoted) {
        Some(rule) => format!("{phrase}{rule}"),
        None => format!("{phrase}: {}", e.message),
    };
    ValidationError::new(e.code, Some(name), message)
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
