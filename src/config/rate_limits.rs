//! `EVENT_SOURCE_RATE_LIMITS` (SPEC §4): per-source rate limits, parsed once at start-up.
//!
//! # Format
//!
//! A JSON array of objects `{"source", "limit", "intervalMs", "pauseMs"?}`:
//!
//! ```text
//! [{"source":"metastore.api","limit":200,"intervalMs":60000,"pauseMs":60000},
//!  {"source":"*","limit":1000,"intervalMs":60000}]
//! ```
//!
//! `source` is a source name or `"*"`, the limit for every source without its own entry (counters still stay per
//! source). `pauseMs` defaults to `intervalMs`. Every malformed entry stops start-up with a message naming it by
//! position (1-based, as people count) and source: a limit silently dropped would let a noisy source flood triggers.
//! The values are read as untyped JSON first, rather than through a serde struct, so each message can name the
//! entry and say exactly which rule it broke.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::ConfigError;
use crate::domain::{MAX_SOURCE_DURATION_MS, RateLimit, SourceName};

/// The environment variable these limits come from.
pub const VARIABLE: &str = "EVENT_SOURCE_RATE_LIMITS";

/// The key that makes an entry the default for every source without its own entry.
pub const ANY_SOURCE: &str = "*";

const EXPECTED: &str = concat!(
    r#"a JSON array of {"source", "limit", "intervalMs", "pauseMs"?} objects, "#,
    r#"e.g. [{"source":"metastore.api","limit":200,"intervalMs":60000}]; "source" may be "*""#,
);

const KNOWN_KEYS: [&str; 4] = ["source", "limit", "intervalMs", "pauseMs"];

/// Every source's rate limit: its own entry, else the `"*"` entry, else none. The default value has no limits
/// (the variable unset, or `[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Entries naming one source.
    by_source: BTreeMap<SourceName, RateLimit>,
    /// The `"*"` entry.
    any_source: Option<RateLimit>,
}

impl RateLimits {
    /// Parses the value of `EVENT_SOURCE_RATE_LIMITS`; see the module docs for the format.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for `EVENT_SOURCE_RATE_LIMITS` when the value is not JSON or not an array, or when
    /// an entry is not an object, has an unknown key, a missing or invalid `source`, a source already given by an
    /// earlier entry, a `limit` that is not a whole number ≥ 1, or an `intervalMs` / `pauseMs` that is not a whole
    /// number of milliseconds from 1 to 30 days. The message names the first such entry.
    pub fn parse(value: &str) -> Result<RateLimits, ConfigError> {
        let json: Value =
            serde_json::from_str(value).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
        let Value::Array(entries) = json else {
            return Err(invalid("must be a JSON array of entries".to_owned()));
        };
        let mut limits = RateLimits::default();
        // Which entry first named each source, to point at both halves of a duplicate.
        let mut first_seen: BTreeMap<String, usize> = BTreeMap::new();
        for (index, entry) in entries.iter().enumerate() {
            let number = index + 1;
            let Value::Object(fields) = entry else {
                return Err(invalid(format!("entry #{number}: must be an object")));
            };
            let label = match fields.get("source") {
                Some(Value::String(source)) => format!("entry #{number} ({source:?})"),
                _ => format!("entry #{number}"),
            };
            let at = |message: String| invalid(format!("{label}: {message}"));
            let (source, limit) = parse_entry(fields).map_err(at)?;
            if let Some(earlier) = first_seen.insert(source.clone(), number) {
                return Err(invalid(format!(
                    "{label}: duplicate source, already limited by entry #{earlier}"
                )));
            }
            if source == ANY_SOURCE {
                limits.any_source = Some(limit);
            } else {
                let name =
                    SourceName::parse(source).map_err(|e| invalid(format!("{label}: {e}")))?;
                limits.by_source.insert(name, limit);
            }
        }
        Ok(limits)
    }

    /// The limit for `source`: its own entry, else the `"*"` entry, else `None` (not rate limited).
    pub fn for_source(&self, source: &SourceName) -> Option<RateLimit> {
        self.by_source.get(source).copied().or(self.any_source)
    }

    /// Every configured entry as `(source, limit)`: the named sources in name order, then the `"*"` entry
    /// ([`ANY_SOURCE`]) if any (health and metrics list them).
    pub fn entries(&self) -> impl Iterator<Item = (&str, RateLimit)> {
        self.by_source
            .iter()
            .map(|(source, limit)| (source.as_str(), *limit))
            .chain(self.any_source.map(|limit| (ANY_SOURCE, limit)))
    }
}

