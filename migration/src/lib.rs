//! Herald's schema history, one file per change (SeaORM migrations).
//!
//! Migrations are history: each declares its own identifiers and never imports Herald's entities, so a later
//! change to an entity can never rewrite what an older migration did. `herald serve` and `herald migrate` both run
//! [`Migrator::up`]; the same files run on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_workflow_events;
mod m20261125_000002_create_event_ingress_failures;
mod m20261125_000003_create_herald_leases;
mod m20261126_000004_add_severity_and_page_indexes;
mod m20261126_000005_create_source_tables;
mod m20261126_000006_create_source_controls;
mod m20261127_000007_create_event_schemas;
mod m20261127_000008_create_saved_views;
mod m20261203_000009_create_triggers;
mod m20261203_000010_create_trigger_changes;
mod m20261203_000011_create_trigger_state_changes;
mod m20261203_000012_create_event_trigger_deliveries;
mod m20261203_000013_create_event_trigger_attempts;
mod m20261203_000014_create_trigger_evaluation_marks;
mod m20261204_000015_create_replays;

/// The ordered list of every migration Herald has ever shipped.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_workflow_events::Migration),
            Box::new(m20261125_000002_create_event_ingress_failures::Migration),
            Box::new(m20261125_000003_create_herald_leases::Migration),
            Box::new(m20261126_000004_add_severity_and_page_indexes::Migration),
            Box::new(m20261126_000005_create_source_tables::Migration),
            Box::new(m20261126_000006_create_source_controls::Migration),
            Box::new(m20261127_000007_create_event_schemas::Migration),
            Box::new(m20261127_000008_create_saved_views::Migration),
            Box::new(m20261203_000009_create_triggers::Migration),
            Box::new(m20261203_000010_create_trigger_changes::Migration),
            Box::new(m20261203_000011_create_trigger_state_changes::Migration),
            Box::new(m20261203_000012_create_event_trigger_deliveries::Migration),
            Box::new(m20261203_000013_create_event_trigger_attempts::Migration),
            Box::new(m20261203_000014_create_trigger_evaluation_marks::Migration),
            Box::new(m20261204_000015_create_replays::Migration),
        ]
    }
}
