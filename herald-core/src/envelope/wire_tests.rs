//! Unit tests for the wire side of `Envelope`: `to_json` round trips, the content hash and `expires_at`.

use super::tests::{fallback, minimal, now, parse, with};
use super::*;
use proptest::prelude::*;
use serde_json::json;

fn full() -> Value {
    json!({
        "id": "evt-42",
        "type": "metastore.dataset.created",
        "source": "/sensors/tn-1",
        "occurredAt": "2026-11-22T09:59:59.999+00:00",
        "payload": {"b": [1, 2.5, "x"], "a": null},
        "correlationId": "corr 1",
        "causationId": "evt-41",
        "ttl": 60000,
        "metadata": {"team": "data"},
    })
}

#[test]
fn to_json_writes_the_wire_envelope() {
    let envelope = parse(full()).expect("valid");
    let mut expected = full();
    expected["occurredAt"] = json!("2026-11-22T09:59:59.999Z");
    assert_eq!(envelope.to_json(), expected);
}

#[test]
fn to_json_omits_absent_optional_fields() {
    let json = parse(minimal()).expect("valid").to_json();
    let keys: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["id", "occurredAt", "payload", "source", "type"]);
}

#[test]
fn to_json_round_trips_through_parse() {
    for value in [minimal(), full()] {
        let envelope = parse(value).expect("valid");
        assert_eq!(parse(envelope.to_json()), Ok(envelope.clone()));
    }
}

#[test]
fn the_content_hash_is_hex_sha256_of_canonical_payload_source_and_type() {
    let envelope = parse(with("payload", json!({"b": 1, "a": [true, null]}))).expect("valid");
    let canonical = r#"{"payload":{"a":[true,null],"b":1},"source":"metastore.api","type":"metastore.dataset.created"}"#;
    assert_eq!(
        envelope.content_hash(),
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
}

#[test]
fn the_content_hash_ignores_id_time_and_metadata() {
    let a = parse(full()).expect("valid");
    let mut b = a.clone();
    b.id = fallback();
    b.occurred_at = now();
    b.metadata = None;
    b.ttl_ms = None;
    assert_eq!(a.content_hash(), b.content_hash());
}

#[test]
fn the_content_hash_changes_with_payload_source_or_type() {
    let a = parse(full()).expect("valid");
    let mut b = a.clone();
    b.payload = json!({"b": [1, 2.5, "y"], "a": null});
    assert_ne!(a.content_hash(), b.content_hash());
    let mut c = a.clone();
    c.source = SourceName::parse("other".to_owned()).expect("valid");
    assert_ne!(a.content_hash(), c.content_hash());
    let mut d = a.clone();
    d.event_type = EventType::parse("metastore.dataset.deleted".to_owned()).expect("valid");
    assert_ne!(a.content_hash(), d.content_hash());
}

#[test]
fn expires_at_is_occurred_at_plus_ttl() {
    let envelope = parse(full()).expect("valid");
    let expected = parse_rfc3339_with_offset("2026-11-22T10:00:59.999Z");
    assert_eq!(envelope.expires_at(), expected);
    assert_eq!(parse(minimal()).expect("valid").expires_at(), None);
}

proptest! {
    #[test]
    fn generated_valid_envelopes_round_trip(
        id in "[A-Za-z0-9._:-]{1,128}",
        event_type in "[A-Za-z0-9_-]{1,20}(\\.[A-Za-z0-9_-]{1,20}){1,5}",
        source in "[A-Za-z0-9._:/@+~-]{1,200}",
        ms_before_now in 0i64..10_000_000_000,
        text in ".{0,40}",
        ttl in proptest::option::of(1i64..i64::MAX),
    ) {
        let occurred_at = now() - TimeDelta::milliseconds(ms_before_now);
        let mut value = json!({
            "id": id, "type": event_type, "source": source,
            "occurredAt": format_timestamp(occurred_at), "payload": {"text": text},
        });
        if let Some(ttl) = ttl {
            value["ttl"] = json!(ttl);
        }
        let envelope = parse(value).expect("valid envelope");
        prop_assert_eq!(envelope.occurred_at, occurred_at);
        prop_assert_eq!(parse(envelope.to_json()), Ok(envelope.clone()));
    }
}
