//! Herald's black-box integration tests: one binary, real PostgreSQL, SQLite and Redis.
mod helpers;

mod auth;
mod cli;
mod cloudevents;
mod crash_recovery;
mod dead_letters;
mod events_query;
mod explorer;
mod health;
mod ingest_http;
mod ingest_redis;
mod jsonpath_parity;
mod resilience;
mod saved_views;
mod schemas;
mod sdk;
mod shared_window;
mod sources;
mod storage_text;
mod telemetry;
mod triggers;
mod websocket;
