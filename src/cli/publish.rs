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
    /// The event type (`service.domain.action`). With `--file`, the type of every line that has none.
    #[arg(long = "type", value_name = "TYPE", required_unless_present = "file")]
    event_type: Option<String>,
    /// The publishing source. With `--file`, the source of every line that has none.
    #[arg(long, required_unless_present = "file")]
    source: Option<String>,
    /// The payload, as JSON.
    #[arg(long, conflicts_with = "file", value_parser = parse_payload)]
    payload: Option<Value>,
    /// An NDJSON file: one envelope per line.
    #[arg(long)]
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

/// Why a publish run stopped; printed as `herald publish: …` with exit code 1. Rejected envelopes are not
/// errors: they are counted in the [`Summary`].
#[derive(Debug, thiserror::Error)]
enum PublishError {
    /// The file could not be opened.
    #[error("cannot open {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line could not be read (not UTF-8, I/O error).
    #[error("cannot read line {line}: {source}")]
    Read {
        line: u64,
        #[source]
        source: std::io::Error,
    },
    /// No answer from Herald.
    #[error("cannot reach Herald at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// An answer that is not Herald's JSON.
    #[error("unexpected answer from Herald ({status}): {source}")]
    Unexpected {
        status: reqwest::StatusCode,
        #[source]
        source: reqwest::Error,
    },
    /// Herald refused the whole request (auth, size, unavailable).
    #[error("Herald answered {status}: {message}")]
    Refused {
        status: reqwest::StatusCode,
        message: String,
    },
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
        // One client for the whole run, so every batch reuses its connection.
        let http = reqwest::Client::new();
        match &args.file {
            Some(path) => publish_file(&http, &args, path).await,
            None => publish_one(&http, &args).await,
        }
    }) {
        Ok(result) => result,
        Err(code) => return code,
    };
    match result {
        Ok(summary) => report(&args, &summary),
        Err(error) => {
            eprintln!("herald publish: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn publish_one(http: &reqwest::Client, args: &PublishArgs) -> Result<Summary, PublishError> {
    let payload = args.payload.clone().unwrap_or_else(|| json!({}));
    let envelope = json!({ "type": args.event_type, "source": args.source, "payload": payload });
    let mut summary = Summary::default();
    post(
        http,
        args,
        &Value::Array(vec![envelope]),
        &[1],
        &mut summary,
    )
    .await?;
    Ok(summary)
}

/// `--payload`, parsed by clap so that bad JSON is a usage error (exit code 2) like any other bad flag.
fn parse_payload(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str(text)
}

async fn publish_file(
    http: &reqwest::Client,
    args: &PublishArgs,
    path: &PathBuf,
) -> Result<Summary, PublishError> {
    let file = std::fs::File::open(path).map_err(|source| PublishError::Open {
        path: path.clone(),
        source,
    })?;
    // The bar follows the bytes read, so the file is read once and no line count is needed up front.
    let size = file.metadata().map_or(0, |m| m.len());
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(size)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes}  {bytes_per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = Summary::default();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut lines = Vec::with_capacity(MAX_BATCH);
    for (number, line) in std::io::BufReader::new(bar.wrap_read(file))
        .lines()
        .enumerate()
    {
        let number = number as u64 + 1;
        let line = line.map_err(|source| PublishError::Read {
            line: number,
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(mut envelope) => {
                fill_in(&mut envelope, args);
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
                http,
                args,
                &Value::Array(std::mem::take(&mut batch)),
                &lines,
                &mut summary,
            )
            .await?;
            lines.clear();
        }
    }
    if !batch.is_empty() {
        post(http, args, &Value::Array(batch), &lines, &mut summary).await?;
    }
    bar.finish_and_clear();
    summary.rejected.sort_by_key(|(line, _)| *line);
    Ok(summary)
}

/// Gives a line without a `type` or `source` the one of `--type` / `--source` (SPEC §12); a line's own value
/// stays. Anything but a JSON object is left for Herald to reject.
fn fill_in(envelope: &mut Value, args: &PublishArgs) {
    let Value::Object(fields) = envelope else {
        return;
    };
    for (key, default) in [("type", &args.event_type), ("source", &args.source)] {
        if let Some(default) = default
            && !fields.contains_key(key)
        {
            fields.insert(key.to_owned(), Value::String(default.clone()));
        }
    }
}

/// Posts one batch; `lines[i]` is the line (or position) of `batch[i]`, used to report rejections.
async fn post(
    http: &reqwest::Client,
    args: &PublishArgs,
    batch: &Value,
    lines: &[u64],
    summary: &mut Summary,
) -> Result<(), PublishError> {
    let url = format!("{}/events", args.url.trim_end_matches('/'));
    let mut request = http.post(&url).json(batch);
    if let Some(token) = &args.token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|source| PublishError::Unreachable {
            url: args.url.clone(),
            source,
        })?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|source| PublishError::Unexpected { status, source })?;
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
        | None => Err(PublishError::Refused {
            status,
            message: body["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .to_owned(),
        }),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: PublishArgs,
    }

    fn parse(args: &[&str]) -> Result<PublishArgs, clap::Error> {
        Cli::try_parse_from(["publish"].iter().chain(args)).map(|cli| cli.args)
    }

    #[test]
    fn type_and_source_fill_in_only_the_fields_a_line_lacks() {
        let args = parse(&["--file", "x.ndjson", "--type", "t.a.b", "--source", "s"]).unwrap();
        let mut bare = json!({ "payload": {} });
        let mut own = json!({ "type": "own.type.x", "source": "own" });
        let mut not_an_object = json!([1]);

        fill_in(&mut bare, &args);
        fill_in(&mut own, &args);
        fill_in(&mut not_an_object, &args);

        assert_eq!(
            bare,
            json!({ "type": "t.a.b", "source": "s", "payload": {} })
        );
        assert_eq!(own, json!({ "type": "own.type.x", "source": "own" }));
        assert_eq!(not_an_object, json!([1]));
    }

    #[test]
    fn type_and_source_are_needed_without_a_file_and_a_payload_never_goes_with_one() {
        assert!(parse(&["--file", "x.ndjson"]).is_ok());
        assert!(parse(&["--file", "x.ndjson", "--source", "s"]).is_ok());
        assert!(parse(&["--type", "t.a.b"]).is_err());
        let bad_payload =
            parse(&["--type", "t.a.b", "--source", "s", "--payload", "{"]).unwrap_err();
        assert_eq!(bad_payload.kind(), clap::error::ErrorKind::ValueValidation);
        let payload = parse(&[
            "--type",
            "t.a.b",
            "--source",
            "s",
            "--payload",
            r#"{"k":1}"#,
        ])
        .unwrap();
        assert_eq!(payload.payload, Some(json!({ "k": 1 })));
        let payload_with_file = parse(&["--file", "x.ndjson", "--payload", "{}"]).unwrap_err();
        assert_eq!(
            payload_with_file.kind(),
            clap::error::ErrorKind::ArgumentConflict
        );
    }
}
