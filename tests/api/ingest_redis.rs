//! The Redis Stream ingress (SPEC §2.1, §3): what an `XADD`ed entry becomes, acknowledgement, reclaiming, poison,
//! several instances sharing the group, and trimming.

use std::collections::{BTreeSet, HashMap};

use fred::prelude::{ClientLike, StreamsInterface, TransactionInterface};
use fred::types::Value as RedisValue;
use herald::domain::EventId;
use serde_json::{Value, json};

use crate::helpers::{
    Db, Mode, TestApp, TestEnv, envelope, eventually, redis_client, spawn_app, xadd_pipelined,
};

/// The databases a redis-mode behaviour is checked on where a second run is cheap.
const DATABASES: [Db; 2] = [Db::Postgres, Db::Sqlite];

/// Waits until Herald's group has acknowledged everything it was delivered.
async fn nothing_pending_eventually(app: &TestApp) {
    eventually("every entry to be acknowledged", || async {
        app.pending_count().await == 0
    })
    .await;
}

/// The `raw` Herald keeps for an entry: every field as a JSON object of strings.
fn raw_of(fields: &[(&str, String)]) -> String {
    let map: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(name, value)| ((*name).to_owned(), Value::from(value.as_str())))
        .collect();
    Value::Object(map).to_string()
}

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

/// `XREADGROUP GROUP <group> <consumer> COUNT <count> STREAMS <stream> >`: a consumer that takes entries and never
/// acknowledges them.
async fn ghost_read(redis: &fred::clients::Client, env: &TestEnv, consumer: &str, count: u64) {
    let _: RedisValue = redis
        .xreadgroup(
            env.group.as_str(),
            consumer,
            Some(count),
            None,
            false,
            env.stream.as_str(),
            ">",
        )
        .await
        .expect("XREADGROUP");
}

/// The delivery count of each pending entry of the group.
async fn delivery_counts(redis: &fred::clients::Client, env: &TestEnv) -> Vec<(String, u64)> {
    let pending: Vec<(String, String, u64, u64)> = redis
        .xpending(env.stream.as_str(), env.group.as_str(), ("-", "+", 1000))
        .await
        .expect("XPENDING");
    pending
        .into_iter()
        .map(|(id, _, _, count)| (id, count))
        .collect()
}

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
async fn an_entry_delivered_more_than_five_times_becomes_a_poison_dead_letter() {
    // Arrange: a ghost consumer has had the entry delivered five times and never acknowledged it.
    let mut env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    env.set("HERALD_CLAIM_IDLE_MS", "100");
    let redis = redis_client().await;
    let _: () = redis
        .xgroup_create(env.stream.as_str(), env.group.as_str(), "0", true)
        .await
        .unwrap();
    let sent = envelope("poison-1").to_string();
    let entry = xadd_pipelined(&redis, &env.stream, std::slice::from_ref(&sent))
        .await
        .remove(0);
    ghost_read(&redis, &env, "ghost", 1).await;
    let _: RedisValue = redis
        .custom(
            fred::cmd!("XCLAIM"),
            vec![
                env.stream.as_str(),
                env.group.as_str(),
                "ghost",
                "0",
                entry.as_str(),
                "RETRYCOUNT",
                "5",
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        delivery_counts(&redis, &env).await,
        vec![(entry.clone(), 5)]
    );

    // Act: Herald reclaims it (its sixth delivery).
    let app = env.spawn().await;

    // Assert
    let letters = app.dead_letters_eventually(1).await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter["reason"], "poison");
    assert_eq!(letter["streamId"], entry.as_str());
    assert_eq!(letter["source"], "tests.api");
    assert_eq!(letter["raw"], raw_of(&[("envelope", sent)]));
    let message = letter["message"].as_str().unwrap();
    assert!(message.contains("delivered 6 times"), "{message}");
    nothing_pending_eventually(&app).await;
    assert_eq!(
        app.get_event("poison-1").await.status(),
        404,
        "poison is not stored"
    );
    assert_eq!(app.env.stored_count().await, 0);
}

#[actix_web::test]
async fn entries_left_pending_by_a_dead_consumer_are_reclaimed_and_stored() {
    // Arrange: a consumer read five entries and died without acknowledging them.
    let mut env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    env.set("HERALD_CLAIM_IDLE_MS", "200");
    let redis = redis_client().await;
    let _: () = redis
        .xgroup_create(env.stream.as_str(), env.group.as_str(), "0", true)
        .await
        .unwrap();
    let ids: Vec<String> = (0..5).map(|i| format!("orphan-{i}")).collect();
    let envelopes: Vec<String> = ids.iter().map(|id| envelope(id).to_string()).collect();
    xadd_pipelined(&redis, &env.stream, &envelopes).await;
    ghost_read(&redis, &env, "ghost", 10).await;
    assert_eq!(delivery_counts(&redis, &env).await.len(), 5);

    // Act
    let app = env.spawn().await;

    // Assert
    for id in &ids {
        app.stored_event(id).await;
    }
    nothing_pending_eventually(&app).await;
    assert_eq!(app.env.stored_count().await, 5);
    assert!(app.all_dead_letters("").await.is_empty());
}

