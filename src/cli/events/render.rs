//! What `herald events` prints for people: the `list` table (laid out by comfy-table) and the `get` view.

use comfy_table::presets::NOTHING;
use comfy_table::{ColumnConstraint, ContentArrangement, Row, Table, Width};
use serde_json::Value;

/// Spaces between table columns.
const COLUMN_GAP: u16 = 2;

/// A table column: its title and the width past which its values are cut with `…` (`None`: never cut; only
/// sensible for the last column, which pads nothing after it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    /// The header.
    pub(crate) title: &'static str,
    /// The widest a cell may be (cut with `…`); `None`: never cut.
    pub(crate) max_width: Option<u16>,
}

/// The columns of `events list`. The id comes last and is never cut: it is what people copy into `events get`.
pub(super) const EVENT_COLUMNS: [Column; 6] = [
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
pub(super) fn event_row(event: &Value) -> Vec<String> {
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

/// Renders `rows` under `columns`: each column as wide as its widest cell (title included, capped at its
/// `max_width`, a longer value cut to one line ending in `…`), columns two spaces apart, no borders, no trailing
/// spaces; one line per row, each ending in `\n`. The terminal's width plays no part, so output is the same in a
/// pipe, a test and a terminal.
pub(crate) fn render_table(columns: &[Column], rows: &[Vec<String>]) -> String {
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_truncation_indicator("…")
        .set_header(columns.iter().map(|column| column.title));
    for cells in rows {
        let mut row = Row::from(cells);
        row.max_height(1);
        table.add_row(row);
    }
    let last = columns.len().saturating_sub(1);
    for (i, (column, spec)) in table.column_iter_mut().zip(columns).enumerate() {
        // The gap is the right padding of every column but the last, so the width cap includes it.
        let gap = if i == last { 0 } else { COLUMN_GAP };
        column.set_padding((0, gap));
        if let Some(max) = spec.max_width {
            column.set_constraint(ColumnConstraint::UpperBoundary(Width::Fixed(max + gap)));
        }
    }
    let mut text = String::new();
    for line in table.lines() {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
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
pub(super) fn render_event(event: &Value) -> String {
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

/// Writes one page of a list answer: one JSON object per line for scripts (`json`), else a table of `row` for
/// people, followed by `more` when the server has more than the page held.
///
/// # Errors
/// Stdout could not be written.
pub(crate) fn write_list(
    out: &mut impl std::io::Write,
    items: &[serde_json::Value],
    json: bool,
    columns: &[Column],
    row: impl Fn(&serde_json::Value) -> Vec<String>,
    more: Option<String>,
) -> std::io::Result<()> {
    if json {
        for item in items {
            writeln!(out, "{item}")?;
        }
        return out.flush();
    }
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    out.write_all(render_table(columns, &rows).as_bytes())?;
    if let Some(more) = more {
        writeln!(out, "{more}")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn column(title: &'static str, max_width: Option<u16>) -> Column {
        Column { title, max_width }
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
}
