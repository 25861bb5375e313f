//! Unit tests for `Envelope::parse`: one per SPEC §1 rule, with the boundaries. Shared helpers are `pub(super)` for
//! `wire_tests.rs`.

use super::*;
use serde_json::json;

pub(super) fn now() -> DateTime<Utc> {
    parse_rfc3339_with_offset("2026-11-22T10:00:00.000Z").expect("valid")
}

pub(super) fn ctx() -> ParseContext {
    ParseContext::new(now())
}

pub(super) fn fallback() -> EventId {
    EventId::parse("fallback-id".to_owned()).expect("valid")
}

pub(super) fn minimal() -> Value {
    json!({"type": "metastore.dataset.created", "source": "metastore.api"})
}

pub(super) fn with(field: &str, value: Value) -> Value {
    let mut envelope = minimal();
    envelope[field] = value;
    envelope
}

pub(super) fn parse(value: Value) -> Result<Envelope, ValidationError> {
    Envelope::parse(value, &ctx(), fallback)
}

#[track_caller]
fn assert_error(value: Value, code: ErrorCode, field: &str) -> ValidationError {
    let err = parse(value).expect_err("must be rejected");
    assert_eq!(err.code, code, "{}", err.message);
    assert_eq!(err.field.as_deref(), Some(field), "{}", err.message);
    assert!(
        err.message.contains(&format!("`{field}")),
        "{}",
        err.message
    );
    err
}

#[test]
fn a_minimal_envelope_gets_defaults() {
    let envelope = parse(minimal()).expect("valid");
    assert_eq!(envelope.id, fallback());
    assert_eq!(envelope.event_type.as_str(), "metastore.dataset.created");
    assert_eq!(envelope.source.as_str(), "metastore.api");
    assert_eq!(envelope.occurred_at, now());
    assert_eq!(envelope.payload, json!({}));
    assert_eq!(envelope.correlation_id, None);
    assert_eq!(envelope.causation_id, None);
    assert_eq!(envelope.ttl_ms, None);
    assert_eq!(envelope.metadata, None);
}

#[test]
fn a_top_level_value_that_is_not_an_object_is_invalid_json() {
    for value in [json!([]), json!("x"), json!(1), json!(null)] {
        let err = parse(value).expect_err("not an object");
        assert_eq!(err.code, ErrorCode::InvalidJson);
        assert_eq!(err.field, None);
        assert!(
            err.message.starts_with("an envelope must be a JSON object"),
            "{}",
            err.message
        );
    }
}

#[test]
fn malformed_bytes_are_invalid_json_with_line_and_column() {
    let err = Envelope::parse_slice(b"{\"type\": ", &ctx(), fallback).expect_err("malformed");
    assert_eq!(err.code, ErrorCode::InvalidJson);
    assert!(err.message.contains("line 1 column"), "{}", err.message);
}

#[test]
fn well_formed_bytes_parse_like_a_value() {
    let bytes = serde_json::to_vec(&minimal()).expect("serialises");
    let from_bytes = Envelope::parse_slice(&bytes, &ctx(), fallback).expect("valid");
    assert_eq!(Ok(from_bytes), parse(minimal()));
}

#[test]
fn an_unknown_top_level_field_is_rejected_by_name() {
    let err = assert_error(with("tpye", json!("a.b")), ErrorCode::UnknownField, "tpye");
    assert!(
        err.message.contains("occurredAt"),
        "lists the allowed fields: {}",
        err.message
    );
}

#[test]
fn unknown_fields_are_reported_alphabetically_first_and_before_anything_else() {
    let value = json!({"zeta": 1, "alpha": 2, "type": 3});
    assert_error(value, ErrorCode::UnknownField, "alpha");
}

#[test]
fn a_missing_type_is_a_missing_field() {
    assert_error(json!({"source": "s"}), ErrorCode::MissingField, "type");
}

#[test]
fn a_null_type_counts_as_missing() {
    assert_error(with("type", Value::Null), ErrorCode::MissingField, "type");
}

#[test]
fn a_missing_source_is_a_missing_field() {
    assert_error(json!({"type": "a.b"}), ErrorCode::MissingField, "source");
}

#[test]
fn a_type_that_is_not_a_string_is_invalid() {
    let err = assert_error(with("type", json!(7)), ErrorCode::InvalidField, "type");
    assert!(err.message.contains("must be a string"), "{}", err.message);
}

#[test]
fn an_empty_string_field_is_invalid() {
    for field in [
        "id",
        "type",
        "source",
        "occurredAt",
        "correlationId",
        "causationId",
    ] {
        assert_error(with(field, json!("")), ErrorCode::InvalidField, field);
    }
}

#[test]
fn a_type_without_a_namespace_is_invalid() {
    let err = assert_error(
        with("type", json!("created")),
        ErrorCode::InvalidField,
        "type",
    );
    assert!(
        err.message.contains("service.domain.action"),
        "{}",
        err.message
    );
}

