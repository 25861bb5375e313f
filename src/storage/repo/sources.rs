//! Sources (SPEC §4, §6.5): deferred evaluations, pauses and per-source counters.
//!
//! Counters are only ever incremented, with one `INSERT … ON CONFLICT (source) DO UPDATE SET n = n + excluded.n`
//! per write, so every instance adds to the same row and the sums are deployment-wide by construction. The
//! "latest" and "max" columns are merged with `CASE` (portable between SQLite and PostgreSQL, unlike `MAX(a, b)` /
//! `GREATEST`), so concurrent writers may commit in any order.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    AccessMode, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, IsolationLevel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::events::from_model as event_from_model;
use super::source_controls::{ControlAction, SourceControl, last_controls_in, record_in};
use crate::domain::{SourceName, format_timestamp, truncate_to_millis};
use crate::storage::entity::{
    source_deferrals as deferrals, source_pauses as pauses, source_stats as stats,
    workflow_events as events,
};
use crate::storage::{StorageError, StoredEvent};

/// The actor recorded for pauses Herald makes itself (rate limits).
pub const HERALD_ACTOR: &str = "herald";

/// Why a source is paused, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseKind {
    /// An operator paused it (SPEC §6.5).
    Manual,
    /// An event exceeded its rate limit (SPEC §4).
    RateLimit,
}

impl PauseKind {
    /// The stored and wire spelling: `manual` or `rate_limit`.
    pub fn as_str(self) -> &'static str {
        match self {
            PauseKind::Manual => "manual",
            PauseKind::RateLimit => "rate_limit",
        }
    }

    fn parse(s: &str) -> Result<PauseKind, StorageError> {
        match s {
            "manual" => Ok(PauseKind::Manual),
            "rate_limit" => Ok(PauseKind::RateLimit),
            other => Err(StorageError::Corrupt(format!(
                "unknown pause kind {other:?}"
            ))),
        }
    }
}

/// A source's pause as recorded in `source_pauses`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePause {
    /// The paused source (pauses are by name: the source need not have been seen).
    pub source: SourceName,
    /// Manual or automatic.
    pub kind: PauseKind,
    /// Why.
    pub reason: String,
    /// The acting token's subject, or [`HERALD_ACTOR`].
    pub actor: String,
    /// When it was made or last updated.
    pub paused_at: DateTime<Utc>,
    /// When it ends; `None`: until resumed.
    pub until: Option<DateTime<Utc>>,
}

impl SourcePause {
    /// Whether the pause is still in force at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| until > now)
    }

    /// The wire view shared by `GET /admin/sources`, `/admin/event-health` and the `source.paused` WebSocket
    /// frame: `{source, kind, reason, actor, pausedAt, until}` (`until` null: until resumed).
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "source": self.source.as_str(),
            "kind": self.kind.as_str(),
            "reason": self.reason,
            "actor": self.actor,
            "pausedAt": format_timestamp(self.paused_at),
            "until": self.until.map(format_timestamp),
        })
    }
}

/// A source's counters (SPEC §4 metrics), as `source_stats` holds them and as a write adds to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceCounters {
    /// Events stored.
    pub total: i64,
    /// Events whose evaluation was deferred.
    pub throttled: i64,
    /// Dead letters with this source.
    pub failures: i64,
    /// Deferred events an operator discarded.
    pub dropped: i64,
    /// The sum of the lags, in milliseconds (the average is this over `total`).
    pub lag_ms_sum: i64,
    /// The lag of the latest event.
    pub lag_ms_latest: Option<i64>,
    /// The largest lag.
    pub lag_ms_max: Option<i64>,
    /// When the latest event was received.
    pub last_event_at: Option<DateTime<Utc>>,
}

impl SourceCounters {
    /// Counts one stored event received at `received_at` with `lag_ms` (`receivedAt − occurredAt`).
    pub fn add_event(&mut self, received_at: DateTime<Utc>, lag_ms: i64) {
        self.total += 1;
        self.lag_ms_sum = self.lag_ms_sum.saturating_add(lag_ms);
        self.lag_ms_max = Some(self.lag_ms_max.map_or(lag_ms, |m| m.max(lag_ms)));
        if self.last_event_at.is_none_or(|at| received_at >= at) {
            self.last_event_at = Some(received_at);
            self.lag_ms_latest = Some(lag_ms);
        }
    }

