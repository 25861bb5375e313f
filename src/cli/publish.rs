//! `herald publish`: one event from flags, or every line of an NDJSON file in batches of 500 with a progress bar,
//! sent to a running Herald over HTTP.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::http::routes::ingest::MAX_BATCH;

/// `herald publish …`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The event type (`service.domain.action`).
    #[arg(long = "type", value_name = "TYPE", required_unless_present = "file")]
    event_type: Option<String>,
    /// The publishing source.
    #[arg(long, required_unless_present = "file")]
    source: Option<String>,
    /// The payload, as JSON.
    #[arg(long, conflicts_with = "file")]
    payload: Option<String>,
    /// An NDJSON file: one envelope per line.
    #[arg(long, conflicts_with_all = ["event_type", "source"])]
    file: Option<PathBuf>,
    /// Herald's base URL.
    #[arg(long, env = "HERALD_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A token with the `events:publish` scope.
    #[arg(long, env = "HERALD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Totals of a publish run.
#[derive(Debug, Default)]
struct Summary {
    accepted: u64,
    duplicates: u64,
    /// `(line or index, error)`.
    rejected: Vec<(u64, Value)>,
    ids: Vec<String>,
}

/// Runs `herald publish`.
pub fn run(args: PublishArgs) -> ExitCode {
    let result = match super::block_on("publish", async {
        match &args.file {
            Some(path) => publish_file(&args, path).await,
            None => publish_one(&args).await,
        }
    }) {
        Ok(result) => result,
        Err(code) => return code,
    };
    match result {
        Ok(summary) => report(&args, &summary),
        Err(message) => {
            eprintln!("herald publish: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn publish_one(args: &PublishArgs) -> Result<Summary, String> {
    let payload: Value = match &args.payload {
        Some(text) => {
            serde_json::from_str(text).map_err(|e| format!("--payload is not valid JSON: {e}"))?
        }
        None => json!({}),
    };
    let envelope = json!({ "type": args.event_type, "source": args.source, "payload": payload });
    let mut summary = Summary::default();
    post(args, &Value::Array(vec![envelope]), &[1], &mut summary).await?;
    Ok(summary)
}

async fn publish_file(args: &PublishArgs, path: &PathBuf) -> Result<Summary, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let total = std::io::BufReader::new(&file).lines().count() as u64;
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} lines  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = Summary::default();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut lines = Vec::with_capacity(MAX_BATCH);
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let number = number as u64 + 1;
        let line = line.map_err(|e| format!("cannot read line {number}: {e}"))?;
        if line.trim().is_empty() {
            bar.inc(1);
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(envelope) => {
                batch.push(envelope);
                lines.push(number);
            }
            Err(e) => summary.rejected.push((
                number,
                json!({ "code": "invalid_json", "message": format!("line is not valid JSON: {e}") }),
            )),
        }
        if batch.len() == MAX_BATCH {
            post(
                args,
                &Value::Array(std::mem::take(&mut batch)),
                &lines,
                &mut summary,
            )
            .await?;
            bar.inc(lines.len() as u64);
            lines.clear();
        }
    }
    if !batch.is_empty() {
        post(args, &Value::Array(batch), &lines, &mut summary).await?;
    }
    bar.finish_and_clear();
    summary.rejected.sort_by_key(|(line, _)| *line);
    Ok(summary)
}

/// Posts one batch; `lines[i]` is the line (or position) of `batch[i]`, used to report rejections.
async fn post(
    args: &PublishArgs,
    batch: &Value,
    lines: &[u64],
    summary: &mut Summary,
) -> Result<(), String> {
    let url = format!("{}/events", args.url.trim_end_matches('/'));
    let mut request = reqwest::Client::new().post(&url).json(batch);
    if let Some(token) = &args.token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot reach Herald at {}: {e}", args.url))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("unexpected answer from Herald ({status}): {e}"))?;
    let line_of = |index: &Value| {
        index
            .as_u64()
            .and_then(|i| lines.get(i as usize).copied())
            .unwrap_or(0)
    };
    if status.as_u16() == 202 {
        for item in body["data"]["accepted"].as_array().into_iter().flatten() {
            summary.accepted += 1;
            if item["duplicate"] == json!(true) {
                summary.duplicates += 1;
            }
            if let Some(id) = item["id"].as_str() {
                summary.ids.push(id.to_owned());
            }
        }
        for item in body["data"]["rejected"].as_array().into_iter().flatten() {
            summary
                .rejected
                .push((line_of(&item["index"]), item["error"].clone()));
        }
        return Ok(());
    }
    match body["error"]["code"].as_str() {
        Some("batch_rejected") => {
            for item in body["error"]["details"]["rejected"]
                .as_array()
                .into_iter()
                .flatten()
            {
                summary
                    .rejected
                    .push((line_of(&item["index"]), item["error"].clone()));
            }
            Ok(())
        }
        Some(
            "unauthorized"
            | "forbidden"
            | "body_too_large"
            | "unavailable"
            | "unsupported_media_type",
        )
        | None => Err(format!(
            "Herald answered {status}: {}",
            body["error"]["message"].as_str().unwrap_or("no message")
        )),
        Some(_) => {
            // A single envelope's own error (invalid field, id conflict, …).
            summary
                .rejected
                .push((lines.first().copied().unwrap_or(0), body["error"].clone()));
            Ok(())
        }
    }
}

fn report(args: &PublishArgs, summary: &Summary) -> ExitCode {
    if args.json {
        let rejected: Vec<Value> = summary
            .rejected
            .iter()
            .map(|(line, error)| json!({ "line": line, "error": error }))
            .collect();
        let out = json!({
            "accepted": summary.accepted, "duplicates": summary.duplicates,
            "rejected": rejected, "ids": if args.file.is_some() { json!(null) } else { json!(summary.ids) },
        });
        println!("{out}");
    } else {
        if args.file.is_none()
            && let Some(id) = summary.ids.first()
        {
            println!("accepted {id}");
        } else {
            println!(
                "accepted {} ({} duplicates), rejected {}",
                summary.accepted,
                summary.duplicates,
                summary.rejected.len()
            );
        }
        for (line, error) in summary.rejected.iter().take(20) {
            let code = error["code"].as_str().unwrap_or("error");
            let message = error["message"].as_str().unwrap_or("");
            if args.file.is_some() {
                eprintln!("line {line}: {code}: {message}");
            } else {
                eprintln!("rejected: {code}: {message}");
            }
        }
        if summary.rejected.len() > 20 {
            eprintln!("… and {} more", summary.rejected.len() - 20);
        }
    }
    if summary.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
