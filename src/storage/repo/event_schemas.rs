//! Per-type JSON Schemas (`event_schemas`, SPEC §6.7): registering a version, listing types with their active
//! version, a type's history, and what the registry polls to notice a change made on another instance.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    SqlErr, TransactionTrait,
};
use serde_json::Value;

use super::rows::{schema_summary_from_model, schema_version_from_model};
use crate::domain::{EventType, SchemaSummary, SchemaVersion, schema_hash};
use crate::storage::StorageError;
use crate::storage::entity::event_schemas as schemas;

/// Keeps the rows that are their type's active (highest) version.
const IS_ACTIVE: &str = "version = (SELECT MAX(s.version) FROM event_schemas s \
WHERE s.event_type = event_schemas.event_type)";

/// How often a registration is tried when other registrations of the same type keep taking the next version number
/// first. Each lost race means another registration committed, so n concurrent registrations of one type need at
/// most n tries; this bounds the loop far above any realistic contention.
const REGISTER_ATTEMPTS: usize = 16;

/// What a registration came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// The active version after the call.
    pub version: SchemaVersion,
    /// True when a new version was stored; false when the schema equals the active one (canonical JSON).
    pub created: bool,
}

/// What tells one read of `event_schemas` from the next: the row count and the highest id. A new version changes
/// both; a row whose id is below one already seen (a transaction that committed late) still changes the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchemaWatermark {
    /// Rows in the table.
    pub rows: i64,
    /// The highest id.
    pub max_id: i64,
}

/// Repository of `event_schemas`.
pub struct EventSchemasRepo<'a> {
    write: &'a DatabaseConnection,
    read: &'a DatabaseConnection,
}

impl<'a> EventSchemasRepo<'a> {
    pub(crate) fn new(write: &'a DatabaseConnection, read: &'a DatabaseConnection) -> Self {
        EventSchemasRepo { write, read }
    }

    /// Stores `schema` as the next version of `event_type`, unless it equals the active version (canonical
    /// JSON), which is then answered unchanged.
    ///
    /// # Errors
    /// [`StorageError::Database`], also when other instances kept taking the next version number first.
    #[tracing::instrument(name = "register_event_schema", skip(self, schema))]
    pub async fn register(
        &self,
        event_type: &EventType,
        schema: Value,
        created_by: &str,
        now: DateTime<Utc>,
    ) -> Result<Registered, StorageError> {
        let hash = schema_hash(&schema);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .try_register(event_type, &schema, &hash, created_by, now)
                .await
            {
                Err(StorageError::Database(e))
                    if attempt < REGISTER_ATTEMPTS && is_unique_violation(&e) =>
                {
                    tracing::debug!(%event_type, attempt, "Schema version taken concurrently; retrying.");
                }
                other => return other,
            }
        }
    }

    async fn try_register(
        &self,
        event_type: &EventType,
        schema: &Value,
        hash: &str,
        created_by: &str,
        now: DateTime<Utc>,
    ) -> Result<Registered, StorageError> {
        let txn = self.write.begin().await?;
        let active = schemas::Entity::find()
            .filter(schemas::Column::EventType.eq(event_type.as_str()))
            .order_by_desc(schemas::Column::Version)
            .one(&txn)
            .await?;
        if let Some(active) = active.as_ref().filter(|a| a.schema_hash == hash) {
            let version = schema_version_from_model(active.clone())?;
            txn.commit().await?;
            return Ok(Registered {
                version,
                created: false,
            });
        }
        let row = schemas::ActiveModel {
            id: NotSet,
            event_type: Set(event_type.as_str().to_owned()),
            version: Set(active.map_or(1, |a| a.version + 1)),
            schema: Set(schema.clone()),
            schema_hash: Set(hash.to_owned()),
            created_at: Set(crate::domain::truncate_to_millis(now)),
            created_by: Set(created_by.to_owned()),
        };
        let inserted = schemas::Entity::insert(row)
            .exec_with_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(Registered {
            version: schema_version_from_model(inserted)?,
            created: true,
        })
    }

    /// Every version of `event_type`, newest first (empty for a type without a schema).
    ///
    /// # Errors
    /// [`StorageError::Database`]; [`StorageError::Corrupt`] when a stored row no longer parses.
    #[tracing::instrument(name = "event_schema_versions", skip(self))]
    pub async fn versions(
        &self,
        event_type: &EventType,
    ) -> Result<Vec<SchemaVersion>, StorageError> {
        schemas::Entity::find()
            .filter(schemas::Column::EventType.eq(event_type.as_str()))
            .order_by_desc(schemas::Column::Version)
            .all(self.read)
            .await?
            .into_iter()
            .map(schema_version_from_model)
            .collect()
    }

    /// One page of the types with a schema, in type order, after the type `after`; up to `limit + 1` rows so
    /// the caller can tell whether there is more.
    ///
    /// # Errors
    /// [`StorageError::Database`]; [`StorageError::Corrupt`] when a stored row no longer parses.
    #[tracing::instrument(name = "list_event_schemas", skip(self))]
    pub async fn list(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<SchemaSummary>, StorageError> {
        let mut query = schemas::Entity::find().filter(Expr::cust(IS_ACTIVE));
        if let Some(after) = after {
            query = query.filter(schemas::Column::EventType.gt(after));
        }
        query
            .order_by_asc(schemas::Column::EventType)
            .limit(limit + 1)
            .all(self.read)
            .await?
            .into_iter()
            .map(schema_summary_from_model)
            .collect()
    }

    /// The active version of every type that has a schema.
    ///
    /// # Errors
    /// [`StorageError::Database`]; [`StorageError::Corrupt`] when a stored row no longer parses.
    #[tracing::instrument(name = "active_event_schemas", skip(self))]
    pub async fn active(&self) -> Result<Vec<SchemaVersion>, StorageError> {
        schemas::Entity::find()
            .filter(Expr::cust(IS_ACTIVE))
            .all(self.read)
            .await?
            .into_iter()
            .map(schema_version_from_model)
            .collect()
    }

    /// The table's [`SchemaWatermark`]: one indexed aggregate, cheap enough to poll a few times a second. Not
    /// instrumented: every instance calls it four times a second, and a span each would drown the traces.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn watermark(&self) -> Result<SchemaWatermark, StorageError> {
        let row: Option<(i64, Option<i64>)> = schemas::Entity::find()
            .select_only()
            .column_as(
                Expr::expr(Func::count(Expr::col(schemas::Column::Id))),
                "rows",
            )
            .column_as(
                Expr::expr(Func::max(Expr::col(schemas::Column::Id))),
                "max_id",
            )
            .into_tuple()
            .one(self.read)
            .await?;
        let (rows, max_id) = row.unwrap_or_default();
        Ok(SchemaWatermark {
            rows,
            max_id: max_id.unwrap_or(0),
        })
    }
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
