//! The reserved `metadata.__workflow` object: which workflow run and job published an event.
//!
//! # Format
//!
//! ```json
//! {"workflowDefinitionId": "wf-alpha", "workflowRunId": "run-1", "workflowRunStepId": "step-1",
//!  "jobRunId": "job-run-1", "jobSlug": "ingest", "workflowRunKey": "nightly-2026-11-22"}
//! ```
//!
//! All values are strings, trimmed, non-blank and at most 256 characters; `workflowRunKey` is optional.
//!
//! # Extra keys
//!
//! SPEC §1 has the *publisher* drop extra keys before injecting a context; it is silent on what the server does with
//! a hand-written `__workflow` that has them. Server side, extras are **accepted and kept unchanged**: rejecting
//! them would break events from publishers newer than this server, and dropping them would silently rewrite a
//! user's metadata. Only the reserved keys are validated and normalised (trimmed). [`WorkflowContext`] itself holds
//! only the reserved keys, so a publisher that goes through [`WorkflowContext::parse`] and
//! [`WorkflowContext::to_json`] drops extras as SPEC asks.

use serde::Serialize;
use serde_json::{Map, Value};

use super::error::{ErrorCode, ValidationError};

/// The metadata key reserved for the workflow context.
pub const WORKFLOW_METADATA_KEY: &str = "__workflow";

/// The longest value of any workflow-context key, in characters after trimming.
pub const WORKFLOW_FIELD_MAX_CHARS: usize = 256;

/// The largest context, as compact JSON, that the publisher injects. Server side this is not enforced: the
/// per-key limits already bound the reserved keys, and the 64 KiB metadata limit bounds the rest.
pub const WORKFLOW_CONTEXT_MAX_BYTES: usize = 2048;

const FIELD: &str = "metadata.__workflow";
const REQUIRED_KEYS: [&str; 5] = [
    "workflowDefinitionId",
    "workflowRunId",
    "workflowRunStepId",
    "jobRunId",
    "jobSlug",
];
const RUN_KEY: &str = "workflowRunKey";

/// A validated, trimmed workflow context.
///
/// Fields are private so a context can only come from [`WorkflowContext::parse`]; serialises to the camelCase
/// wire object with only the reserved keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowContext {
    workflow_definition_id: String,
    workflow_run_id: String,
    workflow_run_step_id: String,
    job_run_id: String,
    job_slug: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow_run_key: Option<String>,
}

impl WorkflowContext {
    /// Validates a `__workflow` value and returns its reserved keys, trimmed. Extra keys are ignored.
    ///
    /// A `null` `workflowRunKey` means absent, as for the envelope's own optional fields.
    ///
    /// # Errors
    ///
    /// `invalid_field` on field `metadata.__workflow` when `value` is not an object, a required key is absent or
    /// `null`, or any reserved value is not a string, is blank after trimming or is longer than 256 characters. The
    /// message names the offending key.
    pub fn parse(value: &Value) -> Result<WorkflowContext, ValidationError> {
        let Value::Object(object) = value else {
            return Err(error(format!(
                "`{FIELD}` must be a JSON object with {}",
                REQUIRED_KEYS.join(", ")
            )));
        };
        let [definition, run, step, job_run, slug] = REQUIRED_KEYS;
        Ok(WorkflowContext {
            workflow_definition_id: required(object, definition)?,
            workflow_run_id: required(object, run)?,
            workflow_run_step_id: required(object, step)?,
            job_run_id: required(object, job_run)?,
            job_slug: required(object, slug)?,
            workflow_run_key: optional(object, RUN_KEY)?,
        })
    }

    /// The workflow definition the run belongs to.
    pub fn workflow_definition_id(&self) -> &str {
        &self.workflow_definition_id
    }

    /// The workflow run that published the event.
    pub fn workflow_run_id(&self) -> &str {
        &self.workflow_run_id
    }

    /// The step of that run.
    pub fn workflow_run_step_id(&self) -> &str {
        &self.workflow_run_step_id
    }

