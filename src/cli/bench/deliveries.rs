//! `herald bench deliveries` (SPEC §14, triggers): webhook deliveries per second to a local receiver, latency from
//! an event stored to its webhook received (with `--rate`, at a steady rate below capacity), and the memory
//! trigger actors cost (with `--triggers`, that many more triggers on other types, one actor each).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::{Actor, Context, Handler};
use clap::Args;
use clap::builder::RangedU64ValueParser;
use indicatif::ProgressBar;
use serde_json::{Value, json};

use super::ingest::{BENCH_EVENT_TYPE, envelope, payload_of};
use super::publisher::{HttpFormat, Publisher};
use super::receiver::{Receiver, webhook_settings};
use super::triggers::create_triggers;
use super::{Latencies, Scratch, current_rss_bytes, peak_rss_bytes, round};
use crate::actors::{EventsStored, SubscribeStored};
use crate::auth::AccessPolicy;
use crate::config::Settings;
use crate::startup::Application;

/// `herald bench deliveries` options.
#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// How many events to publish (each delivered once).
    #[arg(long, default_value_t = 20_000, value_parser = RangedU64ValueParser::<usize>::from(1..))]
    events: usize,
    /// Publish at most this many events per second (latency at a steady rate); default: as fast as possible.
    #[arg(long)]
    rate: Option<u64>,
    /// The delivering trigger's `maxConcurrency`.
    #[arg(long, default_value_t = 64)]
    concurrency: u64,
    /// Create this many more triggers, on types no bench event has, before publishing (one actor each).
    #[arg(long, default_value_t = 0)]
    triggers: usize,
    /// Deliver this many events first, at the same rate, and leave them out of the figures: connections,
    /// prepared statements and caches are warm when measuring starts.
    #[arg(long, default_value_t = 1_000)]
    warmup: usize,
}

/// Events per publish.
const PUBLISH_BATCH: usize = 500;

/// Runs the bench and returns its JSON line.
///
/// # Errors
/// When the scratch database, Redis or the receiver cannot be used, or not every event is delivered in time.
pub(super) async fn run(args: &DeliveriesArgs, settings: Settings) -> anyhow::Result<Value> {
    let scratch = Scratch::create(&settings).await?;
    let bench = webhook_settings(&scratch, &settings)?;
    let outcome = measure(args, &bench).await;
    scratch.drop_it().await;
    let m = outcome?;
    Ok(json!({
        "bench": "deliveries",
        "mode": settings.events_mode.as_str(),
        "database": if settings.is_sqlite() { "sqlite" } else { "postgres" },
        "events": args.events,
        "rate": args.rate,
        "concurrency": args.concurrency,
        "triggers": args.triggers + 1,
        "warmup": args.warmup,
        "deliveriesPerSecond": round(m.delivered_per_second),
        "latencyMs": { "storedToReceived": Value::Object(m.latencies.percentiles()) },
        "rssBytes": {
            "beforeTriggers": m.rss_before,
            "withTriggers": m.rss_with,
            "perTrigger": match (m.rss_before, m.rss_with) {
                (Some(b), Some(w)) => Some(w.saturating_sub(b) / (args.triggers as u64 + 1)),
                _ => None,
            },
        },
        "peakRssBytes": peak_rss_bytes(),
    }))
}

struct Measured {
    delivered_per_second: f64,
    latencies: Latencies,
    rss_before: Option<u64>,
    rss_with: Option<u64>,
}

/// Event id → when it was stored.
type Stored = Arc<Mutex<HashMap<String, Instant>>>;

struct StoredTimes(Stored);

impl Actor for StoredTimes {
    type Context = Context<Self>;
}

impl Handler<EventsStored> for StoredTimes {
    type Result = ();

    fn handle(&mut self, msg: EventsStored, _ctx: &mut Self::Context) {
        let now = Instant::now();
        // unwrap: the mutex is never held across a panic.
        let mut stored = self.0.lock().unwrap();
        for e in msg.events.iter() {
            stored.insert(e.envelope.id.as_str().to_owned(), now);
        }
    }
}

