//! Reads and writes of `event_trigger_deliveries` and `event_trigger_attempts` (SPEC §5.3, §5.6, §6.3): the
//! outcome of every (trigger, event) pair, and the outbox the delivery worker drains.
//!
//! - [`DeliveriesRepo::record`] writes a batch of outcomes in one transaction, `ON CONFLICT DO NOTHING` on
//!   (trigger, event, replay): evaluating an event twice (a resumed evaluation after a crash) records nothing new.
//! - The worker reads a trigger's due deliveries in event order ([`DeliveriesRepo::due`]), claims them
//!   ([`DeliveriesRepo::claim`]: `delivering`, one more attempt) and records each attempt with the delivery's new
//!   status in one transaction ([`DeliveriesRepo::finish`]).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};

use super::delivery_pg;
use super::rows::event_from_model;
use super::trigger_rows::{attempt_row, delivery_from_model, delivery_row};
use crate::domain::StoredEvent;
use crate::storage::StorageError;
use crate::storage::entity::{
    event_trigger_attempts as attempts, event_trigger_deliveries as deliveries,
    workflow_events as events,
};
use crate::trigger::{AttemptResult, Delivery, DeliveryStatus, NewDelivery};

/// Rows per `INSERT`: 16 columns each stays under SQLite's 32,766 bound parameters.
const INSERT_CHUNK: usize = 1_000;

/// Deliveries per SQLite `UPDATE` in [`DeliveriesRepo::finish`] (7 parameters each).
const FINISH_CHUNK: usize = 1_000;

/// The statuses the worker picks up when due.
pub(super) const WAITING: [DeliveryStatus; 4] = [
    DeliveryStatus::Pending,
    DeliveryStatus::Held,
    DeliveryStatus::Throttled,
    DeliveryStatus::Retrying,
];

/// Deliveries and attempts.
#[derive(Debug, Clone, Copy)]
pub struct DeliveriesRepo<'a> {
    write: &'a DatabaseConnection,
}

impl<'a> DeliveriesRepo<'a> {
    pub(crate) fn new(write: &'a DatabaseConnection) -> Self {
        DeliveriesRepo { write }
    }

    fn is_postgres(&self) -> bool {
        self.write.get_database_backend() == DbBackend::Postgres
    }

    fn pg(&self) -> &sqlx::PgPool {
        self.write.get_postgres_connection_pool()
    }

