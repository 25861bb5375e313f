//! The bench's publisher: XADD pipelines to the ingress stream, or `POST /events` batches.

use std::time::Duration;

use fred::prelude::StreamsInterface;
use serde_json::Value;

use crate::config::{EventsMode, Settings};

/// How the bench publishes: XADD pipelines in redis mode, `POST /events` inline, the way a user would.
pub(super) enum Publisher {
    Redis(fred::clients::Client),
    Http {
        client: reqwest::Client,
        url: String,
    },
}

impl Publisher {
    /// A publisher for the Herald on `port`, by the transport `settings` name.
    pub(super) async fn new(settings: &Settings, port: u16) -> anyhow::Result<Publisher> {
        Ok(match (&settings.events_mode, &settings.redis_url) {
            (EventsMode::Redis, Some(url)) => Publisher::Redis(crate::redis::client(url).await?),
            _ => Publisher::Http {
                client: reqwest::Client::new(),
                url: format!("http://127.0.0.1:{port}/events"),
            },
        })
    }

    /// Sends `batch` in one pipeline or request.
    pub(super) async fn publish(&self, stream: &str, batch: Vec<Value>) -> anyhow::Result<()> {
        match self {
            Publisher::Redis(client) => {
                let pipeline = client.pipeline();
                for envelope in batch {
                    let _: () = pipeline
                        .xadd(
                            stream,
                            false,
                            None,
                            "*",
                            vec![("envelope", envelope.to_string())],
                        )
                        .await?;
                }
                let _: Vec<fred::types::Value> = pipeline.all().await?;
            }
            Publisher::Http { client, url } => {
                let response = client.post(url).json(&batch).send().await?;
                anyhow::ensure!(
                    response.status() == 202,
                    "POST /events answered {}",
                    response.status()
                );
            }
        }
        Ok(())
    }

    /// Waits until the consumer group has nothing pending (every stored entry is acked).
    pub(super) async fn wait_acked(&self, settings: &Settings) -> anyhow::Result<()> {
        if let Publisher::Redis(client) = self {
            loop {
                let summary: fred::types::Value = client
                    .xpending(
                        settings.event_stream.as_str(),
                        settings.consumer_group.as_str(),
                        (),
                    )
                    .await?;
                if summary
                    .into_array()
                    .first()
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0)
                    == 0
                {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        Ok(())
    }
}
