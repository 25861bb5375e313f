//! The bench's publisher: XADD pipelines to the ingress stream, or `POST /events` in one of the HTTP formats
//! ([`HttpFormat`]): envelope arrays, CloudEvents batches, or CloudEvents binary mode (one request per event,
//! [`BINARY_REQUESTS_IN_FLIGHT`] at a time).

use std::time::Duration;

use fred::prelude::StreamsInterface;
use futures::StreamExt as _;
use serde_json::Value;

use crate::config::{EventsMode, Settings};

/// `--format`: the body `POST /events` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HttpFormat {
    /// A JSON array of envelopes (`application/json`).
    Envelope,
    /// A JSON array of structured CloudEvents (`application/cloudevents-batch+json`).
    CloudeventsBatch,
    /// One CloudEvent per request in binary mode (`ce-*` headers, the payload as the body).
    CloudeventsBinary,
}

/// Binary-mode requests in flight at once: one event per request, so they are sent concurrently, as a busy
/// publisher's many threads would.
pub(super) const BINARY_REQUESTS_IN_FLIGHT: usize = 32;

/// How the bench publishes: XADD pipelines in redis mode, `POST /events` inline, the way a user would.
pub(super) enum Publisher {
    Redis(fred::clients::Client),
    Http {
        client: reqwest::Client,
        url: String,
        format: HttpFormat,
    },
}

impl Publisher {
    /// A publisher for the Herald on `port`, by the transport `settings` name.
    ///
    /// # Errors
    /// A `format` other than envelopes in redis mode (the stream carries envelopes), or Redis unreachable.
    pub(super) async fn new(
        settings: &Settings,
        port: u16,
        format: HttpFormat,
    ) -> anyhow::Result<Publisher> {
        Ok(match (&settings.events_mode, &settings.redis_url) {
            (EventsMode::Redis, Some(url)) => {
                anyhow::ensure!(
                    format == HttpFormat::Envelope,
                    "--format applies to HTTP publishing (inline mode); redis mode publishes envelopes by XADD"
                );
                Publisher::Redis(crate::redis::client(url).await?)
            }
            _ => Publisher::Http {
                client: reqwest::Client::new(),
                url: format!("http://127.0.0.1:{port}/events"),
                format,
            },
        })
    }

    /// Sends `batch` (envelopes as JSON text) in one pipeline or request.
    pub(super) async fn publish(&self, stream: &str, batch: Vec<String>) -> anyhow::Result<()> {
        match self {
            Publisher::Redis(client) => {
                let pipeline = client.pipeline();
                for envelope in batch {
                    let _: () = pipeline
                        .xadd(stream, false, None, "*", vec![("envelope", envelope)])
                        .await?;
                }
                let _: Vec<fred::types::Value> = pipeline.all().await?;
            }
            Publisher::Http {
                client,
                url,
                format: HttpFormat::Envelope,
            } => {
                let body = format!("[{}]", batch.join(","));
                let request = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body);
                accepted(request).await?;
            }
            Publisher::Http {
                client,
                url,
                format: HttpFormat::CloudeventsBatch,
            } => {
                let events: Vec<Value> = parsed(&batch)?.iter().map(structured).collect();
                let body = serde_json::to_vec(&events)?;
                let request = client
                    .post(url)
                    .header("content-type", "application/cloudevents-batch+json")
                    .body(body);
                accepted(request).await?;
            }
            Publisher::Http {
                client,
                url,
                format: HttpFormat::CloudeventsBinary,
            } => {
                let batch = parsed(&batch)?;
                let requests = batch.iter().map(|envelope| {
                    let request = client
                        .post(url)
                        .header("content-type", "application/json")
                        .header("ce-specversion", "1.0")
                        .header("ce-id", text(envelope, "id"))
                        .header("ce-type", text(envelope, "type"))
                        .header("ce-source", text(envelope, "source"))
                        .body(envelope["payload"].to_string());
                    accepted(request)
                });
                futures::StreamExt::buffer_unordered(
                    futures::stream::iter(requests),
                    BINARY_REQUESTS_IN_FLIGHT,
                )
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<anyhow::Result<Vec<()>>>()?;
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

/// Sends `request`, requiring `202 Accepted`.
async fn accepted(request: reqwest::RequestBuilder) -> anyhow::Result<()> {
    let response = request.send().await?;
    anyhow::ensure!(
        response.status() == 202,
        "POST /events answered {}",
        response.status()
    );
    Ok(())
}

/// The bench envelopes as JSON values, for the formats that rewrite them.
fn parsed(batch: &[String]) -> anyhow::Result<Vec<Value>> {
    Ok(batch
        .iter()
        .map(|text| serde_json::from_str(text))
        .collect::<Result<_, _>>()?)
}

/// The structured CloudEvent of a bench envelope: the same id, type, source and payload.
fn structured(envelope: &Value) -> Value {
    serde_json::json!({
        "specversion": "1.0",
        "id": envelope["id"],
        "type": envelope["type"],
        "source": envelope["source"],
        "data": envelope["payload"],
    })
}

/// A string field of a bench envelope.
fn text<'a>(envelope: &'a Value, field: &str) -> &'a str {
    envelope[field].as_str().unwrap_or_default()
}
