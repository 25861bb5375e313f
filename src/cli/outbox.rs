//! `herald outbox relay`: drains a service's `herald_outbox` table (written by
//! `herald_client::outbox::publish_in`) to Herald, in order, until stopped.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use herald_client::outbox::{self, OutboxRelay, RelayProgress};
use herald_client::{DEFAULT_STREAM, EventPublisher, PublishError};
use indicatif::{ProgressBar, ProgressStyle};

/// `herald outbox …`.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Send the outbox's events to Herald in order, deleting each once sent; runs until SIGINT/SIGTERM.
    Relay(RelayArgs),
}

/// `herald outbox relay …`.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// The service's database holding `herald_outbox` (PostgreSQL or SQLite URL). The table is created if absent.
    #[arg(long, env = "HERALD_OUTBOX_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Send by XADD to this Redis (the production path). Without it, events go over HTTP to `--url`.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// The stream Herald reads (`HERALD_EVENT_STREAM`), with `--redis-url`.
    #[arg(long, env = "HERALD_EVENT_STREAM", default_value = DEFAULT_STREAM)]
    stream: String,
    /// Herald's base URL, when not sending through Redis.
    #[arg(long, env = "HERALD_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A token with the `events:publish` scope, for HTTP.
    #[arg(long, env = "HERALD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Rows read per round.
    #[arg(long, default_value_t = outbox::DEFAULT_BATCH, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch: u64,
    /// Drain what is there now, then exit (exit code 1 if a send fails).
    #[arg(long)]
    once: bool,
}

/// How often a running relay prints its progress line.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Runs `herald outbox …`.
pub fn run(command: OutboxCommand) -> ExitCode {
    let OutboxCommand::Relay(args) = command;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    let result = super::block_on("outbox relay", relay(args));
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("herald outbox relay: {e}");
            ExitCode::FAILURE
        }
        Err(code) => code,
    }
}

async fn relay(args: RelayArgs) -> Result<(), PublishError> {
    let db = sea_orm::Database::connect(&args.database_url).await?;
    outbox::ensure_table(&db).await?;
    let publisher = match &args.redis_url {
        Some(url) => EventPublisher::redis_stream(url, &args.stream).await?,
        None => EventPublisher::http(&args.url, args.token.as_deref())?,
    };
    let waiting = outbox::pending_count(&db).await?;
    eprintln!("herald outbox relay: {waiting} event(s) waiting");
    let relay = OutboxRelay::new(db, publisher).with_batch(args.batch);
    if args.once {
        // A bar on stderr for a long drain (hidden when stderr is not a terminal); the summary line always.
        let bar = ProgressBar::new(waiting);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} events  {per_sec}  eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let mut sent = 0;
        loop {
            let n = relay.drain_once().await.inspect_err(|_| {
                bar.abandon();
                eprintln!("herald outbox relay: sent {sent} event(s) before the failure");
            })?;
            sent += n;
            bar.inc(n);
            if n < args.batch {
                break;
            }
        }
        bar.finish_and_clear();
        eprintln!("herald outbox relay: sent {sent} event(s); the outbox is drained");
        return Ok(());
    }
    let mut last_print = Instant::now();
    let progress = relay
        .run(shutdown_signal(), |p: RelayProgress| {
            if last_print.elapsed() >= PROGRESS_EVERY {
                last_print = Instant::now();
                eprintln!(
                    "herald outbox relay: sent {} event(s), {} failed round(s)",
                    p.sent, p.failures
                );
            }
        })
        .await;
    eprintln!(
        "herald outbox relay: stopped after sending {} event(s)",
        progress.sent
    );
    Ok(())
}

/// Completes at SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
