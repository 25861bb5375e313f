//! [`EventFilter`]: the filters an operator narrows events with (`type`, `source`, `correlationId`, `severity`,
//! `jsonPath`), with one meaning everywhere: the events list (SPEC §6.1), saved views (§6.8) and live WebSocket
//! subscriptions (§7).
//!
//! The events list pushes a filter into SQL (storage imports this module, never the reverse); a WebSocket session evaluates it here, in Rust, with
//! [`EventFilter::matches`]. Both read the same parsed filter, so they cannot disagree on what a filter means: type
//! and source patterns compile to one regular expression that PostgreSQL and Rust read alike, and `jsonPath` is
//! checked by [`JsonPath::parse`] on both databases.

use serde_json::{Map, Value};

use crate::domain::{
    CorrelationId, ErrorCode, NameKind, NamePattern, Severity, StoredEvent, ValidationError,
};
use crate::jsonpath::JsonPath;

/// The filter names, as query parameters and as keys of a WebSocket `subscribe`'s `filters`.
pub const FILTER_FIELDS: [&str; 5] = ["type", "source", "correlationId", "severity", "jsonPath"];

/// A parsed event filter; every part is optional and all given parts must hold.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// `type`: an exact type or a pattern (`metastore.record.*`).
    pub event_type: Option<NamePattern>,
    /// `source`: an exact source or a pattern (`/sensors/*`).
    pub source: Option<NamePattern>,
    /// `correlationId`, exact.
    pub correlation_id: Option<CorrelationId>,
    /// `severity`: any of these (empty = any severity).
    pub severities: Vec<Severity>,
    /// `jsonPath` over the payload.
    pub json_path: Option<JsonPath>,
}

impl EventFilter {
    /// Builds a filter from named string values (a query string's parameters). `get` answers a non-empty value
    /// for a name, or `None`.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field: `invalid_pattern`, `invalid_parameter` (correlation id, severity)
    /// or `invalid_json_path`.
    pub fn from_fields<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<EventFilter, ValidationError> {
        let event_type = get("type")
            .map(|t| NamePattern::parse(t, NameKind::Type, "type"))
            .transpose()?;
        let source = get("source")
            .map(|s| NamePattern::parse(s, NameKind::Source, "source"))
            .transpose()?;
        let correlation_id = get("correlationId")
            .map(|c| {
                CorrelationId::parse_field(c.to_owned(), "correlationId").map_err(|e| {
                    ValidationError::new(
                        ErrorCode::InvalidParameter,
                        Some("correlationId".to_owned()),
                        e.message,
                    )
                })
            })
            .transpose()?;
        let severities = get("severity")
            .map(|s| Severity::parse_list(s, "severity"))
            .transpose()?
            .unwrap_or_default();
        let json_path = get("jsonPath")
            .map(|p| JsonPath::parse(p).map_err(|e| e.into_validation_error("jsonPath")))
            .transpose()?;
        Ok(EventFilter {
            event_type,
            source,
            correlation_id,
            severities,
            json_path,
        })
    }

    /// Builds a filter from a JSON object (`subscribe`'s `filters`, a saved view). Each value is a string;
    /// `severity` may also be an array of strings. `null` or `""` means "not filtered".
    ///
    /// # Errors
    /// `unknown_field` for a key outside [`FILTER_FIELDS`], `invalid_field` for a value of the wrong JSON type, and
    /// the errors of [`EventFilter::from_fields`]. Fields are named `filters.<name>`.
    pub fn from_json(filters: &Map<String, Value>) -> Result<EventFilter, ValidationError> {
        let mut fields: Vec<(&str, String)> = Vec::new();
        for (name, value) in filters {
            if !FILTER_FIELDS.contains(&name.as_str()) {
                return Err(ValidationError::new(
                    ErrorCode::UnknownField,
                    Some(format!("filters.{name}")),
                    format!(
                        "unknown filter {name:?}; filters are {}",
                        FILTER_FIELDS.join(", ")
                    ),
                ));
            }
            let text = match value {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                Value::Array(items) if name == "severity" => {
                    let mut names = Vec::with_capacity(items.len());
                    for item in items {
                        let Some(s) = item.as_str() else {
                            return Err(wrong_type(name));
                        };
                        names.push(s);
                    }
                    names.join(",")
                }
                _ => return Err(wrong_type(name)),
            };
            if !text.is_empty() {
                fields.push((name.as_str(), text));
            }
        }
        EventFilter::from_fields(|name| {
            fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        })
        .map_err(|mut e| {
            e.field = e.field.map(|f| format!("filters.{f}"));
            e
        })
    }

