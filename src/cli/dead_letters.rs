//! `herald dead-letters list|get|redrive|delete` (SPEC §6.6): the dead letters of a running Herald over its admin
//! API, as tables and sentences for people or JSON for scripts.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::cli::client::{Client, Failure, ServerArgs, read_input, run_admin};
use crate::cli::events::render::{Column, write_list};

/// `herald dead-letters …`.
#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// List dead letters, newest first.
    List(ListArgs),
    /// Show one dead letter with its raw entry.
    Get(IdArgs),
    /// Send a dead letter's entry (or a corrected envelope) back through validation and storage.
    Redrive(RedriveArgs),
    /// Delete a dead letter.
    Delete(IdArgs),
}

/// `herald dead-letters list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this reason code (`invalid_field`, `schema_violation`, `id_conflict`, …).
    #[arg(long)]
    reason: Option<String>,
    /// Only this source.
    #[arg(long)]
    source: Option<String>,
    /// Received at or after (RFC 3339 or a date).
    #[arg(long)]
    from: Option<String>,
    /// Received at or before (RFC 3339 or a date).
    #[arg(long)]
    to: Option<String>,
    /// Dead letters per page (1–200).
    #[arg(long, value_name = "N", default_value_t = 100)]
    limit: u64,
    /// Print the API's JSON (one dead letter per line).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// `herald dead-letters get|delete ID`.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// The dead letter's id.
    id: String,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// `herald dead-letters redrive ID`.
#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// The dead letter's id.
    id: String,
    /// A file holding a corrected envelope (`-` for stdin); without it the raw entry is sent as it was.
    #[arg(long, value_name = "FILE")]
    envelope_file: Option<PathBuf>,
    /// Print the API's answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Runs `herald dead-letters …`.
pub fn run(command: DeadLettersCommand) -> ExitCode {
    run_admin("dead-letters", async {
        match &command {
            DeadLettersCommand::List(args) => list(args).await,
            DeadLettersCommand::Get(args) => get(args).await,
            DeadLettersCommand::Redrive(args) => redrive(args).await,
            DeadLettersCommand::Delete(args) => delete(args).await,
        }
    })
}

const COLUMNS: [Column; 6] = [
    Column {
        title: "RECEIVED",
        max_width: None,
    },
    Column {
        title: "REASON",
        max_width: None,
    },
    Column {
        title: "SOURCE",
        max_width: Some(24),
    },
    Column {
        title: "MESSAGE",
        max_width: Some(60),
    },
    Column {
        title: "REDRIVEN",
        max_width: None,
    },
    Column {
        title: "ID",
        max_width: None,
    },
];

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn row(letter: &Value) -> Vec<String> {
    [
        "receivedAt",
        "reason",
        "source",
        "message",
        "redrivenAt",
        "id",
    ]
    .iter()
    .map(|key| text(&letter[*key]))
    .collect()
}

async fn list(args: &ListArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server)?;
    let url = client.url(&["admin", "dead-letters"])?;
    let mut query = vec![("limit", args.limit.to_string())];
    for (name, value) in [
        ("reason", &args.reason),
        ("source", &args.source),
        ("from", &args.from),
        ("to", &args.to),
    ] {
        if let Some(value) = value {
            query.push((name, value.clone()));
        }
    }
    let body = client.get(url, &query, None).await?;
    let letters = body["data"]["deadLetters"]
        .as_array()
        .ok_or(Failure::Unexpected("data.deadLetters list"))?;
    let more = (body["data"]["page"]["hasMore"] == true).then(|| {
        format!(
            "(more dead letters than --limit {}; narrow with --from/--to or use --json with the API's cursor)",
            args.limit
        )
    });
    write_list(
        &mut std::io::stdout().lock(),
        letters,
        args.json,
        &COLUMNS,
        row,
        more,
    )?;
    Ok(())
}

async fn get(args: &IdArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server)?;
    let url = client.url(&["admin", "dead-letters", &args.id])?;
    let missing = format!("dead letter {}", args.id);
    let body = client.get(url, &[], Some(&missing)).await?;
    let letter = &body["data"];
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{letter}")?;
        return Ok(out.flush()?);
    }
    for (label, key) in [
        ("id", "id"),
        ("reason", "reason"),
        ("message", "message"),
        ("source", "source"),
        ("event id", "eventId"),
        ("stream id", "streamId"),
        ("received", "receivedAt"),
        ("redriven", "redrivenAt"),
    ] {
        writeln!(out, "{label:<10} {}", text(&letter[key]))?;
    }
    let raw = letter["raw"].as_str().unwrap_or_default();
    let pretty = serde_json::from_str::<Value>(raw)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| raw.to_owned());
    writeln!(out, "raw\n{pretty}")?;
    Ok(out.flush()?)
}

async fn redrive(args: &RedriveArgs) -> Result<(), Failure> {
    let body = match &args.envelope_file {
        Some(path) => {
            let text = read_input(path)?;
            let envelope: Value =
                serde_json::from_str(&text).map_err(|e| Failure::NotJson("envelope", e))?;
            json!({ "envelope": envelope })
        }
        None => json!({}),
    };
    let client = Client::new(&args.server)?;
    let url = client.url(&["admin", "dead-letters", &args.id, "redrive"])?;
    let missing = format!("dead letter {}", args.id);
    let answer = client.post(url, &body, Some(&missing)).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{answer}")?;
        return Ok(out.flush()?);
    }
    let event = &answer["data"]["event"];
    let id = event["id"]
        .as_str()
        .ok_or(Failure::Unexpected("data.event.id"))?;
    let already = if event["duplicate"] == true {
        " (it was already stored with the same content)"
    } else {
        ""
    };
    writeln!(
        out,
        "Redrove dead letter {} as event {id}{already}.",
        args.id
    )?;
    Ok(out.flush()?)
}

async fn delete(args: &IdArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server)?;
    let url = client.url(&["admin", "dead-letters", &args.id])?;
    let missing = format!("dead letter {}", args.id);
    client.delete(url, Some(&missing)).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", json!({ "deleted": args.id }))?;
    } else {
        writeln!(out, "Deleted dead letter {}.", args.id)?;
    }
    Ok(out.flush()?)
}
