//! The source actors (SPEC §4): the one [`SourceDirectory`], which finds each source's limiter and keeps the
//! per-source counters, and one [`SourceRateLimiter`] per source, which decides when each stored event goes to
//! trigger evaluation. The trigger issue adds its `TriggerActor`s beside them.
//!
//! - `directory.rs`: the directory and its messages; `directory/pause_watch.rs`: what the pause poll learns.
//! - `limiter.rs`: the limiter and its messages; `limiter/steps.rs`: its ordered storage steps, retries and
//!   broken-state stops.
//! - `clock.rs`: the clock both read, a fake one in their tests; `retry.rs`: their storage retry policy.

mod clock;
mod directory;
mod limiter;
mod retry;

pub use clock::ActorClock;
pub use directory::{
    BACKLOG_SWEEP_INTERVAL, DiscardBacklog, DrainSources, LIMITER_IDLE_AFTER, LimiterIdle,
    PAUSE_POLL_INTERVAL, PauseChanged, ReleasedCounts, STATS_WRITE_INTERVAL, SourceDirectory,
    SourcesLink,
};
pub use limiter::{
    AdmitEvents, AdoptBacklog, DiscardDeferred, FlushDeferrals, LimiterLink, ReloadPause, Retire,
    SourceError, SourceRateLimiter,
};
