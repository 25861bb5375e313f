//! One file per route group.

pub mod backtest;
pub mod dead_letters;
pub mod deliveries;
pub mod event_health;
pub mod event_schemas;
pub mod events;
pub mod explain;
pub mod health;
pub(crate) mod ingest;
pub(crate) mod ingest_body;
pub mod me;
pub mod metrics;
pub mod replays;
pub mod saved_view_bodies;
pub mod saved_views;
pub mod source_bodies;
pub mod sources;
pub mod triggers;
pub mod ws;
