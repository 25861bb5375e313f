//! `herald events list|get`: read stored events from a running Herald over its admin API (SPEC §6.1, §12), as
//! tables for people or JSON for scripts.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::{StatusCode, Url};
use serde_json::Value;

/// The `--url` default, also what a suggested follow-up command leaves out.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";
/// How long to wait for a TCP connection before saying Herald is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Separator between table columns.
const COLUMN_GAP: &str = "  ";

/// `herald events …`.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List stored events, newest first, one page at a time (or every page with `--all`).
    List(ListArgs),
    /// Show one stored event.
    Get(GetArgs),
}

/// Where Herald is and how to authenticate; shared by every `events` subcommand.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Herald's base URL.
    #[arg(long, env = "HERALD_URL", default_value = DEFAULT_URL)]
    url: String,
    /// A token with the `events:read` scope.
    #[arg(long, env = "HERALD_TOKEN", hide_env_values = true)]
    token: Option<String>,
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
#[derive(Debug)]
enum Failure {
    /// A message for the user.
    Message(String),
    /// Stdout was closed (`| head`): not an error, stop quietly.
    StdoutClosed,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Message(message)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::StdoutClosed
        } else {
            Failure::Message(format!("cannot write the output: {e}"))
        }
    }
}

/// Runs `herald events …`.
pub fn run(command: EventsCommand) -> ExitCode {
    let result = match super::block_on("events", async {
        match &command {
            EventsCommand::List(args) => list(args).await,
            EventsCommand::Get(args) => get(args).await,
        }
    }) {
        Ok(result) => result,
        Err(code) => return code,
    };
    match result {
        Ok(()) | Err(Failure::StdoutClosed) => ExitCode::SUCCESS,
        Err(Failure::Message(message)) => {
            eprintln!("herald events: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn list(args: &ListArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server)?;
    let url = client.url(&["admin", "events"])?;
    let filters = list_query(args);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let progress = args.all && std::io::stderr().is_terminal();
    let mut cursor = args.cursor.clone();
    let mut rows = Vec::new();
    let mut count: u64 = 0;
    let next_cursor = loop {
        let mut query = filters.clone();
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let body = client.get(url.clone(), &query, None).await?;
        let events = body["data"]["events"].as_array().ok_or_else(|| {
            "unexpected answer from Herald: no data.events array (is --url a Herald?)".to_owned()
        })?;
        count += events.len() as u64;
        if args.json {
            for event in events {
                writeln!(out, "{event}")?;
            }
            out.flush()?;
        } else {
            rows.extend(events.iter().map(event_row));
        }
        let next = body["data"]["page"]["nextCursor"]
            .as_str()
            .map(str::to_owned);
        match next {
            Some(next) if args.all => {
                if progress {
                    eprint!("\r{count} events…");
                }
                cursor = Some(next);
            }
            next => break next,
        }
    };
    if progress {
        eprint!("\r\x1b[K");
    }
    if !args.json {
        if !rows.is_empty() {
            out.write_all(render_table(&EVENT_COLUMNS, &rows).as_bytes())?;
        }
        writeln!(out, "{}", footer(count, next_cursor.as_deref(), args))?;
    }
    out.flush()?;
    Ok(())
}

async fn get(args: &GetArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server)?;
    let url = client.url(&["admin", "events", &args.id])?;
    let body = client.get(url, &[], Some(&args.id)).await?;
    let data = &body["data"];
    if !data["event"].is_object() {
        return Err(
            "unexpected answer from Herald: no data.event object (is --url a Herald?)"
                .to_owned()
                .into(),
        );
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        writeln!(out, "{data}")?;
    } else {
        out.write_all(render_event(&data["event"]).as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

/// An HTTP client bound to one Herald and token.
struct Client<'a> {
    server: &'a ServerArgs,
    base: Url,
    http: reqwest::Client,
}

impl<'a> Client<'a> {
    fn new(server: &'a ServerArgs) -> Result<Client<'a>, String> {
        let base = Url::parse(&server.url)
            .map_err(|e| format!("--url {:?} is not a valid URL: {e}", server.url))?;
        if base.cannot_be_a_base() {
            return Err(format!("--url {:?} is not an http(s) URL", server.url));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Client { server, base, http })
    }

    /// The base URL plus `segments`, each percent-encoded as one path segment (an id with `/` or `?` stays one).
    fn url(&self, segments: &[&str]) -> Result<Url, String> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| format!("--url {:?} is not an http(s) URL", self.server.url))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// `GET url?query` → the JSON body of a 2xx answer. `event_id` names the event a 404 is about.
    ///
    /// # Errors
    /// A sentence for the user: Herald unreachable (suggesting `herald serve`), an auth failure (suggesting
    /// `--token`), no such event, or the server's `code: message`.
    async fn get(
        &self,
        url: Url,
        query: &[(&str, String)],
        event_id: Option<&str>,
    ) -> Result<Value, String> {
        let mut request = self.http.get(url).query(query);
        if let Some(token) = &self.server.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_connect() {
                format!(
                    "cannot reach Herald at {}: {}; is it running? Start it with `herald serve`, or point --url \
                     (or HERALD_URL) at it",
                    self.server.url,
                    root_cause(&e)
                )
            } else {
                format!(
                    "request to Herald at {} failed: {}",
                    self.server.url,
                    root_cause(&e)
                )
            }
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("cannot read Herald's answer ({status}): {e}"))?;
        let body: Option<Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            return body.ok_or_else(|| {
                format!("unexpected answer from Herald ({status}): not JSON (is --url a Herald?)")
            });
        }
        Err(error_message(
            status,
            body.as_ref(),
            &text,
            event_id,
            self.server.token.is_some(),
        ))
    }
}

/// The innermost cause of a request error ("Connection refused (os error 111)"), which says more than reqwest's
/// "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The line to print for a non-2xx answer.
fn error_message(
    status: StatusCode,
    body: Option<&Value>,
    text: &str,
    event_id: Option<&str>,
    has_token: bool,
) -> String {
    let error = body.map(|b| &b["error"]);
    let code = error.and_then(|e| e["code"].as_str());
    let message = error.and_then(|e| e["message"].as_str());
    if let (StatusCode::NOT_FOUND, Some(id), Some("not_found")) = (status, event_id, code) {
        return format!("no event {id}");
    }
    let mut line = match (code, message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => format!("{code} ({status})"),
        _ => {
            let snippet = truncate(text.trim(), 200);
            if snippet.is_empty() {
                format!("Herald answered {status}")
            } else {
                format!("Herald answered {status}: {snippet}")
            }
        }
    };
    match status {
        StatusCode::UNAUTHORIZED if has_token => {
            line.push_str("; check the token given by --token or HERALD_TOKEN");
        }
        StatusCode::UNAUTHORIZED => {
            line.push_str("; pass a token with --token or HERALD_TOKEN");
        }
        StatusCode::FORBIDDEN => {
            let scope = error
                .and_then(|e| e["details"]["requiredScope"].as_str())
                .unwrap_or("events:read");
            line.push_str(&format!(
                "; use a token with the {scope} scope (--token or HERALD_TOKEN)"
            ));
        }
        _ => {}
    }
    line
}

/// The query parameters of `GET /admin/events` for `args`, without `cursor` (the pager adds it).
fn list_query(args: &ListArgs) -> Vec<(&'static str, String)> {
    [
        ("type", args.event_type.clone()),
        ("source", args.source.clone()),
        ("correlationId", args.correlation_id.clone()),
        ("from", args.from.clone()),
        ("to", args.to.clone()),
        ("severity", args.severity.clone()),
        ("jsonPath", args.json_path.clone()),
        ("limit", args.limit.map(|n| n.to_string())),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| (name, v)))
    .collect()
}

/// A table column: its title and the width past which its values are cut with `…` (`None`: never cut; only
/// sensible for the last column, which pads nothing after it).
#[derive(Debug, Clone, Copy)]
struct Column {
    title: &'static str,
    max_width: Option<usize>,
}

/// The columns of `events list`. The id comes last and is never cut: it is what people copy into `events get`.
const EVENT_COLUMNS: [Column; 6] = [
    Column {
        title: "SEQ",
        max_width: Some(20),
    },
    Column {
        title: "OCCURRED AT",
        max_width: Some(24),
    },
    Column {
        title: "SEVERITY",
        max_width: Some(8),
    },
    Column {
        title: "TYPE",
        max_width: Some(48),
    },
    Column {
        title: "SOURCE",
        max_width: Some(32),
    },
    Column {
        title: "ID",
        max_width: None,
    },
];

/// One `events list` row; missing fields show as `-`.
fn event_row(event: &Value) -> Vec<String> {
    [
        "ingressSequence",
        "occurredAt",
        "severity",
        "type",
        "source",
        "id",
    ]
    .iter()
    .map(|key| scalar(&event[*key]))
    .collect()
}

/// A scalar JSON value as people read it: strings bare, `null` as `-`, anything else as compact JSON.
fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `s` cut to at most `max` characters, the last of them `…` when anything was cut.
fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if s.chars().count() <= max {
        return Cow::Borrowed(s);
    }
    let kept: String = s.chars().take(max.saturating_sub(1)).collect();
    Cow::Owned(format!("{kept}…"))
}

