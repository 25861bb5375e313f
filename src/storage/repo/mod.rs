//! Repositories: domain types in, domain types out, typed [`super::StorageError`]s.
//!
//! They form a tree, calls running one way: `event_queries` → `events` → `dead_letters` → `stats`; `sources` →
//! `stats`, `controls`; `deliveries`, `delivery_stats` → `triggers` (the open statuses); `event_schemas`,
//! `saved_views`, `delivery_history`, `evaluation_marks` and `leases` stand alone; `replays` writes its own
//! deliveries with the `deliveries` statuses; and every one of them → `rows`
//! (with `trigger_rows` beside it for the trigger tables), the row ↔ domain conversions. A repository that must
//! write another table in its own transaction calls a free function
//! of a lower leaf, never another repository.

pub mod backtest_pg;
mod controls;
pub mod dead_letters;
pub mod deliveries;
pub mod delivery_history;
mod delivery_pg;
pub mod delivery_stats;
pub mod encoded;
pub mod evaluation_marks;
pub mod event_queries;
pub mod event_schemas;
pub mod events;
mod events_pg;
pub mod leases;
pub mod replays;
mod rows;
pub mod saved_views;
pub mod sources;
mod stats;
mod trigger_rows;
pub mod triggers;
