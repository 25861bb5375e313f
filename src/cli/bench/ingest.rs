//! `herald bench ingest`: end-to-end ingest throughput and latency against the configured database and Redis,
//! next to a same-run baseline of a plain bulk insert (SPEC §14). Prints one JSON line; never asserts.
//!
//! The run uses a scratch database on the configured server (a new PostgreSQL database, or a new SQLite file
//! beside the system temp dir) and a private stream key, so numbers are reproducible and no real data is touched;
//! both are removed afterwards. Publisher and Herald share this process, as they share the machine in any
//! single-host measurement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Context, Handler};
use clap::Args;
use clap::builder::RangedU64ValueParser;
use indicatif::ProgressBar;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::baseline::measure_baseline;
use super::publisher::{HttpFormat, Publisher};
use super::ws::{PublishTimes, WsClients, WsReport};
use super::{Latencies, Scratch, peak_rss_bytes, round};
use crate::actors::{EventsStored, SubscribeStored};
use crate::auth::AccessPolicy;
use crate::config::{EventsMode, Settings};
use crate::startup::Application;

/// `herald bench ingest` options.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// How many events to publish.
    #[arg(long, default_value_t = 100_000, value_parser = RangedU64ValueParser::<usize>::from(1..))]
    events: usize,
    /// Size of each payload, as compact JSON.
    #[arg(long, default_value_t = 400)]
    payload_bytes: usize,
    /// Publish at most this many events per second (default: as fast as possible, which measures throughput;
    /// a rate below capacity measures latency without a backlog).
    #[arg(long)]
    rate: Option<u64>,
    /// Spread the events round-robin over this many distinct sources (each gets its own rate limiter).
    #[arg(long, default_value_t = 1, value_parser = RangedU64ValueParser::<usize>::from(1..))]
    sources: usize,
    /// `on`: a `"*"` rate limit far above the run's volume, so every source is counted but none is throttled
    /// (the cost measured is the limiter's bookkeeping, not deferral); `off`: no rate limits, whatever
    /// `EVENT_SOURCE_RATE_LIMITS` says.
    #[arg(long, value_enum, default_value_t = RateLimitsSwitch::Off)]
    rate_limits: RateLimitsSwitch,
    /// Connect this many WebSocket clients to `/ws` before publishing, and report publish→WebSocket latency
    /// (over every client's receipts) and the memory an idle session costs (`wsSessionBytes`).
    #[arg(long, default_value_t = 0)]
    ws_clients: usize,
    /// `on`: register a JSON Schema for the bench event type before publishing (an object schema for its
    /// payload, as a publisher would write one), so every event is validated at ingest; `off`: no schema.
    #[arg(long, value_enum, default_value_t = SchemasSwitch::Off)]
    schemas: SchemasSwitch,
    /// The body of each `POST /events` when publishing over HTTP (inline mode): envelope arrays, CloudEvents
    /// batches, or CloudEvents binary mode (one event per request, 32 in flight).
    #[arg(long, value_enum, default_value_t = HttpFormat::Envelope)]
    format: HttpFormat,
    /// Create this many triggers before publishing: 10 (or all, when fewer) select every bench event and filter
    /// it out (an outcome row each, no delivery), the rest select other types. Reports how long the outcomes
    /// took after the last event was stored. Above 10, the same run first measures a pass with only the 10 that
    /// match, on a scratch database of its own, and reports the drop (`triggersComparison`).
    #[arg(long, default_value_t = 0)]
    triggers: usize,
}

/// With `--triggers`, how many of them select the bench events.
const MATCHING_TRIGGERS: usize = 10;

/// `--schemas on|off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemasSwitch {
    /// A schema for the bench event type.
    On,
    /// None.
    Off,
}

/// The type every bench event has.
pub(super) const BENCH_EVENT_TYPE: &str = "bench.event.happened";

/// `--rate-limits on|off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RateLimitsSwitch {
    /// A `"*"` limit no run reaches.
    On,
    /// No limits.
    Off,
}

/// The `"*"` entry of `--rate-limits on`: a billion events a minute per source, which no run reaches.
const UNREACHED_RATE_LIMITS: &str = r#"[{"source":"*","limit":1000000000,"intervalMs":60000}]"#;

/// Events published per request or pipeline.
const PUBLISH_BATCH: usize = 500;
/// With `--rate`, how many publishes a second the events are spread over.
const PUBLISH_TICKS_PER_SECOND: u64 = 100;
/// With `--rate`, how many publishes may be in flight at once, so a slow one does not hold up the schedule.
const MAX_PUBLISHES_IN_FLIGHT: usize = 64;

