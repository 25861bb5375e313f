//! `herald triggers list|create|pause|resume|explain` (SPEC §12): triggers of a running Herald over its admin API
//! (§6.3, §6.4), as tables and sentences for people or JSON for scripts. Definitions are checked by the server
//! only, so the command line never disagrees with the API about what is valid.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::cli::client::{Client, Failure, ServerArgs, read_input, run_admin};
use crate::cli::events::render::{Column, render_table, write_list};

/// `herald triggers …`.
#[derive(Debug, Subcommand)]
pub enum TriggersCommand {
    /// List triggers, newest first.
    List(ListArgs),
    /// Create a trigger from a JSON definition (SPEC §5.1); prints its id and, once, its webhook secret.
    Create(CreateArgs),
    /// Pause a trigger: nothing is attempted, matching events are held until it is resumed.
    Pause(PauseArgs),
    /// Resume a paused trigger: held deliveries go, in order.
    Resume(ResumeArgs),
    /// Explain what a trigger makes of an event, step by step (SPEC §5.9); nothing is delivered.
    Explain(ExplainArgs),
}

/// `herald triggers list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Triggers per page (1–200).
    #[arg(long, value_name = "N", default_value_t = 200)]
    limit: u64,
    /// Print the API's JSON (one trigger per line).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// `herald triggers create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A file holding the definition (`-` for stdin).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "definition",
        required_unless_present = "definition"
    )]
    file: Option<PathBuf>,
    /// The definition as JSON text.
    #[arg(long, value_name = "JSON")]
    definition: Option<String>,
    /// Print the API's whole answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// `herald triggers pause`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The trigger's id.
    id: String,
    /// Why (kept in the trigger's history).
    #[arg(long)]
    reason: String,
    /// How long, in milliseconds (up to 30 days); without it the pause holds until resumed.
    #[arg(long, value_name = "MS")]
    duration_ms: Option<u64>,
    /// Print the trigger as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// `herald triggers resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The trigger's id.
    id: String,
    /// Why (kept in the trigger's history).
    #[arg(long)]
    reason: Option<String>,
    /// Print the trigger as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// `herald triggers explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The trigger's id.
    id: String,
    /// A stored event's id.
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "event_file",
        required_unless_present = "event_file"
    )]
    event_id: Option<String>,
    /// A file holding a draft event envelope (`-` for stdin), explained without being stored.
    #[arg(long, value_name = "FILE")]
    event_file: Option<PathBuf>,
    /// Print the API's answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Runs `herald triggers …`.
pub fn run(command: TriggersCommand) -> ExitCode {
    run_admin("triggers", async {
        match &command {
            TriggersCommand::List(args) => list(args).await,
            TriggersCommand::Create(args) => create(args).await,
            TriggersCommand::Pause(args) => {
                let mut body = json!({ "reason": args.reason });
                if let Some(ms) = args.duration_ms {
                    body["durationMs"] = json!(ms);
                }
                control(&args.server, &args.id, "pause", body, args.json).await
            }
            TriggersCommand::Resume(args) => {
                let body = args
                    .reason
                    .as_ref()
                    .map_or_else(|| json!({}), |r| json!({ "reason": r }));
                control(&args.server, &args.id, "resume", body, args.json).await
            }
            TriggersCommand::Explain(args) => explain(args).await,
        }
    })
}

const COLUMNS: [Column; 6] = [
    Column {
        title: "NAME",
        max_width: Some(32),
    },
    Column {
        title: "EVENT TYPE",
        max_width: Some(32),
    },
    Column {
        title: "TARGET",
        max_width: Some(40),
    },
    Column {
        title: "STATUS",
        max_width: None,
    },
    Column {
        title: "STATE",
        max_width: None,
    },
    Column {
        title: "ID",
        max_width: None,
    },
];

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// What a trigger targets, in a few words: the webhook URL or `workflow <slug> → <stream>`.
fn target(trigger: &Value) -> String {
    let t = &trigger["target"];
    match t["kind"].as_str() {
        Some("webhook") => text(&t["url"]),
        Some("workflow") => format!(
            "workflow {} → {}",
            text(&t["workflowSlug"]),
            text(&t["stream"])
        ),
        _ => text(t),
    }
}

async fn list(args: &ListArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server)?;
    let url = client.url(&["admin", "triggers"])?;
    let body = client
        .get(url, &[("limit", args.limit.to_string())], None)
        .await?;
    let triggers = body["data"]["triggers"]
        .as_array()
        .ok_or(Failure::Unexpected("data.triggers list"))?;
    let more = (body["data"]["page"]["hasMore"] == true).then(|| {
        format!(
            "(more triggers than --limit {}; use --json with the API's cursor to page)",
            args.limit
        )
    });
    let row = |t: &Value| {
        vec![
            text(&t["name"]),
            text(&t["eventType"]),
            target(t),
            text(&t["status"]),
            text(&t["state"]),
            text(&t["id"]),
        ]
    };
    write_list(
        &mut std::io::stdout().lock(),
        triggers,
        args.json,
        &COLUMNS,
        row,
        more,
    )?;
    Ok(())
}