async fn measure(args: &DeliveriesArgs, settings: &Settings) -> anyhow::Result<Measured> {
    let receiver = Receiver::start()?;
    let stored = Stored::default();

    let app = Application::build_with_access(settings.clone(), AccessPolicy::Anonymous).await?;
    let port = app.port();
    let router = app.router();
    let shutdown = app.shutdown_handle();
    let server = actix_rt::spawn(app.run_until_stopped());
    let probe = StoredTimes(stored.clone()).start();
    router
        .send(SubscribeStored {
            recipient: probe.recipient(),
        })
        .await?;

    let rss_before = current_rss_bytes();
    let hook = json!({"target": {"kind": "webhook", "url": receiver.url},
                      "maxConcurrency": args.concurrency});
    create_triggers(port, BENCH_EVENT_TYPE, 1, args.triggers, &hook).await?;
    // Let the actors settle (each reads its state once when it starts).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_with = current_rss_bytes();

    let publisher = Publisher::new(settings, port, HttpFormat::Envelope).await?;
    let progress = ProgressBar::new((args.warmup + args.events) as u64);
    let run = Run {
        args,
        publisher: &publisher,
        stream: &settings.event_stream,
        receiver: &receiver,
        progress: &progress,
        payload: payload_of(200).to_string(),
    };
    run.deliver(0..args.warmup).await?;
    // unwrap (twice): the mutexes are never held across a panic.
    stored.lock().unwrap().clear();
    receiver.received.lock().unwrap().clear();
    let started = Instant::now();
    run.deliver(args.warmup..args.warmup + args.events).await?;
    let finished = Instant::now();
    progress.finish_and_clear();
    let mut latencies = Latencies::new();
    {
        let (stored, received) = (stored.lock().unwrap(), receiver.received.lock().unwrap());
        for (id, received) in received.iter() {
            if let Some(stored) = stored.get(id) {
                latencies
                    .record_ms(received.saturating_duration_since(*stored).as_secs_f64() * 1000.0);
            }
        }
    }
    shutdown.shutdown();
    let _ = server.await;
    receiver.stop().await;
    Ok(Measured {
        delivered_per_second: args.events as f64 / finished.duration_since(started).as_secs_f64(),
        latencies,
        rss_before,
        rss_with,
    })
}

/// Publishes numbered bench events and waits for their webhooks.
struct Run<'a> {
    args: &'a DeliveriesArgs,
    publisher: &'a Publisher,
    stream: &'a str,
    receiver: &'a Receiver,
    progress: &'a ProgressBar,
    payload: String,
}

impl Run<'_> {
    /// Publishes the events numbered `range` (at `--rate` when given) and returns once each was received.
    async fn deliver(&self, range: std::ops::Range<usize>) -> anyhow::Result<()> {
        let batch_size = match self.args.rate {
            Some(rate) => ((rate / 100) as usize).clamp(1, PUBLISH_BATCH),
            None => PUBLISH_BATCH,
        };
        let started = Instant::now();
        let first = range.start;
        let mut sent = range.start;
        while sent < range.end {
            let count = batch_size.min(range.end - sent);
            if let Some(rate) = self.args.rate {
                let due = Duration::from_secs_f64((sent - first) as f64 / rate as f64);
                tokio::time::sleep_until((started + due).into()).await;
            }
            let batch = (sent..sent + count)
                .map(|i| envelope(i, &self.payload, 1))
                .collect();
            self.publisher.publish(self.stream, batch).await?;
            sent += count;
            self.progress.set_position(sent as u64);
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        let expected = range.len();
        loop {
            let received = self.receiver.count();
            self.progress.set_message(format!("{received} delivered"));
            if received >= expected {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "only {received} of {expected} events were delivered within 10 minutes"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