/// Runs `herald bench ingest` and returns its JSON line.
///
/// # Errors
/// When the scratch database or Redis cannot be used, or not every event is stored in time.
pub(super) async fn run(args: &IngestArgs, settings: Settings) -> anyhow::Result<Value> {
    // Same run, same machine state: the pass with only the matching triggers goes first.
    let matching_only = if args.triggers > MATCHING_TRIGGERS {
        let mut only = args.clone();
        only.triggers = MATCHING_TRIGGERS;
        Some(measure_on_scratch(&only, &settings, false).await?.0)
    } else {
        None
    };
    let (pipeline, baseline) = measure_on_scratch(args, &settings, true).await?;
    let comparison = matching_only.map(|only| {
        let drop = |all: f64, few: f64| if few > 0.0 { round(1.0 - all / few) } else { 0.0 };
        json!({
            "matchingOnly": {
                "triggers": MATCHING_TRIGGERS,
                "eventsPerSecond": round(only.events_per_second),
                "evaluatedEventsPerSecond": only.evaluated_per_second.map(round),
            },
            "eventsPerSecondDrop": drop(pipeline.events_per_second, only.events_per_second),
            "evaluatedEventsPerSecondDrop": match (pipeline.evaluated_per_second, only.evaluated_per_second) {
                (Some(all), Some(few)) => json!(drop(all, few)),
                _ => Value::Null,
            },
        })
    });
    Ok(json!({
        "bench": "ingest",
        "mode": settings.events_mode.as_str(),
        "database": if settings.is_sqlite() { "sqlite" } else { "postgres" },
        "events": args.events,
        "payloadBytes": args.payload_bytes,
        "rate": args.rate,
        "sources": args.sources,
        "rateLimits": matches!(args.rate_limits, RateLimitsSwitch::On),
        "schemas": matches!(args.schemas, SchemasSwitch::On),
        "format": args.format,
        "triggers": args.triggers,
        "triggersComparison": comparison,
        "eventsPerSecond": round(pipeline.events_per_second),
        "outcomesAfterStoredMs": pipeline.outcomes_after.map(|d| round(d.as_secs_f64() * 1000.0)),
        "evaluatedEventsPerSecond": pipeline.evaluated_per_second.map(round),
        "latencyMs": {
            "publishToStored": Value::Object(pipeline.latencies.percentiles()),
            "publishToWebSocket": pipeline.ws.as_ref().map(|ws| {
                let mut view = ws.latencies.percentiles();
                view.insert("receipts".to_owned(), json!(ws.latencies.count()));
                view.insert("missed".to_owned(), json!(ws.missed));
                Value::Object(view)
            }),
        },
        "wsClients": args.ws_clients,
        "wsSessionBytes": pipeline.ws_session_bytes,
        "peakRssBytes": peak_rss_bytes(),
        "baseline": {
            "eventsPerSecond": round(baseline),
            "method": if settings.is_sqlite() { "500-row transactions" } else { "COPY in batches of 5,000" },
        },
        "ratio": if baseline > 0.0 { round(pipeline.events_per_second / baseline) } else { 0.0 },
    }))
}

/// One pass on a scratch database of its own (dropped afterwards): the pipeline, and with `baseline` the plain
/// bulk insert of the same rows measured next to it (0 otherwise).
async fn measure_on_scratch(
    args: &IngestArgs,
    settings: &Settings,
    baseline: bool,
) -> anyhow::Result<(PipelineResult, f64)> {
    let scratch = Scratch::create(settings).await?;
    let mut bench_settings = scratch.settings(settings)?;
    bench_settings.event_source_rate_limits = match args.rate_limits {
        RateLimitsSwitch::On => {
            crate::config::rate_limits::RateLimits::parse(UNREACHED_RATE_LIMITS)?
        }
        RateLimitsSwitch::Off => crate::config::rate_limits::RateLimits::default(),
    };

    let outcome = measure_pipeline(args, &bench_settings).await;
    let rate = match &outcome {
        Ok(_) if baseline => measure_baseline(args.events, args.payload_bytes, &scratch.url).await,
        _ => Ok(0.0),
    };
    if let (EventsMode::Redis, Some(url)) = (settings.events_mode, &settings.redis_url) {
        let client = crate::redis::client(url).await?;
        let _: Result<u64, _> =
            fred::prelude::KeysInterface::del(&client, bench_settings.event_stream.as_str()).await;
    }
    scratch.drop_it().await;
    Ok((outcome?, rate?))
}

