//! Explain (SPEC §5.9): every step one trigger takes with one event, each with whether it passed, what was found
//! and what was expected. The event-bound steps (type, source, each predicate, ttl, the idempotency key) run the
//! same rules the trigger runs ([`NamePattern::matches`], [`Predicate::check`], [`is_expired`]); the steps that
//! depend on the trigger's state (pause, throttle, a key already used) take that state as read by the caller.
//! Nothing here delivers or changes anything.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::definition::Definition;
use super::pause::TriggerState;
use super::status::is_expired;
use super::template::scope;
use crate::domain::format_timestamp;

/// What a step checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// `eventType` against the event's type.
    Type,
    /// `eventSource` against the event's source.
    Source,
    /// One predicate.
    Predicate,
    /// The event's ttl.
    Ttl,
    /// The trigger's pause state.
    Pause,
    /// The throttle window.
    Throttle,
    /// The idempotency key.
    Idempotency,
}

impl StepKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Type => "type",
            StepKind::Source => "source",
            StepKind::Predicate => "predicate",
            StepKind::Ttl => "ttl",
            StepKind::Pause => "pause",
            StepKind::Throttle => "throttle",
            StepKind::Idempotency => "idempotency",
        }
    }
}

/// One step and what it came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What it checks.
    pub kind: StepKind,
    /// A predicate's index in `predicates`.
    pub index: Option<usize>,
    /// A predicate's path.
    pub path: Option<String>,
    /// A predicate's operator.
    pub operator: Option<&'static str>,
    /// Whether it passed.
    pub passed: bool,
    /// The value found.
    pub found: Value,
    /// The value expected.
    pub expected: Value,
    /// Why, in words, where the values do not say it.
    pub detail: Option<String>,
}

impl Step {
    fn new(kind: StepKind, passed: bool, found: Value, expected: Value) -> Step {
        Step {
            kind,
            index: None,
            path: None,
            operator: None,
            passed,
            found,
            expected,
            detail: None,
        }
    }

    fn detail(mut self, detail: impl Into<String>) -> Step {
        self.detail = Some(detail.into());
        self
    }
}

/// The event as explain needs it.
#[derive(Debug, Clone, Copy)]
pub struct ExplainedEvent<'a> {
    /// The event as predicates see it ([`super::event_json`]).
    pub json: &'a Value,
    /// Its type.
    pub event_type: &'a str,
    /// Its source.
    pub source: &'a str,
    /// `occurredAt`.
    pub occurred_at: DateTime<Utc>,
    /// `ttl`, ms.
    pub ttl_ms: Option<i64>,
}

/// The trigger's state as the caller read it.
#[derive(Debug, Clone)]
pub struct TriggerContext {
    /// Running, paused or half-open.
    pub state: TriggerState,
    /// When a pause ends.
    pub until: Option<DateTime<Utc>>,
    /// Why it is paused.
    pub reason: String,
    /// Attempts the trigger started within its throttle window up to now (`None` without a throttle).
    pub started_in_window: Option<u64>,
    /// The event whose delivery already used the rendered idempotency key, if one did.
    pub key_used_by: Option<String>,
}

/// The rendered idempotency key of `definition` for `event` (`None` without a key template).
pub fn idempotency_key(
    definition: &Definition,
    trigger: &Value,
    event: &Value,
    now: DateTime<Utc>,
) -> Option<String> {
    definition
        .idempotency_key
        .as_ref()
        .map(|t| t.render_text(&scope(event, trigger, now)))
}

