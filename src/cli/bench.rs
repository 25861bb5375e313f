//! `herald bench ingest`: end-to-end ingest throughput and latency against the configured database and Redis,
//! next to a same-run baseline of a plain bulk insert (SPEC §14). Prints one JSON line; never asserts.
//!
//! The run uses a scratch database on the configured server (a new PostgreSQL database, or a new SQLite file
//! beside the system temp dir) and a private stream key, so numbers are reproducible and no real data is touched;
//! both are removed afterwards. Publisher and Herald share this process, as they share the machine in any
//! single-host measurement.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::{Actor, Context, Handler};
use clap::{Args, Subcommand};
use fred::prelude::StreamsInterface;
use indicatif::ProgressBar;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::actors::{EventsStored, SubscribeStored};
use crate::auth::AccessPolicy;
use crate::config::{EventsMode, Settings};
use crate::domain::format_timestamp;
use crate::startup::Application;
use crate::storage::Storage;

/// `herald bench …`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Publish → stored → acked throughput and latency, with the bulk-insert baseline.
    Ingest(IngestArgs),
    /// `GET /admin/events` page latency over a table of N events, first and deep pages, with and without filters.
    Query(super::bench_query::QueryArgs),
}

/// `herald bench ingest` options.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// How many events to publish.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Size of each payload, as compact JSON.
    #[arg(long, default_value_t = 400)]
    payload_bytes: usize,
    /// Publish at most this many events per second (default: as fast as possible, which measures throughput;
    /// a rate below capacity measures latency without a backlog).
    #[arg(long)]
    rate: Option<u64>,
    /// Spread the events round-robin over this many distinct sources (each gets its own rate limiter).
    #[arg(long, default_value_t = 1)]
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
}

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

/// Runs a benchmark and prints its JSON line.
///
/// # Errors
/// When the scratch database or Redis cannot be used.
pub async fn run(command: BenchCommand, settings: Settings) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(args) => {
            let result = ingest(&args, settings).await?;
            println!("{result}");
            Ok(())
        }
        BenchCommand::Query(args) => {
            let result = super::bench_query::run(&args, settings).await?;
            println!("{result}");
            Ok(())
        }
    }
}

async fn ingest(args: &IngestArgs, settings: Settings) -> anyhow::Result<Value> {
    anyhow::ensure!(args.events > 0, "--events must be at least 1");
    anyhow::ensure!(args.sources > 0, "--sources must be at least 1");
    let scratch = Scratch::create(&settings).await?;
    let mut bench_settings = settings.clone();
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    bench_settings.database_url = SecretString::from(scratch.url.clone());
    bench_settings.listen = "127.0.0.1:0".parse()?;
    bench_settings.event_stream = format!("herald:bench:{id}:events");
    bench_settings.consumer_group = format!("herald-bench-{id}");
    bench_settings.event_source_rate_limits = match args.rate_limits {
        RateLimitsSwitch::On => {
            crate::config::rate_limits::RateLimits::parse(UNREACHED_RATE_LIMITS)?
        }
        RateLimitsSwitch::Off => crate::config::rate_limits::RateLimits::default(),
    };

    let outcome = measure_pipeline(args, &bench_settings).await;
    let baseline = match &outcome {
        Ok(_) => measure_baseline(args, &scratch.url).await,
        Err(_) => Ok(0.0),
    };
    if let (EventsMode::Redis, Some(url)) = (settings.events_mode, &settings.redis_url) {
        let client = crate::redis::client(url).await?;
        let _: Result<u64, _> =
            fred::prelude::KeysInterface::del(&client, bench_settings.event_stream.as_str()).await;
    }
    scratch.drop_it().await;
    let pipeline = outcome?;
    let baseline = baseline?;
    Ok(json!({
        "bench": "ingest",
        "mode": settings.events_mode.as_str(),
        "database": if settings.is_sqlite() { "sqlite" } else { "postgres" },
        "events": args.events,
        "payloadBytes": args.payload_bytes,
        "rate": args.rate,
        "sources": args.sources,
        "rateLimits": matches!(args.rate_limits, RateLimitsSwitch::On),
        "eventsPerSecond": round(pipeline.events_per_second),
        "latencyMs": { "publishToStored": {
            "p50": round(percentile(&pipeline.latencies_ms, 50.0)),
            "p95": round(percentile(&pipeline.latencies_ms, 95.0)),
            "p99": round(percentile(&pipeline.latencies_ms, 99.0)),
        }, "publishToWebSocket": pipeline.ws.as_ref().map(|ws| json!({
            "p50": round(percentile(&ws.latencies_ms, 50.0)),
            "p95": round(percentile(&ws.latencies_ms, 95.0)),
            "p99": round(percentile(&ws.latencies_ms, 99.0)),
            "receipts": ws.latencies_ms.len(),
            "missed": ws.missed,
        }))},
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

struct PipelineResult {
    events_per_second: f64,
    latencies_ms: Vec<f64>,
    /// With `--ws-clients`: what the clients measured.
    ws: Option<super::bench_ws::WsReport>,
    /// With `--ws-clients`: RSS growth per connected client.
    ws_session_bytes: Option<u64>,
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

    let published: Arc<Mutex<HashMap<String, Instant>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(args.events)));
    let (done_tx, done_rx) = oneshot::channel();
    let probe = StoredProbe {
        published: published.clone(),
        latencies_ms: Vec::with_capacity(args.events),
        expected: args.events,
        done: Some(done_tx),
    }
    .start();
    router
        .send(SubscribeStored {
            recipient: probe.recipient(),
        })
        .await?;

    let publish_times = super::bench_ws::PublishTimes::new(args.events);
    let ws_clients = if args.ws_clients > 0 {
        Some(
            super::bench_ws::WsClients::connect(
                port,
                args.ws_clients,
                args.events,
                publish_times.clone(),
            )
            .await?,
        )
    } else {
        None
    };

    let payload = payload_of(args.payload_bytes);
    let progress = ProgressBar::new(args.events as u64);
    let started = Instant::now();
    let publisher = Publisher::new(settings, port).await?;
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
        let batch: Vec<Value> = (sent..sent + count)
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
        {
            let now = Instant::now();
            // unwrap: the mutex is never held across a panic.
            let mut map = published.lock().unwrap();
            for e in &batch {
                map.insert(e["id"].as_str().unwrap_or_default().to_owned(), now);
            }
            publish_times.mark(sent..sent + count, now);
        }
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
    let latencies_ms = tokio::time::timeout(Duration::from_secs(600), done_rx)
        .await
        .map_err(|_| anyhow::anyhow!("not every event was stored within 10 minutes"))??;
    let elapsed = started.elapsed();
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
        latencies_ms,
        ws,
        ws_session_bytes,
    })
}

