//! Repositories: domain types in, domain types out, typed [`super::StorageError`]s.

pub mod dead_letters;
pub mod event_queries;
pub mod events;
pub mod leases;
pub mod source_controls;
pub mod sources;
