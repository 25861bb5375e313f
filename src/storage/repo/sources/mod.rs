//! Sources (SPEC §4, §6.5): deferred evaluations, pauses, per-source counters and the on-call record, behind
//! one repository, [`SourcesRepo`].
//!
//! Its writes that touch other tables in the same transaction (counters, controls) go through the leaves
//! `stats`, `controls` and `rows`; the overview snapshot is [`overview::overviews_in`]. Nothing here calls
//! another repository.

mod overview;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

use super::controls::{history_in, record_in};
use super::rows::{event_from_model, parse_source, pause_from_model, pause_row};
use super::stats::add_stats_in;
use crate::domain::{
    ControlAction, SourceControl, SourceName, SourceOverview, SourcePause, StatsDelta, StoredEvent,
    truncate_to_millis,
};
use crate::storage::StorageError;
use crate::storage::entity::{
    source_deferrals as deferrals, source_pauses as pauses, source_stats as stats,
    workflow_events as events,
};

/// Repository of `source_deferrals`, `source_pauses`, `source_stats` and `source_controls`.
pub struct SourcesRepo<'a> {
    write: &'a DatabaseConnection,
    read: &'a DatabaseConnection,
}

impl<'a> SourcesRepo<'a> {
    pub(crate) fn new(write: &'a DatabaseConnection, read: &'a DatabaseConnection) -> Self {
        SourcesRepo { write, read }
    }

    /// Adds `deltas` to the counters, one statement for all of them.
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing is added then.
    #[tracing::instrument(name = "add_source_stats", skip_all, fields(sources = deltas.len()))]
    pub async fn add_stats(&self, deltas: Vec<StatsDelta>) -> Result<(), StorageError> {
        add_stats_in(self.write, deltas).await
    }