    /// Records a batch of outcomes in one transaction. A `pending` row whose idempotency key the trigger has
    /// seen before (on a delivery that was not filtered, expired, skipped or cancelled), or earlier in this batch,
    /// is recorded `skipped`. A pair already recorded stays as it is.
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing is recorded then.
    #[tracing::instrument(name = "record_outcomes", skip_all, fields(rows = rows.len()))]
    pub async fn record(
        &self,
        mut rows: Vec<NewDelivery>,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        if rows.is_empty() {
            return Ok(());
        }
        let keyed: Vec<(String, String)> = rows
            .iter()
            .filter(|r| r.status == DeliveryStatus::Pending)
            .filter_map(|r| Some((r.trigger_id.clone(), r.idempotency_key.clone()?)))
            .collect();
        // The evaluation writer is the only writer of an instance, and several instances do not serialise on
        // keys either way: the look-up need not share the insert's transaction.
        if !keyed.is_empty() {
            let mut seen: HashSet<(String, String)> = HashSet::new();
            let mut by_trigger: HashMap<&str, Vec<&str>> = HashMap::new();
            for (trigger, key) in &keyed {
                by_trigger.entry(trigger).or_default().push(key);
            }
            for (trigger, keys) in by_trigger {
                let found: Vec<Option<String>> = deliveries::Entity::find()
                    .select_only()
                    .column(deliveries::Column::IdempotencyKey)
                    .filter(deliveries::Column::TriggerId.eq(trigger))
                    .filter(deliveries::Column::IdempotencyKey.is_in(keys))
                    .filter(deliveries::Column::Status.is_not_in([
                        DeliveryStatus::Filtered.as_str(),
                        DeliveryStatus::Expired.as_str(),
                        DeliveryStatus::Skipped.as_str(),
                        DeliveryStatus::Cancelled.as_str(),
                    ]))
                    .into_tuple()
                    .all(self.write)
                    .await?;
                seen.extend(found.into_iter().flatten().map(|k| (trigger.to_owned(), k)));
            }
            for row in &mut rows {
                if row.status != DeliveryStatus::Pending {
                    continue;
                }
                if let Some(key) = &row.idempotency_key
                    && !seen.insert((row.trigger_id.clone(), key.clone()))
                {
                    row.status = DeliveryStatus::Skipped;
                }
            }
        }
        if self.is_postgres() {
            // One statement, atomic by itself.
            return delivery_pg::record(self.pg(), &rows, now).await;
        }
        let txn = self.write.begin().await?;
        insert_new(&txn, &rows, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Up to `limit` of the trigger's deliveries waiting for an attempt that are due at `now`, in event order,
    /// each with its event (a delivery whose event is gone is left out).
    ///
    /// # Errors
    /// [`StorageError::Database`] or [`StorageError::Corrupt`].
    pub async fn due(
        &self,
        trigger_id: &str,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(Delivery, StoredEvent)>, StorageError> {
        // One index range scan per status (trigger, status, event_sequence), merged here: a scan over the four
        // statuses at once would sort every waiting delivery of the trigger on each call.
        let mut rows = Vec::new();
        for status in WAITING {
            let mut query = deliveries::Entity::find()
                .filter(deliveries::Column::TriggerId.eq(trigger_id))
                .filter(deliveries::Column::Status.eq(status.as_str()));
            if matches!(status, DeliveryStatus::Retrying | DeliveryStatus::Throttled) {
                query = query.filter(
                    Condition::any()
                        .add(deliveries::Column::NextAttemptAt.is_null())
                        .add(deliveries::Column::NextAttemptAt.lte(now)),
                );
            }
            rows.extend(
                query
                    .order_by_asc(deliveries::Column::EventSequence)
                    .limit(limit)
                    .all(self.write)
                    .await?,
            );
        }
        rows.sort_by(|a, b| (a.event_sequence, &a.id).cmp(&(b.event_sequence, &b.id)));
        rows.truncate(limit as usize);
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
        let mut found: HashMap<String, StoredEvent> = HashMap::new();
        for m in events::Entity::find()
            .filter(events::Column::Id.is_in(ids))
            .all(self.write)
            .await?
        {
            let event = event_from_model(m)?;
            found.insert(event.envelope.id.as_str().to_owned(), event);
        }
        let mut due = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(event) = found.get(&row.event_id) {
                let event = event.clone();
                due.push((delivery_from_model(row)?, event));
            }
        }
        Ok(due)
    }

    /// When the trigger's next retry or throttled delivery falls due (`None`: nothing waits on a time; `pending`
    /// and `held` ones never do).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn next_due_at(
        &self,
        trigger_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StorageError> {
        let next: Option<Option<DateTime<Utc>>> = deliveries::Entity::find()
            .select_only()
            .column_as(deliveries::Column::NextAttemptAt.min(), "next")
            .filter(deliveries::Column::TriggerId.eq(trigger_id))
            .filter(deliveries::Column::Status.is_in([
                DeliveryStatus::Retrying.as_str(),
                DeliveryStatus::Throttled.as_str(),
            ]))
            .into_tuple()
            .one(self.write)
            .await?;
        Ok(next.flatten())
    }

    /// Marks the deliveries `delivering` with one more attempt each, if each still waits with the attempt count
    /// it was read with: `seen` is (id, attempts as read). A read that raced an attempt (it saw the row due before
    /// that attempt's claim, and claims after the attempt was recorded) claims nothing, and an operator's cancel
    /// meanwhile stands. Returns the ids claimed.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn claim(
        &self,
        seen: &[(String, i32)],
        now: DateTime<Utc>,
    ) -> Result<HashSet<String>, StorageError> {
        if seen.is_empty() {
            return Ok(HashSet::new());
        }
        if self.is_postgres() {
            return Ok(delivery_pg::claim(self.pg(), seen, now)
                .await?
                .into_iter()
                .collect());
        }
        // One statement per attempt count read (usually one or two): the rows that still wait are the rows it
        // changed. SQLite has a single writer, so these run one after another either way.
        let mut by_attempts: HashMap<i32, Vec<&str>> = HashMap::new();
        for (id, attempts) in seen {
            by_attempts.entry(*attempts).or_default().push(id);
        }
        let mut claimed = HashSet::new();
        for (attempts, ids) in by_attempts {
            claimed.extend(self.claim_sqlite(&ids, attempts, now).await?);
        }
        Ok(claimed)
    }

    async fn claim_sqlite(
        &self,
        ids: &[&str],
        attempts: i32,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StorageError> {
        let claimed = deliveries::Entity::update_many()
            .col_expr(
                deliveries::Column::Status,
                Expr::value(DeliveryStatus::Delivering.as_str()),
            )
            .col_expr(
                deliveries::Column::Attempts,
                sea_orm::sea_query::ExprTrait::add(Expr::col(deliveries::Column::Attempts), 1),
            )
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(deliveries::Column::Id.is_in(ids.iter().copied()))
            .filter(deliveries::Column::Attempts.eq(attempts))
            .filter(deliveries::Column::Status.is_in(WAITING.map(DeliveryStatus::as_str)))
            .exec_with_returning(self.write)
            .await?;
        Ok(claimed.into_iter().map(|m| m.id).collect())
    }

    /// Sets `ids` to `status` (`held`, `throttled`, `expired`) with `next_attempt_at`, if they still wait.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn park(
        &self,
        ids: &[String],
        status: DeliveryStatus,
        next_attempt_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        if ids.is_empty() {
            return Ok(());
        }
        deliveries::Entity::update_many()
            .col_expr(deliveries::Column::Status, Expr::value(status.as_str()))
            .col_expr(
                deliveries::Column::NextAttemptAt,
                Expr::value(next_attempt_at),
            )
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(deliveries::Column::Id.is_in(ids.iter().map(String::as_str)))
            .filter(deliveries::Column::Status.is_in(WAITING.map(DeliveryStatus::as_str)))
            .exec(self.write)
            .await?;
        Ok(())
    }

    /// Makes the trigger's `throttled` deliveries due now (its throttle changed).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn release_throttled(
        &self,
        trigger_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        let released = deliveries::Entity::update_many()
            .col_expr(
                deliveries::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(deliveries::Column::TriggerId.eq(trigger_id))
            .filter(deliveries::Column::Status.eq(DeliveryStatus::Throttled.as_str()))
            .exec(self.write)
            .await?;
        Ok(released.rows_affected)
    }

    /// Turns the trigger's `pending` deliveries `held` (it is paused).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn hold_pending(
        &self,
        trigger_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        let held = deliveries::Entity::update_many()
            .col_expr(
                deliveries::Column::Status,
                Expr::value(DeliveryStatus::Held.as_str()),
            )
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(deliveries::Column::TriggerId.eq(trigger_id))
            .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .exec(self.write)
            .await?;
        Ok(held.rows_affected)
    }

