//! The Redis layer, between storage and the actors: what every Redis-speaking part of Herald shares.
//!
//! - [`client()`]: the one client builder (reconnect policy, TCP_NODELAY, command deadline).
//! - [`InstanceId`]: this process's `<host>-<pid>-<ulid>` id (stream consumer name, relay tag, inline lease holder).
//! - [`retry`]: the one back-off policy of every retry loop, and a sleep that ends on shutdown.
//! - [`RedisWindow`]: the shared sliding window of the source rate limiters (SPEC §13).
//! - [`LiveRelay`]: the live pub/sub transport between instances (SPEC §13); the actors wire it to the hub.
//!
//! It imports the domain and storage only, never the actors: a higher layer that must hear from Redis hands in a
//! callback or a `Recipient` of a message defined down here.

mod client;
mod error;
mod instance;
mod relay;
pub mod retry;
mod window;
pub mod workflow;

pub use client::{COMMAND_TIMEOUT, client, reconnect_policy, subscriber};
pub use error::RedisError;
pub use instance::InstanceId;
pub use relay::{LiveRelay, RelaySettings, Relayed};
pub use window::{MAX_SOURCES_PER_CALL, RedisWindow};
