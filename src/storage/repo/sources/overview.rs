//! The overview of some sources (counters, backlog, pause, latest control), read in one snapshot.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{
    AccessMode, ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, IsolationLevel,
    QueryFilter, QuerySelect, TransactionTrait,
};

use crate::domain::{SourceName, SourceOverview};
use crate::storage::StorageError;
use crate::storage::entity::{
    source_deferrals as deferrals, source_pauses as pauses, source_stats as stats,
};
use crate::storage::repo::controls::last_controls_in;
use crate::storage::repo::rows::{counters_from_model, pause_from_model};

/// The overviews of `names` that exist, in the order given, read on `read` in one snapshot.
///
/// # Errors
/// [`StorageError::Database`], or [`StorageError::Corrupt`] for a pause or control that no longer parses.
pub(super) async fn overviews_in(
    read: &DatabaseConnection,
    names: Vec<SourceName>,
) -> Result<Vec<SourceOverview>, StorageError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<&str> = names.iter().map(SourceName::as_str).collect();
    // One snapshot for the counters, the pauses and the backlogs: read one by one, a deferral committing in
    // between would show its rows without the `throttled` count and the pause written with them.
    let txn = match read.get_database_backend() {
        DbBackend::Postgres => {
            read.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        // A SQLite read transaction (WAL) sees one snapshot from its first read on.
        _ => read.begin().await?,
    };
    let mut stats_by: HashMap<String, stats::Model> = stats::Entity::find()
        .filter(stats::Column::Source.is_in(keys.iter().copied()))
        .all(&txn)
        .await?
        .into_iter()
        .map(|m| (m.source.clone(), m))
        .collect();
    let mut pauses_by: HashMap<String, pauses::Model> = pauses::Entity::find()
        .filter(pauses::Column::Source.is_in(keys.iter().copied()))
        .all(&txn)
        .await?
        .into_iter()
        .map(|m| (m.source.clone(), m))
        .collect();
    let backlog_by: HashMap<String, i64> = deferrals::Entity::find()
        .select_only()
        .column(deferrals::Column::Source)
        .column_as(deferrals::Column::IngressSequence.count(), "n")
        .filter(deferrals::Column::Source.is_in(keys.iter().copied()))
        .group_by(deferrals::Column::Source)
        .into_tuple::<(String, i64)>()
        .all(&txn)
        .await?
        .into_iter()
        .collect();
    let mut last_controls = last_controls_in(&txn, &keys).await?;
    txn.commit().await?;
    let now = Utc::now();
    let mut overviews = Vec::with_capacity(names.len());
    for name in names {
        let mut overview = SourceOverview::empty(name.clone());
        if let Some(row) = stats_by.remove(name.as_str()) {
            overview.counters = counters_from_model(row);
        }
        overview.backlog = backlog_by.get(name.as_str()).copied().unwrap_or(0);
        if let Some(p) = pauses_by.remove(name.as_str()) {
            overview.pause = Some(pause_from_model(p)?).filter(|p| p.is_active(now));
        }
        overview.last_control = last_controls.remove(name.as_str());
        overviews.push(overview);
    }
    Ok(overviews)
}
