//! The shared sliding window of redis mode (`RedisWindow`, SPEC §4 and §13), against a real Redis: one window per
//! source whichever instance counts, exactly `limit` per interval, and asks made together share a script call.

use fred::prelude::{ClientLike, KeysInterface};
use herald::domain::{RateLimit, SourceName};
use herald::redis::RedisWindow;
use secrecy::SecretString;

use crate::helpers::{PrivateRedis, eventually_some, free_port, redis_url};

async fn client() -> fred::clients::Client {
    herald::redis::client(&SecretString::from(redis_url()))
        .await
        .expect("Redis")
}

fn stream() -> String {
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    format!("herald:test:{id}:events")
}

fn source(name: &str) -> SourceName {
    SourceName::parse(name.to_owned()).expect("valid source name")
}

#[tokio::test]
async fn two_instances_grant_exactly_the_limit_of_each_sources_window_between_them() {
    // Arrange: two instances' counters on one stream; 40 sources with 10 events per minute each.
    let stream = stream();
    let (a, b) = (
        RedisWindow::new(client().await, &stream),
        RedisWindow::new(client().await, &stream),
    );
    let limit = RateLimit::new(10, 60_000, 60_000).expect("valid limit");
    let sources: Vec<SourceName> = (0..40).map(|i| source(&format!("svc-{i}"))).collect();

    // Act: five rounds in which both instances ask for 3 slots for every source at once.
    let mut granted = vec![0u32; sources.len()];
    let mut refusals = Vec::new();
    for _ in 0..5 {
        let asks = sources
            .iter()
            .flat_map(|s| [a.take(s, limit, 3), b.take(s, limit, 3)]);
        let answers = futures::future::join_all(asks).await;
        for (i, answer) in answers.into_iter().enumerate() {
            let grant = answer.expect("Redis answers");
            assert!(grant.granted <= 3);
            granted[i / 2] += grant.granted;
            if grant.granted < 3 {
                refusals.push(grant.retry_in_ms);
            }
        }
    }

    // Assert: 30 asked per source, exactly 10 granted; every short grant says when a slot frees.
    assert_eq!(granted, vec![10; sources.len()]);
    assert!(!refusals.is_empty());
    assert!(
        refusals.iter().all(|&ms| (1..=60_000).contains(&ms)),
        "{refusals:?}"
    );
    // Asks made together share calls: 400 asks, far fewer script calls.
    let calls = a.script_calls() + b.script_calls();
    assert!(calls < 400 / 4, "{calls} script calls for 400 asks");
}

#[tokio::test]
async fn a_window_slides_and_its_key_expires_one_interval_after_the_last_write() {
    // Arrange
    let stream = stream();
    let redis = client().await;
    let window = RedisWindow::new(redis.clone(), &stream);
    let source = source("billing");
    let limit = RateLimit::new(5, 300, 300).expect("valid limit");

    // Act: fill the window, then ask for one more.
    let full = window.take(&source, limit, 5).await.expect("Redis answers");
    let over = window.take(&source, limit, 1).await.expect("Redis answers");

    // Assert: 5 granted, then none, with a slot freeing within the interval; the key expires with it.
    assert_eq!((full.granted, full.retry_in_ms), (5, 0));
    assert_eq!(over.granted, 0);
    assert!((1..=300).contains(&over.retry_in_ms), "{over:?}");
    let ttl: i64 = redis.pttl(window.key(&source)).await.expect("PTTL");
    assert!((1..=300).contains(&ttl), "PTTL {ttl}");

    // Act: ask again until the window has slid (a refused ask records nothing).
    let later = eventually_some("the window to slide", || async {
        let grant = window.take(&source, limit, 2).await.expect("Redis answers");
        (grant.granted > 0).then_some(grant)
    })
    .await;

    // Assert: the first five slid out together, so both fit at once.
    assert_eq!(later.granted, 2);
}

#[tokio::test]
async fn one_call_grants_a_large_ask_in_full() {
    // Arrange: a source whose stored batch is bigger than the script's ZADD chunk (500).
    let stream = stream();
    let redis = client().await;
    let window = RedisWindow::new(redis.clone(), &stream);
    let source = source("bulk");
    let limit = RateLimit::new(1_800, 60_000, 60_000).expect("valid limit");

    // Act
    let grant = window
        .take(&source, limit, 2_000)
        .await
        .expect("Redis answers");

    // Assert: exactly the limit was recorded, one member per event.
    assert_eq!(grant.granted, 1_800);
    let members: u64 = redis
        .custom(fred::cmd!("ZCARD"), vec![window.key(&source)])
        .await
        .expect("ZCARD");
    assert_eq!(members, 1_800);
}

#[tokio::test]
async fn every_ask_of_a_failed_call_gets_the_error_and_asks_after_a_redis_restart_are_served() {
    // Arrange: a Redis of the test's own, and a counter on it that has already loaded its script.
    let port = free_port();
    let redis = PrivateRedis::start(port).await;
    let window = RedisWindow::new(
        herald::redis::client(&SecretString::from(redis.url()))
            .await
            .expect("Redis"),
        &stream(),
    );
    let limit = RateLimit::new(10, 60_000, 60_000).expect("valid limit");
    let (a, b) = (source("a.api"), source("b.api"));
    assert_eq!(
        window
            .take(&a, limit, 1)
            .await
            .expect("Redis answers")
            .granted,
        1
    );

    // Act: Redis goes away; two limiters ask at once.
    drop(redis);
    let (during_a, during_b) = tokio::join!(window.take(&a, limit, 1), window.take(&b, limit, 1));

    // Assert: both get the error (each limiter then counts on its own instance).
    assert!(
        during_a.is_err() && during_b.is_err(),
        "{during_a:?} {during_b:?}"
    );

    // Act: Redis comes back empty, without the script.
    let _redis = PrivateRedis::start(port).await;
    let after = eventually_some("the counter to be served again", || async {
        window.take(&b, limit, 3).await.ok()
    })
    .await;

    // Assert: the script was loaded again and the window counts from zero.
    assert_eq!(after.granted, 3);
}
