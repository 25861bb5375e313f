//! [`ViewFilters`]: the filters a saved view keeps (SPEC §6.8: `{type, source, correlationId, severity[], from,
//! to, jsonPath}`), parsed with the events list's own rules: [`EventFilter::from_json`] for the five event
//! filters and [`parse_time_bound`] for `from`/`to`, so a view can never hold a filter `GET /admin/events` would
//! refuse, and means what that list means.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::domain::{ErrorCode, ValidationError, format_timestamp, parse_time_bound};
use crate::filter::EventFilter;

/// A saved view's parsed filters.
#[derive(Debug, Clone, Default)]
pub struct ViewFilters {
    /// Type, source, correlation id, severity and path.
    pub filter: EventFilter,
    /// Inclusive lower bound on `occurredAt`.
    pub from: Option<DateTime<Utc>>,
    /// Inclusive upper bound on `occurredAt`.
    pub to: Option<DateTime<Utc>>,
}

impl ViewFilters {
    /// Parses a view's `filters` object. Values are strings (`severity` also an array of strings); `null` or
    /// `""` means "not filtered". `from`/`to` are RFC 3339 with an offset or a bare date (UTC midnight).
    ///
    /// # Errors
    /// A [`ValidationError`] naming `filters.<name>`: `unknown_field`, `invalid_field` (wrong JSON type),
    /// `invalid_pattern`, `invalid_json_path`, and `invalid_parameter` for a correlation id, severity or time that
    /// does not parse, or `from` after `to` (naming `filters.from`).
    pub fn from_json(filters: &Map<String, Value>) -> Result<ViewFilters, ValidationError> {
        let mut events = filters.clone();
        let from = time(events.remove("from"), "from")?;
        let to = time(events.remove("to"), "to")?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(ValidationError::new(
                ErrorCode::InvalidParameter,
                Some("filters.from".to_owned()),
                "filters.from is after filters.to",
            ));
        }
        let filter = EventFilter::from_json(&events)?;
        Ok(ViewFilters { filter, from, to })
    }

    /// The normalized filters as stored and answered: every key present, `null` when not filtered, `severity`
    /// an array, times in Herald's one format (`2026-11-22T00:00:00.000Z`).
    pub fn to_json(&self) -> Value {
        let f = &self.filter;
        json!({
            "type": f.event_type.as_ref().map(|p| p.as_str()),
            "source": f.source.as_ref().map(|p| p.as_str()),
            "correlationId": f.correlation_id.as_ref().map(|c| c.as_str()),
            "severity": f.severities.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "from": self.from.map(format_timestamp),
            "to": self.to.map(format_timestamp),
            "jsonPath": f.json_path.as_ref().map(|p| p.as_str()),
        })
    }
}

/// A `from`/`to` value: a string time bound, or absent.
fn time(value: Option<Value>, name: &str) -> Result<Option<DateTime<Utc>>, ValidationError> {
    let field = format!("filters.{name}");
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => parse_time_bound(&s).map(Some).ok_or_else(|| {
            ValidationError::new(
                ErrorCode::InvalidParameter,
                Some(field.clone()),
                format!(
                    "{field} must be RFC 3339 with an offset or a date (YYYY-MM-DD), got {s:?}"
                ),
            )
        }),
        Some(_) => Err(ValidationError::new(
            ErrorCode::InvalidField,
            Some(field.clone()),
            format!("{field} must be a string"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<ViewFilters, ValidationError> {
        ViewFilters::from_json(v.as_object().unwrap())
    }

    #[test]
    fn filters_normalize_and_read_back_the_same() {
        let filters = parse(json!({
            "type": "billing.*", "source": "billing.api", "correlationId": "c-1",
            "severity": "error,critical", "from": "2026-11-22", "to": "2026-11-22T12:00:00+02:00",
            "jsonPath": "$.amount > 10"
        }))
        .unwrap();
        let normalized = filters.to_json();
        assert_eq!(
            normalized,
            json!({
                "type": "billing.*", "source": "billing.api", "correlationId": "c-1",
                "severity": ["error", "critical"], "from": "2026-11-22T00:00:00.000Z",
                "to": "2026-11-22T10:00:00.000Z", "jsonPath": "$.amount > 10"
            })
        );
        assert_eq!(parse(normalized.clone()).unwrap().to_json(), normalized);
        assert_eq!(
            parse(json!({})).unwrap().to_json(),
            json!({"type": null, "source": null, "correlationId": null, "severity": [],
                   "from": null, "to": null, "jsonPath": null})
        );
    }

    #[test]
    fn bad_filters_name_the_field() {
        for (filters, code, field) in [
            (
                json!({"from": "yesterday"}),
                ErrorCode::InvalidParameter,
                "filters.from",
            ),
            (json!({"to": 5}), ErrorCode::InvalidField, "filters.to"),
            (
                json!({"from": "2026-11-23", "to": "2026-11-22"}),
                ErrorCode::InvalidParameter,
                "filters.from",
            ),
            (
                json!({"type": "meta*"}),
                ErrorCode::InvalidPattern,
                "filters.type",
            ),
            (
                json!({"jsonPath": "$.a ==="}),
                ErrorCode::InvalidJsonPath,
                "filters.jsonPath",
            ),
            (
                json!({"limit": 5}),
                ErrorCode::UnknownField,
                "filters.limit",
            ),
        ] {
            let e = parse(filters.clone()).unwrap_err();
            assert_eq!(
                (e.code, e.field.as_deref()),
                (code, Some(field)),
                "{filters}"
            );
        }
    }
}