#[actix_web::test]
async fn two_instances_sharing_the_group_store_each_event_exactly_once() {
    // Arrange
    let env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    let first = env.spawn().await;
    let _second = env.spawn().await;
    let redis = first.redis.clone().unwrap();
    let ids: Vec<String> = (0..1000).map(|i| format!("shared-{i:04}")).collect();
    let envelopes: Vec<String> = ids.iter().map(|id| envelope(id).to_string()).collect();

    // Act
    for chunk in envelopes.chunks(100) {
        xadd_pipelined(&redis, &env.stream, chunk).await;
    }

    // Assert
    eventually("1000 events to be stored", || async {
        env.stored_count().await == 1000
    })
    .await;
    let stored: BTreeSet<String> = env.stored_ids().await.into_iter().collect();
    assert_eq!(stored, ids.into_iter().collect::<BTreeSet<_>>());
    nothing_pending_eventually(&first).await;
    assert!(first.all_dead_letters("").await.is_empty());
    let consumers: Vec<RedisValue> = redis
        .xinfo_consumers(env.stream.as_str(), env.group.as_str())
        .await
        .unwrap();
    assert_eq!(consumers.len(), 2, "both instances read through the group");
}

#[actix_web::test]
async fn the_stream_is_trimmed_to_about_maxlen_entries_once_they_are_stored() {
    // Arrange
    let mut env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    env.set("HERALD_STREAM_MAXLEN", "1000");
    let app = env.spawn().await;
    let redis = app.redis.clone().unwrap();
    let envelopes: Vec<String> = (0..3000)
        .map(|i| envelope(&format!("trim-{i:04}")).to_string())
        .collect();

    // Act
    for chunk in envelopes.chunks(500) {
        xadd_pipelined(&redis, &env.stream, chunk).await;
    }

    // Assert: the trimmer runs every 10 s. Trimming removes whole stream nodes (at most 100 entries each, Redis
    // default), so about 1,000 means 1,000 to 1,099, never below HERALD_STREAM_MAXLEN.
    eventually("3000 events to be stored", || async {
        env.stored_count().await == 3000
    })
    .await;
    eventually("the stream to be trimmed to about 1000 entries", || async {
        app.stream_len().await <= 1100
    })
    .await;
    let len = app.stream_len().await;
    assert!(len >= 1000, "trimmed below HERALD_STREAM_MAXLEN: {len}");
}

#[actix_web::test]
async fn trimming_never_removes_an_entry_still_pending_in_the_group() {
    // Arrange: 1,500 entries another consumer read and acknowledged, then 5 that a ghost consumer read and never
    // acknowledged, then 1,500 new ones for Herald.
    let mut env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    env.set("HERALD_STREAM_MAXLEN", "1000")
        .set("HERALD_CLAIM_IDLE_MS", "86400000");
    let redis = redis_client().await;
    let _: () = redis
        .xgroup_create(env.stream.as_str(), env.group.as_str(), "0", true)
        .await
        .unwrap();
    let batch = |prefix: &str, n: usize| -> Vec<String> {
        (0..n)
            .map(|i| envelope(&format!("{prefix}-{i:04}")).to_string())
            .collect()
    };
    let mut acknowledged = Vec::new();
    for chunk in batch("acked", 1500).chunks(500) {
        acknowledged.extend(xadd_pipelined(&redis, &env.stream, chunk).await);
    }
    ghost_read(&redis, &env, "earlier", 1500).await;
    let _: u64 = redis
        .xack(env.stream.as_str(), env.group.as_str(), acknowledged)
        .await
        .unwrap();
    let held = xadd_pipelined(&redis, &env.stream, &batch("held", 5)).await;
    ghost_read(&redis, &env, "ghost", 5).await;
    for chunk in batch("late", 1500).chunks(500) {
        xadd_pipelined(&redis, &env.stream, chunk).await;
    }

    // Act
    let app = env.spawn().await;

    // Assert
    eventually("the 1500 late events to be stored", || async {
        env.stored_count().await == 1500
    })
    .await;
    eventually("the acknowledged entries to be trimmed", || async {
        app.stream_len().await < 2005
    })
    .await;
    let remaining: Vec<(String, HashMap<String, String>)> = redis
        .xrange_values(env.stream.as_str(), held[0].as_str(), "+", None)
        .await
        .unwrap();
    let remaining_ids: Vec<&str> = remaining.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        &remaining_ids[..5],
        held.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        "the pending entries are still in the stream"
    );
    assert_eq!(
        remaining.len(),
        1505,
        "nothing from the oldest pending entry on was trimmed"
    );
    assert_eq!(delivery_counts(&redis, &env).await.len(), 5);
}

#[actix_web::test]
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
