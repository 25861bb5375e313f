//! `herald replay start|status|cancel` (SPEC §6.2): replays of a running Herald over its admin API, as sentences
//! for people or JSON for scripts. `start --wait` follows the replay with a progress bar (on stderr, when it is a
//! terminal) until it completes and its deliveries have finished, or it is cancelled.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::cli::client::{Client, Failure, ServerArgs, run_admin};

/// How often `--wait` asks where the replay is.
const POLL: Duration = Duration::from_millis(500);

/// `herald replay …`.
#[derive(Debug, Subcommand)]
pub enum ReplayCommand {
    /// Send the stored events of a time range again to the named triggers, as new deliveries.
    Start(StartArgs),
    /// Show where a replay is: status, counts, progress.
    Status(IdArgs),
    /// Stop a replay; its deliveries not yet attempted are cancelled.
    Cancel(IdArgs),
}

/// `herald replay start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// A trigger to deliver to (repeat for several); no other trigger gets anything.
    #[arg(long = "trigger", value_name = "ID", required = true)]
    triggers: Vec<String>,
    /// Events that occurred at or after (RFC 3339 or a date).
    #[arg(long)]
    from: String,
    /// Events that occurred at or before (RFC 3339 or a date); at most 31 days after --from.
    #[arg(long)]
    to: String,
    /// Only events of this type (exact or a pattern such as `shop.order.*`).
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// Only events of this source (exact or a pattern).
    #[arg(long)]
    source: Option<String>,
    /// Count what would be delivered; deliver nothing.
    #[arg(long)]
    dry_run: bool,
    /// Deliveries per second, at most (the server's default is 100).
    #[arg(long, value_name = "N")]
    rate: Option<f64>,
    /// Follow the replay until it has finished.
    #[arg(long)]
    wait: bool,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// `herald replay status|cancel ID`.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// The replay's id.
    id: String,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Runs `herald replay …`.
pub fn run(command: ReplayCommand) -> ExitCode {
    run_admin("replay", async {
        match &command {
            ReplayCommand::Start(args) => start(args).await,
            ReplayCommand::Status(args) => status(args).await,
            ReplayCommand::Cancel(args) => cancel(args).await,
        }
    })
}

async fn start(args: &StartArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server)?;
    let mut body = json!({
        "from": args.from,
        "to": args.to,
        "triggerIds": args.triggers,
        "dryRun": args.dry_run,
    });
    for (key, value) in [("type", &args.event_type), ("source", &args.source)] {
        if let Some(value) = value {
            body[key] = json!(value);
        }
    }
    if let Some(rate) = args.rate {
        body["ratePerSecond"] = json!(rate);
    }
    let answer = client
        .post(client.url(&["admin", "replays"])?, &body, None)
        .await?;
    let mut replay = answer["data"].clone();
    let id = replay["id"]
        .as_str()
        .ok_or(Failure::Unexpected("data.id"))?
        .to_owned();
    if args.wait {
        replay = follow(&client, &id).await?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{replay}")?;
    } else if args.wait {
        writeln!(out, "{}", summary(&replay))?;
    } else {
        writeln!(
            out,
            "Replay {id} asked for ({}). Follow it with `herald replay status {id}`.",
            if args.dry_run {
                "dry run"
            } else {
                "delivering"
            }
        )?;
    }
    Ok(out.flush()?)
}

/// Polls the replay until it has finished (completed with no delivery left waiting, or cancelled), drawing its
/// progress; returns it as last seen.
async fn follow(client: &Client<'_>, id: &str) -> Result<Value, Failure> {
    let url = client.url(&["admin", "replays", id])?;
    let missing = format!("replay {id}");
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} events read · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    loop {
        let replay = client.get(url.clone(), &[], Some(&missing)).await?["data"].clone();
        bar.set_length(replay["total"].as_u64().unwrap_or(0));
        bar.set_position(replay["counts"]["scanned"].as_u64().unwrap_or(0));
        bar.set_message(counts(&replay));
        let finished = match replay["status"].as_str() {
            Some("cancelled") => true,
            Some("completed") => replay["counts"]["waiting"] == 0,
            _ => false,
        };
        if finished {
            bar.finish_and_clear();
            return Ok(replay);
        }
        tokio::time::sleep(POLL).await;
    }
}

fn counts(replay: &Value) -> String {
    let c = &replay["counts"];
    let n = |key: &str| c[key].as_u64().unwrap_or(0);
    format!(
        "{} matched, {} delivered, {} failed, {} waiting",
        n("matched"),
        n("delivered"),
        n("failed"),
        n("waiting")
    )
}

/// One sentence: the replay, its status, what it read and what became of its deliveries.
fn summary(replay: &Value) -> String {
    let scanned = replay["counts"]["scanned"].as_u64().unwrap_or(0);
    let progress = replay["progress"].as_f64().unwrap_or(0.0) * 100.0;
    let dry = if replay["dryRun"] == true {
        " (dry run: nothing delivered)"
    } else {
        ""
    };
    format!(
        "Replay {} {}{dry}: {scanned} events read ({progress:.0} %), {}.",
        replay["id"].as_str().unwrap_or("?"),
        replay["status"].as_str().unwrap_or("?"),
        counts(replay)
    )
}

async fn status(args: &IdArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server)?;
    let url = client.url(&["admin", "replays", &args.id])?;
    let missing = format!("replay {}", args.id);
    let replay = client.get(url, &[], Some(&missing)).await?["data"].clone();
    print(&replay, args.json)
}

async fn cancel(args: &IdArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server)?;
    let url = client.url(&["admin", "replays", &args.id, "cancel"])?;
    let missing = format!("replay {}", args.id);
    let replay = client.post(url, &json!({}), Some(&missing)).await?["data"].clone();
    print(&replay, args.json)
}

fn print(replay: &Value, json: bool) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{replay}")?;
    } else {
        writeln!(out, "{}", summary(replay))?;
    }
    Ok(out.flush()?)
}
