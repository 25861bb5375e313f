//! `GET /admin/event-health` and `GET /admin/queue-health` (SPEC §6.9, scope `events:read`): what the pipeline
//! is doing, at a glance.
//!
//! Every read is bounded whatever the traffic: the ingress queue costs a few `XINFO` / `XPENDING`-summary /
//! `XRANGE … COUNT 1` commands (never the per-entry pending list); sources are the first
//! [`HEALTH_SOURCES_LIMIT`] by name (the full list pages through `GET /admin/sources`); the deferral backlog is one
//! grouped count plus the table of pauses.
//!
//! Triggers are the first [`HEALTH_TRIGGERS_LIMIT`] by id with their outcome counts (`triggersTruncated` tells
//! when there are more); the `triggers` queue is the deliveries with work ahead of them (`pending` = attempts in
//! flight), read by one consumer, the holder of the delivery lease; `retries.deliveries` counts `retrying` ones.
//!
//! A queue whose backing service does not answer is reported with `null` numbers and an `error`, rather than
//! failing the whole answer: health is what an operator reads while something is down.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::auth::Scope;
use crate::domain::{SourceName, SourcePause, format_timestamp};
use crate::http::{ApiError, AppState, Caller};
use crate::queue::{Queue, QueueHealth};
use crate::storage::TriggerSummary;
use crate::trigger::{DeliveryStatus, TriggerState};
use crate::views::{
    QueueView, RetriesView, SourceMetricsView, SourcePauseView, SourceRateLimitView,
};

/// Most sources listed by `/admin/event-health` (`sourcesTruncated` tells when there are more).
pub const HEALTH_SOURCES_LIMIT: u64 = 200;

/// Most triggers listed by `/admin/event-health`.
pub const HEALTH_TRIGGERS_LIMIT: u64 = 200;

/// `GET /admin/event-health`.
#[tracing::instrument(name = "event_health", skip_all)]
pub async fn event_health(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let now = Utc::now();
    let repo = state.storage.sources();
    let mut sources = repo.list(None, HEALTH_SOURCES_LIMIT).await?;
    let truncated = sources.len() as u64 > HEALTH_SOURCES_LIMIT;
    sources.truncate(HEALTH_SOURCES_LIMIT as usize);
    let pauses: Vec<SourcePause> = repo
        .pauses()
        .await?
        .into_iter()
        .filter(|p| p.is_active(now))
        .collect();
    let backlogs = repo.backlogs().await?;
    let ingress = ingress_queue(&state.queue, state.mode.as_str()).await;
    let rate_limits: Vec<SourceRateLimitView<'_>> = state
        .sources
        .rate_limits
        .entries()
        .map(|(source, limit)| SourceRateLimitView {
            source,
            limit: limit.into(),
        })
        .collect();
    let triggers = trigger_health(&state, now).await?;
    let body = json!({ "data": {
        "generatedAt": format_timestamp(now),
        "mode": state.mode.as_str(),
        "queues": {
            "ingress": ingress,
            "triggers": triggers.queue,
        },
        "sources": sources.iter().map(SourceMetricsView::of).collect::<Vec<_>>(),
        "sourcesTruncated": truncated,
        "triggers": triggers.triggers,
        "triggersTruncated": triggers.truncated,
        "pausedSources": pauses.iter().map(SourcePauseView::of).collect::<Vec<_>>(),
        "pausedTriggers": triggers.paused,
        "rateLimits": rate_limits,
        "retries": {
            "ingress": deferral_retries(&backlogs, &pauses),
            "deliveries": triggers.retries,
        },
    }});
    Ok(HttpResponse::Ok().json(body))
}

/// The trigger parts of event health.
struct TriggerHealth<'a> {
    queue: QueueView<'a>,
    triggers: Vec<serde_json::Value>,
    truncated: bool,
    paused: Vec<serde_json::Value>,
    retries: RetriesView,
}

