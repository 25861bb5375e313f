//! SeaORM entities, one file per table. Only repositories use them; handlers and actors see domain types.

pub mod event_ingress_failures;
pub mod event_schemas;
pub mod event_trigger_attempts;
pub mod event_trigger_deliveries;
pub mod herald_leases;
pub mod prelude;
pub mod replays;
pub mod saved_views;
pub mod source_controls;
pub mod source_deferrals;
pub mod source_pauses;
pub mod source_stats;
pub mod trigger_changes;
pub mod trigger_evaluation_marks;
pub mod trigger_state_changes;
pub mod triggers;
pub mod workflow_events;
