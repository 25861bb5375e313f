//! SeaORM entities, one file per table. Only repositories use them; handlers and actors see domain types.

pub mod event_ingress_failures;
pub mod herald_leases;
pub mod prelude;
pub mod workflow_events;
