//! Counts over `event_trigger_deliveries` for health (SPEC §6.9): per-trigger outcome counts, last error and last
//! delivery, and the trigger queue's depth and age.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::triggers::open_statuses;
use crate::storage::StorageError;
use crate::storage::entity::event_trigger_deliveries as deliveries;
use crate::trigger::DeliveryStatus;

/// One trigger's deliveries at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriggerSummary {
    /// Deliveries per status.
    pub counts: HashMap<DeliveryStatus, u64>,
    /// The error of its most recently failed or retrying delivery.
    pub last_error: Option<String>,
    /// When it last delivered.
    pub last_delivered_at: Option<DateTime<Utc>>,
}

/// The trigger queue: deliveries with work ahead of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryQueue {
    /// Open deliveries (`pending`, `held`, `throttled`, `retrying`, `delivering`).
    pub open: u64,
    /// Attempts in flight.
    pub delivering: u64,
    /// When the oldest open delivery was recorded.
    pub oldest_open_at: Option<DateTime<Utc>>,
}

/// Delivery counts.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryStatsRepo<'a> {
    read: &'a DatabaseConnection,
}

impl<'a> DeliveryStatsRepo<'a> {
    pub(crate) fn new(read: &'a DatabaseConnection) -> Self {
        DeliveryStatsRepo { read }
    }

    /// The summaries of `trigger_ids`.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn summaries(
        &self,
        trigger_ids: &[&str],
    ) -> Result<HashMap<String, TriggerSummary>, StorageError> {
        let mut out: HashMap<String, TriggerSummary> = HashMap::new();
        if trigger_ids.is_empty() {
            return Ok(out);
        }
        let counts: Vec<(String, String, i64)> = deliveries::Entity::find()
            .select_only()
            .column(deliveries::Column::TriggerId)
            .column(deliveries::Column::Status)
            .column_as(deliveries::Column::Id.count(), "n")
            .filter(deliveries::Column::TriggerId.is_in(trigger_ids.iter().copied()))
            .group_by(deliveries::Column::TriggerId)
            .group_by(deliveries::Column::Status)
            .into_tuple()
            .all(self.read)
            .await?;
        for (trigger, status, n) in counts {
            if let Ok(status) = status.parse() {
                out.entry(trigger)
                    .or_default()
                    .counts
                    .insert(status, n.max(0) as u64);
            }
        }
        let delivered: Vec<(String, Option<DateTime<Utc>>)> = deliveries::Entity::find()
            .select_only()
            .column(deliveries::Column::TriggerId)
            .column_as(deliveries::Column::DeliveredAt.max(), "last")
            .filter(deliveries::Column::TriggerId.is_in(trigger_ids.iter().copied()))
            .filter(deliveries::Column::Status.eq(DeliveryStatus::Delivered.as_str()))
            .group_by(deliveries::Column::TriggerId)
            .into_tuple()
            .all(self.read)
            .await?;
        for (trigger, at) in delivered {
            out.entry(trigger).or_default().last_delivered_at = at;
        }
        // The most recent errors first; the first seen per trigger is its last error.
        let errors: Vec<(String, Option<String>)> = deliveries::Entity::find()
            .select_only()
            .column(deliveries::Column::TriggerId)
            .column(deliveries::Column::LastError)
            .filter(deliveries::Column::TriggerId.is_in(trigger_ids.iter().copied()))
            .filter(deliveries::Column::Status.is_in([
                DeliveryStatus::Failed.as_str(),
                DeliveryStatus::Retrying.as_str(),
            ]))
            .order_by_desc(deliveries::Column::UpdatedAt)
            .limit(1_000)
            .into_tuple()
            .all(self.read)
            .await?;
        for (trigger, error) in errors {
            let summary = out.entry(trigger).or_default();
            if summary.last_error.is_none() {
                summary.last_error = error;
            }
        }
        Ok(out)
    }

    /// How many outcome rows there are in all (benchmarks).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn total(&self) -> Result<u64, StorageError> {
        let n: Option<i64> = deliveries::Entity::find()
            .select_only()
            .column_as(deliveries::Column::Id.count(), "n")
            .into_tuple()
            .one(self.read)
            .await?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    /// The trigger queue.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn queue(&self) -> Result<DeliveryQueue, StorageError> {
        let open =
            || deliveries::Entity::find().filter(deliveries::Column::Status.is_in(open_statuses()));
        let (count, oldest): (i64, Option<DateTime<Utc>>) = open()
            .select_only()
            .column_as(deliveries::Column::Id.count(), "n")
            .column_as(deliveries::Column::CreatedAt.min(), "oldest")
            .into_tuple()
            .one(self.read)
            .await?
            .unwrap_or((0, None));
        let delivering: Option<i64> = deliveries::Entity::find()
            .filter(deliveries::Column::Status.eq(DeliveryStatus::Delivering.as_str()))
            .select_only()
            .column_as(deliveries::Column::Id.count(), "n")
            .into_tuple()
            .one(self.read)
            .await?;
        Ok(DeliveryQueue {
            open: count.max(0) as u64,
            delivering: delivering.unwrap_or(0).max(0) as u64,
            oldest_open_at: oldest,
        })
    }

    /// Retrying deliveries for health: `(total, overdue, next due)`.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn retry_summary(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(u64, u64, Option<DateTime<Utc>>), StorageError> {
        let retrying = || {
            deliveries::Entity::find()
                .filter(deliveries::Column::Status.eq(DeliveryStatus::Retrying.as_str()))
        };
        let total: Option<i64> = retrying()
            .select_only()
            .column_as(deliveries::Column::Id.count(), "n")
            .into_tuple()
            .one(self.read)
            .await?;
        let overdue: Option<i64> = retrying()
            .filter(deliveries::Column::NextAttemptAt.lt(now))
            .select_only()
            .column_as(deliveries::Column::Id.count(), "n")
            .into_tuple()
            .one(self.read)
            .await?;
        let next: Option<Option<DateTime<Utc>>> = retrying()
            .select_only()
            .column_as(deliveries::Column::NextAttemptAt.min(), "next")
            .into_tuple()
            .one(self.read)
            .await?;
        Ok((
            total.unwrap_or(0).max(0) as u64,
            overdue.unwrap_or(0).max(0) as u64,
            next.flatten(),
        ))
    }
}
