//! Row ↔ domain conversions of the trigger tables (`triggers`, `trigger_state_changes`,
//! `event_trigger_deliveries`, `event_trigger_attempts`). A leaf beside `rows`, whose error helpers it shares.

use sea_orm::ActiveValue::Set;

use super::rows::unknown;
use crate::storage::StorageError;
use crate::storage::entity::{
    event_trigger_attempts as attempts, event_trigger_deliveries as deliveries,
    trigger_state_changes as changes, triggers,
};
use crate::trigger::{
    AttemptRecord, Delivery, NewDelivery, StateChange, StateChangeRecord, StateHead, TriggerRecord,
};

pub(super) fn trigger_from_model(m: triggers::Model) -> Result<TriggerRecord, StorageError> {
    let state = m
        .state
        .parse()
        .map_err(unknown("triggers", &m.id, "state"))?;
    let definition = serde_json::from_str(&m.definition).map_err(|e| {
        StorageError::Database(sea_orm::DbErr::Json(format!(
            "triggers row {}: definition is not JSON: {e}",
            m.id
        )))
    })?;
    Ok(TriggerRecord {
        id: m.id,
        version: m.version,
        definition,
        secret: m.secret,
        head: StateHead {
            state,
            until: m.state_until,
            reason: m.state_reason,
            actor: m.state_actor,
            at: m.state_at,
            version: m.state_version,
        },
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

pub(super) fn state_change_row(trigger_id: &str, change: &StateChange) -> changes::ActiveModel {
    changes::ActiveModel {
        trigger_id: Set(trigger_id.to_owned()),
        at: Set(change.at),
        from_state: Set(change.from.as_str().to_owned()),
        to_state: Set(change.to.as_str().to_owned()),
        reason: Set(change.reason.clone()),
        actor: Set(change.actor.clone()),
        until: Set(change.until),
        ..Default::default()
    }
}

pub(super) fn state_change_from_model(
    m: changes::Model,
) -> Result<StateChangeRecord, StorageError> {
    let key = m.id.to_string();
    Ok(StateChangeRecord {
        id: i64::from(m.id),
        change: StateChange {
            at: m.at,
            from: m.from_state.parse().map_err(unknown(
                "trigger_state_changes",
                &key,
                "from_state",
            ))?,
            to: m
                .to_state
                .parse()
                .map_err(unknown("trigger_state_changes", &key, "to_state"))?,
            reason: m.reason,
            actor: m.actor,
            until: m.until,
        },
    })
}

pub(super) fn delivery_row(
    d: &NewDelivery,
    now: chrono::DateTime<chrono::Utc>,
) -> deliveries::ActiveModel {
    deliveries::ActiveModel {
        id: Set(d.id.clone()),
        trigger_id: Set(d.trigger_id.clone()),
        event_id: Set(d.event_id.clone()),
        replay_id: Set(d.replay_id.clone()),
        event_sequence: Set(d.event_sequence),
        status: Set(d.status.as_str().to_owned()),
        filtered_predicate: Set(d.filtered_predicate),
        idempotency_key: Set(d.idempotency_key.clone()),
        attempts: Set(0),
        next_attempt_at: Set(None),
        last_status_code: Set(None),
        last_error: Set(None),
        trigger_version: Set(d.trigger_version),
        created_at: Set(now),
        updated_at: Set(now),
        delivered_at: Set(None),
    }
}

pub(super) fn delivery_from_model(m: deliveries::Model) -> Result<Delivery, StorageError> {
    let status = m
        .status
        .parse()
        .map_err(unknown("event_trigger_deliveries", &m.id, "status"))?;
    Ok(Delivery {
        id: m.id,
        trigger_id: m.trigger_id,
        trigger_version: m.trigger_version,
        event_id: m.event_id,
        event_sequence: m.event_sequence,
        replay_id: m.replay_id,
        status,
        filtered_predicate: m.filtered_predicate,
        idempotency_key: m.idempotency_key,
        attempts: m.attempts,
        next_attempt_at: m.next_attempt_at,
        last_status_code: m.last_status_code,
        last_error: m.last_error,
        created_at: m.created_at,
        updated_at: m.updated_at,
        delivered_at: m.delivered_at,
    })
}

pub(super) fn attempt_row(trigger_id: &str, a: &AttemptRecord) -> attempts::ActiveModel {
    attempts::ActiveModel {
        delivery_id: Set(a.delivery_id.clone()),
        trigger_id: Set(trigger_id.to_owned()),
        attempt: Set(a.attempt),
        started_at: Set(a.started_at),
        finished_at: Set(a.finished_at),
        status_code: Set(a.status_code),
        error: Set(a.error.clone()),
        duration_ms: Set(a.duration_ms),
        outcome: Set(a.outcome.as_str().to_owned()),
        ..Default::default()
    }
}

pub(super) fn attempt_from_model(m: attempts::Model) -> Result<AttemptRecord, StorageError> {
    use crate::trigger::AttemptOutcome;
    let outcome = match m.outcome.as_str() {
        "delivered" => AttemptOutcome::Delivered,
        "retryable" => AttemptOutcome::Retryable,
        "failed" => AttemptOutcome::Failed,
        other => {
            return Err(unknown(
                "event_trigger_attempts",
                &m.id.to_string(),
                "outcome",
            )(crate::domain::UnknownSpelling::new(
                "attempt outcome",
                other,
            )));
        }
    };
    Ok(AttemptRecord {
        delivery_id: m.delivery_id,
        attempt: m.attempt,
        started_at: m.started_at,
        finished_at: m.finished_at,
        status_code: m.status_code,
        error: m.error,
        duration_ms: m.duration_ms,
        outcome,
    })
}
