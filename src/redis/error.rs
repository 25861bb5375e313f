//! [`RedisError`]: why a Redis client could not be built or a command failed, with fred's error as the cause.

/// A Redis failure. Callers above this layer match on it (a bad URL is a start-up error, an unreachable server
/// is retried) instead of unpacking the queue's or the relay's own errors.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RedisError {
    /// `REDIS_URL` does not parse, or names options fred does not support.
    #[error("REDIS_URL is not a usable Redis URL: {0}")]
    InvalidUrl(#[source] fred::error::Error),
    /// The first connection failed (the client reconnects by itself after that one).
    #[error("could not connect to Redis: {0}")]
    Connect(#[source] fred::error::Error),
    /// A command failed or timed out.
    #[error("redis: {0}")]
    Command(#[from] fred::error::Error),
}
