//! `herald bench replay` (SPEC §6.2, §14): replayed deliveries per second to a local receiver. Stores `--events`
//! events, creates one webhook trigger after them (so nothing is delivered but the replay), asks for a replay of
//! them at `--rate` (the server's default when absent; `--rate 100000` is unpaced: the delivery pipeline sets the
//! speed), and times it from the ask until every event has reached the receiver.

use std::time::{Duration, Instant};

use clap::Args;
use clap::builder::RangedU64ValueParser;
use indicatif::ProgressBar;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::ingest::{BENCH_EVENT_TYPE, envelope, payload_of};
use super::publisher::{HttpFormat, Publisher};
use super::receiver::{Receiver, webhook_settings};
use super::triggers::create_triggers;
use super::{Scratch, peak_rss_bytes, round};
use crate::auth::AccessPolicy;
use crate::config::Settings;
use crate::startup::Application;
use crate::storage::{EventQuery, Storage};
use crate::trigger::DEFAULT_RATE_PER_SECOND;

/// `herald bench replay` options.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// How many stored events to replay (each delivered once).
    #[arg(long, default_value_t = 2_000, value_parser = RangedU64ValueParser::<usize>::from(1..))]
    events: usize,
    /// The replay's `ratePerSecond`; default: the server's default (100).
    #[arg(long)]
    rate: Option<f64>,
    /// The trigger's `maxConcurrency`.
    #[arg(long, default_value_t = 64)]
    concurrency: u64,
}

/// Events per publish while storing.
const PUBLISH_BATCH: usize = 500;
/// How long the whole replay may take.
const LIMIT: Duration = Duration::from_secs(1_800);

/// Runs the bench and returns its JSON line.
///
/// # Errors
/// When the scratch database, Redis or the receiver cannot be used, or the replay does not finish in time.
pub(super) async fn run(args: &ReplayArgs, settings: Settings) -> anyhow::Result<Value> {
    let scratch = Scratch::create(&settings).await?;
    let bench = webhook_settings(&scratch, &settings)?;
    let outcome = measure(args, &bench).await;
    scratch.drop_it().await;
    let m = outcome?;
    Ok(json!({
        "bench": "replay",
        "mode": settings.events_mode.as_str(),
        "database": if settings.is_sqlite() { "sqlite" } else { "postgres" },
        "events": args.events,
        "ratePerSecond": args.rate.unwrap_or(DEFAULT_RATE_PER_SECOND),
        "concurrency": args.concurrency,
        "deliveriesPerSecond": round(args.events as f64 / m.delivered.as_secs_f64()),
        "seconds": { "toRead": round(m.read.as_secs_f64()), "toDeliverAll": round(m.delivered.as_secs_f64()) },
        "peakRssBytes": peak_rss_bytes(),
    }))
}

struct Measured {
    /// From the ask until the replay had read every event (status `completed`).
    read: Duration,
    /// From the ask until the receiver had every event.
    delivered: Duration,
}

async fn measure(args: &ReplayArgs, settings: &Settings) -> anyhow::Result<Measured> {
    let receiver = Receiver::start()?;
    let app = Application::build_with_access(settings.clone(), AccessPolicy::Anonymous).await?;
    let port = app.port();
    let shutdown = app.shutdown_handle();
    let server = actix_rt::spawn(app.run_until_stopped());
    let storage = Storage::connect(settings.database_url.expose_secret()).await?;

    // The events first, stored before the trigger exists: only the replay delivers them.
    let publisher = Publisher::new(settings, port, HttpFormat::Envelope).await?;
    let payload = payload_of(200).to_string();
    let progress = ProgressBar::new(args.events as u64);
    let mut sent = 0;
    while sent < args.events {
        let count = PUBLISH_BATCH.min(args.events - sent);
        let batch = (sent..sent + count)
            .map(|i| envelope(i, &payload, 1))
            .collect();
        publisher.publish(&settings.event_stream, batch).await?;
        sent += count;
        progress.set_position(sent as u64);
    }
    let from = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    loop {
        let stored = storage
            .events()
            .count_upto(&EventQuery::default(), i64::MAX, LIMIT)
            .await?;
        if stored >= args.events as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hook = json!({"target": {"kind": "webhook", "url": receiver.url},
                      "maxConcurrency": args.concurrency});
    let triggers = create_triggers(port, BENCH_EVENT_TYPE, 1, 0, &hook).await?;
    // Let the trigger's actor settle (it reads its state once when it starts).
    tokio::time::sleep(Duration::from_millis(500)).await;

    let client = reqwest::Client::new();
    let mut body = json!({"from": from.to_rfc3339(), "to": (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339(),
                          "triggerIds": triggers, "dryRun": false});
    if let Some(rate) = args.rate {
        body["ratePerSecond"] = json!(rate);
    }
    let started = Instant::now();
    let asked: Value = client
        .post(format!("http://127.0.0.1:{port}/admin/replays"))
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = asked["data"]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no replay id in {asked}"))?
        .to_owned();
    progress.reset();
    let mut read = None;
    loop {
        let received = receiver.count();
        progress.set_position(received as u64);
        if read.is_none() {
            let replay: Value = client
                .get(format!("http://127.0.0.1:{port}/admin/replays/{id}"))
                .send()
                .await?
                .json()
                .await?;
            if replay["data"]["status"] == "completed" {
                read = Some(started.elapsed());
            }
        }
        if received >= args.events {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < LIMIT,
            "only {received} of {} events were replayed within {} s",
            args.events,
            LIMIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered = started.elapsed();
    progress.finish_and_clear();
    shutdown.shutdown();
    let _ = server.await;
    receiver.stop().await;
    Ok(Measured {
        read: read.unwrap_or(delivered),
        delivered,
    })
}
