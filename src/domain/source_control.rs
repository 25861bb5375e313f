//! [`SourceControl`]: one on-call control of a source (SPEC §6.5): who paused, resumed or discarded a backlog,
//! when, and why.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{SourceName, UnknownSpelling, truncate_to_millis};

/// What an operator did to a source. Stored and sent as `pause`, `resume` or `discard_backlog`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
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
    pub const fn as_str(self) -> &'static str {
        match self {
            ControlAction::Pause => "pause",
            ControlAction::Resume => "resume",
            ControlAction::DiscardBacklog => "discard_backlog",
        }
    }
}

impl FromStr for ControlAction {
    type Err = UnknownSpelling;

    /// The stored spelling only.
    fn from_str(s: &str) -> Result<ControlAction, UnknownSpelling> {
        match s {
            "pause" => Ok(ControlAction::Pause),
            "resume" => Ok(ControlAction::Resume),
            "discard_backlog" => Ok(ControlAction::DiscardBacklog),
            other => Err(UnknownSpelling::new("source control", other)),
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
}