enum Publisher {
    Redis(fred::clients::Client),
    Http {
        client: reqwest::Client,
        url: String,
    },
}

impl Publisher {
    async fn new(settings: &Settings, port: u16) -> anyhow::Result<Publisher> {
        Ok(match (&settings.events_mode, &settings.redis_url) {
            (EventsMode::Redis, Some(url)) => Publisher::Redis(crate::redis::client(url).await?),
            _ => Publisher::Http {
                client: reqwest::Client::new(),
                url: format!("http://127.0.0.1:{port}/events"),
            },
        })
    }

    async fn publish(&self, stream: &str, batch: Vec<Value>) -> anyhow::Result<()> {
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
    async fn wait_acked(&self, settings: &Settings) -> anyhow::Result<()> {
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

/// Records publish→stored latency for each newly stored event.
struct StoredProbe {
    published: Arc<Mutex<HashMap<String, Instant>>>,
    latencies_ms: Vec<f64>,
    expected: usize,
    done: Option<oneshot::Sender<Vec<f64>>>,
}

impl Actor for StoredProbe {
    type Context = Context<Self>;
}

impl Handler<EventsStored> for StoredProbe {
    type Result = ();

    fn handle(&mut self, msg: EventsStored, _ctx: &mut Self::Context) {
        let now = Instant::now();
        {
            // unwrap: the mutex is never held across a panic.
            let mut published = self.published.lock().unwrap();
            for event in msg.events.iter() {
                if let Some(at) = published.remove(event.envelope.id.as_str()) {
                    self.latencies_ms
                        .push(now.duration_since(at).as_secs_f64() * 1000.0);
                }
            }
        }
        if self.latencies_ms.len() >= self.expected
            && let Some(done) = self.done.take()
        {
            let _ = done.send(std::mem::take(&mut self.latencies_ms));
        }
    }
}

/// Inserts the same rows into an identical, empty, identically indexed table: COPY in batches of 5,000 on
/// PostgreSQL, 500-row transactions on SQLite. Returns rows per second.
async fn measure_baseline(args: &IngestArgs, url: &str) -> anyhow::Result<f64> {
    let storage = Storage::connect(url).await?;
    let db = storage.write_connection();
    let backend = db.get_database_backend();
    let payload = payload_of(args.payload_bytes).to_string();
    let now = format_timestamp(chrono::Utc::now());
    match backend {
        DbBackend::Postgres => {
            db.execute_unprepared(
                "CREATE TABLE bench_baseline (LIKE workflow_events INCLUDING ALL)",
            )
            .await?;
            let pool = db.get_postgres_connection_pool();
            let started = Instant::now();
            for start in (0..args.events).step_by(5_000) {
                let end = (start + 5_000).min(args.events);
                let mut csv = String::with_capacity((end - start) * (payload.len() + 200));
                for i in start..end {
                    csv.push_str(&format!(
                        "base-{i},{},bench.event.happened,bench.source,{now},{now},\"{}\",{}\n",
                        i + 1,
                        payload.replace('"', "\"\""),
                        "0".repeat(64)
                    ));
                }
                let mut copy = sqlx::postgres::PgPoolCopyExt::copy_in_raw(
                    pool,
                    "COPY bench_baseline (id, ingress_sequence, type, source, occurred_at, received_at, payload, \
                     content_hash) FROM STDIN WITH (FORMAT csv)",
                )
                .await?;
                copy.send(csv.into_bytes()).await?;
                copy.finish().await?;
            }
            Ok(args.events as f64 / started.elapsed().as_secs_f64())
        }
        _ => {
            let schema = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'workflow_events' AND sql IS NOT NULL",
                ))
                .await?;
            for row in schema {
                let sql: String = row.try_get("", "sql")?;
                db.execute_unprepared(&sql.replace("workflow_events", "bench_baseline"))
                    .await?;
            }
            let started = Instant::now();
            for start in (0..args.events).step_by(500) {
                let end = (start + 500).min(args.events);
                let mut sql = String::from(
                    "INSERT INTO bench_baseline (id, ingress_sequence, type, source, occurred_at, received_at, payload, \
                     content_hash) VALUES ",
                );
                let mut values = Vec::with_capacity((end - start) * 3);
                for i in start..end {
                    if i > start {
                        sql.push(',');
                    }
                    sql.push_str("(?, ?, 'bench.event.happened', 'bench.source', ?, ?, ?, '')");
                    values.push(format!("base-{i}").into());
                    values.push(((i + 1) as i64).into());
                    values.push(now.clone().into());
                    values.push(now.clone().into());
                    values.push(payload.clone().into());
                }
                let txn = sea_orm::TransactionTrait::begin(db).await?;
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    sql,
                    values,
                ))
                .await?;
                txn.commit().await?;
            }
            Ok(args.events as f64 / started.elapsed().as_secs_f64())
        }
    }
}

