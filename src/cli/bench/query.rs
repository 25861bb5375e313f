//! `herald bench query`: `GET /admin/events` page latency over a table of N events (SPEC §14), unfiltered and with
//! type and source filters (and a path filter that one event in ten matches), at the first page and at a page
//! deep in the table. Prints one JSON line; never asserts.
//!
//! The table is filled by the database itself (`generate_series` on PostgreSQL, a recursive CTE on SQLite) in a
//! scratch database, with 20 types, 50 sources and 400-byte payloads spread evenly, then Herald serves it on a
//! free port and a client times sequential requests end to end (HTTP, query, JSON of 100 events and the page
//! schema). A deep page is reached the way a client reaches it, through a cursor: the cursor of a page that
//! ended at sequence `N − depth`. Then `POST /admin/triggers/backtest` (SPEC §5.9) of a draft with a type pattern
//! and path predicates over the whole table: once with a pattern every event matches, once with one type in 20.

use std::time::Instant;

use clap::Args;
use clap::builder::RangedU64ValueParser;
use sea_orm::ConnectionTrait;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::{Latencies, Scratch, peak_rss_bytes, round};
use crate::auth::AccessPolicy;
use crate::config::{EventsMode, Settings};
use crate::http::pagination::{QueryParams, encode_cursor};
use crate::startup::Application;
use crate::storage::Storage;

/// Distinct types in the table; a type filter selects 1 event in `TYPES`.
const TYPES: u64 = 20;
/// Distinct sources in the table.
const SOURCES: u64 = 50;

/// `herald bench query` options.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// How many events the table holds.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    events: u64,
    /// How deep (in events) the deep pages start.
    #[arg(long, default_value_t = 500_000)]
    depth: u64,
    /// Requests timed per scenario.
    #[arg(long, default_value_t = 200, value_parser = RangedU64ValueParser::<usize>::from(1..))]
    samples: usize,
    /// Backtests timed per backtest scenario (each scans the whole table).
    #[arg(long, default_value_t = 3, value_parser = RangedU64ValueParser::<usize>::from(1..))]
    backtests: usize,
    /// Page size (1–200, as the API allows).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=200))]
    limit: u64,
}

/// Runs the query benchmark and returns its JSON line.
///
/// # Errors
/// When the scratch database cannot be created or filled, or Herald does not start.
pub(super) async fn run(args: &QueryArgs, settings: Settings) -> anyhow::Result<Value> {
    let scratch = Scratch::create(&settings).await?;
    let outcome = measure(args, &settings, &scratch.url).await;
    scratch.drop_it().await;
    let (load_seconds, scenarios) = outcome?;
    Ok(json!({
        "bench": "query",
        "database": if settings.is_sqlite() { "sqlite" } else { "postgres" },
        "events": args.events,
        "depth": args.depth.min(args.events),
        "limit": args.limit,
        "samples": args.samples,
        "loadSeconds": round(load_seconds),
        "pageLatencyMs": scenarios,
        "peakRssBytes": peak_rss_bytes(),
    }))
}

async fn measure(
    args: &QueryArgs,
    settings: &Settings,
    url: &str,
) -> anyhow::Result<(f64, serde_json::Map<String, Value>)> {
    let storage = Storage::connect(url).await?;
    storage.migrate().await?;
    let started = Instant::now();
    fill(&storage, args.events).await?;
    let load_seconds = started.elapsed().as_secs_f64();
    tracing::info!(events = args.events, load_seconds, "Table filled.");

    let mut bench_settings = settings.clone();
    bench_settings.database_url = SecretString::from(url.to_owned());
    bench_settings.listen = "127.0.0.1:0".parse()?;
    // The query path is what is measured: no queue consumers are needed.
    bench_settings.events_mode = EventsMode::Inline;
    bench_settings.redis_url = None;
    // A backtest of the whole table is timed however long it takes.
    bench_settings.query_timeout_ms = 600_000;
    let app = Application::build_with_access(bench_settings, AccessPolicy::Anonymous).await?;
    let base = format!("http://127.0.0.1:{}/admin/events", app.port());
    let backtest_url = format!("http://127.0.0.1:{}/admin/triggers/backtest", app.port());
    let shutdown = app.shutdown_handle();
    let server = actix_rt::spawn(app.run_until_stopped());

    let client = reqwest::Client::new();
    let deep_before = args.events.saturating_sub(args.depth.min(args.events)) as i64 + 1;
    let filters: [(&str, Vec<(&str, String)>); 5] = [
        ("unfiltered", vec![]),
        ("type", vec![("type", "bench.type7.happened".to_owned())]),
        ("source", vec![("source", "bench.source-13".to_owned())]),
        (
            "typePattern",
            vec![
                ("type", "bench.*.happened".to_owned()),
                ("source", "bench.source-13".to_owned()),
            ],
        ),
        // One event in ten matches, so a page reads about a thousand rows.
        ("jsonPath", vec![("jsonPath", "$.n % 10 == 3".to_owned())]),
    ];
    let mut scenarios = serde_json::Map::new();
    for (name, filter) in filters {
        for (depth, cursor_before) in [("first", None), ("deep", Some(deep_before))] {
            let mut query: Vec<(&str, String)> = filter.clone();
            query.push(("limit", args.limit.to_string()));
            if let Some(before) = cursor_before {
                query.push(("cursor", cursor_for(&filter, before)?));
            }
            let mut latencies = Latencies::new();
            let mut returned = 0;
            // One untimed request warms the connection and the statement cache.
            client.get(&base).query(&query).send().await?;
            for _ in 0..args.samples {
                let started = Instant::now();
                let response = client.get(&base).query(&query).send().await?;
                let status = response.status();
                let body: Value = response.json().await?;
                latencies.record_ms(started.elapsed().as_secs_f64() * 1e3);
                anyhow::ensure!(status.is_success(), "{name}/{depth}: {status} {body}");
                returned = body["data"]["events"].as_array().map_or(0, Vec::len);
            }
            scenarios.insert(format!("{name}.{depth}"), {
                let mut view = latencies.percentiles();
                view.insert("max".to_owned(), json!(latencies.max_ms()));
                view.insert("events".to_owned(), json!(returned));
                Value::Object(view)
            });
        }
    }
    for (name, event_type) in [
        // Every event: the pattern selects all 20 types.
        ("backtest.all", "bench.*.happened"),
        // One type in twenty.
        ("backtest.oneType", "bench.type7.*"),
    ] {
        scenarios.insert(
            name.to_owned(),
            time_backtest(&client, &backtest_url, event_type, args.backtests).await?,
        );
    }
    shutdown.shutdown();
    server.await??;
    Ok((load_seconds, scenarios))
}