    /// Records finished attempts and their deliveries' new statuses, in one transaction.
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing is recorded then.
    pub async fn finish(
        &self,
        trigger_id: &str,
        results: &[AttemptResult],
    ) -> Result<(), StorageError> {
        if results.is_empty() {
            return Ok(());
        }
        if self.is_postgres() {
            return delivery_pg::finish(self.pg(), trigger_id, results).await;
        }
        let txn = self.write.begin().await?;
        attempts::Entity::insert_many(results.iter().map(|r| attempt_row(trigger_id, &r.attempt)))
            .exec_without_returning(&txn)
            .await?;
        for chunk in results.chunks(FINISH_CHUNK) {
            txn.execute_raw(finish_statement(chunk)).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Deliveries left `delivering` by an owner that stopped (crash, or lease lost) go back to `retrying`, due
    /// now: their attempt may have reached the target (SPEC §5.5 at-least-once). `None` = every trigger.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn resume_in_flight(
        &self,
        trigger_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        let mut update = deliveries::Entity::update_many()
            .col_expr(
                deliveries::Column::Status,
                Expr::value(DeliveryStatus::Retrying.as_str()),
            )
            .col_expr(deliveries::Column::NextAttemptAt, Expr::value(Some(now)))
            .col_expr(
                deliveries::Column::LastError,
                Expr::value(Some(
                    "the instance delivering it stopped; the attempt may have reached the target"
                        .to_owned(),
                )),
            )
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(deliveries::Column::Status.eq(DeliveryStatus::Delivering.as_str()));
        if let Some(id) = trigger_id {
            update = update.filter(deliveries::Column::TriggerId.eq(id));
        }
        Ok(update.exec(self.write).await?.rows_affected)
    }

    /// The triggers with a `pending` delivery recorded since `since` (the owner wakes their actors: rows recorded
    /// by another instance).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn triggers_with_pending_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>, StorageError> {
        Ok(deliveries::Entity::find()
            .select_only()
            .column(deliveries::Column::TriggerId)
            .distinct()
            .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(deliveries::Column::CreatedAt.gte(since))
            .into_tuple()
            .all(self.write)
            .await?)
    }

