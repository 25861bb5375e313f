//! The one way Herald builds a Redis client, so every connection (the stream's commands and reader, the relay's
//! publisher and subscriber, the shared window, the bench) reconnects, waits and times out alike.

use std::time::Duration;

use fred::clients::{Client, SubscriberClient};
use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy};
use secrecy::{ExposeSecret, SecretString};

use super::RedisError;
use super::retry::{RETRY_MAX, RETRY_MIN};

/// Deadline of every command on a [`client`]. While Redis is down fred queues commands until it reconnects;
/// without a deadline a publish, a readiness check or an `XACK` would wait for as long as the outage lasts.
/// Blocking reads (`XREADGROUP … BLOCK 1000`) stay well inside it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// How a lost connection is re-established: forever, doubling from [`RETRY_MIN`] up to [`RETRY_MAX`], the same
/// schedule as Herald's own retry loops ([`super::retry::policy`]), so a Redis outage is retried at one pace.
pub fn reconnect_policy() -> ReconnectPolicy {
    // The bounds are a few hundred ms and seconds: they fit in u32 milliseconds.
    ReconnectPolicy::new_exponential(
        0,
        RETRY_MIN.as_millis() as u32,
        RETRY_MAX.as_millis() as u32,
        2,
    )
}

/// A builder with Herald's policy: reconnect as [`reconnect_policy`], TCP_NODELAY (without it a small command,
/// an `XACK`, can wait for the delayed ACK of the previous one).
fn builder(config: Config) -> Builder {
    let mut builder = Builder::from_config(config);
    builder
        .set_policy(reconnect_policy())
        .with_connection_config(|c| c.tcp.nodelay = Some(true));
    builder
}

fn config(url: &SecretString) -> Result<Config, RedisError> {
    Config::from_url(url.expose_secret()).map_err(RedisError::InvalidUrl)
}

/// A connected command client: reconnecting forever, TCP_NODELAY, [`COMMAND_TIMEOUT`] on every command.
///
/// # Errors
/// [`RedisError::InvalidUrl`] when the URL does not parse; [`RedisError::Connect`] when Redis cannot be reached.
pub async fn client(url: &SecretString) -> Result<Client, RedisError> {
    let client = builder(config(url)?)
        .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
        .build()
        .map_err(RedisError::InvalidUrl)?;
    client.init().await.map_err(RedisError::Connect)?;
    Ok(client)
}

/// A pub/sub client, not yet connected, whose very first connection follows [`reconnect_policy`] too (so one
/// connection task serves for the client's whole life, whenever Redis comes up), buffering up to `buffer`
/// messages for a reader that falls behind (fred's default is 32).
///
/// # Errors
/// [`RedisError::InvalidUrl`] when the URL does not parse.
pub fn subscriber(url: &SecretString, buffer: usize) -> Result<SubscriberClient, RedisError> {
    let mut config = config(url)?;
    config.fail_fast = false;
    builder(config)
        .with_performance_config(|p| p.broadcast_channel_capacity = buffer)
        .build_subscriber_client()
        .map_err(RedisError::InvalidUrl)
}
