//! The trigger actors (SPEC §5): the [`TriggerDirectory`] (one per process: matching, evaluation, ownership) and
//! one [`TriggerActor`] per trigger (pause machine, throttle, retries, attempts).
//!
//! - `directory.rs`: the directory and its messages.
//! - `actor.rs`: the trigger actor and its messages.
//! - `evaluator.rs`: the task that commits outcome rows in order and wakes the actors.
//! - `attempt.rs`: one attempt (webhook POST or workflow run request).

mod actor;
mod attempt;
mod catalog;
mod directory;
mod evaluator;
mod recovery;
mod work;

pub use actor::{
    Command, Control, Reload, SetOwner, StopTrigger, TriggerActor, TriggerDeps, Wake, WallClock,
};
pub use attempt::{Deliverer, Tried, WorkflowSink, webhook_body};
pub use directory::{
    ControlTrigger, DELIVERY_LEASE, DrainTriggers, TriggerChanged, TriggerDirectory, WakeTrigger,
};
