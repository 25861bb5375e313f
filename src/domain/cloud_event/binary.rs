//! HTTP binary mode: a CloudEvent whose attributes travel as `ce-*` headers and whose data is the body.
//!
//! # Format
//!
//! ```text
//! POST /events
//! ce-specversion: 1.0
//! ce-id: e-1
//! ce-type: billing.invoice.paid
//! ce-source: /billing/api
//! content-type: application/json
//!
//! {"amount": 42}
//! ```
//!
//! Header values are percent-decoded (the CloudEvents HTTP binding encodes what a header cannot carry).
//! `Content-Type` is `datacontenttype`. The body becomes the data:
//! - empty: no data (the payload defaults to `{}`);
//! - `application/json`, `*+json` or no content type: parsed JSON (`invalid_json` naming `body` when it is not);
//! - `text/*`: the text, which must be UTF-8;
//! - anything else: base64 text, as `data_base64` in structured mode (see the module above).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::{CloudEvent, CloudEventMode, DATA_BASE64_MARKER, is_attribute_name};
use herald_core::{ErrorCode, ValidationError};

/// Header names carrying CloudEvents attributes start with this (lowercase, as HTTP libraries give names).
pub const BINARY_HEADER_PREFIX: &str = "ce-";

impl CloudEvent {
    /// Whether a request with these header names is a binary-mode CloudEvent: it has a `ce-*` header.
    pub fn is_binary<'a>(header_names: impl IntoIterator<Item = &'a str>) -> bool {
        header_names
            .into_iter()
            .any(|name| has_prefix_ignore_case(name, BINARY_HEADER_PREFIX))
    }

    /// A binary-mode CloudEvent from the request's headers (every header; those not `ce-*` are ignored),
    /// its `Content-Type` and its body.
    ///
    /// # Errors
    /// `unknown_field` for a `ce-*` header that names no valid attribute (or `ce-datacontenttype`, which binary
    /// mode carries in `Content-Type`); `invalid_field` for a repeated header or one that is not UTF-8 once
    /// percent-decoded, and for a `text/*` body that is not UTF-8; `invalid_json` naming `body` for a JSON body
    /// that does not parse. Then [`CloudEvent::parse`] checks the rest, naming headers.
    pub fn binary<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<CloudEvent, ValidationError> {
        let mut members = Map::new();
        for (name, raw) in headers {
            if !has_prefix_ignore_case(name, BINARY_HEADER_PREFIX) {
                continue;
            }
            let header = name.to_ascii_lowercase();
            let attribute = &header[BINARY_HEADER_PREFIX.len()..];
            if !is_attribute_name(attribute)
                || attribute == DATA_BASE64_MARKER
                || attribute == "data"
                || attribute == "datacontenttype"
            {
                let message = format!(
                    "header `{header}` names no CloudEvents attribute usable in binary mode: attribute names are \
                     lowercase letters and digits, and the data and its content type travel as the body and \
                     `Content-Type`"
                );
                return Err(ValidationError::new(
                    ErrorCode::UnknownField,
                    Some(header),
                    message,
                ));
            }
            let value = percent_encoding::percent_decode(raw)
                .decode_utf8()
                .map_err(|_| {
                    ValidationError::invalid(&header, "must be UTF-8 once percent-decoded")
                })?
                .into_owned();
            if members.contains_key(attribute) {
                return Err(ValidationError::invalid(&header, "must appear only once"));
            }
            members.insert(attribute.to_owned(), Value::String(value));
        }
        if let Some(content_type) = content_type {
            members.insert(
                "datacontenttype".to_owned(),
                Value::String(content_type.to_owned()),
            );
        }
        if let Some((key, data)) = data_of(content_type, body)? {
            members.insert(key.to_owned(), data);
        }
        Ok(CloudEvent {
            members,
            mode: CloudEventMode::Binary,
        })
    }
}

/// The member the body becomes (`data` or `data_base64`), or `None` for an empty body.
fn data_of(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Option<(&'static str, Value)>, ValidationError> {
    if body.is_empty() {
        return Ok(None);
    }
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or("application/json")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        let data = serde_json::from_slice(body).map_err(|e| {
            ValidationError::new(
                ErrorCode::InvalidJson,
                Some("body".to_owned()),
                format!("the body is {essence} but not valid JSON: {e}"),
            )
        })?;
        Ok(Some(("data", data)))
    } else if essence.starts_with("text/") {
        let text = std::str::from_utf8(body).map_err(|_| {
            ValidationError::invalid("body", format_args!("is {essence} but not UTF-8"))
        })?;
        Ok(Some(("data", Value::String(text.to_owned()))))
    } else {
        Ok(Some((
            DATA_BASE64_MARKER,
            Value::String(STANDARD.encode(body)),
        )))
    }
}

fn has_prefix_ignore_case(name: &str, prefix: &str) -> bool {
    name.len() > prefix.len()
        && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}