    /// Adds `other` to these counters, so that several batches become one write.
    pub fn merge(&mut self, other: SourceCounters) {
        self.total += other.total;
        self.throttled += other.throttled;
        self.failures += other.failures;
        self.dropped += other.dropped;
        self.lag_ms_sum = self.lag_ms_sum.saturating_add(other.lag_ms_sum);
        self.lag_ms_max = match (self.lag_ms_max, other.lag_ms_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = other.last_event_at
            && self.last_event_at.is_none_or(|mine| at >= mine)
        {
            self.last_event_at = Some(at);
            self.lag_ms_latest = other.lag_ms_latest;
        }
    }
}

impl From<stats::Model> for SourceCounters {
    fn from(row: stats::Model) -> SourceCounters {
        SourceCounters {
            total: row.total,
            throttled: row.throttled,
            failures: row.failures,
            dropped: row.dropped,
            lag_ms_sum: row.lag_ms_sum,
            lag_ms_latest: row.lag_ms_latest,
            lag_ms_max: row.lag_ms_max,
            last_event_at: row.last_event_at,
        }
    }
}

/// What to add to one source's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsDelta {
    /// The source.
    pub source: SourceName,
    /// The amounts to add.
    pub counters: SourceCounters,
}

impl StatsDelta {
    /// Nothing to add yet.
    pub fn zero(source: SourceName) -> StatsDelta {
        StatsDelta {
            source,
            counters: SourceCounters::default(),
        }
    }
}

/// Everything Herald knows about one source: its counters, backlog and pause (SPEC §4 metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceOverview {
    /// The source.
    pub source: SourceName,
    /// Its counters, summed over every instance (zero for a source never seen).
    pub counters: SourceCounters,
    /// Deferred events waiting for evaluation, on every instance.
    pub backlog: i64,
    /// The recorded pause, when it is still in force.
    pub pause: Option<SourcePause>,
    /// The latest on-call control of the source, if any.
    pub last_control: Option<SourceControl>,
}

impl SourceOverview {
    fn empty(source: SourceName) -> SourceOverview {
        SourceOverview {
            source,
            counters: SourceCounters::default(),
            backlog: 0,
            pause: None,
            last_control: None,
        }
    }
}

/// Repository of `source_deferrals`, `source_pauses` and `source_stats`.
pub struct SourcesRepo<'a> {
    pub(super) write: &'a DatabaseConnection,
    pub(super) read: &'a DatabaseConnection,
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
            .map(|(source, n)| Ok((parse_source(source)?, u64::try_from(n).unwrap_or(0))))
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
        let mut overviews = self.overviews(vec![source.clone()]).await?;
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
            .map(parse_source)
            .collect::<Result<_, _>>()?;
        self.overviews(names).await
    }

    async fn overviews(&self, names: Vec<SourceName>) -> Result<Vec<SourceOverview>, StorageError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = names.iter().map(SourceName::as_str).collect();
        // One snapshot for the counters, the pauses and the backlogs: read one by one, a deferral committing in
        // between would show its rows without the `throttled` count and the pause written with them.
        let txn = match self.read.get_database_backend() {
            DbBackend::Postgres => {
                self.read
                    .begin_with_config(
                        Some(IsolationLevel::RepeatableRead),
                        Some(AccessMode::ReadOnly),
                    )
                    .await?
            }
            // A SQLite read transaction (WAL) sees one snapshot from its first read on.
            _ => self.read.begin().await?,
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
                overview.counters = SourceCounters::from(row);
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
}

/// The columns a pause upsert replaces.
const PAUSE_COLUMNS: [pauses::Column; 5] = [
    pauses::Column::Kind,
    pauses::Column::Reason,
    pauses::Column::Actor,
    pauses::Column::PausedAt,
    pauses::Column::PausedUntil,
];

