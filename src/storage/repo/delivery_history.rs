//! Reads of `event_trigger_deliveries` and `event_trigger_attempts` for the API (SPEC §6.1, §6.3): one delivery
//! with its attempts, a trigger's deliveries page by page, an event's deliveries for its detail and timeline. The
//! worker's reads and every write are in `deliveries.rs`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::trigger_rows::{attempt_from_model, delivery_from_model};
use crate::storage::StorageError;
use crate::storage::entity::{
    event_trigger_attempts as attempts, event_trigger_deliveries as deliveries,
};
use crate::trigger::{AttemptRecord, Delivery, DeliveryStatus};

/// Which deliveries a list shows.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only this trigger's.
    pub trigger_id: Option<String>,
    /// Only these statuses.
    pub status: Option<DeliveryStatus>,
    /// Only this event's.
    pub event_id: Option<String>,
}

/// Delivery history.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryHistoryRepo<'a> {
    write: &'a DatabaseConnection,
    read: &'a DatabaseConnection,
}

impl<'a> DeliveryHistoryRepo<'a> {
    pub(crate) fn new(write: &'a DatabaseConnection, read: &'a DatabaseConnection) -> Self {
        DeliveryHistoryRepo { write, read }
    }

    /// One delivery.
    ///
    /// # Errors
    /// [`StorageError::Database`] or [`StorageError::Corrupt`].
    pub async fn find(&self, id: &str) -> Result<Option<Delivery>, StorageError> {
        deliveries::Entity::find_by_id(id)
            .one(self.write)
            .await?
            .map(delivery_from_model)
            .transpose()
    }

    /// A delivery's attempts, oldest first.
    ///
    /// # Errors
    /// [`StorageError::Database`] or [`StorageError::Corrupt`].
    pub async fn attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>, StorageError> {
        self.attempts_of(&[delivery_id]).await
    }

    /// A page of deliveries, newest first, before the id `before`.
    ///
    /// # Errors
    /// [`StorageError::Database`] or [`StorageError::Corrupt`].
    pub async fn list(
        &self,
        filter: &DeliveryFilter,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Delivery>, StorageError> {
        let mut query = deliveries::Entity::find().order_by_desc(deliveries::Column::Id);
        if let Some(t) = &filter.trigger_id {
            query = query.filter(deliveries::Column::TriggerId.eq(t.as_str()));
        }
        if let Some(s) = filter.status {
            query = query.filter(deliveries::Column::Status.eq(s.as_str()));
        }
        if let Some(e) = &filter.event_id {
            query = query.filter(deliveries::Column::EventId.eq(e.as_str()));
        }
        if let Some(before) = before {
            query = query.filter(deliveries::Column::Id.lt(before));
        }
        query
            .limit(limit + 1)
            .all(self.read)
            .await?
            .into_iter()
            .map(delivery_from_model)
            .collect()
    }

    /// Every delivery of one event, oldest first (the event detail).
    ///
    /// # Errors
    /// [`StorageError::Database`] or [`StorageError::Corrupt`].
    pub async fn for_event(&self, event_id: &str) -> Result<Vec<Delivery>, StorageError> {
        self.for_events(&[event_id]).await
    }

    /// Every delivery of these events, oldest first (the timeline).
    ///
    /// # Errors
    /// [`StorageError::Database`] or [`StorageError::Corrupt`].
    pub async fn for_events(&self, event_ids: &[&str]) -> Result<Vec<Delivery>, StorageError> {
        if event_ids.is_empty() {
            return Ok(Vec::new());
        }
        deliveries::Entity::find()
            .filter(deliveries::Column::EventId.is_in(event_ids.iter().copied()))
            .order_by_asc(deliveries::Column::Id)
            .all(self.read)
            .await?
            .into_iter()
            .map(delivery_from_model)
            .collect()
    }

    /// Every attempt of these deliveries, by attempt number (a delivery's attempts are oldest first).
    ///
    /// # Errors
    /// [`StorageError::Database`] or [`StorageError::Corrupt`].
    pub async fn attempts_of(
        &self,
        delivery_ids: &[&str],
    ) -> Result<Vec<AttemptRecord>, StorageError> {
        if delivery_ids.is_empty() {
            return Ok(Vec::new());
        }
        attempts::Entity::find()
            .filter(attempts::Column::DeliveryId.is_in(delivery_ids.iter().copied()))
            .order_by_asc(attempts::Column::Attempt)
            .order_by_asc(attempts::Column::Id)
            .all(self.read)
            .await?
            .into_iter()
            .map(attempt_from_model)
            .collect()
    }

    /// How many attempts `trigger_id` started at or after `since` (explain's throttle step).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn attempts_started_since(
        &self,
        trigger_id: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        Ok(attempts::Entity::find()
            .filter(attempts::Column::TriggerId.eq(trigger_id))
            .filter(attempts::Column::StartedAt.gte(since))
            .count(self.read)
            .await?)
    }

    /// The event of another delivery of `trigger_id` that used idempotency `key` (one that was not filtered,
    /// expired, skipped or cancelled, as the recorder counts them), if there is one.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn key_used_by(
        &self,
        trigger_id: &str,
        key: &str,
        except_event: Option<&str>,
    ) -> Result<Option<String>, StorageError> {
        let mut find = deliveries::Entity::find()
            .select_only()
            .column(deliveries::Column::EventId)
            .filter(deliveries::Column::TriggerId.eq(trigger_id))
            .filter(deliveries::Column::IdempotencyKey.eq(key))
            .filter(deliveries::Column::Status.is_not_in([
                DeliveryStatus::Filtered.as_str(),
                DeliveryStatus::Expired.as_str(),
                DeliveryStatus::Skipped.as_str(),
                DeliveryStatus::Cancelled.as_str(),
            ]));
        if let Some(event) = except_event {
            find = find.filter(deliveries::Column::EventId.ne(event));
        }
        Ok(find
            .order_by_asc(deliveries::Column::Id)
            .into_tuple::<String>()
            .one(self.read)
            .await?)
    }
}
