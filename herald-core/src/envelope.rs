//! `Envelope`: one validated event, as every way in (Redis stream, HTTP, SDK) hands it to the pipeline.
//!
//! # Format
//!
//! ```json
//! {"id": "01JD...", "type": "metastore.dataset.created", "source": "metastore.api",
//!  "occurredAt": "2026-11-22T10:00:00.000Z", "payload": {...}, "correlationId": "...", "causationId": "...",
//!  "ttl": 60000, "metadata": {...}}
//! ```
//!
//! Only `type` and `source` are required. The rules are SPEC §1's; [`Envelope::parse`] documents each.
//!
//! Parsing works on a `serde_json::Value` rather than a `deny_unknown_fields` wire struct because SPEC needs
//! distinctions serde derive blurs: `null` means absent, `ttl: 1.0` is not an integer, sizes are measured on the
//! received JSON, and every error must carry its SPEC code and field.

use std::io::Write;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::canonical_json::{compact_json_len, write_canonical};
use super::correlation_id::CorrelationId;
use super::error::{ErrorCode, ValidationError};
use super::event_id::EventId;
use super::event_type::EventType;
use super::source_name::SourceName;
use super::timestamp::{format_timestamp, parse_rfc3339_with_offset, truncate_to_millis};
use super::workflow_context::normalize_workflow_metadata;

/// The default payload limit (256 KiB), overridden by `HERALD_MAX_PAYLOAD_BYTES`.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 262_144;

/// The metadata limit (64 KiB). Fixed, unlike the payload limit: metadata is for routing hints, not data.
pub const MAX_METADATA_BYTES: usize = 65_536;

/// How far ahead of the receiving clock `occurredAt` may be. Beyond this a clock is wrong, and accepting the event
/// would let it sort ahead of everything published in the meantime.
pub const MAX_OCCURRED_AT_AHEAD: TimeDelta = TimeDelta::minutes(5);

/// The top-level keys an envelope may have.
pub const ENVELOPE_FIELDS: [&str; 9] = [
    "id",
    "type",
    "source",
    "occurredAt",
    "payload",
    "correlationId",
    "causationId",
    "ttl",
    "metadata",
];

/// What parsing needs from outside the envelope: the configured payload limit and the receiving clock.
///
/// Passing the clock in (instead of reading it inside) keeps parsing pure and lets tests pin time (STYLE §2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseContext {
    /// The largest payload accepted, in bytes of compact JSON (`HERALD_MAX_PAYLOAD_BYTES`).
    pub max_payload_bytes: usize,
    /// The time of acceptance: the default `occurredAt` and the reference for the 5-minute future limit.
    pub now: DateTime<Utc>,
}

impl ParseContext {
    /// A context with the default payload limit.
    pub fn new(now: DateTime<Utc>) -> ParseContext {
        ParseContext {
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            now,
        }
    }
}

/// A validated event envelope. Every field is already a parsed domain value, so the fields are public.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The event's unique id, given by the publisher or assigned by Herald.
    pub id: EventId,
    /// The namespaced type (`type` on the wire).
    pub event_type: EventType,
    /// The publisher.
    pub source: SourceName,
    /// When the event happened, in UTC, at millisecond precision.
    pub occurred_at: DateTime<Utc>,
    /// The event body: any JSON, `{}` when the publisher sent none.
    pub payload: Value,
    /// Ties together events of one conversation or request.
    pub correlation_id: Option<CorrelationId>,
    /// The id of the event that caused this one.
    pub causation_id: Option<CorrelationId>,
    /// Milliseconds after `occurred_at` past which the event is no longer delivered (`ttl` on the wire); ≥ 1.
    pub ttl_ms: Option<i64>,
    /// Free-form routing hints, with `__workflow` validated and trimmed.
    pub metadata: Option<Map<String, Value>>,
}

/// An [`Envelope`] as it travels (SPEC §1), borrowed from it: see [`Envelope::wire`].
///
/// # Format
/// `{"id", "type", "source", "occurredAt", "payload", "correlationId"?, "causationId"?, "ttl"?, "metadata"?}`; the
/// optional fields only when set.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WireEnvelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    source: &'a str,
    occurred_at: String,
    payload: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    causation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a Map<String, Value>>,
}

