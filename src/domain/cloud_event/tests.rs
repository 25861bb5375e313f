//! Unit tests for the CloudEvents mapping: one per rule, structured and binary.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::*;
use crate::domain::parse_rfc3339_with_offset;

fn now() -> DateTime<Utc> {
    parse_rfc3339_with_offset("2026-11-22T10:00:00.000Z").expect("valid")
}

fn ctx() -> ParseContext {
    ParseContext::new(now())
}

fn never() -> EventId {
    panic!("a CloudEvent has an id, so no fallback id is drawn")
}

fn minimal() -> Value {
    json!({"specversion": "1.0", "id": "e-1", "type": "billing.invoice.paid", "source": "/billing/api"})
}

fn with(attribute: &str, value: Value) -> Value {
    let mut event = minimal();
    event[attribute] = value;
    event
}

fn without(attribute: &str) -> Value {
    let mut event = minimal();
    event.as_object_mut().unwrap().remove(attribute);
    event
}

fn parse(value: Value) -> Result<Envelope, ValidationError> {
    CloudEvent::structured(value)?.parse(&ctx(), never)
}

fn error_of(value: Value) -> (ErrorCode, String, String) {
    let e = parse(value).expect_err("rejected");
    (e.code, e.field.clone().unwrap_or_default(), e.message)
}

