//! Reads and writes of `replays` (SPEC §6.2), and the replay's own deliveries in `event_trigger_deliveries`.
//!
//! A step of a replay is one transaction: the replay's cursor and counts move only if it still runs from the
//! cursor the step read at (a compare-and-set, so a cancel, or a second instance running the same replay during a
//! lease hand-over, makes the step write nothing), and the step's deliveries are inserted beside it, `ON CONFLICT
//! DO NOTHING` on (trigger, event, replay). A crash between steps therefore resumes at the last recorded cursor
//! and records no delivery twice; a cancel and a step never interleave.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::deliveries::{WAITING, insert_new};
use super::rows::{invalid, unknown};
use crate::domain::{NameKind, NamePattern, ValidationError};
use crate::storage::StorageError;
use crate::storage::entity::{event_trigger_deliveries as deliveries, replays};
use crate::trigger::{
    DeliveryStatus, NewDelivery, Replay, ReplayRequest, ReplayStatus, ReplayStep,
};

const TABLE: &str = "replays";

/// Replays.
#[derive(Debug, Clone, Copy)]
pub struct ReplaysRepo<'a> {
    write: &'a DatabaseConnection,
}

impl<'a> ReplaysRepo<'a> {
    pub(crate) fn new(write: &'a DatabaseConnection) -> Self {
        ReplaysRepo { write }
    }

