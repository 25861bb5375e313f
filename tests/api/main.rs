//! Herald's black-box integration tests: one binary, real PostgreSQL, SQLite and Redis.
mod helpers;

mod ingest_http;
