//! [`page_schema`]: the fields seen in a page of event payloads (SPEC §6.1 `schema`), for the explorer's field
//! picker and for writing `jsonPath` filters.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// The most fields one schema lists. Beyond it, new paths are ignored (fields already listed keep counting), so a
/// page of payloads with thousands of distinct keys still yields a bounded response. Which 200 are kept follows
/// the order of the page, then the order within each payload, so it is deterministic.
pub const MAX_SCHEMA_FIELDS: usize = 200;

/// How deep paths go: `a` is depth 1, `a.b` and `a[*]` depth 2. Deeper values are not listed. Sixteen levels
/// cover any hand-written payload and keep every generated `jsonPath` within the filter's own nesting limit.
pub const MAX_SCHEMA_DEPTH: usize = 16;

/// The most example values per field.
pub const MAX_SCHEMA_EXAMPLES: usize = 5;

/// Example strings longer than this many characters are cut to it.
pub const MAX_SCHEMA_EXAMPLE_CHARS: usize = 200;

/// JSON types as JSON Schema names them, in the order a field lists them (alphabetical).
const TYPE_NAMES: [&str; 6] = ["array", "boolean", "null", "number", "object", "string"];

/// What has been seen at one path.
#[derive(Default)]
struct FieldStats {
    /// Payloads in which the path appears at least once.
    occurrences: usize,
    /// The last payload (by index) counted in `occurrences`.
    last_sample: Option<usize>,
    /// Bit `i` set when a value of `TYPE_NAMES[i]` was seen.
    types: u8,
    /// Distinct scalar values, first seen first.
    examples: Vec<Value>,
}

/// The schema of a page of payloads.
///
/// # Format
/// ```json
/// {"totalSamples": 2, "fields": [
///   {"path": "\"first name\"", "jsonPath": "$.\"first name\"", "occurrences": 2, "types": ["string"],
///    "examples": ["Ada"]},
///   {"path": "items", "jsonPath": "$.items", "occurrences": 1, "types": ["array"], "examples": []},
///   {"path": "items[*]", "jsonPath": "$.items[*]", "occurrences": 1, "types": ["object"], "examples": []},
///   {"path": "items[*].qty", "jsonPath": "$.items[*].qty", "occurrences": 1, "types": ["number"],
///    "examples": [3]}]}
/// ```
/// - `totalSamples` is the number of payloads.
/// - Every path that holds a value is a field, objects and arrays included: object members descend as `.key`,
///   array elements as `[*]`. A key that is not a plain identifier (`[A-Za-z_][A-Za-z0-9_]*`) is written as a
///   SQL/JSON string literal, `"first name"`, escaping `"`, `\` and control characters, so that `jsonPath`
///   can be pasted into the `jsonPath` filter as it is. `path` is `jsonPath` without its leading `$` and `.`.
///   (Control characters other than `\b \t \n \f \r` become `\uXXXX`: standard SQL/JSON, which PostgreSQL
///   reads but `sql-json-path` 0.2, Herald's own filter parser, does not yet.)
/// - `occurrences` counts payloads in which the path appears at least once, not array elements.
/// - `types` are JSON Schema's names (`string`, `number`, `boolean`, `null`, `object`, `array`; integers are
///   `number`), sorted alphabetically.
/// - `examples` holds up to [`MAX_SCHEMA_EXAMPLES`] distinct scalar values (strings, numbers, booleans, `null`)
///   in first-seen order, strings cut to [`MAX_SCHEMA_EXAMPLE_CHARS`] characters. Objects and arrays give none.
/// - Fields are sorted by `path` (byte order); at most [`MAX_SCHEMA_FIELDS`] fields and [`MAX_SCHEMA_DEPTH`]
///   levels are listed.
///
/// Each payload is walked with an explicit stack, so nesting depth cannot overflow the thread's stack.
pub fn page_schema<'a>(payloads: impl IntoIterator<Item = &'a Value>) -> Value {
    let mut fields: BTreeMap<String, FieldStats> = BTreeMap::new();
    let mut total_samples = 0usize;
    for (sample, payload) in payloads.into_iter().enumerate() {
        total_samples += 1;
        record_payload(&mut fields, sample, payload);
    }
    let fields: Vec<Value> = fields
        .into_iter()
        .map(|(json_path, stats)| field_json(json_path, stats))
        .collect();
    let mut schema = Map::new();
    schema.insert("totalSamples".to_owned(), Value::from(total_samples));
    schema.insert("fields".to_owned(), Value::Array(fields));
    Value::Object(schema)
}