impl Envelope {
    /// Validates a JSON envelope against SPEC §1 and converts it to domain types.
    ///
    /// Rules, checked in this order so that the same input always gets the same error:
    /// - the value must be an object (`invalid_json`);
    /// - no key outside [`ENVELOPE_FIELDS`] (`unknown_field`, naming the alphabetically first offender);
    /// - `null` in any field means absent; `type` and `source` are required (`missing_field`);
    /// - string fields must be non-empty strings; `id`, `type`, `source`, `correlationId` and `causationId` follow
    ///   their newtype's rule (`invalid_field`);
    /// - `occurredAt` is RFC 3339 with an offset and at most [`MAX_OCCURRED_AT_AHEAD`] after `ctx.now`
    ///   (`invalid_field`); stored in UTC truncated to milliseconds; default `ctx.now`, truncated;
    /// - `payload` defaults to `{}` and must fit `ctx.max_payload_bytes` as compact JSON (`payload_too_large`);
    /// - `ttl` is a JSON integer ≥ 1 (`1.0` is not an integer) (`invalid_field`);
    /// - `metadata` is an object within [`MAX_METADATA_BYTES`] (`payload_too_large`) whose `__workflow`, if any,
    ///   is valid (see [`crate::WorkflowContext`]).
    ///
    /// `fallback_id` is called only when `id` is absent and everything else is valid, so a rejected envelope never
    /// consumes an id from a generator.
    ///
    /// # Errors
    ///
    /// The first rule broken, as a [`ValidationError`] naming its field.
    pub fn parse(
        value: Value,
        ctx: &ParseContext,
        fallback_id: impl FnOnce() -> EventId,
    ) -> Result<Envelope, ValidationError> {
        let Value::Object(mut fields) = value else {
            return Err(ValidationError::invalid_json(format!(
                "an envelope must be a JSON object (got {})",
                describe(&value)
            )));
        };
        reject_unknown_fields(&fields)?;

        let id = optional_string(&mut fields, "id")?
            .map(EventId::parse)
            .transpose()?;
        let event_type = EventType::parse(required_string(&mut fields, "type")?)?;
        let source = SourceName::parse(required_string(&mut fields, "source")?)?;
        let occurred_at = match optional_string(&mut fields, "occurredAt")? {
            Some(text) => parse_occurred_at(&text, ctx.now)?,
            None => truncate_to_millis(ctx.now),
        };
        let payload = parse_payload(fields.remove("payload"), ctx.max_payload_bytes)?;
        let correlation_id = optional_string(&mut fields, "correlationId")?
            .map(|s| CorrelationId::parse_field(s, "correlationId"))
            .transpose()?;
        let causation_id = optional_string(&mut fields, "causationId")?
            .map(|s| CorrelationId::parse_field(s, "causationId"))
            .transpose()?;
        let ttl_ms = parse_ttl(fields.remove("ttl"))?;
        let metadata = parse_metadata(fields.remove("metadata"))?;

        Ok(Envelope {
            id: id.unwrap_or_else(fallback_id),
            event_type,
            source,
            occurred_at,
            payload,
            correlation_id,
            causation_id,
            ttl_ms,
            metadata,
        })
    }

    /// [`Envelope::parse`] for raw bytes (an HTTP body, a stream entry's `envelope` field).
    ///
    /// # Errors
    ///
    /// `invalid_json` when `bytes` is not JSON, with serde's line and column in the message; otherwise as
    /// [`Envelope::parse`].
    pub fn parse_slice(
        bytes: &[u8],
        ctx: &ParseContext,
        fallback_id: impl FnOnce() -> EventId,
    ) -> Result<Envelope, ValidationError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            ValidationError::invalid_json(format!("the envelope is not valid JSON: {e}"))
        })?;
        Self::parse(value, ctx, fallback_id)
    }

    /// The wire envelope: camelCase keys, `occurredAt` in Herald's timestamp format, optional fields only when set.
    ///
    /// `Envelope::parse(e.to_json(), ..)` gives back `e` (given a `now` no more than 5 minutes before
    /// `occurred_at`), which is what lets the publisher validate, send and have the server accept the same event.
    pub fn to_json(&self) -> Value {
        // unwrap: a struct of strings, numbers and JSON values with string keys always converts to a `Value`.
        serde_json::to_value(self.wire()).expect("the wire envelope is plain JSON")
    }

    /// The wire envelope of [`Envelope::to_json`], borrowed: serializing it writes the same JSON without copying
    /// the payload and metadata first, which matters where every event is written out (the live relay, the
    /// redis-mode `XADD` of an HTTP publish).
    pub fn wire(&self) -> WireEnvelope<'_> {
        WireEnvelope {
            id: self.id.as_str(),
            event_type: self.event_type.as_str(),
            source: self.source.as_str(),
            occurred_at: format_timestamp(self.occurred_at),
            payload: &self.payload,
            correlation_id: self.correlation_id.as_ref().map(CorrelationId::as_str),
            causation_id: self.causation_id.as_ref().map(CorrelationId::as_str),
            ttl: self.ttl_ms,
            metadata: self.metadata.as_ref(),
        }
    }

    /// Hex SHA-256 of the canonical JSON of `{"payload", "source", "type"}`: equal hashes mean a re-send of the same
    /// event (a `duplicate`), different hashes under one id mean an `id_conflict` (SPEC §2.2).
    ///
    /// Canonical means [`canonical_json`](crate::canonical_json()): compact, object keys sorted at every
    /// depth, so key order on the wire does not matter. `id`, `occurredAt`, `metadata` and the rest are excluded: a
    /// retry may legitimately restamp them.
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        // The keys are written in sorted order; the values go through the same canonical writer. Writing into a
        // hasher cannot fail, nor can serializing JSON values, so the result is only the hash.
        let written = (|| {
            hasher.write_all(b"{\"payload\":")?;
            write_canonical(&self.payload, &mut hasher)?;
            hasher.write_all(b",\"source\":")?;
            serde_json::to_writer(&mut hasher, self.source.as_str())?;
            hasher.write_all(b",\"type\":")?;
            serde_json::to_writer(&mut hasher, self.event_type.as_str())?;
            hasher.write_all(b"}")
        })();
        debug_assert!(written.is_ok(), "hashing cannot fail: {written:?}");
        hex::encode(hasher.finalize())
    }

    /// When the event stops being delivered (`occurred_at + ttl`, SPEC §5.8); `None` without a `ttl`, or when the
    /// sum is past the end of representable time, which in practice means never.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        let ttl = TimeDelta::try_milliseconds(self.ttl_ms?)?;
        self.occurred_at.checked_add_signed(ttl)
    }
}

