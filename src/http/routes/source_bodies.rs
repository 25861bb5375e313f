//! The bodies of the source controls (SPEC §6.5) as wire structs, and their conversion into checked requests:
//! `POST /admin/sources/pause {"source", "reason", "durationMs"?}`, `…/resume {"source", "reason"?}` and
//! `…/discard-backlog {"source", "reason"}`.

use serde::Deserialize;

use crate::domain::{MAX_SOURCE_DURATION_MS, SourceName, ValidationError};
use crate::http::wire::{Field, WireBody};

/// The longest `reason` accepted, in characters: a sentence or two for the on-call log, not a document.
pub const MAX_REASON_CHARS: usize = 1_000;

/// `POST /admin/sources/pause` as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PauseBody {
    /// The source to pause.
    #[serde(default)]
    pub source: Field<String>,
    /// Why (required).
    #[serde(default)]
    pub reason: Field<String>,
    /// How long; absent: until resumed.
    #[serde(default)]
    pub duration_ms: Field<u64>,
}

/// `POST /admin/sources/resume` and `…/discard-backlog` as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceReasonBody {
    /// The source.
    #[serde(default)]
    pub source: Field<String>,
    /// Why (required for a discard, optional for a resume).
    #[serde(default)]
    pub reason: Field<String>,
}

impl WireBody for PauseBody {
    const FIELDS: &'static [&'static str] = &["source", "reason", "durationMs"];
}

impl WireBody for SourceReasonBody {
    const FIELDS: &'static [&'static str] = &["source", "reason"];
}

/// A checked pause request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseRequest {
    /// The source to pause.
    pub source: SourceName,
    /// Why, trimmed.
    pub reason: String,
    /// 1 ms to 30 days; `None`: until resumed.
    pub duration_ms: Option<u64>,
}

/// A checked resume request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeRequest {
    /// The source to resume.
    pub source: SourceName,
    /// Why, trimmed, when given.
    pub reason: Option<String>,
}

/// A checked discard-backlog request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscardRequest {
    /// The source whose backlog goes.
    pub source: SourceName,
    /// Why, trimmed.
    pub reason: String,
}

impl TryFrom<PauseBody> for PauseRequest {
    type Error = ValidationError;

    fn try_from(body: PauseBody) -> Result<PauseRequest, ValidationError> {
        Ok(PauseRequest {
            source: source(body.source)?,
            reason: reason(body.reason)?.ok_or_else(|| ValidationError::missing("reason"))?,
            duration_ms: duration_ms(body.duration_ms)?,
        })
    }
}

impl TryFrom<SourceReasonBody> for ResumeRequest {
    type Error = ValidationError;

    fn try_from(body: SourceReasonBody) -> Result<ResumeRequest, ValidationError> {
        Ok(ResumeRequest {
            source: source(body.source)?,
            reason: reason(body.reason)?,
        })
    }
}

impl TryFrom<SourceReasonBody> for DiscardRequest {
    type Error = ValidationError;

    fn try_from(body: SourceReasonBody) -> Result<DiscardRequest, ValidationError> {
        Ok(DiscardRequest {
            source: source(body.source)?,
            reason: reason(body.reason)?.ok_or_else(|| ValidationError::missing("reason"))?,
        })
    }
}

/// `source`: required, a valid source name.
fn source(field: Field<String>) -> Result<SourceName, ValidationError> {
    let name = field.required("source", || {
        ValidationError::invalid("source", "must be a string")
    })?;
    SourceName::parse(name)
}

