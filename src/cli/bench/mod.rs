//! `herald bench …` (SPEC §14): [`ingest`] (publish → stored → acked, next to a same-run bulk-insert
//! [`baseline`]) and [`query`] (`/admin/events` page latency). Each prints one JSON line and never asserts.
//!
//! Both run on a [`scratch`] database of the configured server; latencies go into an hdrhistogram
//! ([`Latencies`]).

mod baseline;
mod deliveries;
mod ingest;
mod latency;
mod publisher;
mod query;
mod receiver;
mod replay;
mod scratch;
mod triggers;
mod ws;

use clap::Subcommand;

use crate::config::Settings;
use latency::Latencies;
use scratch::Scratch;

/// `herald bench …`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Publish → stored → acked throughput and latency, with the bulk-insert baseline.
    Ingest(ingest::IngestArgs),
    /// Webhook deliveries per second to a local receiver, stored → received latency, memory per trigger actor.
    Deliveries(deliveries::DeliveriesArgs),
    /// Replayed deliveries per second to a local receiver, at a replay's default rate or the one given.
    Replay(replay::ReplayArgs),
    /// `GET /admin/events` page latency over a table of N events, first and deep pages, with and without filters.
    Query(query::QueryArgs),
}

/// Runs a benchmark and prints its JSON line.
///
/// # Errors
/// When the scratch database or Redis cannot be used.
pub async fn run(command: BenchCommand, settings: Settings) -> anyhow::Result<()> {
    let result = match command {
        BenchCommand::Ingest(args) => ingest::run(&args, settings).await?,
        BenchCommand::Query(args) => query::run(&args, settings).await?,
        BenchCommand::Deliveries(args) => deliveries::run(&args, settings).await?,
        BenchCommand::Replay(args) => replay::run(&args, settings).await?,
    };
    println!("{result}");
    Ok(())
}

/// `x` rounded to three decimals, the precision every bench number is printed with.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Peak resident set size of this process (`VmHWM`), in bytes.
fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// Resident set size of this process now (`VmRSS`), in bytes.
fn current_rss_bytes() -> Option<u64> {
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
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: BenchCommand,
    }

    #[test]
    fn empty_runs_and_pages_past_the_api_limit_are_usage_errors() {
        let refused = [
            ["bench", "ingest", "--events", "0"],
            ["bench", "ingest", "--sources", "0"],
            ["bench", "query", "--events", "0"],
            ["bench", "query", "--samples", "0"],
            ["bench", "query", "--limit", "201"],
        ];
        for argv in refused {
            let error = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{argv:?}"
            );
        }
        assert!(Cli::try_parse_from(["bench", "ingest"]).is_ok());
        assert!(Cli::try_parse_from(["bench", "query", "--limit", "200"]).is_ok());
    }
}
