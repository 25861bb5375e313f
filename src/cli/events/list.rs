//! `herald events list`: one page of stored events, or every page with `--all`, as a table ending in a line that
//! says how to get the next page, or as NDJSON.

use std::io::Write;

use indicatif::{ProgressBar, ProgressStyle};

use super::render::{EVENT_COLUMNS, event_row, render_table};
use super::{DEFAULT_URL, Failure, ListArgs};
use crate::cli::client::Client;

/// Fetches the pages and prints them.
pub(super) async fn run(args: &ListArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server)?;
    let url = client.url(&["admin", "events"])?;
    let filters = list_query(args);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // A count on stderr while `--all` pages; indicatif draws it only when stderr is a terminal.
    let progress = if args.all {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{pos} events…")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut cursor = args.cursor.clone();
    let mut rows = Vec::new();
    let mut count: u64 = 0;
    let next_cursor = loop {
        let mut query = filters.clone();
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let body = client.get(url.clone(), &query, None).await?;
        let events = body["data"]["events"]
            .as_array()
            .ok_or(Failure::Unexpected {
                missing: "data.events array",
            })?;
        count += events.len() as u64;
        progress.set_position(count);
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
            Some(next) if args.all => cursor = Some(next),
            next => break next,
        }
    };
    progress.finish_and_clear();
    if !args.json {
        if !rows.is_empty() {
            out.write_all(render_table(&EVENT_COLUMNS, &rows).as_bytes())?;
        }
        writeln!(out, "{}", footer(count, next_cursor.as_deref(), args))?;
    }
    out.flush()?;
    Ok(())
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
            match shell_word(&value) {
                Ok(word) => command.push(word),
                // Only a NUL byte cannot be quoted, and no argument or cursor holds one; say what to do anyway.
                Err(_) => {
                    return format!(
                        "{count} {noun}; more: repeat the command with --cursor {cursor:?}"
                    );
                }
            }
        }
    }
    format!("{count} {noun}; more: {}", command.join(" "))
}

/// `value` as one POSIX shell word, quoted by shlex where a shell would read it otherwise. Commas stay bare
/// between the quoted parts (`error,warning`, `'a*',b`): a shell joins adjacent parts into one word, and outside
/// braces a comma means nothing to it.
fn shell_word(value: &str) -> Result<String, shlex::QuoteError> {
    let parts = value
        .split(',')
        .map(shlex::try_quote)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::super::EventsCommand;
    use super::*;
    use clap::Parser;

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
    fn shell_word_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_word("abc.DEF-1_2:3/4").unwrap(), "abc.DEF-1_2:3/4");
        assert_eq!(shell_word("a.*").unwrap(), "'a.*'");
        assert_eq!(shell_word("$.n > 1").unwrap(), "'$.n > 1'");
        assert_eq!(shell_word("").unwrap(), "''");
        assert_eq!(shell_word("error,warning").unwrap(), "error,warning");
        for value in ["it's", "a b,c*", "x,,y", "$.a == \"q\"", "tail,"] {
            let word = shell_word(value).unwrap();
            assert_eq!(
                shlex::split(&word),
                Some(vec![value.to_owned()]),
                "{value} -> {word}"
            );
        }
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
}
