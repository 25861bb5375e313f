//! Herald: an event bus. Events come in from a Redis Stream or over HTTP, are validated, stored exactly once in
//! SQLite or PostgreSQL, and handed on to whoever subscribes.
//!
//! # Layout
//! - [`config`]: the typed settings tree (defaults < TOML < environment).
//! - [`telemetry`]: logging set-up.
//! - [`domain`]: pure types (envelope, ids, names, validation errors); no I/O.
//! - [`ingest`]: what a queue entry becomes (an event or a dead letter), without actix or I/O.
//! - [`jsonpath`]: SQL/JSON path (SPEC §9): parsing, Herald's own evaluation, the PostgreSQL condition.
//! - [`storage`]: database connection, migrations, entities and repositories.
//! - [`queue`]: the queue adapters (`redis_streams`, `inline`) behind one interface.
//! - [`actors`]: the actor system (`IngressRouter`, …); `actors.md` maps it.
//! - [`auth`]: tokens, scopes and the anonymous-on-loopback rule.
//! - [`http`]: the HTTP API.
//! - [`startup`]: `Application`, which wires everything and runs until shutdown.
//! - [`cli`]: the `herald` command line.

pub mod actors;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod jsonpath;
pub mod queue;
pub mod startup;
pub mod storage;
pub mod telemetry;
