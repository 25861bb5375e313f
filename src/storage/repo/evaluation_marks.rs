//! `trigger_evaluation_marks` (SPEC §3's evaluation guarantee): each instance's heartbeat of where its
//! unevaluated stored events begin, and the read that evaluates a stopped instance's events again.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::rows::event_from_model;
use crate::domain::StoredEvent;
use crate::storage::StorageError;
use crate::storage::entity::{
    source_deferrals as deferrals, trigger_evaluation_marks as marks, workflow_events as events,
};

/// A stored mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationMark {
    /// The instance.
    pub instance_id: String,
    /// Where its unevaluated events begin.
    pub unsettled_from: i64,
    /// Its last heartbeat.
    pub updated_at: DateTime<Utc>,
}

/// Evaluation marks.
#[derive(Debug, Clone, Copy)]
pub struct EvaluationMarksRepo<'a> {
    write: &'a DatabaseConnection,
}

impl<'a> EvaluationMarksRepo<'a> {
    pub(crate) fn new(write: &'a DatabaseConnection) -> Self {
        EvaluationMarksRepo { write }
    }

    /// Writes `instance`'s mark (and heartbeat).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn save(
        &self,
        instance: &str,
        unsettled_from: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        marks::Entity::insert(marks::ActiveModel {
            instance_id: Set(instance.to_owned()),
            unsettled_from: Set(unsettled_from),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(marks::Column::InstanceId)
                .update_columns([marks::Column::UnsettledFrom, marks::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(self.write)
        .await?;
        Ok(())
    }

    /// Every mark but `instance`'s.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn others(&self, instance: &str) -> Result<Vec<EvaluationMark>, StorageError> {
        Ok(marks::Entity::find()
            .filter(marks::Column::InstanceId.ne(instance))
            .all(self.write)
            .await?
            .into_iter()
            .map(|m| EvaluationMark {
                instance_id: m.instance_id,
                unsettled_from: m.unsettled_from,
                updated_at: m.updated_at,
            })
            .collect())
    }

    /// Forgets a mark once its events are evaluated again.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn delete(&self, instance: &str) -> Result<(), StorageError> {
        marks::Entity::delete_by_id(instance)
            .exec(self.write)
            .await?;
        Ok(())
    }

    /// The highest stored `ingressSequence` (0 when none).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn max_sequence(&self) -> Result<i64, StorageError> {
        let max: Option<Option<i64>> = events::Entity::find()
            .select_only()
            .column_as(events::Column::IngressSequence.max(), "max")
            .into_tuple()
            .one(self.write)
            .await?;
        Ok(max.flatten().unwrap_or(0))
    }

    /// The `sequences` that are durably deferred by their source's rate limit.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn deferred_among(&self, sequences: &[i64]) -> Result<Vec<i64>, StorageError> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        Ok(deferrals::Entity::find()
            .select_only()
            .column(deferrals::Column::IngressSequence)
            .filter(deferrals::Column::IngressSequence.is_in(sequences.iter().copied()))
            .into_tuple()
            .all(self.write)
            .await?)
    }

    /// Up to `limit` stored events with `ingressSequence` ≥ `from`, in order, leaving out those deferred by their
    /// source's rate limit (their limiter releases them).
    ///
    /// # Errors
    /// [`StorageError::Database`] or [`StorageError::Corrupt`].
    pub async fn events_from(
        &self,
        from: i64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        events::Entity::find()
            .filter(events::Column::IngressSequence.gte(from))
            .filter(
                events::Column::IngressSequence.not_in_subquery(
                    Query::select()
                        .column(deferrals::Column::IngressSequence)
                        .from(deferrals::Entity)
                        .and_where(Expr::col(deferrals::Column::IngressSequence).gte(from))
                        .to_owned(),
                ),
            )
            .order_by_asc(events::Column::IngressSequence)
            .limit(limit)
            .all(self.write)
            .await?
            .into_iter()
            .map(event_from_model)
            .collect()
    }
}
