//! The on-call controls of sources (SPEC §6.5), as recorded in `source_controls`: who paused, resumed or discarded
//! a backlog, when, and why. Pause and resume record theirs in the same transaction as the change
//! ([`SourcesRepo::pause`](super::sources::SourcesRepo::pause), [`SourcesRepo::resume`](super::sources::SourcesRepo::resume));
//! a discard, which its limiter carries out, records its own afterwards with the count.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::sources::{SourcesRepo, parse_source};
use crate::domain::{SourceName, format_timestamp, truncate_to_millis};
use crate::storage::StorageError;
use crate::storage::entity::source_controls as controls;

/// What an operator did to a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlAction {
    /// `POST /admin/sources/pause`.
    Pause,
    /// `POST /admin/sources/resume`.
    Resume,
    /// `POST /admin/sources/discard-backlog`.
    DiscardBacklog,
}

impl ControlAction {
    /// The stored and wire spelling: `pause`, `resume`, `discard_backlog`.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlAction::Pause => "pause",
            ControlAction::Resume => "resume",
            ControlAction::DiscardBacklog => "discard_backlog",
        }
    }

    fn parse(s: &str) -> Result<ControlAction, StorageError> {
        match s {
            "pause" => Ok(ControlAction::Pause),
            "resume" => Ok(ControlAction::Resume),
            "discard_backlog" => Ok(ControlAction::DiscardBacklog),
            other => Err(StorageError::Corrupt(format!(
                "unknown source control {other:?}"
            ))),
        }
    }
}

/// One recorded control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceControl {
    /// A ULID, sortable by time; the history's cursor key.
    pub id: String,
    /// The source.
    pub source: SourceName,
    /// What was done.
    pub action: ControlAction,
    /// The acting token's subject.
    pub actor: String,
    /// Why (required for pause and discard, optional for resume).
    pub reason: Option<String>,
    /// Pause: the duration asked for; `None`: until resumed.
    pub duration_ms: Option<i64>,
    /// Resume: whether a pause was in force and ended (resuming a running source is recorded too).
    pub ended_pause: Option<bool>,
    /// Discard: how many deferred evaluations were dropped.
    pub discarded: Option<i64>,
    /// When.
    pub at: DateTime<Utc>,
}

impl SourceControl {
    /// A control of `source` by `actor`, now, with nothing but its reason; the caller sets the action's detail.
    /// `id` must come from a monotonic generator (`AppState::next_ulid`): the history is ordered by it, and random
    /// ULIDs of one millisecond would sort in any order.
    pub fn new(
        id: ulid::Ulid,
        source: SourceName,
        action: ControlAction,
        actor: String,
        reason: Option<String>,
    ) -> SourceControl {
        SourceControl {
            id: id.to_string(),
            source,
            action,
            actor,
            reason,
            duration_ms: None,
            ended_pause: None,
            discarded: None,
            at: truncate_to_millis(Utc::now()),
        }
    }

    /// The wire view: `{action, actor, reason, at}` plus the action's detail (`durationMs`, `endedPause`,
    /// `discarded`).
    pub fn view(&self) -> serde_json::Value {
        let mut view = serde_json::json!({
            "action": self.action.as_str(),
            "actor": self.actor,
            "reason": self.reason,
            "at": format_timestamp(self.at),
        });
        match self.action {
            ControlAction::Pause => view["durationMs"] = self.duration_ms.into(),
            ControlAction::Resume => view["endedPause"] = self.ended_pause.into(),
            ControlAction::DiscardBacklog => view["discarded"] = self.discarded.into(),
        }
        view
    }
}

/// Inserts `control` on `conn` (the caller's transaction, or the writer).
pub(super) async fn record_in(
    conn: &impl ConnectionTrait,
    control: &SourceControl,
) -> Result<(), StorageError> {
    controls::Entity::insert(controls::ActiveModel {
        id: Set(control.id.clone()),
        source: Set(control.source.as_str().to_owned()),
        action: Set(control.action.as_str().to_owned()),
        actor: Set(control.actor.clone()),
        reason: Set(control.reason.clone()),
        duration_ms: Set(control.duration_ms),
        ended_pause: Set(control.ended_pause),
        discarded: Set(control.discarded),
        at: Set(control.at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

fn from_model(row: controls::Model) -> Result<SourceControl, StorageError> {
    Ok(SourceControl {
        id: row.id,
        source: parse_source(row.source)?,
        action: ControlAction::parse(&row.action)?,
        actor: row.actor,
        reason: row.reason,
        duration_ms: row.duration_ms,
        ended_pause: row.ended_pause,
        discarded: row.discarded,
        at: row.at,
    })
}

impl SourcesRepo<'_> {
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
        let mut query = controls::Entity::find()
            .filter(controls::Column::Source.eq(source.as_str()))
            .order_by_desc(controls::Column::Id)
            .limit(limit + 1);
        if let Some(before) = before {
            query = query.filter(controls::Column::Id.lt(before));
        }
        query
            .all(self.read)
            .await?
            .into_iter()
            .map(from_model)
            .collect()
    }
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
        .map(|row| Ok((row.source.clone(), from_model(row)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{PauseKind, SourcePause, Storage};

    fn source(s: &str) -> SourceName {
        SourceName::parse(s.to_owned()).unwrap()
    }

    fn pause(name: &str, reason: &str) -> SourcePause {
        SourcePause {
            source: source(name),
            kind: PauseKind::Manual,
            reason: reason.into(),
            actor: "alice".into(),
            paused_at: truncate_to_millis(Utc::now()),
            until: None,
        }
    }

    #[actix_rt::test]
    async fn each_source_gets_its_own_latest_control_and_its_history_pages_newest_first() {
        let (_dir, storage) = Storage::scratch().await;
        let repo = storage.sources();
        // Ids from one monotonic generator, as the HTTP handlers take them: the four controls may share a
        // millisecond and still keep their order.
        let mut ids = ulid::Generator::new();
        let mut id = || ids.generate().unwrap();
        repo.pause(&pause("a", "first"), id()).await.unwrap();
        repo.pause(&pause("b", "only"), id()).await.unwrap();
        repo.resume(&source("a"), id(), "bob", Some("done"))
            .await
            .unwrap();
        repo.resume(&source("a"), id(), "bob", None).await.unwrap();

        let latest = last_controls_in(storage.write_connection(), &["a", "b", "c"])
            .await
            .unwrap();
        assert_eq!(latest.len(), 2, "c has no control");
        assert_eq!(latest["a"].action, ControlAction::Resume);
        assert_eq!(
            (latest["a"].reason.as_deref(), latest["a"].ended_pause),
            (None, Some(false))
        );
        assert_eq!(latest["b"].reason.as_deref(), Some("only"));

        let first = repo.controls(&source("a"), None, 2).await.unwrap();
        assert_eq!(first.len(), 3, "limit + 1 tells there is more");
        let rest = repo
            .controls(&source("a"), Some(&first[1].id), 2)
            .await
            .unwrap();
        let actions: Vec<(&str, &str)> = first[..2]
            .iter()
            .chain(&rest)
            .map(|c| (c.action.as_str(), c.actor.as_str()))
            .collect();
        assert_eq!(
            actions,
            [("resume", "bob"), ("resume", "bob"), ("pause", "alice")]
        );
    }
}
