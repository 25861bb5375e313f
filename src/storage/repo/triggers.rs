//! Reads and writes of `triggers`, `trigger_changes` and `trigger_state_changes` (SPEC §5.1, §5.7, §6.3, §6.4).
//!
//! Every create, update and delete writes its `trigger_changes` row in the same transaction. A state change is a
//! compare-and-set on `triggers.state_version` together with its `trigger_state_changes` row, so two instances
//! (or an operator and the auto-pause machine) never both move a trigger from the same state.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::trigger_rows::{state_change_from_model, state_change_row, trigger_from_model};
use crate::domain::HERALD_ACTOR;
use crate::storage::StorageError;
use crate::storage::entity::{
    event_trigger_attempts as attempts, event_trigger_deliveries as deliveries,
    trigger_changes as changes, trigger_state_changes as state_changes, triggers,
};
use crate::trigger::{
    DeliveryStatus, StateChange, StateChangeRecord, StateHead, TriggerRecord, TriggerState,
    TriggerWrite,
};

/// Triggers and their histories.
#[derive(Debug, Clone, Copy)]
pub struct TriggersRepo<'a> {
    write: &'a DatabaseConnection,
    read: &'a DatabaseConnection,
}

/// A trigger's versions, as the directory polls them to see what changed on another instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerVersions {
    /// Bumped by create and update.
    pub version: i32,
    /// Bumped by every state change.
    pub state_version: i64,
}

impl<'a> TriggersRepo<'a> {
    pub(crate) fn new(write: &'a DatabaseConnection, read: &'a DatabaseConnection) -> Self {
        TriggersRepo { write, read }
    }

    /// Stores a new trigger (version 1, `running`) and its `create` change.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    #[tracing::instrument(name = "create_trigger", skip_all, fields(id = %w.id))]
    pub async fn create(&self, w: &TriggerWrite<'_>) -> Result<TriggerRecord, StorageError> {
        let definition = w.definition.to_string();
        let row = triggers::ActiveModel {
            id: Set(w.id.to_owned()),
            name: Set(name_of(w)),
            definition: Set(definition.clone()),
            secret: Set(w.secret.map(str::to_owned)),
            version: Set(1),
            state: Set(TriggerState::Running.as_str().to_owned()),
            state_until: Set(None),
            state_reason: Set(String::new()),
            state_actor: Set(HERALD_ACTOR.to_owned()),
            state_at: Set(w.at),
            state_version: Set(0),
            created_at: Set(w.at),
            updated_at: Set(w.at),
        };
        let txn = self.write.begin().await?;
        triggers::Entity::insert(row)
            .exec_without_returning(&txn)
            .await?;
        changes::Entity::insert(change_row(w, 1, "create", definition))
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        self.find_on(self.write, w.id)
            .await?
            .ok_or_else(|| StorageError::Database(sea_orm::DbErr::RecordNotFound(w.id.to_owned())))
    }