#[test]
fn a_source_outside_its_charset_is_invalid() {
    assert_error(
        with("source", json!("my source")),
        ErrorCode::InvalidField,
        "source",
    );
}

#[test]
fn a_given_id_is_kept_and_the_fallback_is_not_called() {
    let envelope = Envelope::parse(with("id", json!("evt-1")), &ctx(), || panic!("not called"))
        .expect("valid");
    assert_eq!(envelope.id.as_str(), "evt-1");
}

#[test]
fn a_null_id_gets_the_fallback() {
    assert_eq!(
        parse(with("id", Value::Null)).expect("valid").id,
        fallback()
    );
}

#[test]
fn an_invalid_envelope_does_not_call_the_fallback() {
    let result = Envelope::parse(json!({"type": "a.b"}), &ctx(), || panic!("not called"));
    assert!(result.is_err());
}

#[test]
fn an_id_of_128_chars_passes_and_129_fails() {
    assert!(parse(with("id", json!("i".repeat(128)))).is_ok());
    assert_error(
        with("id", json!("i".repeat(129))),
        ErrorCode::InvalidField,
        "id",
    );
}

#[test]
fn occurred_at_without_an_offset_is_invalid() {
    for bad in ["2026-11-22T10:00:00", "2026-11-22", "yesterday"] {
        assert_error(
            with("occurredAt", json!(bad)),
            ErrorCode::InvalidField,
            "occurredAt",
        );
    }
}

#[test]
fn occurred_at_4m59s_ahead_passes_and_5m01s_fails() {
    assert!(parse(with("occurredAt", json!("2026-11-22T10:04:59Z"))).is_ok());
    assert!(parse(with("occurredAt", json!("2026-11-22T10:05:00Z"))).is_ok());
    let err = assert_error(
        with("occurredAt", json!("2026-11-22T10:05:01Z")),
        ErrorCode::InvalidField,
        "occurredAt",
    );
    assert!(err.message.contains("5 minutes ahead"), "{}", err.message);
}

#[test]
fn occurred_at_in_the_past_is_accepted() {
    assert!(parse(with("occurredAt", json!("1999-01-01T00:00:00Z"))).is_ok());
}

#[test]
fn occurred_at_before_year_zero_in_utc_is_invalid() {
    let value = with("occurredAt", json!("0000-01-01T00:00:00+01:00"));
    assert_error(value, ErrorCode::InvalidField, "occurredAt");
}

#[test]
fn occurred_at_offsets_are_converted_to_utc() {
    let envelope = parse(with("occurredAt", json!("2026-11-22T11:30:00+02:00"))).expect("valid");
    assert_eq!(
        format_timestamp(envelope.occurred_at),
        "2026-11-22T09:30:00.000Z"
    );
}

#[test]
fn occurred_at_is_truncated_to_milliseconds() {
    let envelope =
        parse(with("occurredAt", json!("2026-11-22T09:00:00.123987654Z"))).expect("valid");
    assert_eq!(
        format_timestamp(envelope.occurred_at),
        "2026-11-22T09:00:00.123Z"
    );
    assert_eq!(envelope.occurred_at.timestamp_subsec_nanos(), 123_000_000);
}

#[test]
fn the_default_occurred_at_is_now_truncated_to_milliseconds() {
    let precise = parse_rfc3339_with_offset("2026-11-22T10:00:00.456789Z").expect("valid");
    let envelope =
        Envelope::parse(minimal(), &ParseContext::new(precise), fallback).expect("valid");
    assert_eq!(
        format_timestamp(envelope.occurred_at),
        "2026-11-22T10:00:00.456Z"
    );
    assert_eq!(envelope.occurred_at, truncate_to_millis(precise));
}

#[test]
fn a_null_payload_becomes_an_empty_object() {
    assert_eq!(
        parse(with("payload", Value::Null)).expect("valid").payload,
        json!({})
    );
}

#[test]
fn any_json_is_a_payload() {
    for payload in [
        json!([1, 2]),
        json!("text"),
        json!(3.5),
        json!(false),
        json!({"a": {"b": null}}),
    ] {
        assert_eq!(
            parse(with("payload", payload.clone()))
                .expect("valid")
                .payload,
            payload
        );
    }
}

#[test]
fn a_payload_of_exactly_262144_bytes_passes_and_one_more_fails() {
    // A JSON string costs its characters plus two quotes.
    let exact = json!("p".repeat(DEFAULT_MAX_PAYLOAD_BYTES - 2));
    assert_eq!(compact_json_len(&exact), 262_144);
    assert!(parse(with("payload", exact)).is_ok());
    let over = json!("p".repeat(DEFAULT_MAX_PAYLOAD_BYTES - 1));
    assert_error(with("payload", over), ErrorCode::PayloadTooLarge, "payload");
}