/// Every step of `definition` with `event` at `now`, in the order the trigger takes them.
pub fn explain(
    definition: &Definition,
    trigger: &Value,
    event: ExplainedEvent<'_>,
    context: &TriggerContext,
    now: DateTime<Utc>,
) -> Vec<Step> {
    let mut steps = Vec::with_capacity(definition.predicates.len() + 6);
    let expected_type = definition.event_type.as_str();
    steps.push(Step::new(
        StepKind::Type,
        definition.event_type.matches(event.event_type),
        json!(event.event_type),
        json!(expected_type),
    ));
    steps.push(match &definition.event_source {
        Some(pattern) => Step::new(
            StepKind::Source,
            pattern.matches(event.source),
            json!(event.source),
            json!(pattern.as_str()),
        ),
        None => Step::new(StepKind::Source, true, json!(event.source), Value::Null)
            .detail("the trigger takes every source"),
    });
    for (index, predicate) in definition.predicates.iter().enumerate() {
        let outcome = predicate.check(event.json);
        let mut step = Step::new(
            StepKind::Predicate,
            outcome.passed,
            outcome.found,
            outcome.expected,
        );
        step.index = Some(index);
        step.path = Some(predicate.path().to_owned());
        step.operator = Some(predicate.operator());
        if step.found.is_null() {
            step.detail = Some("the path could not be evaluated on this event".into());
        }
        steps.push(step);
    }
    steps.push(ttl_step(event, now));
    steps.push(pause_step(context));
    steps.push(throttle_step(definition, context));
    steps.push(idempotency_step(
        idempotency_key(definition, trigger, event.json, now),
        context,
    ));
    steps
}

fn ttl_step(event: ExplainedEvent<'_>, now: DateTime<Utc>) -> Step {
    let Some(ttl) = event.ttl_ms else {
        return Step::new(StepKind::Ttl, true, Value::Null, Value::Null)
            .detail("the event has no ttl");
    };
    let expires = event.occurred_at + chrono::TimeDelta::milliseconds(ttl);
    let expired = is_expired(event.occurred_at, Some(ttl), now);
    Step::new(
        StepKind::Ttl,
        !expired,
        json!(format_timestamp(expires)),
        json!(format_timestamp(now)),
    )
    .detail(if expired {
        "expired: occurredAt + ttl is past (found: when it expired; expected: after now)"
    } else {
        "not expired (found: when it expires; expected: after now)"
    })
}

fn pause_step(context: &TriggerContext) -> Step {
    let found = json!(context.state.as_str());
    match context.state {
        TriggerState::Running => Step::new(StepKind::Pause, true, found, json!("running")),
        TriggerState::Paused => {
            Step::new(StepKind::Pause, false, found, json!("running")).detail(match context.until {
                Some(until) => format!(
                    "paused until {} ({}): a delivery is held",
                    format_timestamp(until),
                    context.reason
                ),
                None => format!("paused ({}): a delivery is held", context.reason),
            })
        }
        TriggerState::HalfOpen => Step::new(StepKind::Pause, false, found, json!("running"))
            .detail("half-open: a delivery is held until the probe succeeds"),
    }
}

fn throttle_step(definition: &Definition, context: &TriggerContext) -> Step {
    let Some(throttle) = definition.throttle else {
        return Step::new(StepKind::Throttle, true, Value::Null, Value::Null)
            .detail("the trigger has no throttle");
    };
    let started = context.started_in_window.unwrap_or(0);
    let passed = started < u64::from(throttle.count());
    Step::new(
        StepKind::Throttle,
        passed,
        json!({ "startedInWindow": started }),
        json!({ "windowMs": throttle.window_ms(), "count": throttle.count() }),
    )
    .detail(if passed {
        "a delivery could start now"
    } else {
        "the window is full: a delivery would be throttled until a slot frees"
    })
}

