//! The delivery outbox's claim against real PostgreSQL and SQLite: a claim takes a row once, and only in the
//! version its read saw, so a read that raced an attempt cannot start another one early (a stale claim after the
//! attempt was recorded `retrying` used to skip the retry schedule).

use chrono::{Duration, Utc};
use herald::storage::Storage;
use herald::trigger::{AttemptOutcome, AttemptRecord, AttemptResult, DeliveryStatus, NewDelivery};

use crate::helpers::{Db, Mode, TestEnv};

fn new_delivery(id: &str) -> NewDelivery {
    NewDelivery {
        id: id.to_owned(),
        trigger_id: "01TRIGGER0000000000000000A".to_owned(),
        trigger_version: 1,
        event_id: format!("event-{id}"),
        event_sequence: 1,
        replay_id: String::new(),
        status: DeliveryStatus::Pending,
        filtered_predicate: None,
        idempotency_key: None,
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_claim_takes_a_row_once_and_only_as_it_was_read() {
    for db in [Db::Postgres, Db::Sqlite] {
        let env = TestEnv::new(db, Mode::Inline).await;
        let storage = Storage::connect(&env.database_url).await.unwrap();
        storage.migrate().await.unwrap();
        let repo = storage.deliveries();
        let now = Utc::now();
        repo.record(vec![new_delivery("d1"), new_delivery("d2")], now)
            .await
            .unwrap();

        // Read with no attempt yet: claimed once; a second claim of the same read finds it taken.
        let first = repo.claim(&[("d1".into(), 0)], now).await.unwrap();
        assert_eq!(first.len(), 1, "{db:?}");
        assert!(
            repo.claim(&[("d1".into(), 0)], now)
                .await
                .unwrap()
                .is_empty(),
            "{db:?}"
        );

        // The attempt fails and is recorded `retrying` an hour from now.
        let retry_at = now + Duration::hours(1);
        repo.finish(
            "01TRIGGER0000000000000000A",
            &[AttemptResult {
                attempt: AttemptRecord {
                    delivery_id: "d1".into(),
                    attempt: 1,
                    started_at: now,
                    finished_at: now,
                    status_code: Some(503),
                    error: None,
                    duration_ms: 3,
                    outcome: AttemptOutcome::Retryable,
                },
                status: DeliveryStatus::Retrying,
                next_attempt_at: Some(retry_at),
            }],
        )
        .await
        .unwrap();

        // A claim from a read made before that attempt (attempts 0) is stale: nothing is claimed.
        assert!(
            repo.claim(&[("d1".into(), 0), ("d2".into(), 0)], now)
                .await
                .unwrap()
                .into_iter()
                .eq(["d2".to_owned()]),
            "{db:?}: only the untouched row is claimed"
        );
        // A read after it (attempts 1) claims it.
        assert_eq!(
            repo.claim(&[("d1".into(), 1)], now).await.unwrap().len(),
            1,
            "{db:?}"
        );
    }
}