#[test]
fn the_payload_limit_comes_from_the_context() {
    let small = ParseContext {
        max_payload_bytes: 10,
        now: now(),
    };
    assert!(Envelope::parse(with("payload", json!({"a": 1234})), &small, fallback).is_ok());
    let err = Envelope::parse(with("payload", json!({"a": 12345})), &small, fallback)
        .expect_err("11 bytes");
    assert_eq!(err.code, ErrorCode::PayloadTooLarge);
}

#[test]
fn a_correlation_id_of_256_chars_passes_and_257_fails() {
    assert!(parse(with("correlationId", json!("c".repeat(256)))).is_ok());
    let value = with("correlationId", json!("c".repeat(257)));
    assert_error(value, ErrorCode::InvalidField, "correlationId");
}

#[test]
fn a_causation_id_error_names_causation_id() {
    let value = with("causationId", json!("c".repeat(257)));
    assert_error(value, ErrorCode::InvalidField, "causationId");
}

#[test]
fn a_correlation_id_that_is_not_a_string_is_invalid() {
    assert_error(
        with("correlationId", json!(12)),
        ErrorCode::InvalidField,
        "correlationId",
    );
}

#[test]
fn a_positive_integer_ttl_is_stored_in_milliseconds() {
    assert_eq!(parse(with("ttl", json!(1))).expect("valid").ttl_ms, Some(1));
    assert_eq!(
        parse(with("ttl", json!(60_000))).expect("valid").ttl_ms,
        Some(60_000)
    );
}

#[test]
fn a_float_ttl_is_invalid_even_when_whole() {
    let err = assert_error(with("ttl", json!(1.0)), ErrorCode::InvalidField, "ttl");
    assert!(err.message.contains("integer"), "{}", err.message);
    assert_error(with("ttl", json!(1.5)), ErrorCode::InvalidField, "ttl");
}

#[test]
fn a_string_ttl_is_invalid() {
    assert_error(with("ttl", json!("1000")), ErrorCode::InvalidField, "ttl");
}

#[test]
fn a_ttl_below_one_is_invalid() {
    assert_error(with("ttl", json!(0)), ErrorCode::InvalidField, "ttl");
    assert_error(with("ttl", json!(-5)), ErrorCode::InvalidField, "ttl");
}

#[test]
fn a_ttl_beyond_i64_is_invalid() {
    assert_error(with("ttl", json!(u64::MAX)), ErrorCode::InvalidField, "ttl");
}

#[test]
fn metadata_that_is_not_an_object_is_invalid() {
    assert_error(
        with("metadata", json!([1])),
        ErrorCode::InvalidField,
        "metadata",
    );
}

#[test]
fn metadata_of_exactly_65536_bytes_passes_and_one_more_fails() {
    // `{"k":""}` is 8 bytes.
    let exact = json!({"k": "m".repeat(MAX_METADATA_BYTES - 8)});
    assert_eq!(compact_json_len(&exact), 65_536);
    assert!(parse(with("metadata", exact)).is_ok());
    let over = json!({"k": "m".repeat(MAX_METADATA_BYTES - 7)});
    assert_error(
        with("metadata", over),
        ErrorCode::PayloadTooLarge,
        "metadata",
    );
}

#[test]
fn an_invalid_workflow_context_makes_the_envelope_invalid() {
    let value = with("metadata", json!({"__workflow": {"jobSlug": "x"}}));
    assert_error(value, ErrorCode::InvalidField, "metadata.__workflow");
}

#[test]
fn a_valid_workflow_context_is_trimmed_and_other_metadata_kept() {
    let workflow = json!({
        "workflowDefinitionId": " wf ", "workflowRunId": "r", "workflowRunStepId": "s",
        "jobRunId": "j", "jobSlug": "slug",
    });
    let value = with("metadata", json!({"__workflow": workflow, "team": "data"}));
    let metadata = parse(value).expect("valid").metadata.expect("metadata");
    assert_eq!(metadata["__workflow"]["workflowDefinitionId"], "wf");
    assert_eq!(metadata["team"], "data");
}

#[test]
fn the_content_hash_is_the_sha256_of_the_canonical_type_source_and_payload() {
    // Pinned: stored hashes decide duplicate or conflict for every id ever stored, so the bytes hashed must never
    // change. The expected value is the SHA-256 of
    // {"payload":{"a":1,"b":"é\"x"},"source":"s.api","type":"a.b"}.
    let envelope = Envelope::parse(
        json!({"id": "h-1", "type": "a.b", "source": "s.api", "payload": {"b": "é\"x", "a": 1}}),
        &ctx(),
        || unreachable!("the id is given"),
    )
    .expect("valid");
    assert_eq!(
        envelope.content_hash(),
        "d97c2a1c400552b7d347022f493b45ee9aea774d1e074de668b90f5dc487eb84"
    );
}
