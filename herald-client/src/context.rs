//! Workflow context (SPEC §1): which workflow run published an event, injected into `metadata.__workflow`.
//!
//! A workflow runner wraps a job's future in [`with_workflow_context`]; every event the job publishes through an
//! [`crate::EventPublisher`] then carries the context, without the job passing it along. A process started for one
//! job can instead set `HERALD_WORKFLOW_EVENT_CONTEXT` to the context's JSON. The task-local wins over the
//! environment; an envelope that already has `metadata.__workflow` is left as it is.
//!
//! A context is injected only when it is valid: all required keys present, non-blank strings of at most 256
//! characters, and at most [`WORKFLOW_CONTEXT_MAX_BYTES`] as compact JSON. Extra keys are dropped. A context that
//! breaks a rule is not injected, and a debug log says why: the event is still published.

use std::future::Future;

use herald_core::{
    WORKFLOW_CONTEXT_MAX_BYTES, WORKFLOW_METADATA_KEY, WorkflowContext, compact_json_len,
};
use serde_json::{Map, Value};

/// The environment variable holding a workflow context as JSON.
pub const WORKFLOW_CONTEXT_ENV: &str = "HERALD_WORKFLOW_EVENT_CONTEXT";

tokio::task_local! {
    static CURRENT: WorkflowContext;
}

/// Runs `fut` with `context` as the workflow context of every event it publishes.
pub async fn with_workflow_context<F: Future>(context: WorkflowContext, fut: F) -> F::Output {
    CURRENT.scope(context, fut).await
}

/// The context of the current task, if it runs inside [`with_workflow_context`].
pub fn current_workflow_context() -> Option<WorkflowContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Where a context may come from, in order of precedence.
#[derive(Debug, Default, Clone)]
pub(crate) struct ContextSources {
    /// The task-local context.
    pub task: Option<WorkflowContext>,
    /// The raw value of [`WORKFLOW_CONTEXT_ENV`].
    pub env: Option<String>,
}

impl ContextSources {
    /// The sources as the current task and process see them.
    pub(crate) fn current() -> ContextSources {
        ContextSources {
            task: current_workflow_context(),
            env: std::env::var(WORKFLOW_CONTEXT_ENV).ok(),
        }
    }

    /// The context to inject, if any, with a debug log for one that cannot be.
    fn resolve(self) -> Option<Value> {
        let context = match (self.task, self.env) {
            (Some(context), _) => context,
            (None, Some(raw)) => {
                let parsed = serde_json::from_str::<Value>(&raw)
                    .map_err(|e| e.to_string())
                    .and_then(|value| WorkflowContext::parse(&value).map_err(|e| e.to_string()));
                match parsed {
                    Ok(context) => context,
                    Err(reason) => {
                        tracing::debug!(%reason, "{WORKFLOW_CONTEXT_ENV} is not a valid workflow context; not injected");
                        return None;
                    }
                }
            }
            (None, None) => return None,
        };
        let json = context.to_json();
        let size = compact_json_len(&json);
        if size > WORKFLOW_CONTEXT_MAX_BYTES {
            tracing::debug!(
                size,
                limit = WORKFLOW_CONTEXT_MAX_BYTES,
                "the workflow context is too large; not injected"
            );
            return None;
        }
        Some(json)
    }
}