fn idempotency_step(key: Option<String>, context: &TriggerContext) -> Step {
    let Some(key) = key else {
        return Step::new(StepKind::Idempotency, true, Value::Null, Value::Null)
            .detail("the trigger has no idempotency key");
    };
    match &context.key_used_by {
        Some(event_id) => Step::new(StepKind::Idempotency, false, json!(key), Value::Null).detail(
            format!("the key was already used by the delivery of event {event_id}: skipped"),
        ),
        None => Step::new(StepKind::Idempotency, true, json!(key), Value::Null)
            .detail("the key was not used before"),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::trigger::{DefinitionRules, WebhookSecret};

    fn definition(extra: Value) -> Definition {
        let mut body = json!({"name": "t", "eventType": "order.*", "eventSource": "shop",
            "target": {"kind": "webhook", "url": "http://127.0.0.1:9/"}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let rules = DefinitionRules {
            workflow_stream: "herald:workflow-runs".into(),
            workflow_stream_prefix: "herald:".into(),
            ingress_stream: "herald:events".into(),
        };
        Definition::parse(
            &body,
            &rules,
            || WebhookSecret::from_random([7; 24]),
            Utc::now(),
        )
        .unwrap()
        .definition
    }

    fn running() -> TriggerContext {
        TriggerContext {
            state: TriggerState::Running,
            until: None,
            reason: String::new(),
            started_in_window: None,
            key_used_by: None,
        }
    }

    fn event<'a>(json: &'a Value, event_type: &'a str, now: DateTime<Utc>) -> ExplainedEvent<'a> {
        ExplainedEvent {
            json,
            event_type,
            source: "shop",
            occurred_at: now,
            ttl_ms: None,
        }
    }

    fn step(steps: &[Step], kind: StepKind) -> &Step {
        steps.iter().find(|s| s.kind == kind).unwrap()
    }

    #[test]
    fn every_predicate_reports_what_it_found_and_expected_and_the_failing_one_is_named() {
        let d = definition(json!({"predicates": [
            {"path": "$.payload.total", "operator": "gt", "value": 100},
            {"path": "$.payload.currency", "operator": "in", "values": ["EUR", "USD"]}]}));
        let now = Utc::now();
        let json = json!({"type": "order.paid", "source": "shop", "payload": {"total": 50, "currency": "EUR"}});
        let steps = explain(
            &d,
            &json!({}),
            event(&json, "order.paid", now),
            &running(),
            now,
        );
        let kinds: Vec<&str> = steps.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "type",
                "source",
                "predicate",
                "predicate",
                "ttl",
                "pause",
                "throttle",
                "idempotency"
            ]
        );
        let first = &steps[2];
        assert_eq!(
            (
                first.index,
                first.path.as_deref(),
                first.operator,
                first.passed
            ),
            (Some(0), Some("$.payload.total"), Some("gt"), false)
        );
        assert_eq!((&first.found, &first.expected), (&json!([50]), &json!(100)));
        let second = &steps[3];
        assert!(second.passed);
        assert_eq!(second.expected, json!(["EUR", "USD"]));
    }

    #[test]
    fn another_type_fails_the_type_step_and_an_unset_source_passes() {
        let d = definition(json!({"eventSource": null}));
        let now = Utc::now();
        let json = json!({"type": "user.created", "source": "crm"});
        let steps = explain(
            &d,
            &json!({}),
            event(&json, "user.created", now),
            &running(),
            now,
        );
        let ty = step(&steps, StepKind::Type);
        assert_eq!(
            (ty.passed, &ty.found, &ty.expected),
            (false, &json!("user.created"), &json!("order.*"))
        );
        assert!(step(&steps, StepKind::Source).passed);
    }

    #[test]
    fn ttl_pause_throttle_and_key_follow_the_state_given() {
        let d = definition(json!({"throttle": {"windowMs": 1000, "count": 2},
            "idempotencyKey": "{{ event.payload.k }}"}));
        let now = Utc::now();
        let json = json!({"type": "order.paid", "source": "shop", "payload": {"k": "x"}});
        let mut e = event(&json, "order.paid", now - TimeDelta::seconds(10));
        e.ttl_ms = Some(1000);
        let context = TriggerContext {
            state: TriggerState::Paused,
            until: None,
            reason: "deploy".into(),
            started_in_window: Some(2),
            key_used_by: Some("E0".into()),
        };
        let steps = explain(&d, &json!({}), e, &context, now);
        for kind in [
            StepKind::Ttl,
            StepKind::Pause,
            StepKind::Throttle,
            StepKind::Idempotency,
        ] {
            assert!(!step(&steps, kind).passed, "{kind:?} should fail");
        }
        assert_eq!(step(&steps, StepKind::Idempotency).found, json!("x"));
        assert_eq!(
            step(&steps, StepKind::Throttle).expected,
            json!({"windowMs": 1000, "count": 2})
        );
        let calm = TriggerContext {
            started_in_window: Some(1),
            key_used_by: None,
            ..running()
        };
        e.occurred_at = now;
        let steps = explain(&d, &json!({}), e, &calm, now);
        assert!(steps.iter().all(|s| s.passed), "{steps:#?}");
    }
}
