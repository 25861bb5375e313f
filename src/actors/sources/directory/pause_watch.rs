//! What the directory's pause poll learns: the pauses in force, and which sources' pauses started, changed or
//! ended since the last poll, with the notice each change is worth. Plain functions, so the rule is tested without
//! a database or an actor.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::actors::live::{PauseEnd, SourceNotice};
use crate::domain::SourceName;
use crate::domain::SourcePause;

/// The changes between two polls.
#[derive(Debug, Default)]
pub(super) struct PauseChanges {
    /// Sources whose pause started, changed or ended: their limiters reload it.
    pub(super) sources: Vec<SourceName>,
    /// One notice per change, for the WebSocket sessions.
    pub(super) notices: Vec<SourceNotice>,
}

/// The pauses among `pauses` that are in force at `now`, by source.
pub(super) fn in_force(
    pauses: Vec<SourcePause>,
    now: DateTime<Utc>,
) -> HashMap<SourceName, SourcePause> {
    pauses
        .into_iter()
        .filter(|p| p.is_active(now))
        .map(|p| (p.source.clone(), p))
        .collect()
}

/// What changed from the pauses in force at the last poll (`known`) to those in force now (`active`): a pause
/// that is new or differs (reason, end, kind) is `Paused`; one that is gone ended, `Expired` when its end has
/// come, `Resumed` otherwise (by hand, on any instance).
pub(super) fn changes(
    known: &HashMap<SourceName, SourcePause>,
    active: &HashMap<SourceName, SourcePause>,
    now: DateTime<Utc>,
) -> PauseChanges {
    let mut changes = PauseChanges::default();
    for (source, pause) in active {
        if known.get(source) != Some(pause) {
            changes.sources.push(source.clone());
            changes.notices.push(SourceNotice::Paused(pause.clone()));
        }
    }
    for (source, pause) in known {
        if !active.contains_key(source) {
            changes.sources.push(source.clone());
            let ended = if pause.until.is_some_and(|until| until <= now) {
                PauseEnd::Expired
            } else {
                PauseEnd::Resumed
            };
            changes.notices.push(SourceNotice::Resumed {
                source: source.clone(),
                ended,
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{HERALD_ACTOR, PauseKind};

    fn pause(source: &str, reason: &str, until: Option<DateTime<Utc>>) -> SourcePause {
        let paused_at = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        SourcePause {
            source: SourceName::parse(source.into()).unwrap(),
            kind: PauseKind::Manual,
            reason: reason.into(),
            actor: HERALD_ACTOR.into(),
            paused_at,
            until,
        }
    }

    #[test]
    fn a_new_a_changed_an_ended_and_an_expired_pause_each_give_one_notice() {
        // Arrange
        let now = Utc::now();
        let earlier = now - chrono::Duration::seconds(5);
        let ended_at = now - chrono::Duration::seconds(1);
        let known = in_force(
            vec![
                pause("same.api", "a", None),
                pause("changed.api", "a", None),
                pause("resumed.api", "a", None),
                pause("expiring.api", "a", Some(ended_at)),
            ],
            earlier,
        );
        let active = in_force(
            vec![
                pause("same.api", "a", None),
                pause("changed.api", "b", None),
                pause("new.api", "a", None),
                pause("expiring.api", "a", Some(ended_at)),
            ],
            now,
        );

        // Act
        let changes = changes(&known, &active, now);

        // Assert
        let mut sources: Vec<&str> = changes.sources.iter().map(|s| s.as_str()).collect();
        sources.sort_unstable();
        assert_eq!(
            sources,
            ["changed.api", "expiring.api", "new.api", "resumed.api"]
        );
        let mut notices: Vec<String> = changes
            .notices
            .iter()
            .map(|n| match n {
                SourceNotice::Paused(p) => format!("paused {} {}", p.source, p.reason),
                SourceNotice::Resumed { source, ended } => format!("resumed {source} {ended:?}"),
            })
            .collect();
        notices.sort_unstable();
        assert_eq!(
            notices,
            [
                "paused changed.api b",
                "paused new.api a",
                "resumed expiring.api Expired",
                "resumed resumed.api Resumed",
            ]
        );
    }
}