/// Adds every path of one payload to `fields`.
fn record_payload(fields: &mut BTreeMap<String, FieldStats>, sample: usize, payload: &Value) {
    // (jsonPath, value, depth); the root itself ($) is not a field.
    let mut stack: Vec<(String, &Value, usize)> = vec![("$".to_owned(), payload, 0)];
    while let Some((json_path, value, depth)) = stack.pop() {
        if depth > 0 {
            record_value(fields, sample, &json_path, value);
        }
        if depth >= MAX_SCHEMA_DEPTH {
            continue;
        }
        match value {
            Value::Object(members) => {
                // Reversed, so that the first member is popped (recorded) first.
                for (key, member) in members.iter().rev() {
                    stack.push((member_path(&json_path, key), member, depth + 1));
                }
            }
            Value::Array(items) => {
                let element_path = format!("{json_path}[*]");
                for item in items.iter().rev() {
                    stack.push((element_path.clone(), item, depth + 1));
                }
            }
            _ => {}
        }
    }
}

/// Counts one value at one path.
fn record_value(
    fields: &mut BTreeMap<String, FieldStats>,
    sample: usize,
    json_path: &str,
    value: &Value,
) {
    if !fields.contains_key(json_path) {
        if fields.len() >= MAX_SCHEMA_FIELDS {
            return;
        }
        fields.insert(json_path.to_owned(), FieldStats::default());
    }
    let Some(stats) = fields.get_mut(json_path) else {
        return;
    };
    if stats.last_sample != Some(sample) {
        stats.last_sample = Some(sample);
        stats.occurrences += 1;
    }
    let type_name = type_name(value);
    if let Some(bit) = TYPE_NAMES.iter().position(|name| *name == type_name) {
        stats.types |= 1 << bit;
    }
    if stats.examples.len() < MAX_SCHEMA_EXAMPLES
        && let Some(example) = example_of(value)
        && !stats.examples.contains(&example)
    {
        stats.examples.push(example);
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A scalar's example form (strings cut to length); `None` for objects and arrays.
fn example_of(value: &Value) -> Option<Value> {
    match value {
        Value::String(text) => Some(Value::from(
            text.chars()
                .take(MAX_SCHEMA_EXAMPLE_CHARS)
                .collect::<String>(),
        )),
        Value::Null | Value::Bool(_) | Value::Number(_) => Some(value.clone()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// The path of member `key` of the value at `parent`: `parent.key`, or `parent."key"` when `key` is not a plain
/// identifier.
fn member_path(parent: &str, key: &str) -> String {
    let mut path = String::with_capacity(parent.len() + key.len() + 3);
    path.push_str(parent);
    path.push('.');
    if is_plain_identifier(key) {
        path.push_str(key);
    } else {
        push_quoted(&mut path, key);
    }
    path
}

fn is_plain_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Appends `key` as a SQL/JSON path string literal (JSON string escapes).
fn push_quoted(path: &mut String, key: &str) {
    path.push('"');
    for c in key.chars() {
        match c {
            '"' => path.push_str("\\\""),
            '\\' => path.push_str("\\\\"),
            '\n' => path.push_str("\\n"),
            '\r' => path.push_str("\\r"),
            '\t' => path.push_str("\\t"),
            '\u{0008}' => path.push_str("\\b"),
            '\u{000C}' => path.push_str("\\f"),
            // Writing to a String cannot fail.
            c if c.is_control() => {
                let _ = write!(path, "\\u{:04x}", u32::from(c));
            }
            c => path.push(c),
        }
    }
    path.push('"');
}

fn field_json(json_path: String, stats: FieldStats) -> Value {
    let path = json_path
        .strip_prefix("$.")
        .or_else(|| json_path.strip_prefix('$'))
        .unwrap_or(&json_path)
        .to_owned();
    let types: Vec<Value> = TYPE_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| stats.types & (1 << bit) != 0)
        .map(|(_, name)| Value::from(*name))
        .collect();
    let mut field = Map::new();
    field.insert("path".to_owned(), Value::from(path));
    field.insert("jsonPath".to_owned(), Value::from(json_path));
    field.insert("occurrences".to_owned(), Value::from(stats.occurrences));
    field.insert("types".to_owned(), Value::Array(types));
    field.insert("examples".to_owned(), Value::Array(stats.examples));
    Value::Object(field)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::insights::walk::{drop_flat, nested_arrays};
    use crate::jsonpath::JsonPath;

    /// The field at `path`, which must exist.
    fn field<'s>(schema: &'s Value, path: &str) -> &'s Value {
        schema["fields"]
            .as_array()
            .and_then(|fields| fields.iter().find(|field| field["path"] == path))
            .unwrap_or_else(|| panic!("no field {path} in {schema:#}"))
    }

    fn paths(schema: &Value) -> Vec<String> {
        schema["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn every_path_is_listed_with_its_json_path_sorted_by_path() {
        let payload = json!({"customer": {"id": "c-1"}, "items": [{"qty": 3}], "tags": ["a"]});
        let schema = page_schema([&payload]);
        assert_eq!(schema["totalSamples"], 1);
        assert_eq!(
            paths(&schema),
            [
                "customer",
                "customer.id",
                "items",
                "items[*]",
                "items[*].qty",
                "tags",
                "tags[*]"
            ]
        );
        assert_eq!(
            field(&schema, "items[*].qty"),
            &json!({"path": "items[*].qty", "jsonPath": "$.items[*].qty", "occurrences": 1, "types": ["number"],
                    "examples": [3]})
        );
        assert_eq!(field(&schema, "customer")["types"], json!(["object"]));
        assert_eq!(field(&schema, "customer")["examples"], json!([]));
        assert_eq!(field(&schema, "tags")["types"], json!(["array"]));
        assert_eq!(field(&schema, "tags[*]")["examples"], json!(["a"]));
    }

    #[test]
    fn a_top_level_array_starts_its_paths_with_an_element_step() {
        let schema = page_schema([&json!([{"a": 1}])]);
        assert_eq!(paths(&schema), ["[*]", "[*].a"]);
        assert_eq!(field(&schema, "[*].a")["jsonPath"], "$[*].a");
    }

    #[test]
    fn keys_that_are_not_identifiers_are_quoted_and_escaped() {
        let payload = json!({"first name": 1, "say \"hi\"": 2, "back\\slash": 3, "1st": 4, "line\nbreak": 5, "_ok9": 6});
        let schema = page_schema([&payload]);
        assert_eq!(
            field(&schema, "\"first name\"")["jsonPath"],
            "$.\"first name\""
        );
        assert_eq!(
            field(&schema, r#""say \"hi\"""#)["jsonPath"],
            r#"$."say \"hi\"""#
        );
        assert_eq!(
            field(&schema, r#""back\\slash""#)["jsonPath"],
            r#"$."back\\slash""#
        );
        assert_eq!(field(&schema, "\"1st\"")["jsonPath"], "$.\"1st\"");
        assert_eq!(
            field(&schema, r#""line\nbreak""#)["jsonPath"],
            r#"$."line\nbreak""#
        );
        assert_eq!(field(&schema, "_ok9")["jsonPath"], "$._ok9");
        let schema = page_schema([&json!({"bell\u{7}": 1})]);
        assert_eq!(paths(&schema), [r#""bell\u0007""#]);
    }

    #[test]
    fn every_json_path_selects_its_field_in_the_filter_language() {
        let payload = json!({
            "first name": "Ada", "say \"hi\"": 1, "back\\slash": 2, "tab\there": 1, "items": [{"qty": 3}],
            "type": 1, "size": 1, "last": 1, "true": 1, "null": 1, "exists": 1, "strict": 1, "lax": 1,
            "like_regex": 1, "is": 1, "to": 1, "flag": 1, "datetime": 1, "keyvalue": 1, "double": 1,
            "starts": 1, "with": 1, "unknown": 1, "false": 1
        });
        let schema = page_schema([&payload]);
        for field in schema["fields"].as_array().unwrap() {
            let text = field["jsonPath"].as_str().unwrap();
            let path = JsonPath::parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert!(path.matches(&payload), "{text} selects nothing");
        }
    }

    #[test]
    fn occurrences_count_payloads_not_array_elements() {
        let first = json!({"items": [{"qty": 1}, {"qty": 2}, {"qty": 3}]});
        let second = json!({"items": []});
        let third = json!({"items": [{"qty": 4}]});
        let schema = page_schema([&first, &second, &third]);
        assert_eq!(schema["totalSamples"], 3);
        assert_eq!(field(&schema, "items")["occurrences"], 3);
        assert_eq!(field(&schema, "items[*].qty")["occurrences"], 2);
    }

    #[test]
    fn types_are_json_schema_names_sorted_and_integers_are_numbers() {
        let payloads = [
            json!({"v": "x"}),
            json!({"v": 1}),
            json!({"v": 1.5}),
            json!({"v": null}),
            json!({"v": true}),
        ];
        let schema = page_schema(&payloads);
        assert_eq!(
            field(&schema, "v")["types"],
            json!(["boolean", "null", "number", "string"])
        );
        let schema = page_schema([&json!({"v": [1]}), &json!({"v": {}})]);
        assert_eq!(field(&schema, "v")["types"], json!(["array", "object"]));
    }

    #[test]
    fn examples_are_distinct_scalars_capped_at_five_and_strings_are_cut() {
        let payloads: Vec<Value> = [1, 1, 2, 3, 4, 5, 6]
            .iter()
            .map(|n| json!({"n": n}))
            .collect();
        let schema = page_schema(&payloads);
        assert_eq!(field(&schema, "n")["examples"], json!([1, 2, 3, 4, 5]));

        let long = "x".repeat(MAX_SCHEMA_EXAMPLE_CHARS + 50);
        let schema = page_schema([&json!({"s": long, "b": false, "z": null})]);
        assert_eq!(
            field(&schema, "s")["examples"],
            json!(["x".repeat(MAX_SCHEMA_EXAMPLE_CHARS)])
        );
        assert_eq!(field(&schema, "b")["examples"], json!([false]));
        assert_eq!(field(&schema, "z")["examples"], json!([null]));
    }

    #[test]
    fn an_empty_page_has_no_fields() {
        assert_eq!(page_schema([]), json!({"totalSamples": 0, "fields": []}));
        assert_eq!(
            page_schema([&json!({}), &json!(7)]),
            json!({"totalSamples": 2, "fields": []})
        );
    }

    #[test]
    fn fields_are_capped_keeping_the_first_seen_paths() {
        let wide: Map<String, Value> = (0..MAX_SCHEMA_FIELDS + 10)
            .map(|i| (format!("k{i:03}"), json!(i)))
            .collect();
        let wide = Value::Object(wide);
        let later = json!({"a": 1, "k000": 2});
        let schema = page_schema([&wide, &later]);
        let paths = paths(&schema);
        assert_eq!(paths.len(), MAX_SCHEMA_FIELDS);
        assert!(
            !paths.contains(&"a".to_owned()),
            "a new path after the cap is ignored"
        );
        assert_eq!(
            field(&schema, "k000")["occurrences"],
            2,
            "a listed path keeps counting"
        );
    }

    #[test]
    fn paths_stop_at_the_maximum_depth() {
        let deep = nested_arrays(MAX_SCHEMA_DEPTH + 4, json!(1));
        let schema = page_schema([&deep]);
        let deepest = paths(&schema).into_iter().max_by_key(String::len).unwrap();
        assert_eq!(deepest, "[*]".repeat(MAX_SCHEMA_DEPTH));
    }

    #[test]
    fn a_ten_thousand_deep_array_does_not_overflow_the_stack() {
        let deep = nested_arrays(10_000, json!({"a": 1}));
        let schema = page_schema([&deep]);
        drop_flat(deep);
        assert_eq!(schema["fields"].as_array().unwrap().len(), MAX_SCHEMA_DEPTH);
    }

    #[test]
    fn the_documented_example_is_what_a_page_produces() {
        let payloads = [
            json!({"first name": "Ada", "items": [{"qty": 3}]}),
            json!({"first name": "Ada"}),
        ];
        let expected = json!({"totalSamples": 2, "fields": [
          {"path": "\"first name\"", "jsonPath": "$.\"first name\"", "occurrences": 2, "types": ["string"],
           "examples": ["Ada"]},
          {"path": "items", "jsonPath": "$.items", "occurrences": 1, "types": ["array"], "examples": []},
          {"path": "items[*]", "jsonPath": "$.items[*]", "occurrences": 1, "types": ["object"], "examples": []},
          {"path": "items[*].qty", "jsonPath": "$.items[*].qty", "occurrences": 1, "types": ["number"],
           "examples": [3]}]});
        assert_eq!(page_schema(&payloads), expected);
    }
}