    /// Records a replay asked for by `created_by`, `pending`, to read events up to `upper_sequence`.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn create(
        &self,
        id: &str,
        request: &ReplayRequest,
        upper_sequence: i64,
        created_by: &str,
        now: DateTime<Utc>,
    ) -> Result<Replay, StorageError> {
        let row = replays::ActiveModel {
            id: Set(id.to_owned()),
            status: Set(ReplayStatus::Pending.as_str().to_owned()),
            dry_run: Set(request.dry_run),
            from_at: Set(request.from),
            to_at: Set(request.to),
            event_type: Set(request.event_type.as_ref().map(|p| p.as_str().to_owned())),
            event_source: Set(request.source.as_ref().map(|p| p.as_str().to_owned())),
            trigger_ids: Set(serde_json::Value::from(request.trigger_ids.clone()).to_string()),
            rate_per_second: Set(request.rate_per_second),
            upper_sequence: Set(upper_sequence),
            cursor: Set(0),
            total: Set(None),
            scanned: Set(0),
            matched: Set(0),
            created_by: Set(created_by.to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            started_at: Set(None),
            finished_at: Set(None),
        };
        replays::Entity::insert(row)
            .exec_without_returning(self.write)
            .await?;
        Ok(Replay {
            id: id.to_owned(),
            request: request.clone(),
            status: ReplayStatus::Pending,
            upper_sequence,
            cursor: 0,
            total: None,
            scanned: 0,
            matched: 0,
            created_by: created_by.to_owned(),
            created_at: now,
            started_at: None,
            finished_at: None,
        })
    }

    /// The replay `id`.
    ///
    /// # Errors
    /// [`StorageError::Database`] or [`StorageError::Corrupt`].
    pub async fn find(&self, id: &str) -> Result<Option<Replay>, StorageError> {
        replays::Entity::find_by_id(id.to_owned())
            .one(self.write)
            .await?
            .map(replay_from_model)
            .transpose()
    }

    /// The replays still to be read through (`pending`, `running`), oldest first.
    ///
    /// # Errors
    /// [`StorageError::Database`] or [`StorageError::Corrupt`].
    pub async fn open(&self) -> Result<Vec<Replay>, StorageError> {
        replays::Entity::find()
            .filter(replays::Column::Status.is_in([
                ReplayStatus::Pending.as_str(),
                ReplayStatus::Running.as_str(),
            ]))
            .order_by_asc(replays::Column::Id)
            .all(self.write)
            .await?
            .into_iter()
            .map(replay_from_model)
            .collect()
    }

    /// Marks the replay `running` with the events of its range counted (`None`: counting took too long), if it is
    /// still open. Returns whether it
    /// was.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn start(
        &self,
        id: &str,
        total: Option<u64>,
        started_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let started = replays::Entity::update_many()
            .col_expr(
                replays::Column::Status,
                Expr::value(ReplayStatus::Running.as_str()),
            )
            .col_expr(replays::Column::Total, Expr::value(total.map(|n| n as i64)))
            .col_expr(replays::Column::StartedAt, Expr::value(Some(started_at)))
            .col_expr(replays::Column::UpdatedAt, Expr::value(now))
            .filter(replays::Column::Id.eq(id))
            .filter(replays::Column::Status.is_in([
                ReplayStatus::Pending.as_str(),
                ReplayStatus::Running.as_str(),
            ]))
            .exec(self.write)
            .await?;
        Ok(started.rows_affected == 1)
    }

    /// Records one step: moves the cursor and counts (completing the replay when `step.done`) and inserts its
    /// deliveries, in one transaction, if the replay still runs from `step.from_cursor`. Returns whether it did;
    /// `false` means the replay was cancelled or moved on elsewhere, and nothing was written.
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing is written then.
    pub async fn advance(
        &self,
        id: &str,
        step: &ReplayStep,
        rows: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let txn = self.write.begin().await?;
        let mut update = replays::Entity::update_many()
            .col_expr(replays::Column::Cursor, Expr::value(step.cursor))
            .col_expr(
                replays::Column::Scanned,
                Expr::col(replays::Column::Scanned).add(step.scanned as i64),
            )
            .col_expr(
                replays::Column::Matched,
                Expr::col(replays::Column::Matched).add(step.matched as i64),
            )
            .col_expr(replays::Column::UpdatedAt, Expr::value(now));
        if step.done {
            update = update
                .col_expr(
                    replays::Column::Status,
                    Expr::value(ReplayStatus::Completed.as_str()),
                )
                .col_expr(replays::Column::FinishedAt, Expr::value(Some(now)));
        }
        let moved = update
            .filter(replays::Column::Id.eq(id))
            .filter(replays::Column::Status.eq(ReplayStatus::Running.as_str()))
            .filter(replays::Column::Cursor.eq(step.from_cursor))
            .exec(&txn)
            .await?;
        if moved.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        insert_new(&txn, rows, now).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Cancels the replay: it stops reading (unless it was already cancelled) and its deliveries still waiting for
    /// an attempt become `cancelled` (an attempt in flight finishes). Returns `None` for an unknown replay,
    /// otherwise how many deliveries it cancelled.
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing changes then.
    pub async fn cancel(&self, id: &str, now: DateTime<Utc>) -> Result<Option<u64>, StorageError> {
        let txn = self.write.begin().await?;
        let exists = replays::Entity::find_by_id(id.to_owned())
            .select_only()
            .column(replays::Column::Id)
            .into_tuple::<String>()
            .one(&txn)
            .await?
            .is_some();
        if !exists {
            txn.rollback().await?;
            return Ok(None);
        }
        replays::Entity::update_many()
            .col_expr(
                replays::Column::Status,
                Expr::value(ReplayStatus::Cancelled.as_str()),
            )
            .col_expr(replays::Column::FinishedAt, Expr::value(Some(now)))
            .col_expr(replays::Column::UpdatedAt, Expr::value(now))
            .filter(replays::Column::Id.eq(id))
            .filter(replays::Column::Status.ne(ReplayStatus::Cancelled.as_str()))
            .exec(&txn)
            .await?;
        let cancelled = deliveries::Entity::update_many()
            .col_expr(
                deliveries::Column::Status,
                Expr::value(DeliveryStatus::Cancelled.as_str()),
            )
            .col_expr(
                deliveries::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(deliveries::Column::ReplayId.eq(id))
            .filter(deliveries::Column::Status.is_in(WAITING.map(DeliveryStatus::as_str)))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Some(cancelled.rows_affected))
    }

    /// The replay's deliveries counted by status.
    ///
    /// # Errors
    /// [`StorageError::Database`] or [`StorageError::Corrupt`].
    pub async fn delivery_counts(
        &self,
        id: &str,
    ) -> Result<HashMap<DeliveryStatus, u64>, StorageError> {
        let rows: Vec<(String, i64)> = deliveries::Entity::find()
            .select_only()
            .column(deliveries::Column::Status)
            .column_as(deliveries::Column::Id.count(), "n")
            .filter(deliveries::Column::ReplayId.eq(id))
            .group_by(deliveries::Column::Status)
            .into_tuple()
            .all(self.write)
            .await?;
        rows.into_iter()
            .map(|(status, n)| {
                let status =
                    status
                        .parse()
                        .map_err(unknown("event_trigger_deliveries", id, "status"))?;
                Ok((status, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }
}

fn replay_from_model(m: replays::Model) -> Result<Replay, StorageError> {
    let key = m.id.clone();
    let status = m.status.parse().map_err(unknown(TABLE, &key, "status"))?;
    let pattern = |text: Option<String>, kind, column| {
        text.map(|t| NamePattern::parse(&t, kind, column))
            .transpose()
            .map_err(invalid(TABLE, &key, column))
    };
    let event_type = pattern(m.event_type, NameKind::Type, "event_type")?;
    let source = pattern(m.event_source, NameKind::Source, "event_source")?;
    let trigger_ids: Vec<String> = serde_json::from_str(&m.trigger_ids).map_err(|e| {
        invalid(TABLE, &key, "trigger_ids")(ValidationError::invalid(
            "trigger_ids",
            format!("is not a JSON array of strings: {e}"),
        ))
    })?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(Replay {
        id: m.id,
        request: ReplayRequest {
            from: m.from_at,
            to: m.to_at,
            event_type,
            source,
            trigger_ids,
            dry_run: m.dry_run,
            rate_per_second: m.rate_per_second,
        },
        status,
        upper_sequence: m.upper_sequence,
        cursor: m.cursor,
        total: m.total.map(count),
        scanned: count(m.scanned),
        matched: count(m.matched),
        created_by: m.created_by,
        created_at: m.created_at,
        started_at: m.started_at,
        finished_at: m.finished_at,
    })
}
