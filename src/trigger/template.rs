//! Templates (SPEC §5.4): `parameterTemplate`, `idempotencyKey`, `runKeyTemplate` and a webhook `body`.
//!
//! A template is JSON whose string leaves may hold `{{ path | filter | … }}` placeholders, over the scope
//! `{event, trigger, now}` ([`scope`]): `{{ event.payload.key }}`, `{{ trigger.id }}`, `{{ now }}`. Path segments are
//! object keys, or array indexes when numeric (`event.payload.items.0.sku`). Filters: `json` (the value as JSON
//! text), `default: x` (used when the value is missing or `null`; `x` is a JSON literal, or a bare word read as a
//! string), `upcase`, `downcase` (strings only; other values pass unchanged).
//!
//! A string that is exactly one placeholder keeps the JSON type of its value (`"{{ event.payload.version }}"`
//! renders the number `12`); anywhere else a value is interpolated as text (strings as they are, other values as
//! compact JSON).
//!
//! A missing value without `default`: [`Template::check`] (at create time, against `sampleEvent`) refuses it,
//! naming the field and the path, because a template that cannot resolve on the sample is almost always a typo;
//! [`Template::render`] (at delivery time, where a refusal would lose the delivery) renders it as `null` for a
//! whole-string placeholder and as empty text inside a string.
//!
//! Templates are parsed once ([`Template::compile`]) and rendered many times.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::domain::{ValidationError, format_timestamp};

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    field: String,
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A JSON value without placeholders.
    Literal(Value),
    /// A string with placeholders.
    Text(Vec<Segment>),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Placeholder(Placeholder),
}

#[derive(Debug, Clone, PartialEq)]
struct Placeholder {
    /// As written, for messages.
    source: String,
    path: Vec<String>,
    filters: Vec<Filter>,
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Json,
    Default(Value),
    Upcase,
    Downcase,
}

/// The scope templates render over: `{event, trigger, now}`.
pub fn scope(event: &Value, trigger: &Value, now: DateTime<Utc>) -> Value {
    serde_json::json!({ "event": event, "trigger": trigger, "now": format_timestamp(now) })
}

impl Template {
    /// Compiles `value` (any JSON; its strings are templates) for the definition field `field`.
    ///
    /// # Errors
    /// `invalid_field` naming `field` for an unclosed `{{`, an empty placeholder, or an unknown filter.
    pub fn compile(field: &str, value: &Value) -> Result<Template, ValidationError> {
        Ok(Template {
            field: field.to_owned(),
            root: node(field, value)?,
        })
    }

    /// Renders at delivery time: a missing value without `default` is `null` (whole-string) or empty text.
    pub fn render(&self, scope: &Value) -> Value {
        // A lenient render cannot fail.
        render(&self.root, scope, false).unwrap_or(Value::Null)
    }

    /// Renders at create time against a sample scope, refusing a missing value without `default`.
    ///
    /// # Errors
    /// `invalid_field` naming the field and the placeholder that did not resolve.
    pub fn check(&self, scope: &Value) -> Result<Value, ValidationError> {
        render(&self.root, scope, true).map_err(|placeholder| {
            ValidationError::invalid(
                &self.field,
                format!(
                    "has `{{{{ {placeholder} }}}}`, which finds nothing in `sampleEvent` (add `| default: …` if it may be absent)"
                ),
            )
        })
    }

    /// [`Template::render`] as text: a string as it is, anything else as compact JSON (an idempotency key, a run
    /// key).
    pub fn render_text(&self, scope: &Value) -> String {
        text_of(&self.render(scope))
    }
}