/// Puts the context from `sources` into `envelope.metadata.__workflow` unless one is there already.
///
/// An envelope that is not an object, or whose `metadata` is neither absent, `null` nor an object, is left alone:
/// validation rejects it right after, with the rule it breaks.
pub(crate) fn inject(envelope: &mut Value, sources: ContextSources) {
    let Value::Object(fields) = envelope else {
        return;
    };
    let metadata = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if metadata.is_null() {
        *metadata = Value::Object(Map::new());
    }
    let Value::Object(metadata) = metadata else {
        return;
    };
    let present = metadata
        .get(WORKFLOW_METADATA_KEY)
        .is_some_and(|v| !v.is_null());
    if present {
        return;
    }
    match sources.resolve() {
        Some(context) => {
            metadata.insert(WORKFLOW_METADATA_KEY.to_owned(), context);
        }
        None if metadata.is_empty() => {
            fields.remove("metadata");
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context_json() -> Value {
        json!({"workflowDefinitionId": "wf-alpha", "workflowRunId": "run-1", "workflowRunStepId": "step-1",
               "jobRunId": "job-1", "jobSlug": "ingest"})
    }

    fn context() -> WorkflowContext {
        WorkflowContext::parse(&context_json()).unwrap()
    }

    fn injected(mut envelope: Value, sources: ContextSources) -> Value {
        inject(&mut envelope, sources);
        envelope
    }

    fn from_env(raw: &str) -> ContextSources {
        ContextSources {
            task: None,
            env: Some(raw.to_owned()),
        }
    }

    #[test]
    fn the_task_context_goes_into_metadata() {
        let out = injected(
            json!({"type": "a.b", "source": "s"}),
            ContextSources {
                task: Some(context()),
                env: None,
            },
        );
        assert_eq!(out["metadata"]["__workflow"], context_json());
    }

    #[test]
    fn the_task_context_wins_over_the_environment() {
        let mut other = context_json();
        other["workflowRunId"] = json!("run-from-env");
        let out = injected(
            json!({"type": "a.b", "source": "s"}),
            ContextSources {
                task: Some(context()),
                env: Some(other.to_string()),
            },
        );
        assert_eq!(out["metadata"]["__workflow"]["workflowRunId"], "run-1");
    }

    #[test]
    fn the_environment_context_is_used_without_a_task_context_and_loses_extra_keys() {
        let mut raw = context_json();
        raw["extra"] = json!("dropped");
        raw["jobSlug"] = json!("  ingest  ");
        let out = injected(
            json!({"type": "a.b", "source": "s", "metadata": {"k": 1}}),
            from_env(&raw.to_string()),
        );
        assert_eq!(out["metadata"]["__workflow"], context_json());
        assert_eq!(out["metadata"]["k"], 1);
    }

    #[test]
    fn a_present_context_is_kept() {
        let mine = json!({"workflowDefinitionId": "mine"});
        let out = injected(
            json!({"type": "a.b", "source": "s", "metadata": {"__workflow": mine.clone()}}),
            ContextSources {
                task: Some(context()),
                env: None,
            },
        );
        assert_eq!(out["metadata"]["__workflow"], mine);
    }

    #[test]
    fn an_invalid_or_oversized_context_is_not_injected() {
        let mut missing = context_json();
        missing.as_object_mut().unwrap().remove("jobSlug");
        let mut big = context_json();
        // Every value within its 256-character limit, but two-byte characters take the JSON over 2 KiB.
        for key in [
            "workflowDefinitionId",
            "workflowRunId",
            "workflowRunStepId",
            "jobRunId",
            "jobSlug",
        ] {
            big[key] = json!("é".repeat(256));
        }
        for raw in [missing.to_string(), "not json".to_owned(), big.to_string()] {
            let out = injected(json!({"type": "a.b", "source": "s"}), from_env(&raw));
            assert_eq!(
                out,
                json!({"type": "a.b", "source": "s"}),
                "context {raw} must not be injected"
            );
        }
    }

    #[test]
    fn without_a_source_nothing_is_injected() {
        let envelope = json!({"type": "a.b", "source": "s", "metadata": null});
        assert_eq!(
            injected(envelope, ContextSources::default()),
            json!({"type": "a.b", "source": "s"})
        );
    }

    #[tokio::test]
    async fn with_workflow_context_sets_the_current_context_for_the_future_only() {
        assert_eq!(current_workflow_context(), None);
        let inside = with_workflow_context(context(), async { current_workflow_context() }).await;
        assert_eq!(inside, Some(context()));
        assert_eq!(current_workflow_context(), None);
    }
}
