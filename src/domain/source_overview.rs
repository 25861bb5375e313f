//! [`SourceOverview`]: everything Herald knows about one source at once (SPEC §4 metrics, §6.5 controls), as
//! `GET /admin/sources` and `/admin/event-health` show it.

use crate::domain::{SourceControl, SourceCounters, SourceName, SourcePause};

/// One source's counters, backlog, pause and latest control.
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
    /// A source never seen: zero counters, no backlog, no pause, no control.
    pub fn empty(source: SourceName) -> SourceOverview {
        SourceOverview {
            source,
            counters: SourceCounters::default(),
            backlog: 0,
            pause: None,
            last_control: None,
        }
    }
}