fn node(field: &str, value: &Value) -> Result<Node, ValidationError> {
    Ok(match value {
        Value::String(s) if s.contains("{{") => Node::Text(parse_text(field, s)?),
        Value::Array(items) if has_placeholder(value) => Node::Array(
            items
                .iter()
                .map(|item| node(field, item))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(members) if has_placeholder(value) => Node::Object(
            members
                .iter()
                .map(|(key, item)| Ok((key.clone(), node(field, item)?)))
                .collect::<Result<_, ValidationError>>()?,
        ),
        other => Node::Literal(other.clone()),
    })
}

fn has_placeholder(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("{{"),
        Value::Array(items) => items.iter().any(has_placeholder),
        Value::Object(members) => members.values().any(has_placeholder),
        _ => false,
    }
}

fn parse_text(field: &str, text: &str) -> Result<Vec<Segment>, ValidationError> {
    let mut segments = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            segments.push(Segment::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| {
            ValidationError::invalid(field, format!("has a `{{{{` without `}}}}` in `{text}`"))
        })?;
        segments.push(Segment::Placeholder(parse_placeholder(
            field,
            &after[..end],
        )?));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest.to_owned()));
    }
    Ok(segments)
}

fn parse_placeholder(field: &str, inner: &str) -> Result<Placeholder, ValidationError> {
    let mut parts = inner.split('|').map(str::trim);
    let path_text = parts.next().unwrap_or_default();
    if path_text.is_empty() || path_text.split('.').any(str::is_empty) {
        return Err(ValidationError::invalid(
            field,
            format!("has a placeholder without a valid path: `{{{{{inner}}}}}`"),
        ));
    }
    let filters = parts
        .map(|filter| parse_filter(field, filter))
        .collect::<Result<_, _>>()?;
    Ok(Placeholder {
        source: inner.trim().to_owned(),
        path: path_text.split('.').map(str::to_owned).collect(),
        filters,
    })
}

fn parse_filter(field: &str, filter: &str) -> Result<Filter, ValidationError> {
    match filter {
        "json" => return Ok(Filter::Json),
        "upcase" => return Ok(Filter::Upcase),
        "downcase" => return Ok(Filter::Downcase),
        _ => {}
    }
    if let Some(argument) = filter.strip_prefix("default:") {
        let argument = argument.trim();
        let value =
            serde_json::from_str(argument).unwrap_or_else(|_| Value::String(argument.to_owned()));
        return Ok(Filter::Default(value));
    }
    Err(ValidationError::invalid(
        field,
        format!("uses the unknown filter `{filter}` (filters: json, default: x, upcase, downcase)"),
    ))
}

/// Renders a node; in `strict` mode a missing value without a default is an error carrying the placeholder.
fn render(node: &Node, scope: &Value, strict: bool) -> Result<Value, String> {
    Ok(match node {
        Node::Literal(value) => value.clone(),
        Node::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| render(item, scope, strict))
                .collect::<Result<_, _>>()?,
        ),
        Node::Object(members) => Value::Object(
            members
                .iter()
                .map(|(key, item)| Ok((key.clone(), render(item, scope, strict)?)))
                .collect::<Result<Map<_, _>, String>>()?,
        ),
        Node::Text(segments) => match segments.as_slice() {
            [Segment::Placeholder(placeholder)] => {
                resolve(placeholder, scope, strict)?.unwrap_or(Value::Null)
            }
            _ => {
                let mut out = String::new();
                for segment in segments {
                    match segment {
                        Segment::Text(text) => out.push_str(text),
                        Segment::Placeholder(placeholder) => {
                            if let Some(value) = resolve(placeholder, scope, strict)? {
                                out.push_str(&text_of(&value));
                            }
                        }
                    }
                }
                Value::String(out)
            }
        },
    })
}

/// A placeholder's value after its filters; `None` when missing without a default (lenient mode).
fn resolve(
    placeholder: &Placeholder,
    scope: &Value,
    strict: bool,
) -> Result<Option<Value>, String> {
    let mut value = lookup(scope, &placeholder.path)
        .filter(|v| !v.is_null())
        .cloned();
    for filter in &placeholder.filters {
        value = match (filter, value) {
            (Filter::Default(fallback), None) => Some(fallback.clone()),
            (_, None) => None,
            (Filter::Json, Some(v)) => Some(Value::String(v.to_string())),
            (Filter::Upcase, Some(Value::String(s))) => Some(Value::String(s.to_uppercase())),
            (Filter::Downcase, Some(Value::String(s))) => Some(Value::String(s.to_lowercase())),
            (_, Some(v)) => Some(v),
        };
    }
    if value.is_none() && strict {
        return Err(placeholder.source.clone());
    }
    Ok(value)
}

