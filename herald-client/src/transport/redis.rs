//! The Redis transport: `XADD <stream> * envelope <json>`, as any publisher does (SPEC §2.1).

use std::time::Duration;

use fred::clients::Client;
use fred::error::ErrorKind;
use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy, StreamsInterface};

use crate::error::{PublishError, SendError};

/// The stream Herald reads by default (`HERALD_EVENT_STREAM`).
pub const DEFAULT_STREAM: &str = "herald:events";

/// Deadline of one `XADD`. While Redis is down the client queues commands until it reconnects; the deadline turns
/// an outage into a failed try instead of a wait as long as the outage.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// A connected Redis client and the stream it publishes to.
#[derive(Clone)]
pub(crate) struct RedisTransport {
    client: Client,
    stream: String,
}

impl RedisTransport {
    /// Connects to `url` (`redis://host:port/db`, `rediss://…`).
    pub(crate) async fn connect(url: &str, stream: &str) -> Result<RedisTransport, PublishError> {
        let config = Config::from_url(url).map_err(|e| PublishError::Transport {
            attempts: 0,
            message: format!("invalid Redis URL: {e}"),
        })?;
        let mut builder = Builder::from_config(config);
        builder
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            .with_connection_config(|c| c.tcp.nodelay = Some(true))
            .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT);
        let client = builder.build().map_err(|e| PublishError::Transport {
            attempts: 0,
            message: e.to_string(),
        })?;
        client.init().await.map_err(|e| PublishError::Transport {
            attempts: 1,
            message: format!("could not connect to Redis: {e}"),
        })?;
        Ok(RedisTransport {
            client,
            stream: stream.to_owned(),
        })
    }

    /// One `XADD` of an envelope's JSON.
    pub(crate) async fn send(&self, json: &str) -> Result<(), SendError> {
        self.client
            .xadd::<String, _, _, _, _>(&self.stream, false, None, "*", ("envelope", json))
            .await
            .map(drop)
            .map_err(classify)
    }

    /// One `XADD` per envelope JSON, in order, in one pipeline (one round trip). On an error some may have been
    /// added: sending them again adds duplicates, which Herald stores once.
    pub(crate) async fn send_many(&self, jsons: &[String]) -> Result<(), SendError> {
        let pipeline = self.client.pipeline();
        for json in jsons {
            let _: () = pipeline
                .xadd(&self.stream, false, None, "*", ("envelope", json.as_str()))
                .await
                .map_err(classify)?;
        }
        let _: Vec<fred::types::Value> = pipeline.all().await.map_err(classify)?;
        Ok(())
    }
}

/// Whether a Redis error is worth another try.
fn classify(e: fred::error::Error) -> SendError {
    match e.kind() {
        ErrorKind::IO
        | ErrorKind::Timeout
        | ErrorKind::Canceled
        | ErrorKind::Backpressure
        | ErrorKind::Cluster => SendError::Transient(format!("Redis: {e}")),
        _ => SendError::Fatal(format!("Redis: {e}")),
    }
}
