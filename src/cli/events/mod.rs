//! `herald events list|get`: read stored events from a running Herald over its admin API (SPEC §6.1, §12), as
//! tables for people or JSON for scripts.
//!
//! This file holds the flags and the dispatch; `cli/client.rs` talks to Herald, [`list`] and [`get`] run the two
//! commands, [`render`] lays out what people read.

mod get;
mod list;
pub(crate) mod render;

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::cli::client::{DEFAULT_URL, ServerArgs};

/// `herald events …`.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List stored events, newest first, one page at a time (or every page with `--all`).
    List(ListArgs),
    /// Show one stored event.
    Get(GetArgs),
}

/// `herald events list …`: the filters of `GET /admin/events`, passed through unchanged so that the server stays
/// the one judge of what is valid (a bad pattern is its `invalid_pattern`, not a second opinion here).
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Event type: exact, or a pattern (`metastore.record.*`, `metastore.**`).
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// Source: exact, or a pattern (`/sensors/*`).
    #[arg(long)]
    source: Option<String>,
    /// Correlation id (exact).
    #[arg(long, value_name = "ID")]
    correlation_id: Option<String>,
    /// Earliest `occurredAt`, inclusive: RFC 3339 with an offset, or a date (UTC midnight).
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Latest `occurredAt`, inclusive: RFC 3339 with an offset, or a date (UTC midnight).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Severities, comma-separated (critical, error, warning, info, debug).
    #[arg(long, value_name = "LIST")]
    severity: Option<String>,
    /// An SQL/JSON path over the payload (`$.version > 10`).
    #[arg(long, value_name = "PATH")]
    json_path: Option<String>,
    /// Events per page (1–200; the server's default is 100).
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Start after this cursor, as printed at the end of the previous page.
    #[arg(long)]
    cursor: Option<String>,
    /// Follow the cursors to the last page instead of stopping after one.
    #[arg(long)]
    all: bool,
    /// Print one JSON object per event and line (NDJSON), so that scripts can stream.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// `herald events get <ID>`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The event id.
    id: String,
    /// Print the answer's `data` (`{"event", "deliveries"}`) as one JSON line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Why a command failed; each becomes one `herald events: …` line on stderr and exit code 1.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// Herald could not be asked, or refused.
    #[error(transparent)]
    Client(#[from] crate::cli::client::ClientError),
    /// A 2xx answer without the expected shape: `--url` is likely not a Herald.
    #[error("unexpected answer from Herald: no {missing} (is --url a Herald?)")]
    Unexpected { missing: &'static str },
    /// Stdout could not be written.
    #[error("cannot write the output: {0}")]
    Write(#[source] std::io::Error),
    /// Stdout was closed (`| head`): not an error, stop quietly.
    #[error("stdout was closed")]
    StdoutClosed,
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::StdoutClosed
        } else {
            Failure::Write(e)
        }
    }
}

/// Runs `herald events …`.
pub fn run(command: EventsCommand) -> ExitCode {
    let result = match super::block_on("events", async {
        match &command {
            EventsCommand::List(args) => list::run(args).await,
            EventsCommand::Get(args) => get::run(args).await,
        }
    }) {
        Ok(result) => result,
        Err(code) => return code,
    };
    match result {
        Ok(()) | Err(Failure::StdoutClosed) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("herald events: {failure}");
            ExitCode::FAILURE
        }
    }
}