    /// Replaces a trigger's definition (and secret), bumping its version; `None` when it does not exist.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    #[tracing::instrument(name = "update_trigger", skip_all, fields(id = %w.id))]
    pub async fn update(
        &self,
        w: &TriggerWrite<'_>,
    ) -> Result<Option<TriggerRecord>, StorageError> {
        let definition = w.definition.to_string();
        let txn = self.write.begin().await?;
        let Some(current) = triggers::Entity::find_by_id(w.id).one(&txn).await? else {
            return Ok(None);
        };
        let version = current.version + 1;
        let updated = triggers::Entity::update_many()
            .col_expr(triggers::Column::Name, Expr::value(name_of(w)))
            .col_expr(
                triggers::Column::Definition,
                Expr::value(definition.clone()),
            )
            .col_expr(
                triggers::Column::Secret,
                Expr::value(w.secret.map(str::to_owned)),
            )
            .col_expr(triggers::Column::Version, Expr::value(version))
            .col_expr(triggers::Column::UpdatedAt, Expr::value(w.at))
            .filter(triggers::Column::Id.eq(w.id))
            .filter(triggers::Column::Version.eq(current.version))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            // A concurrent update won; the caller's PATCH was computed from a definition no longer current.
            return Err(StorageError::Database(sea_orm::DbErr::Custom(format!(
                "trigger {} changed while it was being updated; try again",
                w.id
            ))));
        }
        changes::Entity::insert(change_row(w, version, "update", definition))
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        self.find_on(self.write, w.id).await
    }

    /// Deletes a trigger, records the `delete` change and cancels its open deliveries; its history rows stay.
    /// `false` when it did not exist.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn delete(
        &self,
        id: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let txn = self.write.begin().await?;
        let Some(current) = triggers::Entity::find_by_id(id).one(&txn).await? else {
            return Ok(false);
        };
        triggers::Entity::delete_by_id(id).exec(&txn).await?;
        changes::Entity::insert(changes::ActiveModel {
            trigger_id: Set(id.to_owned()),
            version: Set(current.version),
            action: Set("delete".to_owned()),
            actor: Set(actor.to_owned()),
            at: Set(at),
            definition: Set(current.definition),
            ..Default::default()
        })
        .exec_without_returning(&txn)
        .await?;
        deliveries::Entity::update_many()
            .col_expr(
                deliveries::Column::Status,
                Expr::value(DeliveryStatus::Cancelled.as_str()),
            )
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(at))
            .col_expr(
                deliveries::Column::LastError,
                Expr::value(Some("the trigger was deleted".to_owned())),
            )
            .filter(deliveries::Column::TriggerId.eq(id))
            .filter(deliveries::Column::Status.is_in(open_statuses()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(true)
    }

    /// One trigger.
    ///
    /// # Errors
    /// [`StorageError::Database`], or [`StorageError::Corrupt`] for a row that no longer reads back.
    pub async fn find(&self, id: &str) -> Result<Option<TriggerRecord>, StorageError> {
        self.find_on(self.read, id).await
    }

    /// One trigger, read on the writer (read-your-writes).
    ///
    /// # Errors
    /// As [`TriggersRepo::find`].
    pub async fn find_fresh(&self, id: &str) -> Result<Option<TriggerRecord>, StorageError> {
        self.find_on(self.write, id).await
    }

    async fn find_on(
        &self,
        conn: &DatabaseConnection,
        id: &str,
    ) -> Result<Option<TriggerRecord>, StorageError> {
        triggers::Entity::find_by_id(id)
            .one(conn)
            .await?
            .map(trigger_from_model)
            .transpose()
    }

    /// A page of triggers, newest first, before the id `before`.
    ///
    /// # Errors
    /// As [`TriggersRepo::find`].
    pub async fn list(
        &self,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<TriggerRecord>, StorageError> {
        let mut query = triggers::Entity::find().order_by_desc(triggers::Column::Id);
        if let Some(before) = before {
            query = query.filter(triggers::Column::Id.lt(before));
        }
        query
            .limit(limit + 1)
            .all(self.read)
            .await?
            .into_iter()
            .map(trigger_from_model)
            .collect()
    }

    /// Every trigger, for the directory at start-up.
    ///
    /// # Errors
    /// As [`TriggersRepo::find`].
    pub async fn all(&self) -> Result<Vec<TriggerRecord>, StorageError> {
        triggers::Entity::find()
            .order_by_asc(triggers::Column::Id)
            .all(self.write)
            .await?
            .into_iter()
            .map(trigger_from_model)
            .collect()
    }

    /// The newest `trigger_changes` id (0 when none): it moves with every create, update and delete.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn catalog_version(&self) -> Result<i64, StorageError> {
        let max: Option<Option<i32>> = changes::Entity::find()
            .select_only()
            .column_as(changes::Column::Id.max(), "max")
            .into_tuple()
            .one(self.write)
            .await?;
        Ok(max.flatten().map_or(0, i64::from))
    }

    /// The newest `trigger_state_changes` id (0 when none): it moves with every pause, resume and half-open.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn state_log_version(&self) -> Result<i64, StorageError> {
        let max: Option<Option<i32>> = state_changes::Entity::find()
            .select_only()
            .column_as(state_changes::Column::Id.max(), "max")
            .into_tuple()
            .one(self.write)
            .await?;
        Ok(max.flatten().map_or(0, i64::from))
    }

    /// Every trigger's versions: what the directory compares each poll.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn versions(&self) -> Result<Vec<(String, TriggerVersions)>, StorageError> {
        let rows: Vec<(String, i32, i64)> = triggers::Entity::find()
            .select_only()
            .column(triggers::Column::Id)
            .column(triggers::Column::Version)
            .column(triggers::Column::StateVersion)
            .into_tuple()
            .all(self.write)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, version, state_version)| {
                (
                    id,
                    TriggerVersions {
                        version,
                        state_version,
                    },
                )
            })
            .collect())
    }

    /// Moves the trigger from the state `expected` (its `state_version`) by `change`, appending the change to its
    /// log in the same transaction. `None` when the trigger is gone or its state moved meanwhile (re-read it).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn change_state(
        &self,
        id: &str,
        expected: i64,
        change: &StateChange,
    ) -> Result<Option<StateHead>, StorageError> {
        let txn = self.write.begin().await?;
        let moved = triggers::Entity::update_many()
            .col_expr(triggers::Column::State, Expr::value(change.to.as_str()))
            .col_expr(triggers::Column::StateUntil, Expr::value(change.until))
            .col_expr(
                triggers::Column::StateReason,
                Expr::value(change.reason.clone()),
            )
            .col_expr(
                triggers::Column::StateActor,
                Expr::value(change.actor.clone()),
            )
            .col_expr(triggers::Column::StateAt, Expr::value(change.at))
            .col_expr(triggers::Column::StateVersion, Expr::value(expected + 1))
            .filter(triggers::Column::Id.eq(id))
            .filter(triggers::Column::StateVersion.eq(expected))
            .exec(&txn)
            .await?;
        if moved.rows_affected != 1 {
            return Ok(None);
        }
        state_changes::Entity::insert(state_change_row(id, change))
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(Some(StateHead {
            state: change.to,
            until: change.until,
            reason: change.reason.clone(),
            actor: change.actor.clone(),
            at: change.at,
            version: expected + 1,
        }))
    }

    /// The trigger's state changes, newest first, before the id `before`.
    ///
    /// # Errors
    /// As [`TriggersRepo::find`].
    pub async fn history(
        &self,
        id: &str,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<StateChangeRecord>, StorageError> {
        let mut query = state_changes::Entity::find()
            .filter(state_changes::Column::TriggerId.eq(id))
            .order_by_desc(state_changes::Column::Id);
        if let Some(before) = before {
            query = query.filter(state_changes::Column::Id.lt(before));
        }
        query
            .limit(limit + 1)
            .all(self.read)
            .await?
            .into_iter()
            .map(state_change_from_model)
            .collect()
    }

    /// When recent deliveries of the trigger first failed (attempt 1 not delivered) since `since`: the failure
    /// window an actor rebuilds its auto-pause machine with.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn first_failures_since(
        &self,
        id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StorageError> {
        Ok(self
            .first_failures(Some(id), since)
            .await?
            .into_values()
            .next()
            .unwrap_or_default())
    }

    /// [`TriggersRepo::first_failures_since`] for every trigger at once (the directory at start-up, health).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn all_first_failures_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<HashMap<String, Vec<DateTime<Utc>>>, StorageError> {
        self.first_failures(None, since).await
    }

    /// First failures since `since`, by trigger; of one trigger when `only` names it.
    async fn first_failures(
        &self,
        only: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<HashMap<String, Vec<DateTime<Utc>>>, StorageError> {
        let mut query = attempts::Entity::find()
            .select_only()
            .column(attempts::Column::TriggerId)
            .column(attempts::Column::StartedAt)
            .filter(attempts::Column::Attempt.eq(1))
            .filter(attempts::Column::Outcome.ne("delivered"))
            .filter(attempts::Column::StartedAt.gte(since));
        if let Some(id) = only {
            query = query.filter(attempts::Column::TriggerId.eq(id));
        }
        let rows: Vec<(String, DateTime<Utc>)> = query.into_tuple().all(self.write).await?;
        let mut out: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
        for (trigger, at) in rows {
            out.entry(trigger).or_default().push(at);
        }
        Ok(out)
    }
}

/// The statuses of a delivery that still has work ahead of it.
pub(super) fn open_statuses() -> [&'static str; 5] {
    [
        DeliveryStatus::Pending.as_str(),
        DeliveryStatus::Held.as_str(),
        DeliveryStatus::Throttled.as_str(),
        DeliveryStatus::Retrying.as_str(),
        DeliveryStatus::Delivering.as_str(),
    ]
}

fn name_of(w: &TriggerWrite<'_>) -> String {
    w.definition
        .get("name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn change_row(
    w: &TriggerWrite<'_>,
    version: i32,
    action: &str,
    definition: String,
) -> changes::ActiveModel {
    changes::ActiveModel {
        trigger_id: Set(w.id.to_owned()),
        version: Set(version),
        action: Set(action.to_owned()),
        actor: Set(w.actor.to_owned()),
        at: Set(w.at),
        definition: Set(definition),
        ..Default::default()
    }
}