    /// The job run executing the step.
    pub fn job_run_id(&self) -> &str {
        &self.job_run_id
    }

    /// The job's slug.
    pub fn job_slug(&self) -> &str {
        &self.job_slug
    }

    /// The caller-chosen run key, when the run has one.
    pub fn workflow_run_key(&self) -> Option<&str> {
        self.workflow_run_key.as_deref()
    }

    /// The wire object: the reserved keys only, `workflowRunKey` only when present.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        self.write_into(&mut object);
        Value::Object(object)
    }

    /// Overwrites the reserved keys of `object` with this context's (trimmed) values, leaving other keys alone.
    fn write_into(&self, object: &mut Map<String, Value>) {
        let pairs = [
            ("workflowDefinitionId", &self.workflow_definition_id),
            ("workflowRunId", &self.workflow_run_id),
            ("workflowRunStepId", &self.workflow_run_step_id),
            ("jobRunId", &self.job_run_id),
            ("jobSlug", &self.job_slug),
        ];
        for (key, value) in pairs {
            object.insert(key.to_owned(), Value::String(value.clone()));
        }
        match &self.workflow_run_key {
            Some(run_key) => object.insert(RUN_KEY.to_owned(), Value::String(run_key.clone())),
            None => object.remove(RUN_KEY),
        };
    }
}

/// Validates and normalises `metadata.__workflow` in place, as the server does for every incoming envelope.
///
/// Absent: nothing to do. `null`: treated as absent and removed, so stored metadata never carries a `null`
/// context. Otherwise the reserved values are replaced by their trimmed form, a `null` `workflowRunKey` is removed,
/// and extra keys are kept (see the module docs for why).
///
/// # Errors
///
/// As [`WorkflowContext::parse`].
pub fn normalize_workflow_metadata(
    metadata: &mut Map<String, Value>,
) -> Result<(), ValidationError> {
    let Some(raw) = metadata.get_mut(WORKFLOW_METADATA_KEY) else {
        return Ok(());
    };
    if raw.is_null() {
        metadata.remove(WORKFLOW_METADATA_KEY);
        return Ok(());
    }
    let context = WorkflowContext::parse(raw)?;
    if let Value::Object(object) = raw {
        context.write_into(object);
    }
    Ok(())
}

fn error(message: String) -> ValidationError {
    ValidationError::new(ErrorCode::InvalidField, Some(FIELD.to_owned()), message)
}

fn required(object: &Map<String, Value>, key: &str) -> Result<String, ValidationError> {
    optional(object, key)?.ok_or_else(|| error(format!("`{FIELD}.{key}` is required")))
}