/// A scratch database on the configured server, removed by [`Scratch::drop_it`].
pub(super) struct Scratch {
    pub(super) url: String,
    admin: Option<(String, String)>,
    file: Option<std::path::PathBuf>,
}

impl Scratch {
    pub(super) async fn create(settings: &Settings) -> anyhow::Result<Scratch> {
        let id = ulid::Ulid::generate().to_string().to_lowercase();
        if settings.is_sqlite() {
            let file = std::env::temp_dir().join(format!("herald-bench-{id}.db"));
            return Ok(Scratch {
                url: format!("sqlite://{}?mode=rwc", file.display()),
                admin: None,
                file: Some(file),
            });
        }
        let configured = settings.database_url.expose_secret();
        let name = format!("herald_bench_{id}");
        let storage = Storage::connect(configured).await?;
        storage
            .write_connection()
            .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
            .await?;
        Ok(Scratch {
            url: replace_database(configured, &name),
            admin: Some((configured.to_owned(), name)),
            file: None,
        })
    }

    pub(super) async fn drop_it(self) {
        if let Some(file) = self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
        if let Some((url, name)) = self.admin
            && let Ok(storage) = Storage::connect(&url).await
        {
            let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
            if let Err(e) = storage.write_connection().execute_unprepared(&sql).await {
                tracing::warn!(error.message = %e, database = %name, "Could not drop the scratch database.");
            }
        }
    }
}

/// `postgres://u@h:5432/db?x` with its database replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn payload_of(bytes: usize) -> Value {
    // `{"data":""}` is 11 bytes of JSON around the filler.
    json!({ "data": "x".repeat(bytes.saturating_sub(11)) })
}

/// The `i`th event; with more than one source, event `i` is from source `i mod sources`.
fn envelope(i: usize, payload: &Value, sources: usize) -> Value {
    let source = if sources > 1 {
        format!("bench.source-{}", i % sources)
    } else {
        "bench.source".to_owned()
    };
    json!({ "id": format!("bench-{i}"), "type": "bench.event.happened", "source": source, "payload": payload })
}

pub(super) fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub(super) fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Peak resident set size of this process (`VmHWM`), in bytes.
pub(super) fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// Resident set size of this process now (`VmRSS`), in bytes.
pub(super) fn current_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS:")
}

/// A `kB` line of `/proc/self/status` (`VmHWM:`, `VmRSS:`), in bytes; `None` off Linux.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_database_replaces_only_the_path() {
        assert_eq!(
            replace_database("postgres://u@h:5432/test", "b"),
            "postgres://u@h:5432/b"
        );
        assert_eq!(
            replace_database("postgres://u@h/test?sslmode=disable", "b"),
            "postgres://u@h/b?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "b"), "postgres://h/b");
    }

    #[test]
    fn payloads_have_the_requested_compact_size() {
        assert_eq!(payload_of(400).to_string().len(), 400);
    }

    #[test]
    fn percentiles_pick_by_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 51.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }
}