fn reject_unknown_fields(fields: &Map<String, Value>) -> Result<(), ValidationError> {
    let first_unknown = fields
        .keys()
        .filter(|key| !ENVELOPE_FIELDS.contains(&key.as_str()))
        .min();
    match first_unknown {
        None => Ok(()),
        Some(key) => {
            let message = format!(
                "`{key}` is not an envelope field; the fields are {}",
                ENVELOPE_FIELDS.join(", ")
            );
            Err(ValidationError::new(
                ErrorCode::UnknownField,
                Some(key.clone()),
                message,
            ))
        }
    }
}

/// Takes a string field out of `fields`: `None` when absent or `null`.
fn optional_string(
    fields: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<String>, ValidationError> {
    match fields.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => {
            Err(ValidationError::invalid(field, "must not be empty"))
        }
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ValidationError::invalid(
            field,
            format_args!("must be a string (got {})", describe(&other)),
        )),
    }
}

fn required_string(
    fields: &mut Map<String, Value>,
    field: &str,
) -> Result<String, ValidationError> {
    optional_string(fields, field)?.ok_or_else(|| ValidationError::missing(field))
}

fn parse_occurred_at(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ValidationError> {
    const FIELD: &str = "occurredAt";
    let at = parse_rfc3339_with_offset(text).ok_or_else(|| {
        ValidationError::invalid(
            FIELD,
            "must be an RFC 3339 timestamp with an offset, like 2026-11-22T10:00:00.000Z",
        )
    })?;
    if at.signed_duration_since(now) > MAX_OCCURRED_AT_AHEAD {
        return Err(ValidationError::invalid(
            FIELD,
            format_args!(
                "must not be more than 5 minutes ahead of the server clock ({})",
                format_timestamp(now)
            ),
        ));
    }
    // An offset can push 0000-01-01 into year -1, which RFC 3339 cannot write back.
    if at.year() < 0 {
        return Err(ValidationError::invalid(
            FIELD,
            "must not be before 0000-01-01T00:00:00Z",
        ));
    }
    Ok(truncate_to_millis(at))
}

fn parse_payload(raw: Option<Value>, max_bytes: usize) -> Result<Value, ValidationError> {
    let payload = match raw {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(value) => value,
    };
    if compact_json_len(&payload) > max_bytes {
        return Err(ValidationError::too_large("payload", max_bytes));
    }
    Ok(payload)
}

fn parse_ttl(raw: Option<Value>) -> Result<Option<i64>, ValidationError> {
    const RULE: &str =
        "must be a JSON integer number of milliseconds from 1 to 9223372036854775807";
    match raw {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            // `as_i64` is `None` for floats such as `1.0`, so this arm only sees integers.
            Some(ms) if ms >= 1 => Ok(Some(ms)),
            _ => Err(ValidationError::invalid(
                "ttl",
                format_args!("{RULE} (got {n})"),
            )),
        },
        Some(other) => Err(ValidationError::invalid(
            "ttl",
            format_args!("{RULE} (got {})", describe(&other)),
        )),
    }
}

fn parse_metadata(raw: Option<Value>) -> Result<Option<Map<String, Value>>, ValidationError> {
    match raw {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(mut metadata)) => {
            if compact_json_len(&metadata) > MAX_METADATA_BYTES {
                return Err(ValidationError::too_large("metadata", MAX_METADATA_BYTES));
            }
            normalize_workflow_metadata(&mut metadata)?;
            Ok(Some(metadata))
        }
        Some(other) => Err(ValidationError::invalid(
            "metadata",
            format_args!("must be a JSON object (got {})", describe(&other)),
        )),
    }
}

/// Names a JSON value's kind for error messages.
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

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire_tests;
