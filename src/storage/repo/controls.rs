//! Reads and writes of `source_controls`, the on-call record of sources (SPEC §6.5): who paused, resumed or
//! discarded a backlog, when, and why. A leaf: [`SourcesRepo`](super::sources::SourcesRepo) records pause and
//! resume in the same transaction as the change, and reads the latest controls inside its overview snapshot,
//! through these functions.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::rows::{control_from_model, control_row};
use crate::domain::{SourceControl, SourceName};
use crate::storage::StorageError;
use crate::storage::entity::source_controls as controls;

/// Inserts `control` on `conn` (the caller's transaction, or the writer).
///
/// # Errors
/// [`StorageError::Database`].
pub(super) async fn record_in(
    conn: &impl ConnectionTrait,
    control: &SourceControl,
) -> Result<(), StorageError> {
    controls::Entity::insert(control_row(control))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// `source`'s controls on `conn`, newest first, older than the control `before` when given; up to `limit + 1`.
///
/// # Errors
/// [`StorageError::Database`], or [`StorageError::Corrupt`] for a row that no longer parses.
pub(super) async fn history_in(
    conn: &impl ConnectionTrait,
    source: &SourceName,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<SourceControl>, StorageError> {
    let mut query = controls::Entity::find()
        .filter(controls::Column::Source.eq(source.as_str()))
        .order_by_desc(controls::Column::Id)
        .limit(limit + 1);
    if let Some(before) = before {
        query = query.filter(controls::Column::Id.lt(before));
    }
    query
        .all(conn)
        .await?
        .into_iter()
        .map(control_from_model)
        .collect()
}

/// The latest control of each of `sources` that has one, read on `conn` (the caller's read transaction).
///
/// # Errors
/// [`StorageError::Database`], or [`StorageError::Corrupt`] for a row that no longer parses.
pub(super) async fn last_controls_in(
    conn: &impl ConnectionTrait,
    sources: &[&str],
) -> Result<HashMap<String, SourceControl>, StorageError> {
    let latest: Vec<String> = controls::Entity::find()
        .select_only()
        .column_as(controls::Column::Id.max(), "id")
        .filter(controls::Column::Source.is_in(sources.iter().copied()))
        .group_by(controls::Column::Source)
        .into_tuple::<String>()
        .all(conn)
        .await?;
    if latest.is_empty() {
        return Ok(HashMap::new());
    }
    controls::Entity::find()
        .filter(controls::Column::Id.is_in(latest))
        .all(conn)
        .await?
        .into_iter()
        .map(|row| Ok((row.source.clone(), control_from_model(row)?)))
        .collect()
}
