//! [`severity_of`]: how bad an event is, read from its metadata and payload (SPEC §6.1).

use std::ops::ControlFlow;

use serde_json::{Map, Value};

use super::walk::{walk_members, walk_object_members};
use crate::domain::{EventType, Severity};

/// Keys whose string values name a severity. Matched exactly (case-sensitive), as SPEC spells them.
const STRING_KEYS: [&str; 8] = [
    "severity", "level", "logLevel", "status", "state", "result", "outcome", "priority",
];

/// Keys whose numeric values are a log level (`≥ 50` critical … `< 20` debug). Numbers under the other keys
/// (`status: 404`, `priority: 1`) mean something else and are ignored.
const NUMBER_KEYS: [&str; 3] = ["severity", "level", "logLevel"];

/// The severity of an event, computed once at ingest (SPEC §6.1).
///
/// Every member of metadata, then of the payload, at any depth down to [`MAX_WALK_DEPTH`](super::MAX_WALK_DEPTH)
/// (arrays included) is considered when its key is one of `severity`, `level`, `logLevel`, `status`, `state`,
/// `result`, `outcome`, `priority`:
/// - a string value, trimmed and compared case-insensitively, counts when it is a severity name (`critical`,
///   `error`, `warning`, `info`, `debug`) or an alias: `fatal`/`panic`/`emergency` → critical;
///   `err`/`failed`/`failure`/`exception` → error; `warn`/`throttled`/`paused`/`degraded` → warning;
///   `success`/`succeeded`/`ready`/`started`/`created`/`notice` → info; `trace`/`verbose` → debug. Other strings
///   are ignored;
/// - a number counts only under `severity`, `level` and `logLevel` (the pino/bunyan levels): `≥ 50` critical,
///   `≥ 40` error, `≥ 30` warning, `≥ 20` info, anything lower debug. A number too large for a double is ignored.
///
/// The most severe value found wins. When nothing is found, the last segment of `event_type` decides, compared
/// case-insensitively: `failed`, `error`, `deadletter`, `cancelled`, `aborted` → error; `warning`, `throttled`,
/// `paused`, `retry` → warning; `debug`, `trace` → debug; anything else info.
///
/// Key names are matched exactly, because SPEC spells them in camelCase like every other Herald field and a
/// case-insensitive match would also catch unrelated keys (`Status` headers copied into a payload); values are
/// matched case-insensitively because loggers disagree on `ERROR` versus `error`.
pub fn severity_of(
    event_type: &EventType,
    payload: &Value,
    metadata: Option<&Map<String, Value>>,
) -> Severity {
    let mut highest: Option<Severity> = None;
    let mut visit = |key: &str, value: &Value| {
        if let Some(found) = severity_of_member(key, value) {
            highest = highest.max(Some(found));
            if found == Severity::Critical {
                // Nothing can beat it.
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    };
    let flow = match metadata {
        Some(metadata) => walk_object_members(metadata, &mut visit),
        None => ControlFlow::Continue(()),
    };
    if flow.is_continue() {
        let _ = walk_members(payload, &mut visit);
    }
    highest.unwrap_or_else(|| severity_of_type(event_type))
}

/// What one member says about severity, if anything.
fn severity_of_member(key: &str, value: &Value) -> Option<Severity> {
    match value {
        Value::String(text) if STRING_KEYS.contains(&key) => severity_of_name(text),
        Value::Number(number) if NUMBER_KEYS.contains(&key) => {
            number.as_f64().map(severity_of_level)
        }
        _ => None,
    }
}

/// A severity name or alias, trimmed and case-insensitive; `None` for anything else.
fn severity_of_name(text: &str) -> Option<Severity> {
    let name = text.trim().to_ascii_lowercase();
    let severity = match name.as_str() {
        "critical" | "fatal" | "panic" | "emergency" => Severity::Critical,
        "error" | "err" | "failed" | "failure" | "exception" => Severity::Error,
        "warning" | "warn" | "throttled" | "paused" | "degraded" => Severity::Warning,
        "info" | "success" | "succeeded" | "ready" | "started" | "created" | "notice" => {
            Severity::Info
        }
        "debug" | "trace" | "verbose" => Severity::Debug,
        _ => return None,
    };
    Some(severity)
}

/// A numeric log level (pino/bunyan scale: 10 trace, 20 debug … 60 fatal, shifted as SPEC says).
fn severity_of_level(level: f64) -> Severity {
    if level >= 50.0 {
        Severity::Critical
    } else if level >= 40.0 {
        Severity::Error
    } else if level >= 30.0 {
        Severity::Warning
    } else if level >= 20.0 {
        Severity::Info
    } else {
        Severity::Debug
    }
}

/// The fallback: the type's last segment.
fn severity_of_type(event_type: &EventType) -> Severity {
    let last = event_type
        .segments()
        .last()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match last.as_str() {
        "failed" | "error" | "deadletter" | "cancelled" | "aborted" => Severity::Error,
        "warning" | "throttled" | "paused" | "retry" => Severity::Warning,
        "debug" | "trace" => Severity::Debug,
        _ => Severity::Info,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::insights::walk::{drop_flat, nested_arrays};

    fn event_type(text: &str) -> EventType {
        EventType::parse(text.to_owned()).unwrap()
    }

    fn of_payload(payload: Value) -> Severity {
        severity_of(&event_type("app.thing.happened"), &payload, None)
    }

    fn metadata(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn the_five_names_are_read_case_insensitively() {
        for (name, expected) in [
            ("critical", Severity::Critical),
            ("ERROR", Severity::Error),
            ("Warning", Severity::Warning),
            (" info ", Severity::Info),
            ("debug", Severity::Debug),
        ] {
            assert_eq!(of_payload(json!({ "severity": name })), expected, "{name}");
        }
    }

    #[test]
    fn every_alias_maps_to_its_severity() {
        let groups = [
            (Severity::Critical, &["fatal", "panic", "emergency"][..]),
            (Severity::Error, &["err", "failed", "failure", "exception"]),
            (
                Severity::Warning,
                &["warn", "throttled", "paused", "degraded"],
            ),
            (
                Severity::Info,
                &[
                    "success",
                    "succeeded",
                    "ready",
                    "started",
                    "created",
                    "notice",
                ],
            ),
            (Severity::Debug, &["trace", "verbose"]),
        ];
        for (expected, aliases) in groups {
            for alias in aliases {
                let upper = alias.to_uppercase();
                assert_eq!(of_payload(json!({ "status": alias })), expected, "{alias}");
                assert_eq!(of_payload(json!({ "status": upper })), expected, "{upper}");
            }
        }
    }

    #[test]
    fn every_listed_key_is_read_and_other_keys_are_not() {
        for key in STRING_KEYS {
            assert_eq!(
                of_payload(json!({ key: "error" })),
                Severity::Error,
                "{key}"
            );
        }
        for key in ["Severity", "loglevel", "message", "kind"] {
            assert_eq!(of_payload(json!({ key: "error" })), Severity::Info, "{key}");
        }
    }

    #[test]
    fn unknown_strings_are_ignored_and_the_type_decides() {
        let payload = json!({"status": "pending", "level": "loud"});
        assert_eq!(
            severity_of(&event_type("job.run.failed"), &payload, None),
            Severity::Error
        );
    }

    #[test]
    fn numbers_under_level_keys_follow_the_thresholds() {
        for (level, expected) in [
            (60, Severity::Critical),
            (50, Severity::Critical),
            (49, Severity::Error),
            (40, Severity::Error),
            (30, Severity::Warning),
            (20, Severity::Info),
            (19, Severity::Debug),
            (-5, Severity::Debug),
        ] {
            for key in NUMBER_KEYS {
                assert_eq!(
                    of_payload(json!({ key: level })),
                    expected,
                    "{key}: {level}"
                );
            }
        }
        assert_eq!(of_payload(json!({"level": 45.5})), Severity::Error);
    }

    #[test]
    fn numbers_under_status_and_the_other_string_keys_are_ignored() {
        for key in ["status", "state", "result", "outcome", "priority"] {
            assert_eq!(of_payload(json!({ key: 500 })), Severity::Info, "{key}");
        }
    }

    #[test]
    fn values_are_found_at_any_depth_and_inside_arrays() {
        let payload = json!({"a": {"b": [{"c": 1}, {"steps": [{"outcome": "failure"}]}]}});
        assert_eq!(of_payload(payload), Severity::Error);
    }

    #[test]
    fn the_highest_severity_wins_across_metadata_and_payload() {
        let metadata = metadata(json!({"level": "warn", "__workflow": {"status": "succeeded"}}));
        let payload = json!({"result": "error", "items": [{"state": "debug"}]});
        let found = severity_of(&event_type("app.thing.done"), &payload, Some(&metadata));
        assert_eq!(found, Severity::Error);

        let metadata = self::metadata(json!({"severity": "fatal"}));
        let found = severity_of(
            &event_type("app.thing.done"),
            &json!({"level": 10}),
            Some(&metadata),
        );
        assert_eq!(found, Severity::Critical);
    }

    #[test]
    fn a_found_value_beats_the_type_even_when_it_is_milder() {
        let payload = json!({"status": "succeeded"});
        assert_eq!(
            severity_of(&event_type("job.run.failed"), &payload, None),
            Severity::Info
        );
    }

    #[test]
    fn without_a_value_the_last_segment_of_the_type_decides() {
        for (ty, expected) in [
            ("job.run.failed", Severity::Error),
            ("job.run.error", Severity::Error),
            ("queue.message.deadletter", Severity::Error),
            ("job.run.cancelled", Severity::Error),
            ("job.run.Aborted", Severity::Error),
            ("cache.warning", Severity::Warning),
            ("source.throttled", Severity::Warning),
            ("trigger.paused", Severity::Warning),
            ("delivery.retry", Severity::Warning),
            ("app.debug", Severity::Debug),
            ("app.trace", Severity::Debug),
            ("app.failed.later", Severity::Info),
            ("order.created", Severity::Info),
        ] {
            assert_eq!(
                severity_of(&event_type(ty), &json!({}), None),
                expected,
                "{ty}"
            );
        }
    }

    #[test]
    fn a_ten_thousand_deep_array_does_not_overflow_the_stack() {
        let shallow = nested_arrays(10, json!({"level": "fatal"}));
        assert_eq!(of_payload(shallow), Severity::Critical);

        let deep = nested_arrays(10_000, json!({"level": "fatal"}));
        let found = severity_of(&event_type("app.thing.happened"), &deep, None);
        drop_flat(deep);
        assert_eq!(found, Severity::Info, "too deep to be read");
    }
}
