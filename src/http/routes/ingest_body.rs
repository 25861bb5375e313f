//! What a `POST /events` body holds, chosen by its content type (SPEC §1, §2.2), and its decoding into items that
//! the route validates one by one with the envelope's rules.
//!
//! | request | format | items |
//! |---|---|---|
//! | `application/cloudevents+json` | one structured CloudEvent | 1 |
//! | `application/cloudevents-batch+json` | a JSON array of structured CloudEvents | 1–500 |
//! | any `ce-*` header (and not the two above) | one binary-mode CloudEvent; any content type | 1 |
//! | `application/json`, `application/*+json` | one envelope, or a JSON array of 1–500 | 1–500 |
//!
//! Anything else is `415`. Decoding only splits the body; every rule is checked by [`Item::parse`], so an
//! envelope and a CloudEvent meet the same validation.

use actix_web::{HttpRequest, http::header};
use serde_json::Value;

use crate::domain::{CloudEvent, Envelope, EventId, ParseContext, ValidationError};
use crate::http::ApiError;

/// Most items in one request.
pub const MAX_BATCH: usize = 500;

/// `Content-Type` of one structured-mode CloudEvent.
pub const CLOUD_EVENT_CONTENT_TYPE: &str = "application/cloudevents+json";

/// `Content-Type` of a batch of structured-mode CloudEvents.
pub const CLOUD_EVENT_BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// How the body is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// One envelope or an array of envelopes.
    Envelopes,
    /// One structured-mode CloudEvent.
    CloudEvent,
    /// An array of structured-mode CloudEvents.
    CloudEventBatch,
    /// A binary-mode CloudEvent: `ce-*` headers, the body is the data.
    CloudEventBinary,
}

impl BodyFormat {
    /// The format of `req`, from its `Content-Type` and `ce-*` headers.
    ///
    /// # Errors
    /// `415 unsupported_media_type` for a content type Herald does not read.
    pub fn of(req: &HttpRequest) -> Result<BodyFormat, ApiError> {
        let content_type = content_type(req).unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence == CLOUD_EVENT_CONTENT_TYPE {
            Ok(BodyFormat::CloudEvent)
        } else if essence == CLOUD_EVENT_BATCH_CONTENT_TYPE {
            Ok(BodyFormat::CloudEventBatch)
        } else if essence.starts_with("application/cloudevents") {
            Err(ApiError::unsupported_media_type(format!(
                "Herald reads the CloudEvents JSON format only: send `{CLOUD_EVENT_CONTENT_TYPE}` or \
                 `{CLOUD_EVENT_BATCH_CONTENT_TYPE}` (got {content_type:?})"
            )))
        } else if CloudEvent::is_binary(req.headers().keys().map(|name| name.as_str())) {
            Ok(BodyFormat::CloudEventBinary)
        } else if essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
        {
            Ok(BodyFormat::Envelopes)
        } else {
            Err(ApiError::unsupported_media_type(format!(
                "POST /events takes JSON: send `Content-Type: application/json` (got {content_type:?}), a \
                 CloudEvent as `{CLOUD_EVENT_CONTENT_TYPE}`, or a binary-mode CloudEvent with `ce-*` headers"
            )))
        }
    }
}

/// One item of a request, not yet validated.
#[derive(Debug)]
pub enum Item {
    /// An envelope as sent.
    Envelope(Value),
    /// A CloudEvent as sent.
    CloudEvent(CloudEvent),
}

impl Item {
    /// Validates the item with the envelope's rules (a CloudEvent is mapped first, see [`CloudEvent::parse`]).
    ///
    /// # Errors
    /// The first rule broken, naming the field, attribute or header.
    pub fn parse(
        self,
        ctx: &ParseContext,
        fallback_id: impl FnOnce() -> EventId,
    ) -> Result<Envelope, ValidationError> {
        match self {
            Item::Envelope(value) => Envelope::parse(value, ctx, fallback_id),
            Item::CloudEvent(event) => event.parse(ctx, fallback_id),
        }
    }
}

/// A decoded body: its items (or why an item cannot even be read), and whether it was a batch, whose answer lists
/// each item rather than failing on the first.
#[derive(Debug)]
pub struct Decoded {
    /// The items in body order.
    pub items: Vec<Result<Item, ValidationError>>,
    /// An array body (envelopes or `cloudevents-batch`).
    pub is_batch: bool,
}

/// Splits `body`, read from `req`, into items.
///
/// # Errors
/// `400 invalid_json` when a JSON body does not parse, or a CloudEvents batch is not an array;
/// `400 invalid_parameter` naming `body` for a batch of 0 or more than [`MAX_BATCH`] items.
pub fn decode(format: BodyFormat, req: &HttpRequest, body: &[u8]) -> Result<Decoded, ApiError> {
    if format == BodyFormat::CloudEventBinary {
        let headers = req
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()));
        let event = CloudEvent::binary(headers, content_type(req), body);
        return Ok(Decoded {
            items: vec![event.map(Item::CloudEvent)],
            is_batch: false,
        });
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::validation(&ValidationError::invalid_json(format!(
            "the body is not valid JSON: {e}"
        )))
    })?;
    let (values, is_batch) = match (format, value) {
        (BodyFormat::CloudEventBatch, Value::Array(items)) => (items, true),
        (BodyFormat::CloudEventBatch, _) => {
            return Err(ApiError::validation(&ValidationError::invalid_json(
                format!(
                    "a `{CLOUD_EVENT_BATCH_CONTENT_TYPE}` body must be a JSON array of CloudEvents"
                ),
            )));
        }
        (BodyFormat::Envelopes, Value::Array(items)) => (items, true),
        (_, single) => (vec![single], false),
    };
    if is_batch && (values.is_empty() || values.len() > MAX_BATCH) {
        let what = if format == BodyFormat::Envelopes {
            "envelopes"
        } else {
            "CloudEvents"
        };
        return Err(ApiError::parameter(
            "body",
            format!(
                "a batch holds 1 to {MAX_BATCH} {what}, got {}",
                values.len()
            ),
        ));
    }
    let items = values
        .into_iter()
        .map(|value| match format {
            BodyFormat::Envelopes => Ok(Item::Envelope(value)),
            _ => CloudEvent::structured(value).map(Item::CloudEvent),
        })
        .collect();
    Ok(Decoded { items, is_batch })
}

fn content_type(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}
