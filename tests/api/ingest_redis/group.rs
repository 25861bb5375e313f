//! The consumer group: poison entries, reclaiming a dead consumer's entries, instances sharing the group, and
//! trimming that never removes a pending entry.

use std::collections::{BTreeSet, HashMap};

use fred::prelude::{ClientLike, StreamsInterface};
use fred::types::Value as RedisValue;

use crate::helpers::{Db, Mode, TestEnv, envelope, eventually, redis_client, xadd_pipelined};

use super::{nothing_pending_eventually, raw_of};

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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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
