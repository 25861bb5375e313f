//! What an `XADD`ed entry becomes: a stored event or a dead letter, acknowledged either way, whether it was added
//! before Herald started, in a batch, with a reused id, or by `POST /events` in redis mode.

use std::collections::{BTreeSet, HashMap};

use fred::prelude::{StreamsInterface, TransactionInterface};
use fred::types::Value as RedisValue;
use herald::domain::EventId;
use serde_json::{Value, json};

use crate::helpers::{
    Db, Mode, TestEnv, envelope, eventually, redis_client, spawn_app, xadd_pipelined,
};

use super::{nothing_pending_eventually, raw_of};

/// The databases a redis-mode behaviour is checked on where a second run is cheap.
const DATABASES: [Db; 2] = [Db::Postgres, Db::Sqlite];

/// An entry Herald must dead-letter, and what the dead letter must say.
struct BadEntry {
    fields: Vec<(&'static str, String)>,
    reason: &'static str,
    /// Part of the message.
    message: &'static str,
    /// The `source` the dead letter reports (`null` when unreadable).
    source: Value,
}

impl BadEntry {
    /// An entry whose `envelope` field is `json`.
    fn envelope(json: &str, reason: &'static str, message: &'static str, source: Value) -> Self {
        BadEntry {
            fields: vec![("envelope", json.to_owned())],
            reason,
            message,
            source,
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_xadded_envelope_is_stored_and_its_entry_acknowledged() {
    for db in DATABASES {
        // Arrange
        let app = spawn_app(db, Mode::Redis).await;
        let sent = json!({
            "id": "redis-1", "type": "billing.invoice.paid", "source": "billing.api",
            "payload": {"amount": 3}, "correlationId": "c-1"
        });

        // Act
        app.xadd_envelope(&sent.to_string()).await;

        // Assert
        let event = app.stored_event("redis-1").await;
        assert_eq!(event["type"], "billing.invoice.paid", "{db:?}");
        assert_eq!(event["source"], "billing.api");
        assert_eq!(event["payload"], json!({"amount": 3}));
        assert_eq!(event["correlationId"], "c-1");
        nothing_pending_eventually(&app).await;
        assert!(app.all_dead_letters("").await.is_empty());
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_envelope_without_an_id_gets_the_id_derived_from_its_stream_entry() {
    for db in DATABASES {
        // Arrange
        let app = spawn_app(db, Mode::Redis).await;

        // Act
        let entry = app
            .xadd_envelope(
                r#"{"type":"billing.invoice.paid","source":"billing.api","payload":{"amount":4}}"#,
            )
            .await;

        // Assert
        let expected = EventId::from_stream_entry(&app.env.stream, &entry);
        let event = app.stored_event(expected.as_str()).await;
        assert_eq!(event["id"], expected.as_str(), "{db:?}");
        assert_eq!(event["payload"], json!({"amount": 4}));
        let entry_millis: u64 = entry.split('-').next().unwrap().parse().unwrap();
        let ulid = ulid::Ulid::from_string(expected.as_str()).expect("the derived id is a ULID");
        assert_eq!(
            ulid.timestamp_ms(),
            entry_millis,
            "the ULID's time is the entry's"
        );
        nothing_pending_eventually(&app).await;
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn each_invalid_stream_entry_becomes_a_dead_letter_with_its_reason_and_is_acknowledged() {
    for db in DATABASES {
        // Arrange
        let app = spawn_app(db, Mode::Redis).await;
        let too_large = json!({
            "id": "huge", "type": "billing.invoice.paid", "source": "billing.api",
            "payload": {"blob": "x".repeat(262_144)}
        })
        .to_string();
        let cases = [
            BadEntry::envelope(
                r#"{"id":"bad-type","type":"nodots","source":"billing.api"}"#,
                "invalid_field",
                "`type`",
                json!("billing.api"),
            ),
            BadEntry::envelope(
                r#"{"id":"no-type","source":"billing.api"}"#,
                "missing_field",
                "`type` is required",
                json!("billing.api"),
            ),
            BadEntry::envelope(
                r#"{"id":"typo","type":"billing.invoice.paid","source":"billing.api","tpye":"x"}"#,
                "unknown_field",
                "`tpye`",
                json!("billing.api"),
            ),
            BadEntry::envelope(
                r#"{"id":"broken", "type": "#,
                "invalid_json",
                "not valid JSON",
                Value::Null,
            ),
            BadEntry {
                fields: vec![("foo", "bar".to_owned())],
                reason: "missing_envelope",
                message: "`envelope`",
                source: Value::Null,
            },
            BadEntry::envelope(
                &too_large,
                "payload_too_large",
                "`payload` must be at most 262144 bytes",
                json!("billing.api"),
            ),
        ];

        // Act
        let mut entries = Vec::new();
        for case in &cases {
            entries.push(app.xadd_fields(case.fields.clone()).await);
        }
        app.xadd_envelope(&envelope("after-the-bad-ones").to_string())
            .await;

        // Assert
        app.stored_event("after-the-bad-ones").await;
        let letters = app.dead_letters_eventually(cases.len()).await;
        assert_eq!(letters.len(), cases.len(), "{db:?}");
        for (case, entry) in cases.iter().zip(&entries) {
            let reason = case.reason;
            let letter = letters
                .iter()
                .find(|l| l["streamId"] == entry.as_str())
                .unwrap_or_else(|| panic!("a dead letter for entry {entry} ({reason})"));
            assert_eq!(letter["reason"], reason, "{db:?} {letter}");
            let text = letter["message"].as_str().unwrap();
            assert!(text.contains(case.message), "{reason}: {text}");
            assert_eq!(letter["raw"], raw_of(&case.fields), "{reason}");
            assert_eq!(letter["source"], case.source, "{reason}");
        }
        nothing_pending_eventually(&app).await;
        assert_eq!(app.get_event("bad-type").await.status(), 404);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_batch_with_some_invalid_entries_stores_the_valid_ones_and_dead_letters_the_rest() {
    for db in DATABASES {
        // Arrange: 20 entries, every 4th invalid, added in one MULTI so that one read takes them all.
        let app = spawn_app(db, Mode::Redis).await;
        let redis = app.redis.clone().unwrap();
        let is_invalid = |i: usize| i % 4 == 3;
        let trx = redis.multi();
        for i in 0..20 {
            let id = format!("batch-{i:02}");
            let mut sent = envelope(&id);
            if is_invalid(i) {
                sent["type"] = json!("nodots");
            }
            let _: () = trx
                .xadd(
                    app.env.stream.as_str(),
                    false,
                    None,
                    "*",
                    vec![("envelope", sent.to_string())],
                )
                .await
                .unwrap();
        }

        // Act
        let added: Vec<String> = trx.exec(true).await.unwrap();

        // Assert
        assert_eq!(added.len(), 20);
        let letters = app.dead_letters_eventually(5).await;
        eventually("15 events to be stored", || async {
            app.env.stored_count().await == 15
        })
        .await;
        let expected_stored: BTreeSet<String> = (0..20)
            .filter(|i| !is_invalid(*i))
            .map(|i| format!("batch-{i:02}"))
            .collect();
        let stored: BTreeSet<String> = app.env.stored_ids().await.into_iter().collect();
        assert_eq!(stored, expected_stored, "{db:?}");
        let dead: BTreeSet<&str> = letters
            .iter()
            .map(|l| l["eventId"].as_str().unwrap())
            .collect();
        assert_eq!(
            dead,
            BTreeSet::from(["batch-03", "batch-07", "batch-11", "batch-15", "batch-19"])
        );
        assert!(letters.iter().all(|l| l["reason"] == "invalid_field"));
        nothing_pending_eventually(&app).await;
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_id_re_used_with_different_content_becomes_an_id_conflict_dead_letter_and_the_first_content_stays()
 {
    // Arrange
    let app = spawn_app(Db::Postgres, Mode::Redis).await;
    app.xadd_envelope(&envelope("reused-1").to_string()).await;
    let first = app.stored_event("reused-1").await;
    let mut changed = envelope("reused-1");
    changed["payload"] = json!({"n": 2});

    // Act
    let entry = app.xadd_envelope(&changed.to_string()).await;

    // Assert
    let letters = app.dead_letters_eventually(1).await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter["reason"], "id_conflict");
    assert_eq!(letter["streamId"], entry.as_str());
    assert_eq!(letter["eventId"], "reused-1");
    assert_eq!(letter["source"], "tests.api");
    assert!(letter["message"].as_str().unwrap().contains("reused-1"));
    assert_eq!(letter["raw"], raw_of(&[("envelope", changed.to_string())]));
    let event = app.stored_event("reused-1").await;
    assert_eq!(event["payload"], json!({"n": 1}), "the first content stays");
    assert_eq!(event["ingressSequence"], first["ingressSequence"]);
    nothing_pending_eventually(&app).await;
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_id_re_used_with_the_same_content_is_stored_once_without_a_dead_letter() {
    for db in DATABASES {
        // Arrange
        let app = spawn_app(db, Mode::Redis).await;
        app.xadd_envelope(&envelope("same-1").to_string()).await;
        let first = app.stored_event("same-1").await;
        let redis = app.redis.clone().unwrap();

        // Act: the same envelope again, with a marker in the same MULTI (so in the same batch) to know when it
        // has been processed.
        let trx = redis.multi();
        for sent in [envelope("same-1"), envelope("marker-1")] {
            let _: () = trx
                .xadd(
                    app.env.stream.as_str(),
                    false,
                    None,
                    "*",
                    vec![("envelope", sent.to_string())],
                )
                .await
                .unwrap();
        }
        let _: Vec<String> = trx.exec(true).await.unwrap();

        // Assert
        app.stored_event("marker-1").await;
        nothing_pending_eventually(&app).await;
        let event = app.stored_event("same-1").await;
        assert_eq!(
            event["ingressSequence"], first["ingressSequence"],
            "{db:?}: stored once"
        );
        assert_eq!(app.env.stored_count().await, 2);
        assert!(app.all_dead_letters("").await.is_empty(), "{db:?}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn events_xadded_before_heralds_first_start_are_taken_in_when_it_starts() {
    for db in DATABASES {
        // Arrange: the stream exists, Herald's group does not.
        let env = TestEnv::new(db, Mode::Redis).await;
        let redis = redis_client().await;
        let ids: Vec<String> = (0..3).map(|i| format!("early-{i}")).collect();
        let envelopes: Vec<String> = ids.iter().map(|id| envelope(id).to_string()).collect();
        xadd_pipelined(&redis, &env.stream, &envelopes).await;
        let groups: Vec<RedisValue> = redis.xinfo_groups(env.stream.as_str()).await.unwrap();
        assert!(groups.is_empty(), "no consumer group yet");

        // Act
        let app = env.spawn().await;

        // Assert
        for id in &ids {
            let event = app.stored_event(id).await;
            assert_eq!(event["id"], id.as_str(), "{db:?}");
        }
        nothing_pending_eventually(&app).await;
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_event_posted_over_http_in_redis_mode_travels_through_the_stream_and_is_stored() {
    for db in DATABASES {
        // Arrange
        let app = spawn_app(db, Mode::Redis).await;
        let before = app.stream_len().await;

        // Act
        let response = app.post_events(&envelope("via-http-1")).await;

        // Assert
        assert_eq!(response.status(), 202, "{db:?}");
        assert_eq!(
            app.stream_len().await,
            before + 1,
            "accepted once it is on the stream"
        );
        let redis = app.redis.clone().unwrap();
        let entries: Vec<(String, HashMap<String, String>)> = redis
            .xrange_values(app.env.stream.as_str(), "-", "+", None)
            .await
            .unwrap();
        let (_, fields) = entries.last().unwrap();
        let on_stream: Value = serde_json::from_str(&fields["envelope"]).unwrap();
        assert_eq!(on_stream["id"], "via-http-1");
        let event = app.stored_event("via-http-1").await;
        assert_eq!(event["payload"], json!({"n": 1}));
        nothing_pending_eventually(&app).await;
    }
}