    /// The triggers with deliveries waiting for an attempt or in flight (the directory at start-up: only their
    /// actors read their outboxes at once).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn triggers_with_open_work(&self) -> Result<Vec<String>, StorageError> {
        Ok(deliveries::Entity::find()
            .select_only()
            .column(deliveries::Column::TriggerId)
            .distinct()
            .filter(
                deliveries::Column::Status.is_in(
                    WAITING
                        .map(DeliveryStatus::as_str)
                        .into_iter()
                        .chain([DeliveryStatus::Delivering.as_str()]),
                ),
            )
            .into_tuple()
            .all(self.write)
            .await?)
    }

    /// Moves deliveries from one of `from` to `to` (due now, attempts kept): retry and redrive (`failed` or
    /// `cancelled` → `pending`), cancel (open → `cancelled`). `ids` or a trigger with a time range picks them.
    /// Returns how many moved.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn transition(
        &self,
        pick: Pick<'_>,
        from: &[DeliveryStatus],
        to: DeliveryStatus,
        now: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        let mut update = deliveries::Entity::update_many()
            .col_expr(deliveries::Column::Status, Expr::value(to.as_str()))
            .col_expr(
                deliveries::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(deliveries::Column::Status.is_in(from.iter().map(|s| s.as_str())));
        match pick {
            Pick::One(id) => update = update.filter(deliveries::Column::Id.eq(id)),
            Pick::Trigger { id, from, to } => {
                update = update.filter(deliveries::Column::TriggerId.eq(id));
                if let Some(from) = from {
                    update = update.filter(deliveries::Column::CreatedAt.gte(from));
                }
                if let Some(to) = to {
                    update = update.filter(deliveries::Column::CreatedAt.lte(to));
                }
            }
        }
        Ok(update.exec(self.write).await?.rows_affected)
    }
}

/// Inserts `rows` recorded at `now` on `conn` (a transaction of the caller's), in chunks; a (trigger, event,
/// replay) already recorded stays as it is.
pub(super) async fn insert_new(
    conn: &impl ConnectionTrait,
    rows: &[NewDelivery],
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        deliveries::Entity::insert_many(chunk.iter().map(|r| delivery_row(r, now)))
            .on_conflict(
                OnConflict::columns([
                    deliveries::Column::TriggerId,
                    deliveries::Column::EventId,
                    deliveries::Column::ReplayId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// Which deliveries a [`DeliveriesRepo::transition`] moves.
#[derive(Debug, Clone, Copy)]
pub enum Pick<'a> {
    /// One delivery.
    One(&'a str),
    /// A trigger's, recorded within a time range.
    Trigger {
        /// The trigger.
        id: &'a str,
        /// Recorded at or after.
        from: Option<DateTime<Utc>>,
        /// Recorded at or before.
        to: Option<DateTime<Utc>>,
    },
}

/// SQLite's [`DeliveriesRepo::finish`]: one `UPDATE` giving each delivery of `results` its new status, from a
/// `VALUES` list joined on the id (PostgreSQL's is `delivery_pg::FINISH`). Only rows still `delivering` change
/// (an operator's cancel meanwhile stands).
fn finish_statement(results: &[AttemptResult]) -> Statement {
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(results.len() * 7);
    for r in results {
        let a = &r.attempt;
        values.extend([
            a.delivery_id.clone().into(),
            r.status.as_str().into(),
            r.next_attempt_at.into(),
            a.status_code.into(),
            a.error.clone().into(),
            (r.status == DeliveryStatus::Delivered)
                .then_some(a.finished_at)
                .into(),
            a.finished_at.into(),
        ]);
    }
    let rows = vec!["(?, ?, ?, ?, ?, ?, ?)"; results.len()].join(", ");
    let sql = format!(
        "WITH v (id, status, next_attempt_at, last_status_code, last_error, delivered_at, updated_at) AS \
         (VALUES {rows}) \
         UPDATE event_trigger_deliveries SET status = v.status, next_attempt_at = v.next_attempt_at, \
         last_status_code = v.last_status_code, last_error = v.last_error, delivered_at = v.delivered_at, \
         updated_at = v.updated_at \
         FROM v WHERE event_trigger_deliveries.id = v.id AND event_trigger_deliveries.status = 'delivering'"
    );
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}