async fn trigger_health(
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<TriggerHealth<'_>, ApiError> {
    let mut records = state
        .storage
        .triggers()
        .list(None, HEALTH_TRIGGERS_LIMIT)
        .await?;
    let truncated = records.len() as u64 > HEALTH_TRIGGERS_LIMIT;
    records.truncate(HEALTH_TRIGGERS_LIMIT as usize);
    let ids: Vec<&str> = records.iter().map(|t| t.id.as_str()).collect();
    let summaries = state.storage.delivery_stats().summaries(&ids).await?;
    let window = now - state.triggers.pause.window;
    let failures = state
        .storage
        .triggers()
        .all_first_failures_since(window)
        .await?;
    let paused: Vec<serde_json::Value> = records
        .iter()
        .filter(|t| t.head.state != TriggerState::Running)
        .map(|t| {
            json!({
                "id": t.id, "name": t.name(), "state": t.head.state.as_str(),
                "until": t.head.until.map(format_timestamp), "reason": t.head.reason,
                "actor": t.head.actor, "failures": failures.get(&t.id).map_or(0, Vec::len),
            })
        })
        .collect();
    let empty = TriggerSummary::default();
    let triggers = records
        .iter()
        .map(|t| {
            let summary = summaries.get(&t.id).unwrap_or(&empty);
            let count = |s: DeliveryStatus| summary.counts.get(&s).copied().unwrap_or(0);
            json!({
                "id": t.id, "name": t.name(), "state": t.head.state.as_str(),
                "counts": {
                    "filtered": count(DeliveryStatus::Filtered), "held": count(DeliveryStatus::Held),
                    "throttled": count(DeliveryStatus::Throttled), "skipped": count(DeliveryStatus::Skipped),
                    "expired": count(DeliveryStatus::Expired), "delivered": count(DeliveryStatus::Delivered),
                    "failed": count(DeliveryStatus::Failed),
                },
                "lastError": summary.last_error,
                "lastDeliveredAt": summary.last_delivered_at.map(format_timestamp),
            })
        })
        .collect();
    let queue = state.storage.delivery_stats().queue().await?;
    let consumers = state
        .storage
        .leases()
        .holder(crate::actors::DELIVERY_LEASE, now)
        .await?
        .map_or(0, |_| 1);
    let (total, overdue, next) = state.storage.delivery_stats().retry_summary(now).await?;
    Ok(TriggerHealth {
        queue: QueueView {
            mode: state.mode.as_str(),
            depth: Some(queue.open),
            pending: Some(queue.delivering),
            consumers: Some(consumers),
            oldest_pending_age_ms: queue
                .oldest_open_at
                .map(|at| (now - at).num_milliseconds().max(0) as u64),
            ..QueueView::default()
        },
        triggers,
        truncated,
        paused,
        retries: RetriesView {
            total,
            overdue,
            next_attempt_at: next.map(format_timestamp),
        },
    })
}

/// `GET /admin/queue-health`: every queue Herald uses, with depth and latency (the age of its oldest entry
/// without an outcome).
#[tracing::instrument(name = "queue_health", skip_all)]
pub async fn queue_health(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let now = Utc::now();
    let mode = state.mode.as_str();
    let mut ingress = ingress_queue(&state.queue, mode).await;
    ingress.name = Some("ingress");
    match &state.queue {
        Queue::Redis(q) => {
            ingress.kind = Some("redis_stream");
            ingress.stream = Some(q.stream());
            ingress.group = Some(q.group());
        }
        Queue::Inline(_) => ingress.kind = Some("in_process"),
    }
    let repo = state.storage.sources();
    let backlogs = repo.backlogs().await?;
    let oldest = repo.oldest_deferral_at().await?;
    let deferred: u64 = backlogs.iter().map(|(_, n)| n).sum();
    let deferrals = QueueView {
        name: Some("source_deferrals"),
        kind: Some("table"),
        mode,
        depth: Some(deferred),
        pending: Some(0),
        oldest_pending_age_ms: oldest.map(|at| age_ms(now, at)),
        consumers: Some(backlogs.len() as u64),
        sources: Some(backlogs.len() as u64),
        ..QueueView::default()
    };
    Ok(HttpResponse::Ok().json(json!({ "data": {
        "generatedAt": format_timestamp(now),
        "mode": mode,
        "queues": [ingress, deferrals],
    }})))
}