/// Checks one entry's keys and values; `Err` is the rule broken, without the entry label.
fn parse_entry(fields: &Map<String, Value>) -> Result<(String, RateLimit), String> {
    if let Some(unknown) = fields.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown key `{unknown}` (known keys: source, limit, intervalMs, pauseMs)"
        ));
    }
    let source = match fields.get("source") {
        None => return Err("`source` is required".to_owned()),
        Some(Value::String(s)) if s.is_empty() => {
            return Err("`source` must not be empty".to_owned());
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(r#"`source` must be a string: a source name or "*""#.to_owned()),
    };
    let limit = match fields.get("limit") {
        None => return Err("`limit` is required".to_owned()),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("`limit` must be a whole number ≥ 1 (at most {})", u32::MAX))?,
    };
    let interval_ms = match fields.get("intervalMs") {
        None => return Err("`intervalMs` is required".to_owned()),
        Some(v) => milliseconds("intervalMs", v)?,
    };
    let pause_ms = match fields.get("pauseMs") {
        None => interval_ms,
        Some(v) => milliseconds("pauseMs", v)?,
    };
    let limit = RateLimit::new(limit, interval_ms, pause_ms).map_err(|e| e.message)?;
    Ok((source, limit))
}

/// A JSON whole number of milliseconds; the range is checked by [`RateLimit::new`].
fn milliseconds(key: &str, value: &Value) -> Result<u64, String> {
    value.as_u64().ok_or_else(|| {
        format!("`{key}` must be a whole number of milliseconds from 1 to {MAX_SOURCE_DURATION_MS} (30 days)")
    })
}

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid {
        variable: VARIABLE.to_owned(),
        message,
        expected: EXPECTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(s: &str) -> SourceName {
        SourceName::parse(s.to_owned()).unwrap()
    }

    /// The message of the error `value` is refused with.
    fn refusal(value: &str) -> String {
        match RateLimits::parse(value) {
            Err(ConfigError::Invalid {
                variable, message, ..
            }) => {
                assert_eq!(variable, VARIABLE);
                message
            }
            other => panic!("expected a refusal of {value}, got {other:?}"),
        }
    }

    /// Wraps `bad` as the second entry, after a valid one, so the message must point at entry #2.
    fn second_entry(bad: &str) -> String {
        refusal(&format!(
            r#"[{{"source":"ok","limit":1,"intervalMs":1}}, {bad}]"#
        ))
    }

    #[test]
    fn pause_ms_defaults_to_interval_ms() {
        let limits =
            RateLimits::parse(r#"[{"source":"metastore.api","limit":200,"intervalMs":60000}]"#)
                .unwrap();
        let limit = limits.for_source(&source("metastore.api")).unwrap();
        assert_eq!(
            (limit.limit(), limit.interval_ms(), limit.pause_ms()),
            (200, 60_000, 60_000)
        );
    }

    #[test]
    fn a_source_uses_its_own_entry_else_the_star_entry() {
        let limits = RateLimits::parse(
            r#"[{"source":"*","limit":5,"intervalMs":1000,"pauseMs":2000},
                {"source":"metastore.api","limit":200,"intervalMs":60000,"pauseMs":30000}]"#,
        )
        .unwrap();
        assert_eq!(
            limits.for_source(&source("metastore.api")).unwrap().limit(),
            200
        );
        let fallback = limits.for_source(&source("/sensors/tn-1")).unwrap();
        assert_eq!((fallback.limit(), fallback.pause_ms()), (5, 2_000));
    }

    #[test]
    fn without_a_star_entry_other_sources_are_not_limited() {
        let limits = RateLimits::parse(r#"[{"source":"a","limit":1,"intervalMs":1}]"#).unwrap();
        assert_eq!(limits.for_source(&source("b")), None);
    }

    #[test]
    fn an_empty_array_means_no_limits() {
        let limits = RateLimits::parse("[]").unwrap();
        assert_eq!(limits, RateLimits::default());
        assert_eq!(limits.for_source(&source("any")), None);
    }

    #[test]
    fn invalid_json_is_refused() {
        assert!(refusal(r#"[{"source":"a""#).starts_with("not valid JSON"));
    }

    #[test]
    fn a_value_that_is_not_an_array_is_refused() {
        let message = refusal(r#"{"source":"a","limit":1,"intervalMs":1}"#);
        assert!(message.contains("JSON array"), "{message}");
    }

    #[test]
    fn an_entry_that_is_not_an_object_is_refused_by_number() {
        assert_eq!(second_entry(r#""a""#), "entry #2: must be an object");
    }

    #[test]
    fn an_unknown_key_is_refused_naming_the_entry_and_the_key() {
        let message = second_entry(r#"{"source":"b","limit":1,"intervalMS":1}"#);
        assert!(
            message.starts_with(r#"entry #2 ("b"): unknown key `intervalMS`"#),
            "{message}"
        );
    }

    #[test]
    fn a_missing_source_is_refused() {
        assert_eq!(
            second_entry(r#"{"limit":1,"intervalMs":1}"#),
            "entry #2: `source` is required"
        );
    }

    #[test]
    fn an_empty_source_is_refused() {
        assert_eq!(
            second_entry(r#"{"source":"","limit":1,"intervalMs":1}"#),
            r#"entry #2 (""): `source` must not be empty"#
        );
    }

    #[test]
    fn a_source_that_is_not_a_string_is_refused() {
        let message = second_entry(r#"{"source":7,"limit":1,"intervalMs":1}"#);
        assert!(
            message.starts_with("entry #2: `source` must be a string"),
            "{message}"
        );
    }

    #[test]
    fn a_source_outside_the_charset_is_refused() {
        let message = second_entry(r#"{"source":"bad source","limit":1,"intervalMs":1}"#);
        assert!(
            message.starts_with(r#"entry #2 ("bad source"): `source` must be"#),
            "{message}"
        );
    }

    #[test]
    fn a_duplicate_source_is_refused_naming_both_entries() {
        assert_eq!(
            second_entry(r#"{"source":"ok","limit":2,"intervalMs":2}"#),
            r#"entry #2 ("ok"): duplicate source, already limited by entry #1"#
        );
        let stars = refusal(
            r#"[{"source":"*","limit":1,"intervalMs":1},{"source":"*","limit":1,"intervalMs":1}]"#,
        );
        assert!(
            stars.starts_with(r#"entry #2 ("*"): duplicate source"#),
            "{stars}"
        );
    }

    #[test]
    fn a_missing_limit_is_refused() {
        assert_eq!(
            second_entry(r#"{"source":"b","intervalMs":1}"#),
            r#"entry #2 ("b"): `limit` is required"#
        );
    }

    #[test]
    fn a_limit_that_is_not_a_positive_whole_number_is_refused() {
        for bad in ["0", "-1", "1.5", "2.0", r#""10""#, "null", "4294967296"] {
            let message = second_entry(&format!(
                r#"{{"source":"metastore.api","limit":{bad},"intervalMs":1}}"#
            ));
            assert!(
                message.starts_with(
                    r#"entry #2 ("metastore.api"): `limit` must be a whole number ≥ 1"#
                ),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn a_missing_interval_is_refused() {
        assert_eq!(
            second_entry(r#"{"source":"b","limit":1}"#),
            r#"entry #2 ("b"): `intervalMs` is required"#
        );
    }

    #[test]
    fn an_interval_that_is_not_a_positive_whole_number_or_over_thirty_days_is_refused() {
        for bad in ["0", "-5", "1.5", r#""60000""#, "2592000001"] {
            let message =
                second_entry(&format!(r#"{{"source":"b","limit":1,"intervalMs":{bad}}}"#));
            assert!(
                message.starts_with(r#"entry #2 ("b"): `intervalMs` must be a whole number"#),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn a_pause_that_is_not_a_positive_whole_number_or_over_thirty_days_is_refused() {
        for bad in ["0", "-5", "1.5", r#""60000""#, "null", "2592000001"] {
            let message = second_entry(&format!(
                r#"{{"source":"b","limit":1,"intervalMs":1,"pauseMs":{bad}}}"#
            ));
            assert!(
                message.starts_with(r#"entry #2 ("b"): `pauseMs` must be a whole number"#),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn thirty_days_exactly_is_accepted() {
        let limits = RateLimits::parse(
            r#"[{"source":"b","limit":1,"intervalMs":2592000000,"pauseMs":2592000000}]"#,
        )
        .unwrap();
        assert_eq!(
            limits.for_source(&source("b")).unwrap().pause_ms(),
            MAX_SOURCE_DURATION_MS
        );
    }
}
