//! [`SourcePause`] and [`PauseKind`] (SPEC §4, §6.5): why and until when a source's trigger evaluation is deferred.
//! One kind enum serves the window's rule, the stored row and the wire, so the three can never disagree.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{SourceName, UnknownSpelling};

/// The actor recorded for pauses Herald makes itself (rate limits).
pub const HERALD_ACTOR: &str = "herald";

/// Why a source is paused. Stored and sent as `manual` or `rate_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseKind {
    /// An operator paused it (SPEC §6.5).
    Manual,
    /// An event exceeded its rate limit (SPEC §4).
    RateLimit,
}

impl PauseKind {
    /// The stored and wire spelling: `manual` or `rate_limit`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PauseKind::Manual => "manual",
            PauseKind::RateLimit => "rate_limit",
        }
    }
}

impl FromStr for PauseKind {
    type Err = UnknownSpelling;

    /// The stored spelling only.
    fn from_str(s: &str) -> Result<PauseKind, UnknownSpelling> {
        match s {
            "manual" => Ok(PauseKind::Manual),
            "rate_limit" => Ok(PauseKind::RateLimit),
            other => Err(UnknownSpelling::new("pause kind", other)),
        }
    }
}

/// A source's pause, as recorded (by name: the source need not have been seen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePause {
    /// The paused source.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_kinds_round_trip_their_stored_spelling_and_refuse_others() {
        for kind in [PauseKind::Manual, PauseKind::RateLimit] {
            assert_eq!(kind.as_str().parse::<PauseKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert!("Manual".parse::<PauseKind>().is_err());
    }
}