    /// Records that `source`'s events `seqs` were deferred (and counts them as throttled), together with the
    /// automatic pause their admission started, in one transaction. The pause never replaces a manual pause that
    /// is still in force.
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing is recorded then.
    #[tracing::instrument(name = "defer_source_events", skip(self, seqs, pause), fields(events = seqs.len()))]
    pub async fn defer(
        &self,
        source: &SourceName,
        seqs: &[i64],
        pause: Option<&SourcePause>,
    ) -> Result<(), StorageError> {
        if seqs.is_empty() && pause.is_none() {
            return Ok(());
        }
        let now = truncate_to_millis(Utc::now());
        let txn = self.write.begin().await?;
        if !seqs.is_empty() {
            let rows = seqs.iter().map(|&seq| deferrals::ActiveModel {
                source: Set(source.as_str().to_owned()),
                ingress_sequence: Set(seq),
                deferred_at: Set(now),
            });
            deferrals::Entity::insert_many(rows)
                .on_conflict_do_nothing()
                .exec_without_returning(&txn)
                .await?;
            let mut delta = StatsDelta::zero(source.clone());
            delta.counters.throttled = seqs.len() as i64;
            add_stats_in(&txn, vec![delta]).await?;
        }
        if let Some(pause) = pause {
            let keep_manual = Expr::cust(
                "source_pauses.kind <> 'manual' OR (source_pauses.paused_until IS NOT NULL \
                 AND source_pauses.paused_until <= excluded.paused_at)",
            );
            pauses::Entity::insert(pause_row(pause))
                .on_conflict(
                    OnConflict::column(pauses::Column::Source)
                        .update_columns(PAUSE_COLUMNS)
                        .action_and_where(keep_manual)
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Claims `source`'s deferred events `seqs` for evaluation and returns them in `ingressSequence` order. A
    /// claim deletes the rows, and only events whose row this call deleted are returned, so an event deferred on
    /// one instance and read back by another is released once. Events since purged by retention are skipped.
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing is claimed then. [`StorageError::Corrupt`] when an event row no longer
    /// parses.
    #[tracing::instrument(name = "release_source_events", skip(self, seqs), fields(events = seqs.len()))]
    pub async fn release(
        &self,
        source: &SourceName,
        seqs: &[i64],
    ) -> Result<Vec<StoredEvent>, StorageError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.write.begin().await?;
        let claimed: Vec<i64> = deferrals::Entity::delete_many()
            .filter(deferrals::Column::Source.eq(source.as_str()))
            .filter(deferrals::Column::IngressSequence.is_in(seqs.iter().copied()))
            .exec_with_returning(&txn)
            .await?
            .into_iter()
            .map(|row| row.ingress_sequence)
            .collect();
        let rows = if claimed.is_empty() {
            Vec::new()
        } else {
            events::Entity::find()
                .filter(events::Column::IngressSequence.is_in(claimed))
                .order_by_asc(events::Column::IngressSequence)
                .all(&txn)
                .await?
        };
        txn.commit().await?;
        rows.into_iter().map(event_from_model).collect()
    }

    /// `source`'s deferred events, in `ingressSequence` order.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    #[tracing::instrument(name = "source_backlog", skip(self))]
    pub async fn backlog(&self, source: &SourceName) -> Result<Vec<i64>, StorageError> {
        Ok(deferrals::Entity::find()
            .select_only()
            .column(deferrals::Column::IngressSequence)
            .filter(deferrals::Column::Source.eq(source.as_str()))
            .order_by_asc(deferrals::Column::IngressSequence)
            .into_tuple::<i64>()
            .all(self.write)
            .await?)
    }

    /// Every source with deferred events and how many, so a restarted instance starts their limiters and live
    /// ones adopt what a stopped instance left.
    ///
    /// # Errors
    /// [`StorageError::Database`], or [`StorageError::Corrupt`] for a stored name that no longer parses.
    pub async fn backlogs(&self) -> Result<Vec<(SourceName, u64)>, StorageError> {
        deferrals::Entity::find()
            .select_only()
            .column(deferrals::Column::Source)
            .column_as(deferrals::Column::IngressSequence.count(), "n")
            .group_by(deferrals::Column::Source)
            .into_tuple::<(String, i64)>()
            .all(self.read)
            .await?
            .into_iter()
            .map(|(source, n)| {
                let name = parse_source("source_deferrals", source)?;
                Ok((name, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    /// When the oldest deferred event still waiting was deferred (`None`: no backlog), for queue health.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    #[tracing::instrument(name = "oldest_source_deferral", skip(self))]
    pub async fn oldest_deferral_at(&self) -> Result<Option<DateTime<Utc>>, StorageError> {
        Ok(deferrals::Entity::find()
            .order_by_asc(deferrals::Column::DeferredAt)
            .one(self.read)
            .await?
            .map(|row| row.deferred_at))
    }

    /// Discards every deferred event of `source` (their events stay stored) and counts them as dropped, in one
    /// transaction. Returns how many were discarded.
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing is discarded then.
    #[tracing::instrument(name = "discard_source_backlog", skip(self))]
    pub async fn discard_backlog(&self, source: &SourceName) -> Result<u64, StorageError> {
        let txn = self.write.begin().await?;
        let discarded = deferrals::Entity::delete_many()
            .filter(deferrals::Column::Source.eq(source.as_str()))
            .exec(&txn)
            .await?
            .rows_affected;
        if discarded > 0 {
            let mut delta = StatsDelta::zero(source.clone());
            delta.counters.dropped = discarded as i64;
            add_stats_in(&txn, vec![delta]).await?;
        }
        txn.commit().await?;
        Ok(discarded)
    }

    /// Records a manual pause, replacing whatever pause the source had (SPEC §4: pausing a paused source updates
    /// reason and duration), and the control, with id `control_id`, in `source_controls`, in one transaction.
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing is recorded then.
    #[tracing::instrument(name = "pause_source", skip(self, pause), fields(source = %pause.source))]
    pub async fn pause(
        &self,
        pause: &SourcePause,
        control_id: ulid::Ulid,
    ) -> Result<(), StorageError> {
        let mut control = SourceControl::new(
            control_id,
            pause.source.clone(),
            ControlAction::Pause,
            pause.actor.clone(),
            Some(pause.reason.clone()),
        );
        control.duration_ms = pause
            .until
            .map(|until| (until - pause.paused_at).num_milliseconds());
        control.at = pause.paused_at;
        let txn = self.write.begin().await?;
        pauses::Entity::insert(pause_row(pause))
            .on_conflict(
                OnConflict::column(pauses::Column::Source)
                    .update_columns(PAUSE_COLUMNS)
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        record_in(&txn, &control).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Ends `source`'s pause, whatever its kind, and records the control (`control_id`, `actor`, `reason`, and
    /// whether a pause ended) in one transaction. Returns the pause that was recorded, if any.
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing changes then.
    #[tracing::instrument(name = "resume_source", skip(self, reason))]
    pub async fn resume(
        &self,
        source: &SourceName,
        control_id: ulid::Ulid,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Option<SourcePause>, StorageError> {
        let txn = self.write.begin().await?;
        let removed = pauses::Entity::delete_many()
            .filter(pauses::Column::Source.eq(source.as_str()))
            .exec_with_returning(&txn)
            .await?;
        let ended = removed
            .into_iter()
            .next()
            .map(pause_from_model)
            .transpose()?;
        let mut control = SourceControl::new(
            control_id,
            source.clone(),
            ControlAction::Resume,
            actor.to_owned(),
            reason.map(str::to_owned),
        );
        control.ended_pause = Some(ended.as_ref().is_some_and(|p| p.is_active(control.at)));
        record_in(&txn, &control).await?;
        txn.commit().await?;
        Ok(ended)
    }

    /// The pause recorded for `source` (possibly expired), read from the writer so a limiter sees its own and
    /// every committed change.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn pause_of(&self, source: &SourceName) -> Result<Option<SourcePause>, StorageError> {
        pauses::Entity::find_by_id(source.as_str().to_owned())
            .one(self.write)
            .await?
            .map(pause_from_model)
            .transpose()
    }

    /// Every recorded pause (possibly expired): one row per paused source, so a small read.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn pauses(&self) -> Result<Vec<SourcePause>, StorageError> {
        pauses::Entity::find()
            .all(self.read)
            .await?
            .into_iter()
            .map(pause_from_model)
            .collect()
    }

    /// One source's overview (a source never seen has zero counters).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn overview(&self, source: &SourceName) -> Result<SourceOverview, StorageError> {
        let mut overviews = overview::overviews_in(self.read, vec![source.clone()]).await?;
        Ok(overviews
            .pop()
            .unwrap_or_else(|| SourceOverview::empty(source.clone())))
    }

    /// One page of every source seen or paused, by name, after `after`. Returns up to `limit + 1` so the caller
    /// can tell whether there is more.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    #[tracing::instrument(name = "list_sources", skip(self))]
    pub async fn list(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<SourceOverview>, StorageError> {
        let mut seen = stats::Entity::find()
            .select_only()
            .column(stats::Column::Source)
            .order_by_asc(stats::Column::Source)
            .limit(limit + 1);
        let mut paused = pauses::Entity::find()
            .select_only()
            .column(pauses::Column::Source)
            .order_by_asc(pauses::Column::Source)
            .limit(limit + 1);
        if let Some(after) = after {
            seen = seen.filter(stats::Column::Source.gt(after));
            paused = paused.filter(pauses::Column::Source.gt(after));
        }
        let mut names: Vec<String> = seen.into_tuple::<String>().all(self.read).await?;
        names.extend(paused.into_tuple::<String>().all(self.read).await?);
        names.sort();
        names.dedup();
        names.truncate(limit as usize + 1);
        let names = names
            .into_iter()
            .map(|name| parse_source("source_stats/source_pauses", name))
            .collect::<Result<_, _>>()?;
        overview::overviews_in(self.read, names).await
    }

    /// Records a control carried out elsewhere (a discard, done by the source's limiter).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn record_control(&self, control: &SourceControl) -> Result<(), StorageError> {
        record_in(self.write, control).await
    }

    /// `source`'s controls, newest first, older than the control `before` when given; up to `limit + 1`, so the
    /// caller can tell whether there is more.
    ///
    /// # Errors
    /// [`StorageError::Database`], or [`StorageError::Corrupt`] for a row that no longer parses.
    #[tracing::instrument(name = "source_controls", skip(self))]
    pub async fn controls(
        &self,
        source: &SourceName,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<SourceControl>, StorageError> {
        history_in(self.read, source, before, limit).await
    }
}

/// The columns a pause upsert replaces.
const PAUSE_COLUMNS: [pauses::Column; 5] = [
    pauses::Column::Kind,
    pauses::Column::Reason,
    pauses::Column::Actor,
    pauses::Column::PausedAt,
    pauses::Column::PausedUntil,
];