fn binary(
    headers: &[(&str, &str)],
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Envelope, ValidationError> {
    let headers = headers.iter().map(|(n, v)| (*n, v.as_bytes()));
    CloudEvent::binary(headers, content_type, body)?.parse(&ctx(), never)
}

const BINARY_MINIMAL: [(&str, &str); 4] = [
    ("ce-specversion", "1.0"),
    ("ce-id", "e-1"),
    ("ce-type", "billing.invoice.paid"),
    ("ce-source", "/billing/api"),
];

#[test]
fn every_mapped_attribute_becomes_its_envelope_field_and_the_rest_goes_to_metadata() {
    let event = json!({
        "specversion": "1.0", "id": "e-1", "type": "billing.invoice.paid", "source": "/billing/api",
        "time": "2026-11-22T11:00:00+02:00", "data": {"amount": 42}, "correlationid": "c-1",
        "causationid": "e-0", "subject": "inv-7", "datacontenttype": "application/json",
        "dataschema": "https://schemas.example/invoice", "traceparent": "00-abc-def-01", "priority": 3,
        "urgent": true
    });

    let envelope = parse(event).expect("valid");

    assert_eq!(envelope.id.as_str(), "e-1");
    assert_eq!(envelope.event_type.as_str(), "billing.invoice.paid");
    assert_eq!(envelope.source.as_str(), "/billing/api");
    assert_eq!(
        envelope.occurred_at,
        parse_rfc3339_with_offset("2026-11-22T09:00:00Z").unwrap()
    );
    assert_eq!(envelope.payload, json!({"amount": 42}));
    assert_eq!(envelope.correlation_id.unwrap().as_str(), "c-1");
    assert_eq!(envelope.causation_id.unwrap().as_str(), "e-0");
    assert_eq!(
        Value::Object(envelope.metadata.unwrap()),
        json!({"cloudEvents": {
            "specversion": "1.0", "subject": "inv-7", "datacontenttype": "application/json",
            "dataschema": "https://schemas.example/invoice", "traceparent": "00-abc-def-01", "priority": 3,
            "urgent": true
        }})
    );
}

#[test]
fn a_minimal_event_gets_the_envelope_defaults_and_records_its_specversion() {
    let envelope = parse(minimal()).expect("valid");
    assert_eq!(envelope.payload, json!({}));
    assert_eq!(envelope.occurred_at, now());
    assert_eq!(
        Value::Object(envelope.metadata.unwrap()),
        json!({"cloudEvents": {"specversion": "1.0"}})
    );
}

#[test]
fn null_attributes_mean_absent() {
    let envelope = parse(with("subject", Value::Null)).expect("valid");
    assert_eq!(
        Value::Object(envelope.metadata.unwrap()),
        json!({"cloudEvents": {"specversion": "1.0"}})
    );
    let (code, field, _) = error_of(with("id", Value::Null));
    assert_eq!((code, field.as_str()), (ErrorCode::MissingField, "id"));
}

#[test]
fn each_required_attribute_missing_is_a_missing_field_naming_it() {
    for attribute in ["specversion", "id", "type", "source"] {
        let (code, field, message) = error_of(without(attribute));
        assert_eq!(code, ErrorCode::MissingField, "{attribute}");
        assert_eq!(field, attribute);
        assert_eq!(
            message,
            format!("CloudEvents attribute `{attribute}` is required")
        );
    }
}

#[test]
fn a_specversion_other_than_1_0_is_invalid_naming_specversion() {
    for version in [json!("0.3"), json!("1.0.2"), json!(1.0)] {
        let (code, field, message) = error_of(with("specversion", version.clone()));
        assert_eq!(
            (code, field.as_str()),
            (ErrorCode::InvalidField, "specversion"),
            "{version}"
        );
        assert!(
            message.contains("`specversion` must be \"1.0\""),
            "{message}"
        );
    }
}

#[test]
fn a_type_or_source_outside_heralds_charset_gets_the_envelope_code_naming_the_attribute() {
    for (attribute, value) in [
        ("type", "com.example object.created"),
        ("type", "nodots"),
        ("source", "https://example.com/a b"),
        ("source", "urn:x?y"),
        ("id", "has space"),
    ] {
        let (code, field, message) = error_of(with(attribute, json!(value)));
        assert_eq!(code, ErrorCode::InvalidField, "{attribute}={value}");
        assert_eq!(field, attribute);
        assert!(
            message.starts_with(&format!("CloudEvents attribute `{attribute}` ")),
            "{message}"
        );
    }
}

#[test]
fn envelope_rule_errors_are_renamed_to_the_cloud_events_attribute() {
    let cases = [
        (
            with("time", json!("yesterday")),
            ErrorCode::InvalidField,
            "time",
        ),
        (
            with("time", json!("2026-11-22T10:06:00Z")),
            ErrorCode::InvalidField,
            "time",
        ),
        (
            with("correlationid", json!(7)),
            ErrorCode::InvalidField,
            "correlationid",
        ),
        (
            with("causationid", json!("x".repeat(257))),
            ErrorCode::InvalidField,
            "causationid",
        ),
        (
            with("data", json!("x".repeat(262_144))),
            ErrorCode::PayloadTooLarge,
            "data",
        ),
        (
            with("bigext", json!("x".repeat(70_000))),
            ErrorCode::PayloadTooLarge,
            "metadata.cloudEvents",
        ),
    ];
    for (event, expected_code, expected_field) in cases {
        let (code, field, message) = error_of(event);
        assert_eq!(
            (code, field.as_str()),
            (expected_code, expected_field),
            "{message}"
        );
        assert!(
            !message.contains("occurredAt") && !message.contains("`payload`"),
            "{message}"
        );
    }
}

#[test]
fn attribute_names_outside_lowercase_letters_and_digits_are_unknown_fields() {
    for name in ["correlationId", "trace_id", "x-y", ""] {
        let (code, field, _) = error_of(with(name, json!("v")));
        assert_eq!((code, field.as_str()), (ErrorCode::UnknownField, name));
    }
}

#[test]
fn context_attributes_and_extensions_must_have_cloud_events_types() {
    for (attribute, value) in [
        ("subject", json!("")),
        ("subject", json!(5)),
        ("datacontenttype", json!(true)),
        ("dataschema", json!({})),
        ("myext", json!({"a": 1})),
        ("myext", json!([1])),
    ] {
        let (code, field, _) = error_of(with(attribute, value.clone()));
        assert_eq!(
            (code, field.as_str()),
            (ErrorCode::InvalidField, attribute),
            "{value}"
        );
    }
}

#[test]
fn data_base64_becomes_a_base64_string_payload_marked_in_metadata() {
    let envelope = parse(with("data_base64", json!("aGVsbG8="))).expect("valid");
    assert_eq!(envelope.payload, json!("aGVsbG8="));
    assert_eq!(
        envelope.metadata.unwrap()["cloudEvents"],
        json!({"specversion": "1.0", "data_base64": true})
    );
}

#[test]
fn data_base64_must_be_base64_and_alone() {
    for event in [
        with("data_base64", json!("not base64!")),
        with("data_base64", json!(12)),
        {
            let mut both = with("data_base64", json!("aGVsbG8="));
            both["data"] = json!({});
            both
        },
    ] {
        let (code, field, _) = error_of(event);
        assert_eq!(
            (code, field.as_str()),
            (ErrorCode::InvalidField, "data_base64")
        );
    }
}

#[test]
fn a_structured_event_must_be_an_object() {
    for value in [json!([]), json!("e"), json!(1)] {
        assert_eq!(
            CloudEvent::structured(value).unwrap_err().code,
            ErrorCode::InvalidJson
        );
    }
    let e = CloudEvent::parse_slice(b"{nope", &ctx(), never).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidJson);
}