/// Renders `rows` under `columns`: each column as wide as its widest cell (title included, capped at its
/// `max_width`), columns two spaces apart, no trailing spaces; one line per row, each ending in `\n`.
fn render_table(columns: &[Column], rows: &[Vec<String>]) -> String {
    let cells: Vec<Vec<Cow<'_, str>>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .enumerate()
                .map(|(i, column)| {
                    let cell = row.get(i).map_or("", String::as_str);
                    match column.max_width {
                        Some(max) => truncate(cell, max),
                        None => Cow::Borrowed(cell),
                    }
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([column.title.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut table = String::new();
    let titles: Vec<&str> = columns.iter().map(|c| c.title).collect();
    push_line(&mut table, &titles, &widths);
    for row in &cells {
        let row: Vec<&str> = row.iter().map(AsRef::as_ref).collect();
        push_line(&mut table, &row, &widths);
    }
    table
}

fn push_line(table: &mut String, cells: &[&str], widths: &[usize]) {
    let mut line = String::new();
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push_str(COLUMN_GAP);
        }
        line.push_str(cell);
        let pad = width.saturating_sub(cell.chars().count());
        line.extend(std::iter::repeat_n(' ', pad));
    }
    table.push_str(line.trim_end());
    table.push('\n');
}

/// The last line of `events list`: how many events were shown and, when there are more, the command for the next
/// page (never with the token, which must not end up in shell history or logs).
fn footer(count: u64, next_cursor: Option<&str>, args: &ListArgs) -> String {
    let noun = if count == 1 { "event" } else { "events" };
    let Some(cursor) = next_cursor else {
        return format!("{count} {noun}.");
    };
    let mut command = vec!["herald".to_owned(), "events".to_owned(), "list".to_owned()];
    let flags = [
        ("--type", args.event_type.clone()),
        ("--source", args.source.clone()),
        ("--correlation-id", args.correlation_id.clone()),
        ("--from", args.from.clone()),
        ("--to", args.to.clone()),
        ("--severity", args.severity.clone()),
        ("--json-path", args.json_path.clone()),
        ("--limit", args.limit.map(|n| n.to_string())),
        (
            "--url",
            Some(args.server.url.clone()).filter(|url| url != DEFAULT_URL),
        ),
        ("--cursor", Some(cursor.to_owned())),
    ];
    for (flag, value) in flags {
        if let Some(value) = value {
            command.push(flag.to_owned());
            command.push(shell_quote(&value).into_owned());
        }
    }
    format!("{count} {noun}; more: {}", command.join(" "))
}

/// `s` as one POSIX shell word: unchanged when it holds only characters no shell treats specially, else in
/// single quotes.
fn shell_quote(s: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._:/@+,=%-".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("'{}'", s.replace('\'', r"'\''")))
    }
}

/// The envelope fields `events get` prints as `key: value` lines, in this order.
const EVENT_FIELDS: [&str; 13] = [
    "id",
    "type",
    "source",
    "occurredAt",
    "receivedAt",
    "ingressSequence",
    "severity",
    "correlationId",
    "causationId",
    "ttlMs",
    "schemaVersion",
    "links",
    "derived",
];

/// `events get` for people: the envelope fields as aligned `key: value` lines, then `payload:` and `metadata:`
/// as indented pretty JSON (`-` when absent).
fn render_event(event: &Value) -> String {
    let width = EVENT_FIELDS
        .iter()
        .map(|key| key.len() + 1)
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for key in EVENT_FIELDS {
        let value = &event[key];
        let shown = match value {
            Value::Object(map) if map.is_empty() => "-".to_owned(),
            other => scalar(other),
        };
        text.push_str(&format!("{:<width$} {shown}\n", format!("{key}:")));
    }
    for key in ["payload", "metadata"] {
        match &event[key] {
            Value::Null => text.push_str(&format!("{key}: -\n")),
            value => {
                text.push_str(&format!("{key}:\n"));
                let pretty =
                    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
                for line in pretty.lines() {
                    text.push_str("  ");
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: EventsCommand,
    }

    fn list_args(args: &[&str]) -> ListArgs {
        let argv = ["events", "list"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            EventsCommand::List(args) => args,
            EventsCommand::Get(_) => unreachable!(),
        }
    }

    fn column(title: &'static str, max_width: Option<usize>) -> Column {
        Column { title, max_width }
    }

    #[test]
    fn truncate_keeps_short_values_and_cuts_long_ones_with_an_ellipsis_within_the_width() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("ééééé", 4).chars().count(), 4);
        assert_eq!(truncate("", 0), "");
    }

    #[test]
    fn a_table_fits_each_column_to_its_widest_cell_and_has_no_trailing_spaces() {
        let columns = [
            column("A", Some(10)),
            column("LONG TITLE", Some(10)),
            column("Z", None),
        ];
        let rows = vec![
            vec!["xyz".to_owned(), "1".to_owned(), "last".to_owned()],
            vec!["q".to_owned(), "22".to_owned(), "".to_owned()],
        ];

        let table = render_table(&columns, &rows);

        assert_eq!(
            table,
            "A    LONG TITLE  Z\n\
             xyz  1           last\n\
             q    22\n"
        );
    }

    #[test]
    fn a_table_cuts_values_longer_than_the_column_maximum_but_never_the_uncapped_column() {
        let columns = [column("TYPE", Some(6)), column("ID", None)];
        let long_id = "x".repeat(100);
        let rows = vec![vec!["metastore.record.updated".to_owned(), long_id.clone()]];

        let table = render_table(&columns, &rows);

        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "TYPE    ID");
        assert_eq!(lines[1], format!("metas…  {long_id}"));
    }

    #[test]
    fn an_event_row_shows_the_list_columns_in_order_and_dashes_for_missing_values() {
        let event = json!({
            "id": "e1", "type": "a.b", "source": "s", "occurredAt": "2026-11-22T10:00:00.000Z",
            "ingressSequence": "42", "severity": null,
        });
        assert_eq!(
            event_row(&event),
            ["42", "2026-11-22T10:00:00.000Z", "-", "a.b", "s", "e1"]
        );
    }

    #[test]
    fn the_footer_counts_the_events_and_says_how_to_get_the_next_page() {
        let args = list_args(&[
            "--type",
            "a.*",
            "--limit",
            "10",
            "--severity",
            "error,warning",
        ]);

        assert_eq!(footer(1, None, &args), "1 event.");
        assert_eq!(footer(0, None, &args), "0 events.");
        assert_eq!(
            footer(10, Some("abc.123"), &args),
            "10 events; more: herald events list --type 'a.*' --severity error,warning --limit 10 \
             --cursor abc.123"
        );
    }

    #[test]
    fn the_footer_names_a_non_default_url_but_never_the_token() {
        let args = list_args(&["--url", "http://herald:9000", "--token", "secret"]);

        let line = footer(3, Some("c"), &args);

        assert!(
            line.ends_with("--url http://herald:9000 --cursor c"),
            "{line}"
        );
        assert!(!line.contains("secret"), "{line}");
    }

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("abc.DEF-1_2:3/4"), "abc.DEF-1_2:3/4");
        assert_eq!(shell_quote("a.*"), "'a.*'");
        assert_eq!(shell_quote("$.n > 1"), "'$.n > 1'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn the_list_query_names_each_given_filter_as_the_api_does() {
        let args = list_args(&[
            "--type",
            "a.b",
            "--source",
            "s",
            "--correlation-id",
            "c",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-02",
            "--severity",
            "error",
            "--json-path",
            "$.n > 1",
            "--limit",
            "5",
            "--cursor",
            "ignored-here",
        ]);

        let query = list_query(&args);

        let names: Vec<&str> = query.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "type",
                "source",
                "correlationId",
                "from",
                "to",
                "severity",
                "jsonPath",
                "limit"
            ]
        );
        assert!(list_query(&list_args(&[])).is_empty());
    }

    #[test]
    fn an_event_for_people_aligns_its_fields_and_pretty_prints_payload_and_metadata() {
        let event = json!({
            "id": "e1", "type": "a.b", "source": "s", "occurredAt": "t1", "receivedAt": "t2",
            "ingressSequence": "7", "severity": "info", "correlationId": null, "causationId": null,
            "ttlMs": 5000, "schemaVersion": null, "links": {}, "derived": null,
            "payload": { "k": [1] }, "metadata": null,
        });

        let text = render_event(&event);

        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "id:              e1");
        assert_eq!(lines[5], "ingressSequence: 7");
        assert_eq!(lines[9], "ttlMs:           5000");
        assert_eq!(lines[11], "links:           -");
        assert_eq!(
            &lines[13..],
            [
                "payload:",
                "  {",
                "    \"k\": [",
                "      1",
                "    ]",
                "  }",
                "metadata: -"
            ]
        );
    }

    #[test]
    fn an_error_answer_becomes_code_and_message_with_a_hint_for_auth_failures() {
        let body =
            |code: &str, message: &str| json!({ "error": { "code": code, "message": message } });

        let bad = error_message(
            StatusCode::BAD_REQUEST,
            Some(&body("invalid_pattern", "type \"meta*\" is not a pattern")),
            "",
            None,
            false,
        );
        assert_eq!(bad, "invalid_pattern: type \"meta*\" is not a pattern");

        let missing = error_message(
            StatusCode::NOT_FOUND,
            Some(&body("not_found", "no event x")),
            "",
            Some("x"),
            false,
        );
        assert_eq!(missing, "no event x");

        let unauthorized = error_message(
            StatusCode::UNAUTHORIZED,
            Some(&body("unauthorized", "a bearer token is required")),
            "",
            None,
            false,
        );
        assert!(
            unauthorized.contains("--token or HERALD_TOKEN"),
            "{unauthorized}"
        );

        let forbidden = error_message(
            StatusCode::FORBIDDEN,
            Some(
                &json!({ "error": { "code": "forbidden", "message": "m", "details": { "requiredScope": "events:read" } } }),
            ),
            "",
            None,
            true,
        );
        assert!(forbidden.contains("events:read scope"), "{forbidden}");

        let proxy = error_message(
            StatusCode::BAD_GATEWAY,
            None,
            "<html>oops</html>",
            None,
            false,
        );
        assert_eq!(proxy, "Herald answered 502 Bad Gateway: <html>oops</html>");
    }
}