    /// Whether nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.event_type.is_none()
            && self.source.is_none()
            && self.correlation_id.is_none()
            && self.severities.is_empty()
            && self.json_path.is_none()
    }

    /// Whether `event` passes every part of the filter (the `jsonPath` evaluated by Herald, under its budget; an
    /// evaluation error is no match).
    pub fn matches(&self, event: &StoredEvent) -> bool {
        let e = &event.envelope;
        self.event_type
            .as_ref()
            .is_none_or(|p| p.matches(e.event_type.as_str()))
            && self
                .source
                .as_ref()
                .is_none_or(|p| p.matches(e.source.as_str()))
            && self
                .correlation_id
                .as_ref()
                .is_none_or(|c| e.correlation_id.as_ref() == Some(c))
            && (self.severities.is_empty() || self.severities.contains(&event.severity))
            && self
                .json_path
                .as_ref()
                .is_none_or(|p| p.matches(&e.payload))
    }

    /// Whether only the parts SQL can check exactly, without a pattern or path, are set (a database without
    /// regular expressions or SQL/JSON path needs Herald to check the rest row by row).
    pub fn needs_row_check(&self) -> bool {
        self.json_path.is_some()
            || self
                .event_type
                .as_ref()
                .is_some_and(|p| p.exact().is_none())
            || self.source.as_ref().is_some_and(|p| p.exact().is_none())
    }
}

fn wrong_type(name: &str) -> ValidationError {
    ValidationError::new(
        ErrorCode::InvalidField,
        Some(format!("filters.{name}")),
        format!("filter {name:?} must be a string"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(body: Value, severity: Severity) -> StoredEvent {
        StoredEvent {
            severity,
            ..StoredEvent::sample(body, 1)
        }
    }

    fn filter(filters: Value) -> Result<EventFilter, ValidationError> {
        EventFilter::from_json(filters.as_object().unwrap())
    }

    #[test]
    fn every_given_part_must_hold() {
        let e = event(
            json!({"type": "metastore.record.updated", "source": "metastore.api",
                   "correlationId": "c-1", "payload": {"version": 12}}),
            Severity::Warning,
        );
        assert!(filter(json!({})).unwrap().matches(&e));
        assert!(
            filter(
                json!({"type": "metastore.record.*", "source": "metastore.api",
                               "correlationId": "c-1", "severity": "warning,error",
                               "jsonPath": "$.version > 10"})
            )
            .unwrap()
            .matches(&e)
        );
        for miss in [
            json!({"type": "metastore.*"}),
            json!({"source": "other.api"}),
            json!({"correlationId": "c-2"}),
            json!({"severity": ["info"]}),
            json!({"jsonPath": "$.version > 20"}),
            json!({"jsonPath": "$.missing"}),
        ] {
            assert!(!filter(miss.clone()).unwrap().matches(&e), "{miss}");
        }
    }

    #[test]
    fn bad_filters_name_the_field_under_filters() {
        for (filters, code, field) in [
            (
                json!({"kind": "x"}),
                ErrorCode::UnknownField,
                "filters.kind",
            ),
            (json!({"type": 3}), ErrorCode::InvalidField, "filters.type"),
            (
                json!({"type": "meta*"}),
                ErrorCode::InvalidPattern,
                "filters.type",
            ),
            (
                json!({"severity": "loud"}),
                ErrorCode::InvalidParameter,
                "filters.severity",
            ),
            (
                json!({"severity": [1]}),
                ErrorCode::InvalidField,
                "filters.severity",
            ),
            (
                json!({"jsonPath": "$.a ==="}),
                ErrorCode::InvalidJsonPath,
                "filters.jsonPath",
            ),
        ] {
            let err = filter(filters.clone()).unwrap_err();
            assert_eq!(err.code, code, "{filters}");
            assert_eq!(err.field.as_deref(), Some(field), "{filters}");
        }
    }

    #[test]
    fn only_patterns_and_paths_need_a_row_by_row_check() {
        assert!(
            !filter(json!({"type": "a.b", "severity": "error"}))
                .unwrap()
                .needs_row_check()
        );
        assert!(filter(json!({"type": "a.*"})).unwrap().needs_row_check());
        assert!(
            filter(json!({"source": "/s/**"}))
                .unwrap()
                .needs_row_check()
        );
        assert!(
            filter(json!({"jsonPath": "$.a"}))
                .unwrap()
                .needs_row_check()
        );
        assert!(
            filter(json!({"type": null, "source": ""}))
                .unwrap()
                .is_empty()
        );
    }
}