struct PipelineResult {
    events_per_second: f64,
    /// Publish → `EventsStored`, one per event.
    latencies: Latencies,
    /// With `--ws-clients`: what the clients measured.
    ws: Option<WsReport>,
    /// With `--ws-clients`: RSS growth per connected client.
    ws_session_bytes: Option<u64>,
    /// With `--triggers`: from the last event stored to the last outcome recorded.
    outcomes_after: Option<Duration>,
    /// With `--triggers`: events over the time from the first publish to the last outcome.
    evaluated_per_second: Option<f64>,
}

/// Starts Herald on the scratch database, publishes `args.events` events the way a user would (XADD in redis
/// mode, `POST /events` inline), and times each from publish to its `EventsStored` notification.
async fn measure_pipeline(
    args: &IngestArgs,
    settings: &Settings,
) -> anyhow::Result<PipelineResult> {
    let app = Application::build_with_access(settings.clone(), AccessPolicy::Anonymous).await?;
    let port = app.port();
    let router = app.router();
    let shutdown = app.shutdown_handle();
    let server = actix_rt::spawn(app.run_until_stopped());

    let publish_times = PublishTimes::new(args.events);
    let (done_tx, done_rx) = oneshot::channel();
    let probe = StoredProbe {
        published: publish_times.clone(),
        latencies: Latencies::new(),
        expected: args.events,
        done: Some(done_tx),
    }
    .start();
    router
        .send(SubscribeStored {
            recipient: probe.recipient(),
        })
        .await?;

    let ws_clients = if args.ws_clients > 0 {
        Some(WsClients::connect(port, args.ws_clients, args.events, publish_times.clone()).await?)
    } else {
        None
    };

    if args.schemas == SchemasSwitch::On {
        register_schema(port, args.payload_bytes).await?;
    }
    let matching = MATCHING_TRIGGERS.min(args.triggers);
    if args.triggers > 0 {
        // `exists` on a path no bench payload has: every event is evaluated and filtered.
        let filtered = json!({"target": {"kind": "webhook", "url": "http://127.0.0.1:9/"},
                              "predicates": [{"path": "$.payload.absent", "operator": "exists"}]});
        super::triggers::create_triggers(
            port,
            BENCH_EVENT_TYPE,
            matching,
            args.triggers - matching,
            &filtered,
        )
        .await?;
    }
    let payload = payload_of(args.payload_bytes).to_string();
    let progress = ProgressBar::new(args.events as u64);
    let started = Instant::now();
    let publisher = Publisher::new(settings, port, args.format).await?;
    // With a rate, events go out in small batches on a 10 ms schedule, several requests in flight, so that the
    // latencies measure a steady stream rather than the drain of 500-event bursts; without one, in batches of
    // 500, one at a time (throughput).
    let (batch_size, max_in_flight) = match args.rate {
        Some(rate) => (
            ((rate / PUBLISH_TICKS_PER_SECOND) as usize).clamp(1, PUBLISH_BATCH),
            MAX_PUBLISHES_IN_FLIGHT,
        ),
        None => (PUBLISH_BATCH, 1),
    };
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut sent = 0;
    while sent < args.events {
        let count = batch_size.min(args.events - sent);
        let batch: Vec<String> = (sent..sent + count)
            .map(|i| envelope(i, &payload, args.sources))
            .collect();
        if let Some(rate) = args.rate {
            let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
            let wait = tokio::time::sleep_until(due.into());
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    _ = &mut wait => break,
                    Some(done) = futures::StreamExt::next(&mut in_flight) => done?,
                }
            }
        }
        publish_times.mark(sent..sent + count, Instant::now());
        in_flight.push(publisher.publish(&settings.event_stream, batch));
        while in_flight.len() >= max_in_flight {
            if let Some(done) = futures::StreamExt::next(&mut in_flight).await {
                done?;
            }
        }
        sent += count;
        progress.set_position(sent as u64);
    }
    while let Some(done) = futures::StreamExt::next(&mut in_flight).await {
        done?;
    }
    let latencies = tokio::time::timeout(Duration::from_secs(600), done_rx)
        .await
        .map_err(|_| anyhow::anyhow!("not every event was stored within 10 minutes"))??;
    let elapsed = started.elapsed();
    let outcomes_after = if args.triggers > 0 {
        let storage =
            crate::storage::Storage::connect(settings.database_url.expose_secret()).await?;
        let expected = (args.events * matching) as u64;
        Some(
            super::triggers::wait_for_outcomes(&storage, expected, Duration::from_secs(600))
                .await?,
        )
    } else {
        None
    };
    let evaluated_per_second =
        outcomes_after.map(|after| args.events as f64 / (elapsed + after).as_secs_f64());
    let ws_session_bytes = ws_clients.as_ref().and_then(|c| c.session_bytes());
    let ws = match ws_clients {
        Some(clients) => {
            tracing::debug!(
                clients = clients.count(),
                "Waiting for the WebSocket clients."
            );
            Some(clients.finish(Duration::from_secs(600)).await?)
        }
        None => None,
    };
    publisher.wait_acked(settings).await?;
    progress.finish_and_clear();
    shutdown.shutdown();
    let _ = server.await;
    Ok(PipelineResult {
        events_per_second: args.events as f64 / elapsed.as_secs_f64(),
        latencies,
        ws,
        ws_session_bytes,
        outcomes_after,
        evaluated_per_second,
    })
}

