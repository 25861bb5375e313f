//! What one trigger makes of one event (SPEC §5.2, §5.3, §5.8): the outcome recorded before any attempt.
//! Pause, throttle and concurrency are the `TriggerActor`'s (they change with time); this is the part fixed by
//! the event and the definition.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::definition::Definition;
use super::predicate::first_failure;
use super::status::is_expired;
use super::template::scope;
use crate::domain::StoredEvent;

/// The verdict on one (trigger, event) pair that matched type and source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Predicate `index` failed.
    Filtered {
        /// Its index in `predicates`.
        index: usize,
    },
    /// The event's ttl passed before it could be delivered.
    Expired,
    /// To deliver (storage may still find the idempotency key used: `skipped`).
    Deliver {
        /// The rendered idempotency key.
        idempotency_key: Option<String>,
    },
}

/// The event as predicates, templates and the webhook body see it: the wire envelope with `ingressSequence` (a
/// string, as in every view of Herald).
pub fn event_json(event: &StoredEvent) -> Value {
    let mut json = event.envelope.to_json();
    if let Value::Object(fields) = &mut json {
        fields.insert(
            "ingressSequence".into(),
            Value::String(event.ingress_sequence.to_string()),
        );
    }
    json
}

/// `{id, name, version}`: the `trigger` of templates and of the webhook body.
pub fn trigger_json(id: &str, name: &str, version: i32) -> Value {
    json!({ "id": id, "name": name, "version": version })
}

/// Judges `event` (as [`event_json`]) for `definition`: predicates first, then the ttl, then the key.
pub fn evaluate(
    definition: &Definition,
    trigger: &Value,
    event: &Value,
    (occurred_at, ttl_ms): (DateTime<Utc>, Option<i64>),
    now: DateTime<Utc>,
) -> Verdict {
    if let Some((index, _)) = first_failure(&definition.predicates, event) {
        return Verdict::Filtered { index };
    }
    if is_expired(occurred_at, ttl_ms, now) {
        return Verdict::Expired;
    }
    let idempotency_key = definition
        .idempotency_key
        .as_ref()
        .map(|t| t.render_text(&scope(event, trigger, now)));
    Verdict::Deliver { idempotency_key }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use serde_json::json;

    use super::*;
    use crate::trigger::{DefinitionRules, WebhookSecret};

    fn rules() -> DefinitionRules {
        DefinitionRules {
            workflow_stream: "herald:workflow-runs".into(),
            workflow_stream_prefix: "herald:".into(),
            ingress_stream: "herald:events".into(),
        }
    }

    fn definition(extra: Value) -> Definition {
        let mut body = json!({"name": "t", "eventType": "a.b", "target": {"kind": "webhook", "url": "http://127.0.0.1:9/"}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        Definition::parse(
            &body,
            &rules(),
            || WebhookSecret::from_random([7; 24]),
            Utc::now(),
        )
        .unwrap()
        .definition
    }

    fn event(payload: Value) -> Value {
        json!({"id": "e1", "type": "a.b", "source": "s", "payload": payload, "ingressSequence": "4"})
    }

    #[test]
    fn the_first_failing_predicate_is_named() {
        let d = definition(json!({"predicates": [
            {"path": "$.payload.n", "operator": "gt", "value": 1},
            {"path": "$.payload.k", "operator": "equals", "value": "x"}]}));
        let now = Utc::now();
        let verdict = evaluate(
            &d,
            &json!({}),
            &event(json!({"n": 5, "k": "y"})),
            (now, None),
            now,
        );
        assert_eq!(verdict, Verdict::Filtered { index: 1 });
    }

    #[test]
    fn an_expired_event_is_not_delivered_and_a_live_one_gets_its_key() {
        let d = definition(json!({"idempotencyKey": "{{ event.payload.k }}-{{ trigger.id }}"}));
        let now = Utc::now();
        let e = event(json!({"k": "x"}));
        let trigger = json!({"id": "T"});
        assert_eq!(
            evaluate(
                &d,
                &trigger,
                &e,
                (now - TimeDelta::seconds(2), Some(1000)),
                now
            ),
            Verdict::Expired
        );
        assert_eq!(
            evaluate(&d, &trigger, &e, (now, Some(1000)), now),
            Verdict::Deliver {
                idempotency_key: Some("x-T".into())
            }
        );
    }
}