fn optional(object: &Map<String, Value>, key: &str) -> Result<Option<String>, ValidationError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let trimmed = s.trim();
            if trimmed.is_empty() {
                return Err(error(format!("`{FIELD}.{key}` must not be blank")));
            }
            let chars = trimmed.chars().count();
            if chars > WORKFLOW_FIELD_MAX_CHARS {
                return Err(error(format!(
                    "`{FIELD}.{key}` must be at most {WORKFLOW_FIELD_MAX_CHARS} characters (got {chars})"
                )));
            }
            Ok(Some(trimmed.to_owned()))
        }
        Some(_) => Err(error(format!("`{FIELD}.{key}` must be a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "workflowDefinitionId": "wf-alpha",
            "workflowRunId": "run-1",
            "workflowRunStepId": "step-1",
            "jobRunId": "job-run-1",
            "jobSlug": "ingest",
        })
    }

    fn assert_rejected(value: Value, needle: &str) {
        let err = WorkflowContext::parse(&value).expect_err("invalid context");
        assert_eq!(err.code, ErrorCode::InvalidField);
        assert_eq!(err.field.as_deref(), Some("metadata.__workflow"));
        assert!(err.message.contains(needle), "{}", err.message);
    }

    #[test]
    fn a_complete_context_parses() {
        let ctx = WorkflowContext::parse(&valid()).expect("valid");
        assert_eq!(ctx.workflow_definition_id(), "wf-alpha");
        assert_eq!(ctx.workflow_run_id(), "run-1");
        assert_eq!(ctx.workflow_run_step_id(), "step-1");
        assert_eq!(ctx.job_run_id(), "job-run-1");
        assert_eq!(ctx.job_slug(), "ingest");
        assert_eq!(ctx.workflow_run_key(), None);
    }

    #[test]
    fn a_context_that_is_not_an_object_is_rejected() {
        assert_rejected(json!("wf-alpha"), "must be a JSON object");
    }

    #[test]
    fn each_missing_required_key_is_rejected_by_name() {
        for key in REQUIRED_KEYS {
            let mut value = valid();
            value.as_object_mut().expect("object").remove(key);
            assert_rejected(value, &format!("`metadata.__workflow.{key}` is required"));
        }
    }

    #[test]
    fn a_null_required_key_counts_as_missing() {
        let mut value = valid();
        value["jobSlug"] = Value::Null;
        assert_rejected(value, "`metadata.__workflow.jobSlug` is required");
    }

    #[test]
    fn a_non_string_value_is_rejected() {
        let mut value = valid();
        value["jobRunId"] = json!(42);
        assert_rejected(value, "`metadata.__workflow.jobRunId` must be a string");
    }

    #[test]
    fn a_blank_value_is_rejected() {
        let mut value = valid();
        value["workflowRunKey"] = json!("   ");
        assert_rejected(value, "must not be blank");
    }

    #[test]
    fn a_value_of_256_chars_after_trimming_passes_and_257_fails() {
        let mut value = valid();
        value["jobSlug"] = json!(format!("  {}  ", "j".repeat(256)));
        assert!(WorkflowContext::parse(&value).is_ok());
        value["jobSlug"] = json!("j".repeat(257));
        assert_rejected(value, "at most 256 characters");
    }

    #[test]
    fn values_are_trimmed_and_to_json_drops_extra_keys() {
        let mut value = valid();
        value["jobSlug"] = json!("  ingest\n");
        value["workflowRunKey"] = json!(" nightly ");
        value["extra"] = json!(true);
        let ctx = WorkflowContext::parse(&value).expect("valid");
        assert_eq!(ctx.job_slug(), "ingest");
        assert_eq!(ctx.workflow_run_key(), Some("nightly"));
        let json = ctx.to_json();
        assert_eq!(json["jobSlug"], "ingest");
        assert_eq!(json.get("extra"), None);
        assert_eq!(serde_json::to_value(&ctx).expect("serialises"), json);
    }

    #[test]
    fn normalising_trims_in_place_and_keeps_extra_keys() {
        let mut context = valid();
        context["jobSlug"] = json!(" ingest ");
        context["workflowRunKey"] = Value::Null;
        context["extra"] = json!({"k": 1});
        let mut metadata = Map::new();
        metadata.insert(WORKFLOW_METADATA_KEY.to_owned(), context);
        normalize_workflow_metadata(&mut metadata).expect("valid");
        let stored = &metadata[WORKFLOW_METADATA_KEY];
        assert_eq!(stored["jobSlug"], "ingest");
        assert_eq!(stored["extra"], json!({"k": 1}));
        assert_eq!(stored.get("workflowRunKey"), None);
    }

    #[test]
    fn normalising_removes_a_null_context_and_ignores_an_absent_one() {
        let mut metadata = Map::new();
        metadata.insert(WORKFLOW_METADATA_KEY.to_owned(), Value::Null);
        normalize_workflow_metadata(&mut metadata).expect("null is absent");
        assert!(metadata.is_empty());
        normalize_workflow_metadata(&mut metadata).expect("absent is fine");
    }

    #[test]
    fn normalising_an_invalid_context_fails() {
        let mut metadata = Map::new();
        metadata.insert(WORKFLOW_METADATA_KEY.to_owned(), json!([]));
        let err = normalize_workflow_metadata(&mut metadata).expect_err("not an object");
        assert_eq!(err.field.as_deref(), Some("metadata.__workflow"));
    }
}