/// The ingress queue as SPEC's `Q`, plus the stream's `length` in redis mode; `null` numbers and an `error` when
/// Redis does not answer.
async fn ingress_queue<'a>(queue: &'a Queue, mode: &'a str) -> QueueView<'a> {
    match queue.health().await {
        Ok(QueueHealth {
            depth,
            pending,
            oldest_pending_age_ms,
            consumers,
            length,
        }) => QueueView {
            mode,
            depth: Some(depth),
            pending: Some(pending),
            oldest_pending_age_ms,
            consumers: Some(consumers),
            length,
            ..QueueView::default()
        },
        Err(e) => {
            tracing::warn!(error.message = %e, "Could not read the ingress queue's health.");
            QueueView::unreachable(mode, e.to_string())
        }
    }
}

/// The deferred trigger evaluations as SPEC's `R`: `total` deferred events; `overdue`, those whose source is no
/// longer paused (their release time has come; the limiter paces them at the source's rate); `nextAttemptAt`,
/// the earliest end of a pause that holds a backlog (`null` when none ends by itself).
fn deferral_retries(backlogs: &[(SourceName, u64)], active_pauses: &[SourcePause]) -> RetriesView {
    let ends: HashMap<&SourceName, Option<DateTime<Utc>>> =
        active_pauses.iter().map(|p| (&p.source, p.until)).collect();
    let mut total = 0u64;
    let mut overdue = 0u64;
    let mut next: Option<DateTime<Utc>> = None;
    for (source, n) in backlogs {
        total += n;
        match ends.get(source) {
            None => overdue += n,
            Some(Some(until)) => next = Some(next.map_or(*until, |t| t.min(*until))),
            Some(None) => {}
        }
    }
    RetriesView {
        total,
        overdue,
        next_attempt_at: next.map(format_timestamp),
    }
}

fn age_ms(now: DateTime<Utc>, at: DateTime<Utc>) -> u64 {
    u64::try_from((now - at).num_milliseconds()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PauseKind;

    fn name(s: &str) -> SourceName {
        SourceName::parse(s.to_owned()).unwrap()
    }

    fn pause(source: &str, until: Option<DateTime<Utc>>) -> SourcePause {
        SourcePause {
            source: name(source),
            kind: PauseKind::Manual,
            reason: "test".into(),
            actor: "alice".into(),
            paused_at: Utc::now(),
            until,
        }
    }

    #[test]
    fn deferred_events_of_running_sources_are_overdue_and_the_next_attempt_is_the_earliest_pause_end()
     {
        let soon = Utc::now() + chrono::Duration::seconds(10);
        let later = soon + chrono::Duration::seconds(10);
        let backlogs = vec![
            (name("running.api"), 3),
            (name("paused.soon"), 4),
            (name("paused.later"), 5),
            (name("paused.forever"), 6),
        ];
        let pauses = vec![
            pause("paused.soon", Some(soon)),
            pause("paused.later", Some(later)),
            pause("paused.forever", None),
            pause("no.backlog", Some(Utc::now())),
        ];
        let r = serde_json::to_value(deferral_retries(&backlogs, &pauses)).unwrap();
        assert_eq!(r["total"], 18);
        assert_eq!(r["overdue"], 3);
        assert_eq!(r["nextAttemptAt"], json!(format_timestamp(soon)));
        let empty = serde_json::to_value(deferral_retries(&[], &pauses)).unwrap();
        assert_eq!(
            empty,
            json!({"total": 0, "overdue": 0, "nextAttemptAt": null})
        );
    }
}