/// Times `samples` backtests of a draft with `event_type` and one path predicate (half the events pass it) over
/// the whole table.
async fn time_backtest(
    client: &reqwest::Client,
    url: &str,
    event_type: &str,
    samples: usize,
) -> anyhow::Result<Value> {
    let body = json!({
        "definition": {
            "name": "bench", "eventType": event_type,
            "predicates": [{"path": "$.payload.n", "operator": "gt", "value": 0},
                           {"path": "$", "operator": "matches", "value": "$.payload.n % 2 == 0"}],
            "target": {"kind": "webhook", "url": "http://127.0.0.1:9/"}},
        "from": "2000-01-01", "to": "2100-01-01", "limit": 10,
    });
    let mut latencies = Latencies::new();
    let mut answer = Value::Null;
    for _ in 0..samples {
        let started = Instant::now();
        let response = client.post(url).json(&body).send().await?;
        let status = response.status();
        answer = response.json().await?;
        latencies.record_ms(started.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(
            status.is_success(),
            "backtest {event_type}: {status} {answer}"
        );
    }
    let mut view = latencies.percentiles();
    view.insert("max".to_owned(), json!(latencies.max_ms()));
    view.insert("scanned".to_owned(), answer["data"]["scanned"].clone());
    view.insert("matched".to_owned(), answer["data"]["matched"].clone());
    Ok(Value::Object(view))
}

/// The cursor a client would hold after a page that ended just above sequence `before`.
fn cursor_for(filter: &[(&str, String)], before: i64) -> anyhow::Result<String> {
    let query = serde_urlencoded::to_string(filter)?;
    let known = ["type", "source", "jsonPath", "limit", "cursor"];
    let params = QueryParams::parse(&query, &known)
        .map_err(|e| anyhow::anyhow!("bench filter does not parse: {}", e.body()))?;
    Ok(encode_cursor(&before, &params.filter_fingerprint()))
}

/// Fills `workflow_events` with `n` events, sequence `i` of type `i % 20` and source `i % 50`.
async fn fill(storage: &Storage, n: u64) -> anyhow::Result<()> {
    let db = storage.write_connection();
    let filler = "x".repeat(360);
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!(
            "INSERT INTO workflow_events (id, ingress_sequence, type, source, occurred_at, received_at, payload, \
             content_hash, severity) \
             SELECT 'bench-' || i, i, 'bench.type' || (i % {TYPES}) || '.happened', 'bench.source-' || (i % {SOURCES}), \
             now() - make_interval(secs => {n} - i), now(), \
             jsonb_build_object('n', i, 'filler', '{filler}'), '', 'info' \
             FROM generate_series(1, {n}) AS i"
        ),
        _ => format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) \
             INSERT INTO workflow_events (id, ingress_sequence, type, source, occurred_at, received_at, payload, \
             content_hash, severity) \
             SELECT 'bench-' || i, i, 'bench.type' || (i % {TYPES}) || '.happened', 'bench.source-' || (i % {SOURCES}), \
             strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-' || ({n} - i) || ' seconds'), \
             strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'), \
             json_object('n', i, 'filler', '{filler}'), '', 'info' FROM s"
        ),
    };
    db.execute_unprepared(&sql).await?;
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_unprepared("ANALYZE workflow_events").await?;
    } else {
        db.execute_unprepared("ANALYZE").await?;
    }
    Ok(())
}