async fn create(args: &CreateArgs) -> Result<(), Failure> {
    let raw = match (&args.file, &args.definition) {
        (_, Some(text)) => text.clone(),
        (Some(path), None) => read_input(path)?,
        (None, None) => String::new(),
    };
    let definition: Value =
        serde_json::from_str(&raw).map_err(|e| Failure::NotJson("definition", e))?;
    let client = Client::new(&args.server)?;
    let url = client.url(&["admin", "triggers"])?;
    let body = client.post(url, &definition, None).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{body}")?;
        return Ok(out.flush()?);
    }
    let trigger = &body["data"];
    let id = trigger["id"]
        .as_str()
        .ok_or(Failure::Unexpected("data.id"))?;
    writeln!(
        out,
        "Created trigger {id} ({}), version {}.",
        text(&trigger["name"]),
        trigger["version"]
    )?;
    if let Some(secret) = body["secret"].as_str() {
        writeln!(
            out,
            "Webhook secret (shown once; receivers verify `webhook-signature` with it):"
        )?;
        writeln!(out, "{secret}")?;
    }
    Ok(out.flush()?)
}

async fn control(
    server: &ServerArgs,
    id: &str,
    action: &str,
    body: Value,
    json: bool,
) -> Result<(), Failure> {
    let client = Client::new(server)?;
    let url = client.url(&["admin", "triggers", id, action])?;
    let answer = client
        .post(url, &body, Some(&format!("trigger {id}")))
        .await?;
    let trigger = &answer["data"];
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{trigger}")?;
        return Ok(out.flush()?);
    }
    let state = trigger["state"]
        .as_str()
        .ok_or(Failure::Unexpected("data.state"))?;
    match trigger["pause"]["until"].as_str() {
        Some(until) if state == "paused" => writeln!(out, "Trigger {id} is paused until {until}.")?,
        _ if state == "paused" => writeln!(out, "Trigger {id} is paused until resumed.")?,
        _ => writeln!(out, "Trigger {id} is {state}.")?,
    }
    Ok(out.flush()?)
}

const STEP_COLUMNS: [Column; 5] = [
    Column {
        title: "STEP",
        max_width: None,
    },
    Column {
        title: "OK",
        max_width: None,
    },
    Column {
        title: "FOUND",
        max_width: Some(40),
    },
    Column {
        title: "EXPECTED",
        max_width: Some(40),
    },
    Column {
        title: "DETAIL",
        max_width: Some(60),
    },
];

/// A step's name as a person reads it: `predicate 1 ($.payload.currency in)`.
fn step_name(step: &Value) -> String {
    match step["step"].as_str() {
        Some("predicate") => format!(
            "predicate {} ({} {})",
            step["index"],
            text(&step["path"]),
            text(&step["operator"])
        ),
        _ => text(&step["step"]),
    }
}

async fn explain(args: &ExplainArgs) -> Result<(), Failure> {
    let body = match (&args.event_id, &args.event_file) {
        (Some(id), _) => json!({ "eventId": id }),
        (None, Some(path)) => {
            let event: Value = serde_json::from_str(&read_input(path)?)
                .map_err(|e| Failure::NotJson("event", e))?;
            json!({ "event": event })
        }
        (None, None) => json!({}),
    };
    let client = Client::new(&args.server)?;
    let url = client.url(&["admin", "triggers", &args.id, "explain"])?;
    // A 404 is about the trigger or the event: the server's message says which.
    let answer = client.post(url, &body, None).await?;
    let data = &answer["data"];
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{data}")?;
        return Ok(out.flush()?);
    }
    let steps = data["steps"]
        .as_array()
        .ok_or(Failure::Unexpected("data.steps"))?;
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            vec![
                step_name(s),
                if s["passed"] == true { "yes" } else { "NO" }.to_owned(),
                text(&s["found"]),
                text(&s["expected"]),
                s["detail"].as_str().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    out.write_all(render_table(&STEP_COLUMNS, &rows).as_bytes())?;
    let event = text(&data["eventId"]);
    match data["failedStep"].is_null() {
        true => writeln!(out, "Event {event} would be delivered now.")?,
        false => writeln!(
            out,
            "Event {event} would not be delivered now: {} failed.",
            step_name(&data["failedStep"])
        )?,
    }
    let outcome = &data["outcome"];
    if !outcome.is_null() {
        writeln!(
            out,
            "Recorded outcome: {} (delivery {}, {} attempts).",
            text(&outcome["status"]),
            text(&outcome["id"]),
            outcome["attempts"]
        )?;
    }
    Ok(out.flush()?)
}