/// Adds `deltas` to `source_stats` on `conn` (a transaction of the caller's, or the writer).
///
/// # Errors
/// [`StorageError::Database`].
pub(crate) async fn add_stats_in(
    conn: &impl ConnectionTrait,
    deltas: Vec<StatsDelta>,
) -> Result<(), StorageError> {
    if deltas.is_empty() {
        return Ok(());
    }
    let now = truncate_to_millis(Utc::now());
    let rows = deltas.into_iter().map(
        |StatsDelta {
             source,
             counters: c,
         }| stats::ActiveModel {
            source: Set(source.as_str().to_owned()),
            total: Set(c.total),
            throttled: Set(c.throttled),
            failures: Set(c.failures),
            dropped: Set(c.dropped),
            lag_ms_sum: Set(c.lag_ms_sum),
            lag_ms_latest: Set(c.lag_ms_latest),
            lag_ms_max: Set(c.lag_ms_max),
            last_event_at: Set(c.last_event_at.map(truncate_to_millis)),
            updated_at: Set(now),
        },
    );
    let sum = |column: &str| Expr::cust(format!("source_stats.{column} + excluded.{column}"));
    // The newer of the two rows' latest events wins `last_event_at` and `lag_ms_latest`.
    let newer = "excluded.last_event_at IS NOT NULL AND (source_stats.last_event_at IS NULL \
                 OR excluded.last_event_at >= source_stats.last_event_at)";
    let upsert = OnConflict::column(stats::Column::Source)
        .value(stats::Column::Total, sum("total"))
        .value(stats::Column::Throttled, sum("throttled"))
        .value(stats::Column::Failures, sum("failures"))
        .value(stats::Column::Dropped, sum("dropped"))
        .value(stats::Column::LagMsSum, sum("lag_ms_sum"))
        .value(
            stats::Column::LagMsLatest,
            Expr::cust(format!(
                "CASE WHEN {newer} THEN excluded.lag_ms_latest ELSE source_stats.lag_ms_latest END"
            )),
        )
        .value(
            stats::Column::LastEventAt,
            Expr::cust(format!(
                "CASE WHEN {newer} THEN excluded.last_event_at ELSE source_stats.last_event_at END"
            )),
        )
        .value(
            stats::Column::LagMsMax,
            Expr::cust(
                "CASE WHEN source_stats.lag_ms_max IS NULL OR excluded.lag_ms_max > source_stats.lag_ms_max \
                 THEN excluded.lag_ms_max ELSE source_stats.lag_ms_max END",
            ),
        )
        .value(stats::Column::UpdatedAt, Expr::cust("excluded.updated_at"))
        .to_owned();
    stats::Entity::insert_many(rows)
        .on_conflict(upsert)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Counts dead letters per source inside the PostgreSQL ingest transaction (the sqlx hot path).
///
/// # Errors
/// [`StorageError::Sqlx`].
pub(crate) async fn add_failures_postgres(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    sources: Vec<String>,
) -> Result<(), StorageError> {
    if sources.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO source_stats (source, failures, updated_at) \
         SELECT s, COUNT(*), date_trunc('milliseconds', now()) FROM UNNEST($1::text[]) AS s GROUP BY s \
         ON CONFLICT (source) DO UPDATE SET failures = source_stats.failures + excluded.failures, \
         updated_at = excluded.updated_at",
    )
    .bind(sources)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn pause_row(pause: &SourcePause) -> pauses::ActiveModel {
    pauses::ActiveModel {
        source: Set(pause.source.as_str().to_owned()),
        kind: Set(pause.kind.as_str().to_owned()),
        reason: Set(pause.reason.clone()),
        actor: Set(pause.actor.clone()),
        paused_at: Set(truncate_to_millis(pause.paused_at)),
        paused_until: Set(pause.until.map(truncate_to_millis)),
    }
}

fn pause_from_model(m: pauses::Model) -> Result<SourcePause, StorageError> {
    Ok(SourcePause {
        source: parse_source(m.source)?,
        kind: PauseKind::parse(&m.kind)?,
        reason: m.reason,
        actor: m.actor,
        paused_at: m.paused_at,
        until: m.paused_until,
    })
}

pub(super) fn parse_source(s: String) -> Result<SourceName, StorageError> {
    SourceName::parse(s).map_err(|e| StorageError::Corrupt(format!("stored source: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Storage;

    fn source(s: &str) -> SourceName {
        SourceName::parse(s.to_owned()).unwrap()
    }

    fn manual(name: &str, reason: &str, until: Option<DateTime<Utc>>) -> SourcePause {
        SourcePause {
            source: source(name),
            kind: PauseKind::Manual,
            reason: reason.into(),
            actor: "alice".into(),
            paused_at: truncate_to_millis(Utc::now()),
            until,
        }
    }

    #[actix_rt::test]
    async fn counters_add_up_across_writes_and_latest_follows_the_newest_event() {
        let (_dir, storage) = Storage::scratch().await;
        let repo = storage.sources();
        let t0 = truncate_to_millis(Utc::now());
        let mut newer = StatsDelta::zero(source("a"));
        newer
            .counters
            .add_event(t0 + chrono::Duration::seconds(10), 5);
        let mut older = StatsDelta::zero(source("a"));
        older.counters.add_event(t0, 50);
        older.counters.add_event(t0, 30);
        repo.add_stats(vec![newer]).await.unwrap();
        repo.add_stats(vec![older]).await.unwrap(); // committed later, but about older events

        let o = repo.overview(&source("a")).await.unwrap().counters;
        assert_eq!((o.total, o.lag_ms_sum), (3, 85));
        assert_eq!((o.lag_ms_latest, o.lag_ms_max), (Some(5), Some(50)));
        assert_eq!(o.last_event_at, Some(t0 + chrono::Duration::seconds(10)));
    }

    #[actix_rt::test]
    async fn a_deferred_event_is_released_once_and_counted_as_throttled_once() {
        let (_dir, storage) = Storage::scratch().await;
        let repo = storage.sources();
        repo.defer(&source("a"), &[3, 1, 2], None).await.unwrap();
        assert_eq!(repo.backlog(&source("a")).await.unwrap(), [1, 2, 3]);

        // No stored events behind these numbers: the claim still deletes the rows, once.
        assert!(
            repo.release(&source("a"), &[1, 2])
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(repo.backlog(&source("a")).await.unwrap(), [3]);
        let o = repo.overview(&source("a")).await.unwrap();
        assert_eq!((o.counters.throttled, o.backlog), (3, 1));
        assert_eq!(repo.discard_backlog(&source("a")).await.unwrap(), 1);
        assert_eq!(
            repo.overview(&source("a")).await.unwrap().counters.dropped,
            1
        );
    }

    #[actix_rt::test]
    async fn an_automatic_pause_never_replaces_a_manual_one_in_force() {
        let (_dir, storage) = Storage::scratch().await;
        let repo = storage.sources();
        repo.pause(&manual("a", "deploy", None), ulid::Ulid::generate())
            .await
            .unwrap();
        let automatic = SourcePause {
            kind: PauseKind::RateLimit,
            reason: "rate limit".into(),
            actor: HERALD_ACTOR.into(),
            ..manual("a", "", Some(Utc::now() + chrono::Duration::seconds(5)))
        };
        repo.defer(&source("a"), &[1], Some(&automatic))
            .await
            .unwrap();
        let kept = repo.pause_of(&source("a")).await.unwrap().unwrap();
        assert_eq!(
            (kept.kind, kept.reason.as_str()),
            (PauseKind::Manual, "deploy")
        );

        repo.resume(&source("a"), ulid::Ulid::generate(), "alice", None)
            .await
            .unwrap();
        repo.defer(&source("a"), &[2], Some(&automatic))
            .await
            .unwrap();
        let now = repo.pause_of(&source("a")).await.unwrap().unwrap();
        assert_eq!(now.kind, PauseKind::RateLimit);
        // A manual pause replaces an automatic one.
        repo.pause(&manual("a", "incident", None), ulid::Ulid::generate())
            .await
            .unwrap();
        let replaced = repo.pause_of(&source("a")).await.unwrap().unwrap();
        assert_eq!(replaced.reason, "incident");
    }

    #[actix_rt::test]
    async fn the_list_holds_sources_seen_or_paused_by_name_and_hides_expired_pauses() {
        let (_dir, storage) = Storage::scratch().await;
        let repo = storage.sources();
        let mut seen = StatsDelta::zero(source("b.seen"));
        seen.counters.add_event(Utc::now(), 1);
        repo.add_stats(vec![seen]).await.unwrap();
        repo.pause(
            &manual("a.paused", "never seen", None),
            ulid::Ulid::generate(),
        )
        .await
        .unwrap();
        repo.pause(
            &manual(
                "c.expired",
                "over",
                Some(Utc::now() - chrono::Duration::seconds(1)),
            ),
            ulid::Ulid::generate(),
        )
        .await
        .unwrap();

        let page = repo.list(None, 2).await.unwrap();
        let names: Vec<&str> = page.iter().map(|o| o.source.as_str()).collect();
        assert_eq!(names, ["a.paused", "b.seen", "c.expired"]);
        assert!(page[0].pause.is_some());
        assert!(page[2].pause.is_none(), "an expired pause is no pause");
        let rest = repo.list(Some("b.seen"), 2).await.unwrap();
        assert_eq!(rest.len(), 1);
    }
}
