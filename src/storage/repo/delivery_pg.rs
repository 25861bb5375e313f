//! The delivery worker's hottest writes on PostgreSQL, as fixed statements over arrays (`unnest`, `= ANY`): the
//! text never changes with the batch size, so each is parsed once per connection and then only bound, and a
//! group of rows is one round trip. SQLite takes the portable path in `deliveries.rs`.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::storage::StorageError;
#[cfg(test)]
use crate::trigger::DeliveryStatus;
use crate::trigger::{AttemptResult, NewDelivery};

/// Marks the rows of `$1` that still wait with the attempt count of `$3` (as read) `delivering`, one more attempt
/// each, and returns their ids.
const CLAIM: &str = "\
UPDATE event_trigger_deliveries AS d SET status = 'delivering', attempts = d.attempts + 1, updated_at = $2 \
FROM unnest($1::text[], $3::integer[]) AS seen(id, attempts) \
WHERE d.id = seen.id AND d.attempts = seen.attempts \
  AND d.status IN ('pending', 'held', 'throttled', 'retrying') RETURNING d.id";

/// A claim need not wait for the disk: lost in a crash, the rows are still waiting and are claimed again, which
/// is the same at-least-once retry a kept `delivering` row gets after a crash (SPEC §5.5).
const BEGIN_CLAIM: &str = "BEGIN; SET LOCAL synchronous_commit TO OFF";

/// Records a group of attempts and gives each still-`delivering` delivery its new status, in one statement.
const FINISH: &str = "\
WITH v AS ( \
  SELECT * FROM unnest($1::text[], $2::integer[], $3::timestamptz[], $4::timestamptz[], $5::integer[], \
                       $6::text[], $7::bigint[], $8::text[], $9::text[], $10::timestamptz[]) \
    AS v(delivery_id, attempt, started_at, finished_at, status_code, error, duration_ms, outcome, status, \
         next_attempt_at) \
), recorded AS ( \
  INSERT INTO event_trigger_attempts \
    (delivery_id, trigger_id, attempt, started_at, finished_at, status_code, error, duration_ms, outcome) \
  SELECT delivery_id, $11, attempt, started_at, finished_at, status_code, error, duration_ms, outcome FROM v \
) \
UPDATE event_trigger_deliveries AS d SET status = v.status, next_attempt_at = v.next_attempt_at, \
  last_status_code = v.status_code, last_error = v.error, \
  delivered_at = CASE WHEN v.status = 'delivered' THEN v.finished_at END, updated_at = v.finished_at \
FROM v WHERE d.id = v.delivery_id AND d.status = 'delivering'";

/// Inserts outcome rows; a (trigger, event, replay) already recorded stays as it is.
const RECORD: &str = "\
INSERT INTO event_trigger_deliveries (id, trigger_id, event_id, replay_id, event_sequence, status, \
  filtered_predicate, idempotency_key, attempts, trigger_version, created_at, updated_at) \
SELECT id, trigger_id, event_id, replay_id, event_sequence, status, filtered_predicate, idempotency_key, 0, \
  trigger_version, $10, $10 \
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::integer[], \
            $8::text[], $9::integer[]) \
  AS v(id, trigger_id, event_id, replay_id, event_sequence, status, filtered_predicate, idempotency_key, \
       trigger_version) \
ON CONFLICT (trigger_id, event_id, replay_id) DO NOTHING";

pub(super) async fn claim(
    pool: &PgPool,
    seen: &[(String, i32)],
    now: DateTime<Utc>,
) -> Result<Vec<String>, StorageError> {
    let ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    let attempts: Vec<i32> = seen.iter().map(|(_, a)| *a).collect();
    let mut tx = pool.begin_with(BEGIN_CLAIM).await?;
    let claimed: Vec<String> = sqlx::query_scalar(CLAIM)
        .bind(ids)
        .bind(now)
        .bind(attempts)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(claimed)
}

pub(super) async fn finish(
    pool: &PgPool,
    trigger_id: &str,
    results: &[AttemptResult],
) -> Result<(), StorageError> {
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r.attempt.delivery_id.as_str())
        .collect();
    let attempt: Vec<i32> = results.iter().map(|r| r.attempt.attempt).collect();
    let started: Vec<DateTime<Utc>> = results.iter().map(|r| r.attempt.started_at).collect();
    let finished: Vec<DateTime<Utc>> = results.iter().map(|r| r.attempt.finished_at).collect();
    let code: Vec<Option<i32>> = results.iter().map(|r| r.attempt.status_code).collect();
    let error: Vec<Option<&str>> = results.iter().map(|r| r.attempt.error.as_deref()).collect();
    let duration: Vec<i64> = results.iter().map(|r| r.attempt.duration_ms).collect();
    let outcome: Vec<&str> = results.iter().map(|r| r.attempt.outcome.as_str()).collect();
    let status: Vec<&str> = results.iter().map(|r| r.status.as_str()).collect();
    let next: Vec<Option<DateTime<Utc>>> = results.iter().map(|r| r.next_attempt_at).collect();
    sqlx::query(FINISH)
        .bind(ids)
        .bind(attempt)
        .bind(started)
        .bind(finished)
        .bind(code)
        .bind(error)
        .bind(duration)
        .bind(outcome)
        .bind(status)
        .bind(next)
        .bind(trigger_id)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn record<'c, E>(
    conn: E,
    rows: &[NewDelivery],
    now: DateTime<Utc>,
) -> Result<(), StorageError>
where
    E: sqlx::PgExecutor<'c>,
{
    let text = |f: fn(&NewDelivery) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    let sequence: Vec<i64> = rows.iter().map(|r| r.event_sequence).collect();
    let predicate: Vec<Option<i32>> = rows.iter().map(|r| r.filtered_predicate).collect();
    let key: Vec<Option<&str>> = rows.iter().map(|r| r.idempotency_key.as_deref()).collect();
    let version: Vec<i32> = rows.iter().map(|r| r.trigger_version).collect();
    sqlx::query(RECORD)
        .bind(text(|r| &r.id))
        .bind(text(|r| &r.trigger_id))
        .bind(text(|r| &r.event_id))
        .bind(text(|r| &r.replay_id))
        .bind(sequence)
        .bind(text(|r| r.status.as_str()))
        .bind(predicate)
        .bind(key)
        .bind(version)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claim_picks_up_exactly_the_waiting_statuses() {
        let (_, picked) = CLAIM.split_once("WHERE").expect("the claim has a WHERE");
        for status in DeliveryStatus::ALL {
            let listed = picked.contains(&format!("'{}'", status.as_str()));
            assert_eq!(
                listed,
                super::super::deliveries::WAITING.contains(&status),
                "{status:?}"
            );
        }
    }
}
