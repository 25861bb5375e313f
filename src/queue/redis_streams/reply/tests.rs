//! The replies of `XREADGROUP` and `XAUTOCLAIM`, built by hand as fred hands them over (RESP2), odd ones included.

use fred::bytes::Bytes;
use fred::types::Value as RedisValue;

use super::*;

const STREAM: &str = "herald:test:events";

fn text(s: &str) -> RedisValue {
    RedisValue::from(s)
}

fn array(items: Vec<RedisValue>) -> RedisValue {
    RedisValue::Array(items)
}

/// `[id, [field, value, …]]`.
fn entry(id: &str, fields: &[(&str, &str)]) -> RedisValue {
    let flat = fields
        .iter()
        .flat_map(|(k, v)| [text(k), text(v)])
        .collect();
    array(vec![text(id), array(flat)])
}

/// `[[key, entries]]`.
fn read_reply(entries: Vec<RedisValue>) -> RedisValue {
    array(vec![array(vec![text(STREAM), array(entries)])])
}

fn ids(entries: &[StreamEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.entry_id.as_str()).collect()
}

#[test]
fn a_read_gives_each_entry_with_its_fields_in_order() {
    let reply = read_reply(vec![
        entry("1700000000000-0", &[("envelope", r#"{"id":"a"}"#)]),
        entry(
            "1700000000000-1",
            &[("envelope", r#"{"id":"b"}"#), ("extra", "x")],
        ),
    ]);

    let entries = parse_read(reply, STREAM);

    assert_eq!(ids(&entries), ["1700000000000-0", "1700000000000-1"]);
    assert_eq!(entries[0].fields.field("envelope"), Some(r#"{"id":"a"}"#));
    assert_eq!(entries[1].fields.field("extra"), Some("x"));
    assert!(
        entries
            .iter()
            .all(|e| &*e.stream_key == STREAM && e.deliveries == 1)
    );
}

#[test]
fn a_read_that_timed_out_gives_nothing() {
    assert!(parse_read(RedisValue::Null, STREAM).is_empty());
    assert!(parse_read(array(vec![]), STREAM).is_empty());
    assert!(parse_read(read_reply(vec![]), STREAM).is_empty());
}

#[test]
fn an_entry_without_an_envelope_field_is_kept_for_the_router_to_dead_letter() {
    let reply = read_reply(vec![entry("1-0", &[("payload", "{}")])]);

    let entries = parse_read(reply, STREAM);

    assert_eq!(ids(&entries), ["1-0"]);
    assert_eq!(entries[0].fields.field("envelope"), None);
    assert_eq!(entries[0].fields.field("payload"), Some("{}"));
}

#[test]
fn an_entry_with_no_fields_at_all_is_kept_too() {
    let entries = parse_read(read_reply(vec![entry("1-0", &[])]), STREAM);

    assert_eq!(ids(&entries), ["1-0"]);
    assert_eq!(entries[0].fields.field("envelope"), None);
}

#[test]
fn nil_fields_and_nil_entries_of_a_read_are_skipped() {
    let reply = read_reply(vec![
        array(vec![text("1-0"), RedisValue::Null]),
        RedisValue::Null,
        entry("2-0", &[("envelope", "{}")]),
    ]);

    assert_eq!(ids(&parse_read(reply, STREAM)), ["2-0"]);
}

#[test]
fn bytes_that_are_not_utf8_are_replaced_so_validation_can_name_the_fault() {
    let reply = read_reply(vec![array(vec![
        text("1-0"),
        array(vec![
            text("envelope"),
            RedisValue::Bytes(Bytes::from_static(b"{\"id\":\"\xff\"}")),
        ]),
    ])]);

    let entries = parse_read(reply, STREAM);

    assert_eq!(
        entries[0].fields.field("envelope"),
        Some("{\"id\":\"\u{fffd}\"}")
    );
}

#[test]
fn an_entry_id_that_is_not_text_is_skipped() {
    let reply = read_reply(vec![
        array(vec![
            RedisValue::Bytes(Bytes::from_static(b"\xff-0")),
            array(vec![text("envelope"), text("{}")]),
        ]),
        entry("2-0", &[("envelope", "{}")]),
    ]);

    assert_eq!(ids(&parse_read(reply, STREAM)), ["2-0"]);
}

#[test]
fn a_field_without_a_value_is_dropped_and_the_rest_kept() {
    let reply = read_reply(vec![array(vec![
        text("1-0"),
        array(vec![text("envelope"), text("{}"), text("dangling")]),
    ])]);

    let entries = parse_read(reply, STREAM);

    assert_eq!(entries[0].fields.field("envelope"), Some("{}"));
    assert_eq!(entries[0].fields.field("dangling"), None);
}

#[test]
fn an_autoclaim_gives_the_next_start_the_entries_and_the_deleted_ids() {
    let reply = array(vec![
        text("1700000000005-0"),
        array(vec![
            entry("1700000000001-0", &[("envelope", "{}")]),
            entry("1700000000002-0", &[("envelope", "{}")]),
        ]),
        array(vec![text("1700000000003-0"), text("1700000000004-0")]),
    ]);

    let claimed = parse_autoclaim(reply, STREAM);

    assert_eq!(claimed.next, "1700000000005-0");
    assert_eq!(
        ids(&claimed.entries),
        ["1700000000001-0", "1700000000002-0"]
    );
    assert_eq!(claimed.deleted, ["1700000000003-0", "1700000000004-0"]);
}

#[test]
fn an_autoclaim_of_redis_6_without_a_third_element_has_no_deleted_ids() {
    let reply = array(vec![
        text("0-0"),
        array(vec![entry("1-0", &[("envelope", "{}")])]),
    ]);

    let claimed = parse_autoclaim(reply, STREAM);

    assert_eq!(claimed.next, "0-0");
    assert_eq!(ids(&claimed.entries), ["1-0"]);
    assert!(claimed.deleted.is_empty());
}

#[test]
fn deleted_entries_among_the_claimed_ones_are_acknowledged_not_delivered() {
    // Redis 6.2 answered an entry deleted while pending with nil fields (or as nil) in the entries themselves.
    let reply = array(vec![
        text("0-0"),
        array(vec![
            array(vec![text("1-0"), RedisValue::Null]),
            RedisValue::Null,
            entry("2-0", &[("envelope", "{}")]),
        ]),
        array(vec![text("3-0")]),
    ]);

    let claimed = parse_autoclaim(reply, STREAM);

    assert_eq!(ids(&claimed.entries), ["2-0"]);
    assert_eq!(claimed.deleted, ["1-0", "3-0"]);
}

#[test]
fn an_empty_or_odd_autoclaim_reply_ends_the_scan_with_nothing_claimed() {
    for reply in [
        RedisValue::Null,
        array(vec![]),
        array(vec![text("0-0"), array(vec![]), array(vec![])]),
        RedisValue::Integer(3),
    ] {
        let claimed = parse_autoclaim(reply, STREAM);
        assert!(claimed.entries.is_empty());
        assert!(claimed.deleted.is_empty());
    }
    assert_eq!(parse_autoclaim(RedisValue::Null, STREAM).next, "0-0");
}

#[test]
fn a_flat_xinfo_record_reads_as_a_map_of_its_fields() {
    let flat = array(vec![
        text("name"),
        text("g"),
        text("pending"),
        RedisValue::Integer(2),
    ]);
    let record = fields(flat);
    assert_eq!(record["name"].as_string().as_deref(), Some("g"));
    assert_eq!(record["pending"].as_u64(), Some(2));
}

#[test]
fn an_entry_id_gives_its_milliseconds() {
    assert_eq!(entry_ms("1700000000000-7"), Some(1_700_000_000_000));
    assert_eq!(entry_ms("garbage"), None);
}