/// `reason`: a non-blank string of at most [`MAX_REASON_CHARS`], trimmed; `None` when absent or `null`.
pub(crate) fn reason(field: Field<String>) -> Result<Option<String>, ValidationError> {
    let Some(reason) = field.optional(|| ValidationError::invalid("reason", "must be a string"))?
    else {
        return Ok(None);
    };
    if reason.trim().is_empty() {
        return Err(ValidationError::invalid("reason", "must not be blank"));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ValidationError::invalid(
            "reason",
            format_args!("must be at most {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(Some(reason.trim().to_owned()))
}

/// `durationMs`: a whole number of milliseconds from 1 to 30 days; `None` when absent or `null`.
pub(crate) fn duration_ms(field: Field<u64>) -> Result<Option<u64>, ValidationError> {
    let out_of_range = || {
        ValidationError::invalid(
            "durationMs",
            format_args!(
                "must be a whole number of milliseconds from 1 to {MAX_SOURCE_DURATION_MS} (30 days)"
            ),
        )
    };
    match field.optional(out_of_range)? {
        Some(ms) if !(1..=MAX_SOURCE_DURATION_MS).contains(&ms) => Err(out_of_range()),
        ms => Ok(ms),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::http::ApiError;
    use crate::http::wire::parse_body;

    #[test]
    fn every_listed_field_is_a_field_of_its_body() {
        // The lists decide `unknown_field`; serde's `deny_unknown_fields` would refuse a name the struct lacks.
        let pause = json!({"source": "a.api", "reason": "r", "durationMs": 5});
        let names: Vec<&str> = pause
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(names.len(), PauseBody::FIELDS.len());
        assert!(parse_body::<PauseBody>(pause.to_string().as_bytes()).is_ok());
        let other = json!({"source": "a.api", "reason": "r"});
        assert_eq!(
            other.as_object().unwrap().len(),
            SourceReasonBody::FIELDS.len()
        );
        assert!(parse_body::<SourceReasonBody>(other.to_string().as_bytes()).is_ok());
    }

    fn code(result: Result<impl std::fmt::Debug, ValidationError>) -> (String, Value) {
        let e = ApiError::validation(&result.expect_err("a refusal"));
        let body = e.body();
        (e.code().to_owned(), body["details"]["field"].clone())
    }

    fn pause(text: &str) -> Result<PauseRequest, ValidationError> {
        parse_body::<PauseBody>(text.as_bytes()).and_then(PauseRequest::try_from)
    }

    #[test]
    fn bodies_are_refused_naming_the_field_at_fault() {
        assert_eq!(code(pause("{")).0, "invalid_json");
        assert_eq!(code(pause("[]")).0, "invalid_json");
        assert_eq!(
            code(pause(r#"{"source":"a","resaon":"x"}"#)),
            ("unknown_field".into(), json!("resaon"))
        );
        assert_eq!(
            code(pause(r#"{"reason":"x"}"#)),
            ("missing_field".into(), json!("source"))
        );
        assert_eq!(
            code(pause(r#"{"source":"has space","reason":"x"}"#)),
            ("invalid_field".into(), json!("source"))
        );
        assert_eq!(
            code(pause(r#"{"source":"a","reason":"  "}"#)),
            ("invalid_field".into(), json!("reason"))
        );
        for bad in ["0", "-5", "1.5", "\"60000\"", "2592000001", "true"] {
            assert_eq!(
                code(pause(&format!(
                    r#"{{"source":"a","reason":"x","durationMs":{bad}}}"#
                ))),
                ("invalid_field".into(), json!("durationMs")),
                "{bad}"
            );
        }
        let longest = pause(r#"{"source":"a","reason":" x ","durationMs":2592000000}"#).unwrap();
        assert_eq!(
            (longest.duration_ms, longest.reason.as_str()),
            (Some(MAX_SOURCE_DURATION_MS), "x")
        );
        assert_eq!(
            pause(r#"{"source":"a","reason":"x","durationMs":null}"#)
                .unwrap()
                .duration_ms,
            None
        );
    }

    #[test]
    fn a_resume_takes_an_optional_reason_and_a_discard_requires_one() {
        let body = |text: &str| parse_body::<SourceReasonBody>(text.as_bytes()).unwrap();
        let resume = ResumeRequest::try_from(body(r#"{"source":"a"}"#)).unwrap();
        assert_eq!(resume.reason, None);
        assert_eq!(
            code(ResumeRequest::try_from(body(
                r#"{"source":"a","reason":5}"#
            ))),
            ("invalid_field".into(), json!("reason"))
        );
        assert_eq!(
            code(DiscardRequest::try_from(body(r#"{"source":"a"}"#))),
            ("missing_field".into(), json!("reason"))
        );
    }
}
