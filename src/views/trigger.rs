//! Triggers, deliveries, attempts and state changes (SPEC §5, §6.3, §6.4), and the data of the trigger frames of
//! §7 (`trigger.paused`, `trigger.resumed`, `delivery.failed`, `workflow.run.requested`).
//!
//! A trigger is shown as its stored definition (defaults filled in, never the secret) with `id`, `version`,
//! `state`, `createdAt`, `updatedAt` and, while not running, `pause: {reason, actor, since, until}`.

use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::format_timestamp;
use crate::trigger::{
    AttemptRecord, Delivery, StateChange, StateChangeRecord, StateHead, TriggerRecord, TriggerState,
};

fn time(at: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    at.map(format_timestamp)
}

/// The trigger view: its definition merged with its identity and state.
pub fn trigger_view(t: &TriggerRecord) -> Value {
    let mut view = match &t.definition {
        Value::Object(fields) => fields.clone(),
        _ => serde_json::Map::new(),
    };
    view.insert("id".into(), json!(t.id));
    view.insert("version".into(), json!(t.version));
    view.insert("state".into(), json!(t.head.state.as_str()));
    view.insert("pause".into(), pause_view(&t.head));
    view.insert("createdAt".into(), json!(format_timestamp(t.created_at)));
    view.insert("updatedAt".into(), json!(format_timestamp(t.updated_at)));
    Value::Object(view)
}

/// `{reason, actor, since, until}` while paused or half-open, `null` while running.
pub fn pause_view(head: &StateHead) -> Value {
    if head.state == TriggerState::Running {
        return Value::Null;
    }
    json!({
        "actor": head.actor,
        "reason": head.reason,
        "since": format_timestamp(head.at),
        "until": time(head.until),
    })
}

/// One delivery; `attempts` is the number started (the detail adds `attemptLog`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView<'a> {
    /// How many attempts started.
    pub attempts: i32,
    /// Recorded.
    pub created_at: String,
    /// When the target accepted it.
    pub delivered_at: Option<String>,
    /// The event.
    pub event_id: &'a str,
    /// The event's `ingressSequence`, as a string.
    pub event_sequence: String,
    /// For `filtered`: which predicate failed.
    pub filtered_predicate: Option<i32>,
    /// The id (`webhook-id`).
    pub id: &'a str,
    /// The rendered idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// The last error.
    pub last_error: Option<&'a str>,
    /// The last HTTP status.
    pub last_status_code: Option<i32>,
    /// When the next attempt may start.
    pub next_attempt_at: Option<String>,
    /// The replay it belongs to, `null` for an original.
    pub replay_id: Option<&'a str>,
    /// SPEC §5.3.
    pub status: &'static str,
    /// The trigger.
    pub trigger_id: &'a str,
    /// The trigger version that evaluated it.
    pub trigger_version: i32,
    /// Last changed.
    pub updated_at: String,
}

impl<'a> DeliveryView<'a> {
    /// The view of `d`.
    pub fn of(d: &'a Delivery) -> DeliveryView<'a> {
        DeliveryView {
            attempts: d.attempts,
            created_at: format_timestamp(d.created_at),
            delivered_at: time(d.delivered_at),
            event_id: &d.event_id,
            event_sequence: d.event_sequence.to_string(),
            filtered_predicate: d.filtered_predicate,
            id: &d.id,
            idempotency_key: d.idempotency_key.as_deref(),
            last_error: d.last_error.as_deref(),
            last_status_code: d.last_status_code,
            next_attempt_at: time(d.next_attempt_at),
            replay_id: (!d.replay_id.is_empty()).then_some(d.replay_id.as_str()),
            status: d.status.as_str(),
            trigger_id: &d.trigger_id,
            trigger_version: d.trigger_version,
            updated_at: format_timestamp(d.updated_at),
        }
    }
}

/// One attempt.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView<'a> {
    /// 1 for the first.
    pub attempt: i32,
    /// How long it took.
    pub duration_ms: i64,
    /// What went wrong.
    pub error: Option<&'a str>,
    /// Finished.
    pub finished_at: String,
    /// `delivered`, `retryable` or `failed`.
    pub outcome: &'static str,
    /// Started.
    pub started_at: String,
    /// The HTTP status, when there was an answer.
    pub status_code: Option<i32>,
}

impl<'a> AttemptView<'a> {
    /// The view of `a`.
    pub fn of(a: &'a AttemptRecord) -> AttemptView<'a> {
        AttemptView {
            attempt: a.attempt,
            duration_ms: a.duration_ms,
            error: a.error.as_deref(),
            finished_at: format_timestamp(a.finished_at),
            outcome: a.outcome.as_str(),
            started_at: format_timestamp(a.started_at),
            status_code: a.status_code,
        }
    }
}

/// One state change (`GET /admin/triggers/{id}/history`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChangeView<'a> {
    /// The token subject, or `herald`.
    pub actor: &'a str,
    /// When.
    pub at: String,
    /// The state before.
    pub from: &'static str,
    /// Why.
    pub reason: &'a str,
    /// The state after.
    pub to: &'static str,
    /// For a pause: when it ends.
    pub until: Option<String>,
}

impl<'a> StateChangeView<'a> {
    /// The view of `c`.
    pub fn of(c: &'a StateChange) -> StateChangeView<'a> {
        StateChangeView {
            actor: &c.actor,
            at: format_timestamp(c.at),
            from: c.from.as_str(),
            reason: &c.reason,
            to: c.to.as_str(),
            until: time(c.until),
        }
    }

    /// The view of a recorded change.
    pub fn of_record(r: &'a StateChangeRecord) -> StateChangeView<'a> {
        StateChangeView::of(&r.change)
    }
}

/// The data of `trigger.paused` / `trigger.resumed`: `{triggerId, name, change}`.
pub fn trigger_state_frame_data(trigger_id: &str, name: &str, change: &StateChange) -> Value {
    json!({ "triggerId": trigger_id, "name": name, "change": StateChangeView::of(change) })
}

/// The data of `delivery.failed`: `{triggerId, name, delivery}`.
pub fn delivery_failed_frame_data(name: &str, delivery: &Delivery) -> Value {
    json!({ "triggerId": delivery.trigger_id, "name": name, "delivery": DeliveryView::of(delivery) })
}
