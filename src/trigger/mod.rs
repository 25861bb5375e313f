//! The pure rules of triggers (SPEC §5): no actix, no I/O; time is passed in and randomness (jitter, secrets)
//! comes from the caller, so every rule is tested with exact values. The `TriggerActor` (one per trigger) and the
//! delivery worker are built on these.
//!
//! - `address.rs`: which resolved addresses a webhook may reach ([`AddressPolicy`], §10).
//! - `backtest.rs`: what a definition would have made of a range of stored events ([`Backtest`], §5.9).
//! - `explain.rs`: every step one trigger takes with one event, found and expected ([`explain`], §5.9).
//! - `evaluate.rs`: what one trigger makes of one event before any attempt ([`Verdict`]).
//! - `replay.rs`: a replay's request, statuses, progress and pacing ([`ReplayRequest`], [`Pacer`], §6.2).
//! - `record.rs`: triggers, deliveries and attempts as storage hands them up.
//! - `compiled.rs`: a stored trigger compiled for evaluation and delivery ([`CompiledTrigger`]).
//! - `definition.rs`: a trigger's definition parsed and compiled from its create body ([`Definition`], §5.1).
//! - `ledger.rs`: which stored events still await evaluation ([`EvaluationLedger`], SPEC §3).
//! - `matcher.rs`: the index from event type and source to the triggers that select them ([`MatchIndex`]).
//! - `outcome.rs`: what an attempt makes of its delivery ([`next_status`]).
//! - `pause.rs`: the auto-pause machine ([`PauseMachine`]: running → paused → halfOpen → running/paused, manual
//!   pause and resume), its [`StateChange`] rows and their replay (§5.7).
//! - `predicate.rs`: compiled predicates ([`Predicate`], §5.2) with what each found and expected, for explain.
//! - `retry.rs`: the retry schedule ([`RetryPolicy`], jitter, `Retry-After`, §5.6).
//! - `template.rs`: `{{ path | filter }}` templates over `{event, trigger, now}` ([`Template`], §5.4).
//! - `throttle.rs`: the throttle window and the concurrency cap ([`DeliveryGate`], §5.6).
//! - `signature.rs`: Standard Webhooks signing with the trigger's `whsec_` secret ([`WebhookSecret`], §5.5).
//! - `status.rs`: what became of a (trigger, event) pair ([`DeliveryStatus`], §5.3) and the TTL rule (§5.8).

mod address;
mod backtest;
mod compiled;
mod definition;
mod evaluate;
mod explain;
mod ledger;
mod matcher;
mod outcome;
mod pause;
mod predicate;
mod record;
mod replay;
mod retry;
mod signature;
mod status;
mod template;
mod throttle;

pub use address::{AddressPolicy, AddressRefusal};
pub use backtest::{Backtest, BacktestReport, Elimination, ThrottlePlay};
pub use compiled::CompiledTrigger;
pub use definition::{
    DEFAULT_RUN_KEY, DEFAULT_TIMEOUT_MS, Definition, DefinitionRules, MAX_CONCURRENCY,
    MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_TIMEOUT_MS, Parsed, Target,
};
pub use evaluate::{Verdict, evaluate, event_json, trigger_json};
pub use explain::{ExplainedEvent, Step, StepKind, TriggerContext, explain, idempotency_key};
pub use ledger::EvaluationLedger;
pub use matcher::{MatchIndex, Matches};
pub use outcome::{Ended, next_status};
pub use pause::{Gate, PauseConfig, PauseMachine, StateChange, TriggerState};
pub use predicate::{
    ItemTest, MAX_IN_VALUES, MAX_PREDICATES, MAX_REGEX_CHARS, PortablePredicate, Predicate,
    PredicateOutcome, compile_all, first_failure,
};
pub use record::{
    AttemptOutcome, AttemptRecord, AttemptResult, Delivery, NewDelivery, StateChangeRecord,
    StateHead, TriggerRecord, TriggerWrite,
};
pub use replay::{
    DEFAULT_RATE_PER_SECOND, MAX_STEP_EVENTS, Pacer, Replay, ReplayRequest, ReplayStatus,
    ReplayStep, replay_selects, step_events,
};
pub use retry::{
    JITTER, MAX_ATTEMPTS, MAX_DELAY_MS, MAX_RETRY_AFTER, RetryPolicy, parse_retry_after,
};
pub use signature::{GENERATED_SECRET_BYTES, SECRET_PREFIX, WebhookSecret};
pub use status::{DeliveryStatus, is_expired};
pub use template::{Template, scope};
pub use throttle::{DeliveryGate, MAX_WINDOW_MS, Throttle, Wait};
