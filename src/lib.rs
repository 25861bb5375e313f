//! Herald: an event bus. Events come in from a Redis Stream or over HTTP, are validated, stored exactly once in
//! SQLite or PostgreSQL, and handed on to whoever subscribes.
//!
//! # Layout
//! - [`config`]: the typed settings tree (defaults < TOML < environment).
//! - [`telemetry`]: logging set-up, and OTLP trace export when configured.
//! - [`metrics`]: Prometheus metrics with bounded label values (`GET /metrics/prometheus`).
//! - [`trace_context`]: W3C `traceparent` of events, turned into span links.
//! - [`domain`]: pure types (envelope and its CloudEvents mapping, ids, names, validation errors); no I/O.
//! - [`filter`]: [`filter::EventFilter`], the event filters with one meaning in queries and live subscriptions.
//! - [`ingest`]: what a queue entry becomes (an event or a dead letter), without actix or I/O.
//! - [`insights`]: what Herald reads out of an event: severity, links, derived views, and a page's field schema (SPEC §6.1).
//! - [`jsonpath`]: SQL/JSON path (SPEC §9): parsing, Herald's own evaluation, the PostgreSQL condition.
//! - [`saved_view`]: saved views (SPEC §6.8): the view, its slug, filters, access rules and analytics; pure.
//! - [`views`]: every JSON shape HTTP and the WebSocket send (events, sources, dead letters, frames), built from
//!   domain types.
//! - [`storage`]: database connection, migrations, entities and repositories.
//! - [`schema_registry`]: the per-type JSON Schema registry's compiled catalog, refreshed from storage on every
//!   instance.
//! - [`redis`]: what every Redis-speaking part shares: the client builder, the instance id, the retry policy, the
//!   shared rate-limit window and the live relay's transport. Imports storage and domain, never the actors.
//! - [`queue`]: the queue adapters (`redis_streams`, `inline`) behind one interface, feeding whoever handles
//!   [`queue::IngestBatch`] (the ingress router).
//! - [`actors`]: the actor system (`IngressRouter`, the source limiters, `WsHub` and one `WsSession` per WebSocket
//!   client, the live relay between instances); `actors.md` maps it.
//! - [`auth`]: tokens, scopes and the anonymous-on-loopback rule.
//! - [`http`]: the HTTP API, and the Explorer (the web UI at `/`, its assets embedded).
//! - [`trigger`]: the pure rules of triggers (auto-pause machine, retry schedule, throttle, webhook signatures,
//!   delivery statuses), free of actix and I/O, for the trigger actors to come.
//! - [`webhook`]: the webhook client: one attempt, its outcome classified (SPEC §5.5), the address policy enforced
//!   on resolved addresses (§10).
//! - [`publisher`]: the publisher SDK (`herald-client`, re-exported) and [`publisher::InlineHandle`], its
//!   in-process transport into a running server's queue.
//! - [`startup`]: `Application`, which wires everything and runs until shutdown.
//! - [`cli`]: the `herald` command line.

pub mod actors;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod filter;
pub mod http;
pub mod ingest;
pub mod insights;
pub mod jsonpath;
pub mod metrics;
pub mod publisher;
pub mod queue;
pub mod redis;
pub mod saved_view;
pub mod schema_registry;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod trace_context;
pub mod trigger;
pub mod views;
pub mod webhook;