/// Records publish→stored latency for each newly stored event.
pub(super) struct StoredProbe {
    published: Arc<PublishTimes>,
    latencies: Latencies,
    expected: usize,
    done: Option<oneshot::Sender<Latencies>>,
}

impl Actor for StoredProbe {
    type Context = Context<Self>;
}

impl Handler<EventsStored> for StoredProbe {
    type Result = ();

    fn handle(&mut self, msg: EventsStored, _ctx: &mut Self::Context) {
        let now = Instant::now();
        for event in msg.events.iter() {
            // Each bench id is stored once: an event is newly stored at most once.
            if let Some(latency) = event_index(event.envelope.id.as_str())
                .and_then(|i| self.published.latency_ms(i, now))
            {
                self.latencies.record_ms(latency);
            }
        }
        if self.latencies.count() >= self.expected as u64
            && let Some(done) = self.done.take()
        {
            let _ = done.send(std::mem::take(&mut self.latencies));
        }
    }
}

/// Registers [`payload_schema`] for the bench event type over HTTP, the way an operator would.
async fn register_schema(port: u16, payload_bytes: usize) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .put(format!(
            "http://127.0.0.1:{port}/admin/event-schemas/{BENCH_EVENT_TYPE}"
        ))
        .json(&payload_schema(payload_bytes))
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!(
            "registering the bench schema failed: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// A schema for [`payload_of`]'s payloads as a publisher would write one: an object with exactly a bounded
/// string `data`.
fn payload_schema(payload_bytes: usize) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": { "type": "string", "maxLength": payload_bytes.max(16) }
        },
        "additionalProperties": false
    })
}

pub(super) fn payload_of(bytes: usize) -> Value {
    // `{"data":""}` is 11 bytes of JSON around the filler.
    json!({ "data": "x".repeat(bytes.saturating_sub(11)) })
}

/// The `i`th event's envelope as JSON text, `payload` being JSON text too; with more than one source, event `i` is
/// from source `i mod sources`. Written as text rather than built as a `Value` and serialized: the publisher
/// shares the machine with the Herald it measures, and every cycle it spends is one the pipeline does not get.
pub(super) fn envelope(i: usize, payload: &str, sources: usize) -> String {
    let source = if sources > 1 {
        format!("bench.source-{}", i % sources)
    } else {
        "bench.source".to_owned()
    };
    format!(
        r#"{{"id":"{ID_PREFIX}{i}","type":"{BENCH_EVENT_TYPE}","source":"{source}","payload":{payload}}}"#
    )
}

/// What an [`envelope`]'s id is, before its index.
const ID_PREFIX: &str = "bench-";

/// The `i` of an [`envelope`]'s id (`bench-<i>`).
pub(super) fn event_index(id: &str) -> Option<usize> {
    id.strip_prefix(ID_PREFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_are_the_json_of_their_fields_and_name_their_index() {
        let payload = payload_of(40);
        let text = envelope(7, &payload.to_string(), 3);
        let parsed: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            parsed,
            json!({"id": "bench-7", "type": BENCH_EVENT_TYPE, "source": "bench.source-1", "payload": payload})
        );
        assert_eq!(event_index("bench-7"), Some(7));
        assert_eq!(event_index("other-7"), None);
    }

    #[test]
    fn payloads_have_the_requested_compact_size() {
        assert_eq!(payload_of(400).to_string().len(), 400);
    }

    #[test]
    fn bench_payloads_pass_the_bench_schema() {
        let schema =
            crate::domain::EventSchema::compile(&payload_schema(400), 1).expect("compiles");
        assert!(schema.check(&payload_of(400)).is_ok());
        assert!(schema.check(&json!({"data": 1})).is_err());
    }
}
