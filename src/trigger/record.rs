//! Triggers and deliveries as storage hands them up (SPEC §5.1, §5.3, §5.7): plain values, no rows, so that the
//! actors and the HTTP layer never see an entity.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::definition::{Definition, DefinitionRules, Parsed};
use super::pause::{StateChange, TriggerState};
use super::signature::WebhookSecret;
use super::status::DeliveryStatus;
use crate::domain::ValidationError;

/// A trigger's pause state as stored: the head of its `trigger_state_changes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateHead {
    /// `running`, `paused` or `halfOpen`.
    pub state: TriggerState,
    /// When the pause ends.
    pub until: Option<DateTime<Utc>>,
    /// Why.
    pub reason: String,
    /// Who.
    pub actor: String,
    /// Since when.
    pub at: DateTime<Utc>,
    /// Bumped by every change; state writes compare-and-set on it.
    pub version: i64,
}

/// A stored trigger.
#[derive(Debug, Clone)]
pub struct TriggerRecord {
    /// A ULID.
    pub id: String,
    /// Bumped by every create and update.
    pub version: i32,
    /// The definition as shown (`Definition::normalized`).
    pub definition: Value,
    /// The webhook secret (never shown after create).
    pub secret: Option<String>,
    /// The pause state.
    pub head: StateHead,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last updated.
    pub updated_at: DateTime<Utc>,
}

impl TriggerRecord {
    /// The trigger's name.
    pub fn name(&self) -> &str {
        self.definition
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Compiles the stored definition again, with its stored secret.
    ///
    /// # Errors
    /// The rule the stored definition breaks now, for example a workflow stream outside a prefix configured since.
    pub fn compile(&self, rules: &DefinitionRules) -> Result<Parsed, ValidationError> {
        let mut body = self.definition.clone();
        if let (Some(secret), Some(Value::Object(target))) = (&self.secret, body.get_mut("target"))
        {
            target.insert("secret".into(), Value::String(secret.clone()));
        }
        // The secret is always stored for a webhook; a workflow target never asks for one.
        Definition::parse(
            &body,
            rules,
            || WebhookSecret::from_random([0; super::signature::GENERATED_SECRET_BYTES]),
            Utc::now(),
        )
    }
}

/// A trigger write: the definition and who made it.
#[derive(Debug, Clone)]
pub struct TriggerWrite<'a> {
    /// The trigger's id.
    pub id: &'a str,
    /// The definition as shown.
    pub definition: &'a Value,
    /// The webhook secret.
    pub secret: Option<&'a str>,
    /// The token subject.
    pub actor: &'a str,
    /// When.
    pub at: DateTime<Utc>,
}

/// A recorded state transition, as `GET /admin/triggers/{id}/history` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChangeRecord {
    /// Increasing.
    pub id: i64,
    /// The transition.
    pub change: StateChange,
}

/// A delivery row to record: the outcome of one (trigger, event) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// A ULID.
    pub id: String,
    /// The trigger.
    pub trigger_id: String,
    /// Its version.
    pub trigger_version: i32,
    /// The event.
    pub event_id: String,
    /// Its `ingressSequence`.
    pub event_sequence: i64,
    /// `''` for an original.
    pub replay_id: String,
    /// `filtered`, `expired`, `skipped` or `pending` (storage turns `pending` into `skipped` when the key was seen).
    pub status: DeliveryStatus,
    /// Which predicate failed.
    pub filtered_predicate: Option<i32>,
    /// The rendered idempotency key.
    pub idempotency_key: Option<String>,
}

impl NewDelivery {
    /// The delivery as [`DeliveriesRepo::record`](crate::storage::DeliveriesRepo::record) stores it at `now`, when it
    /// is `pending` (no attempt yet).
    pub fn pending(&self, now: DateTime<Utc>) -> Delivery {
        Delivery {
            id: self.id.clone(),
            trigger_id: self.trigger_id.clone(),
            trigger_version: self.trigger_version,
            event_id: self.event_id.clone(),
            event_sequence: self.event_sequence,
            replay_id: self.replay_id.clone(),
            status: self.status,
            filtered_predicate: self.filtered_predicate,
            idempotency_key: self.idempotency_key.clone(),
            attempts: 0,
            next_attempt_at: None,
            last_status_code: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            delivered_at: None,
        }
    }
}

/// A stored delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// A ULID (`webhook-id`).
    pub id: String,
    /// The trigger.
    pub trigger_id: String,
    /// The trigger version that evaluated it.
    pub trigger_version: i32,
    /// The event.
    pub event_id: String,
    /// Its `ingressSequence`.
    pub event_sequence: i64,
    /// `''` for an original.
    pub replay_id: String,
    /// What became of it.
    pub status: DeliveryStatus,
    /// For `filtered`: which predicate failed.
    pub filtered_predicate: Option<i32>,
    /// The rendered idempotency key.
    pub idempotency_key: Option<String>,
    /// Attempts started.
    pub attempts: i32,
    /// When the next attempt may start.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's HTTP status.
    pub last_status_code: Option<i32>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// Recorded.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// When the target accepted it.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// How one attempt ended, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The target accepted it.
    Delivered,
    /// Worth another attempt.
    Retryable,
    /// Final.
    Failed,
}

impl AttemptOutcome {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retryable => "retryable",
            AttemptOutcome::Failed => "failed",
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The delivery.
    pub delivery_id: String,
    /// 1 for the first.
    pub attempt: i32,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: DateTime<Utc>,
    /// The HTTP status, when there was an answer.
    pub status_code: Option<i32>,
    /// What went wrong.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
    /// How it ended.
    pub outcome: AttemptOutcome,
}

/// What an attempt makes of its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    /// The attempt to record.
    pub attempt: AttemptRecord,
    /// The delivery's new status: `delivered`, `retrying` or `failed`.
    pub status: DeliveryStatus,
    /// For `retrying`: when the next attempt may start.
    pub next_attempt_at: Option<DateTime<Utc>>,
}
