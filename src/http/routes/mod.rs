//! One file per route group.

pub mod dead_letters;
pub mod events;
pub mod health;
pub(crate) mod ingest;
