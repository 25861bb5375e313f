//! Replays (SPEC §6.2): the [`ReplayRunner`] (one per process, the holder of the `replays` lease runs them) and
//! the run of one replay.
//!
//! - `runner.rs`: the runner actor and its messages.
//! - `run.rs`: one replay's steps (read, match, record with the cursor, wake, pace).

mod run;
mod runner;

pub use run::RunDeps;
pub use runner::{DrainReplays, ReplayAsked, ReplayRunner};