#[test]
fn binary_headers_map_like_structured_attributes_and_json_bodies_are_parsed() {
    let mut headers = BINARY_MINIMAL.to_vec();
    headers.extend([
        ("Ce-Time", "2026-11-22T09:59:00Z"),
        ("ce-correlationid", "c%2F1"),
        ("ce-traceparent", "00-abc"),
        ("accept", "*/*"),
    ]);

    let envelope = binary(
        &headers,
        Some("application/json; charset=utf-8"),
        br#"{"amount": 42}"#,
    )
    .expect("valid");

    assert_eq!(envelope.id.as_str(), "e-1");
    assert_eq!(envelope.payload, json!({"amount": 42}));
    assert_eq!(
        envelope.correlation_id.unwrap().as_str(),
        "c/1",
        "percent-decoded"
    );
    assert_eq!(
        envelope.metadata.unwrap()["cloudEvents"],
        json!({"specversion": "1.0", "datacontenttype": "application/json; charset=utf-8",
               "traceparent": "00-abc"})
    );
}

#[test]
fn binary_bodies_become_json_text_or_base64_by_content_type() {
    let text = binary(&BINARY_MINIMAL, Some("text/plain"), b"hello").unwrap();
    assert_eq!(text.payload, json!("hello"));
    let bytes = binary(
        &BINARY_MINIMAL,
        Some("application/octet-stream"),
        &[0, 159, 146],
    )
    .unwrap();
    assert_eq!(bytes.payload, json!(STANDARD.encode([0u8, 159, 146])));
    assert_eq!(
        bytes.metadata.unwrap()["cloudEvents"]["data_base64"],
        json!(true)
    );
    let empty = binary(&BINARY_MINIMAL, None, b"").unwrap();
    assert_eq!(empty.payload, json!({}));
    let untyped = binary(&BINARY_MINIMAL, None, b"[1]").unwrap();
    assert_eq!(untyped.payload, json!([1]));
}

#[test]
fn binary_errors_name_the_header_or_the_body() {
    for missing in ["ce-specversion", "ce-id", "ce-type", "ce-source"] {
        let headers: Vec<_> = BINARY_MINIMAL
            .iter()
            .copied()
            .filter(|(name, _)| *name != missing)
            .collect();
        let e = binary(&headers, Some("application/json"), b"{}").unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::MissingField, Some(missing))
        );
        assert_eq!(e.message, format!("header `{missing}` is required"));
    }
    let mut bad_type = BINARY_MINIMAL.to_vec();
    bad_type[2] = ("ce-type", "nodots");
    let e = binary(&bad_type, None, b"").unwrap_err();
    assert_eq!(
        (e.code, e.field.as_deref()),
        (ErrorCode::InvalidField, Some("ce-type"))
    );
    let mut old = BINARY_MINIMAL.to_vec();
    old[0] = ("ce-specversion", "0.3");
    let e = binary(&old, None, b"").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("ce-specversion"));

    let e = binary(&BINARY_MINIMAL, Some("application/json"), b"{nope").unwrap_err();
    assert_eq!(
        (e.code, e.field.as_deref()),
        (ErrorCode::InvalidJson, Some("body"))
    );
    let e = binary(&BINARY_MINIMAL, Some("text/plain"), &[0xff]).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_deref()),
        (ErrorCode::InvalidField, Some("body"))
    );
    let big = vec![b'1'; 262_145];
    let e = binary(&BINARY_MINIMAL, Some("application/json"), &big).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_deref()),
        (ErrorCode::PayloadTooLarge, Some("body"))
    );
}

#[test]
fn binary_refuses_unusable_or_repeated_headers() {
    for header in ["ce-trace_id", "ce-datacontenttype", "ce-data"] {
        let mut headers = BINARY_MINIMAL.to_vec();
        headers.push((header, "x"));
        let e = binary(&headers, None, b"").unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::UnknownField, Some(header))
        );
    }
    let mut twice = BINARY_MINIMAL.to_vec();
    twice.push(("ce-id", "e-2"));
    let e = binary(&twice, None, b"").unwrap_err();
    assert_eq!(
        (e.code, e.field.as_deref()),
        (ErrorCode::InvalidField, Some("ce-id"))
    );
    let mut not_utf8 = BINARY_MINIMAL.to_vec();
    not_utf8.push(("ce-subject", "%FF"));
    let e = binary(&not_utf8, None, b"").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("ce-subject"));
}

#[test]
fn binary_mode_is_recognised_by_any_ce_header() {
    assert!(CloudEvent::is_binary(["content-type", "CE-ID"]));
    assert!(!CloudEvent::is_binary(["content-type", "cert", "ce-"]));
}