fn lookup<'v>(scope: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(scope, |value, segment| match value {
        Value::Object(members) => members.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn sample() -> Value {
        let event = json!({"id": "e-1", "type": "metastore.record.updated",
            "payload": {"key": "Flags/Beta", "version": 12, "items": [{"sku": "a-1"}], "note": null}});
        let trigger = json!({"id": "t-1", "name": "Refresh"});
        scope(
            &event,
            &trigger,
            Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(),
        )
    }

    fn render(template: Value) -> Value {
        Template::compile("parameterTemplate", &template)
            .unwrap()
            .check(&sample())
            .unwrap()
    }

    #[test]
    fn a_whole_string_placeholder_keeps_the_json_type() {
        assert_eq!(render(json!("{{ event.payload.version }}")), json!(12));
        assert_eq!(
            render(json!("{{event.payload.items}}")),
            json!([{"sku": "a-1"}])
        );
        assert_eq!(render(json!("v{{ event.payload.version }}")), json!("v12"));
    }

    #[test]
    fn objects_and_arrays_render_leaf_by_leaf() {
        assert_eq!(
            render(
                json!({"key": "{{ event.payload.key }}", "sku": "{{ event.payload.items.0.sku }}",
                          "fixed": [1, "{{ trigger.name }}"], "at": "{{ now }}"})
            ),
            json!({"key": "Flags/Beta", "sku": "a-1", "fixed": [1, "Refresh"], "at": "2026-12-01T12:00:00.000Z"})
        );
    }

    #[test]
    fn filters() {
        assert_eq!(
            render(json!("{{ event.payload.key | upcase }}")),
            json!("FLAGS/BETA")
        );
        assert_eq!(
            render(json!("{{ event.payload.key | downcase }}")),
            json!("flags/beta")
        );
        assert_eq!(
            render(json!("{{ event.payload.items | json }}")),
            json!(r#"[{"sku":"a-1"}]"#)
        );
        assert_eq!(
            render(json!("{{ event.payload.missing | default: 7 }}")),
            json!(7)
        );
        assert_eq!(
            render(json!("{{ event.payload.note | default: none }}")),
            json!("none")
        );
        assert_eq!(
            render(json!(
                "{{ event.payload.missing | default: \"x\" | upcase }}"
            )),
            json!("X")
        );
        assert_eq!(
            render(json!("{{ trigger.id }}-{{ event.id }}")),
            json!("t-1-e-1")
        );
    }

    #[test]
    fn a_missing_value_is_refused_at_check_and_empty_at_delivery() {
        let template =
            Template::compile("idempotencyKey", &json!("k-{{ event.payload.typo }}")).unwrap();
        let error = template.check(&sample()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("idempotencyKey"));
        assert!(
            error.message.contains("event.payload.typo"),
            "{}",
            error.message
        );
        assert_eq!(template.render(&sample()), json!("k-"));
        let whole = Template::compile("body", &json!("{{ event.nothing }}")).unwrap();
        assert_eq!(whole.render(&sample()), Value::Null);
        assert_eq!(template.render_text(&sample()), "k-");
    }

    #[test]
    fn malformed_templates_are_refused_at_compile_time() {
        for bad in [
            "{{ event.id",
            "{{ }}",
            "{{ event..id }}",
            "{{ event.id | shout }}",
        ] {
            let error = Template::compile("runKeyTemplate", &json!(bad)).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("runKeyTemplate"), "{bad}");
        }
    }
}
