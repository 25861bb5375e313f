//! One delivery attempt (SPEC §5.5, §5.1 workflow target): the webhook POST with its Standard Webhooks headers,
//! or the workflow run request (an `XADD` in redis mode; a `workflow.run.requested` notice in inline mode).
//! Never fails: whatever happens becomes a [`Tried`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Recipient;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::actors::TriggerNotice;
use crate::domain::StoredEvent;
use crate::redis::workflow::{RunRequest, request_run};
use crate::trigger::{AttemptOutcome, CompiledTrigger, Delivery, Target, event_json, scope};
use crate::webhook::{Attempt, WebhookClient};

/// Where workflow run requests go.
#[derive(Clone)]
pub enum WorkflowSink {
    /// Redis mode: `XADD` to the target's stream.
    Redis(fred::clients::Client),
    /// Inline mode: recorded and announced as `workflow.run.requested`.
    Inline(Option<Recipient<TriggerNotice>>),
}

impl std::fmt::Debug for WorkflowSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WorkflowSink::Redis(_) => "WorkflowSink::Redis",
            WorkflowSink::Inline(_) => "WorkflowSink::Inline",
        })
    }
}

/// What performs attempts: the webhook client and the workflow sink, shared by every trigger actor.
#[derive(Debug, Clone)]
pub struct Deliverer {
    /// Webhook POSTs, with the address policy.
    pub webhook: WebhookClient,
    /// Workflow run requests.
    pub workflows: WorkflowSink,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    /// Delivered, retryable or failed.
    pub outcome: AttemptOutcome,
    /// The HTTP status, when the receiver answered.
    pub status_code: Option<i32>,
    /// What went wrong.
    pub error: Option<String>,
    /// The receiver's `Retry-After`.
    pub retry_after: Option<TimeDelta>,
    /// How long it took.
    pub duration: Duration,
}

/// The webhook body of SPEC §5.5: `{event, trigger, deliveryId, attempt, parameters}` (and `replayId` for a
/// replayed delivery, SPEC §6.2), or the trigger's `body`
/// template rendered over `{event, trigger, now}`.
pub fn webhook_body(
    trigger: &CompiledTrigger,
    delivery: &Delivery,
    event: &Value,
    body: Option<&crate::trigger::Template>,
    now: DateTime<Utc>,
) -> Value {
    let scope = scope(event, &trigger.json, now);
    if let Some(body) = body {
        return body.render(&scope);
    }
    let mut body = json!({
        "event": event,
        "trigger": trigger.json,
        "deliveryId": delivery.id,
        "attempt": delivery.attempts,
        "parameters": parameters(trigger, &scope),
    });
    if !delivery.replay_id.is_empty() {
        body["replayId"] = Value::String(delivery.replay_id.clone());
    }
    body
}

fn parameters(trigger: &CompiledTrigger, scope: &Value) -> Value {
    trigger
        .definition
        .parameters
        .as_ref()
        .map_or_else(|| json!({}), |t| t.render(scope))
}

impl Deliverer {
    /// Performs attempt number `delivery.attempts` of `delivery` for `trigger`.
    pub async fn attempt(
        self: Arc<Self>,
        trigger: Arc<CompiledTrigger>,
        delivery: Delivery,
        event: StoredEvent,
        now: DateTime<Utc>,
    ) -> Tried {
        let event = event_json(&event);
        match &trigger.definition.target {
            Target::Webhook {
                url,
                headers,
                timeout_ms,
                body,
            } => {
                let payload = webhook_body(&trigger, &delivery, &event, body.as_ref(), now);
                // unwrap-free: serializing a `Value` cannot fail.
                let bytes = serde_json::to_vec(&payload).unwrap_or_default();
                let timestamp = now.timestamp();
                let mut all = headers.clone();
                all.push(("webhook-id".into(), delivery.id.clone()));
                all.push(("webhook-timestamp".into(), timestamp.to_string()));
                if let Some(secret) = &trigger.secret {
                    all.push((
                        "webhook-signature".into(),
                        secret.sign(&delivery.id, timestamp, &bytes),
                    ));
                }
                let attempt = self
                    .webhook
                    .post(url, &all, bytes, Duration::from_millis(*timeout_ms), now)
                    .await;
                tried(attempt)
            }
            Target::Workflow {
                workflow_slug,
                stream,
                run_key,
            } => {
                let started = Instant::now();
                let scope = scope(&event, &trigger.json, now);
                let run_key = run_key.render_text(&scope);
                let parameters = parameters(&trigger, &scope);
                let about = json!({
                    "id": trigger.id, "name": trigger.name, "deliveryId": delivery.id,
                    "eventId": event["id"], "eventType": event["type"], "eventSource": event["source"],
                });
                match &self.workflows {
                    WorkflowSink::Redis(client) => {
                        let request = RunRequest {
                            stream,
                            run_key: &run_key,
                            workflow_slug,
                            parameters: parameters.to_string(),
                            trigger: about.to_string(),
                        };
                        match request_run(client, &request).await {
                            Ok(_) => done(AttemptOutcome::Delivered, None, started),
                            Err(e) => done(
                                AttemptOutcome::Retryable,
                                Some(format!("XADD to {stream} failed: {e}")),
                                started,
                            ),
                        }
                    }
                    WorkflowSink::Inline(notices) => {
                        if let Some(notices) = notices {
                            notices.do_send(TriggerNotice {
                                frame_type: "workflow.run.requested",
                                data: json!({
                                    "runKey": run_key, "workflowSlug": workflow_slug,
                                    "stream": stream, "parameters": parameters, "trigger": about,
                                }),
                            });
                        }
                        done(AttemptOutcome::Delivered, None, started)
                    }
                }
            }
        }
    }
}

fn done(outcome: AttemptOutcome, error: Option<String>, started: Instant) -> Tried {
    Tried {
        outcome,
        status_code: None,
        error,
        retry_after: None,
        duration: started.elapsed(),
    }
}

fn tried(attempt: Attempt) -> Tried {
    match attempt {
        Attempt::Delivered { status, duration } => Tried {
            outcome: AttemptOutcome::Delivered,
            status_code: Some(i32::from(status)),
            error: None,
            retry_after: None,
            duration,
        },
        Attempt::Retryable {
            status,
            error,
            retry_after,
            duration,
        } => Tried {
            outcome: AttemptOutcome::Retryable,
            status_code: status.map(i32::from),
            error: Some(error),
            retry_after,
            duration,
        },
        Attempt::Failed {
            status,
            error,
            duration,
        } => Tried {
            outcome: AttemptOutcome::Failed,
            status_code: status.map(i32::from),
            error: Some(error),
            retry_after: None,
            duration,
        },
    }
}
