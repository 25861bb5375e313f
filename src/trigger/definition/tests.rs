//! SPEC §5.1's definition rules: defaults, limits, targets, and the `sampleEvent` check.

use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::domain::ErrorCode;
use crate::trigger::GENERATED_SECRET_BYTES;

fn rules() -> DefinitionRules {
    DefinitionRules {
        workflow_stream: "herald:workflow-runs".into(),
        workflow_stream_prefix: "herald:workflow".into(),
        ingress_stream: "herald:events".into(),
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn generated() -> WebhookSecret {
    WebhookSecret::from_random([9; GENERATED_SECRET_BYTES])
}

fn spec_example() -> Value {
    json!({"name": "Refresh search index", "description": "…", "eventType": "metastore.record.updated",
        "eventSource": "metastore.api",
        "predicates": [{"path": "$.payload.namespace", "operator": "equals", "value": "feature-flags"}],
        "target": {"kind": "webhook", "url": "https://search.internal/reindex", "headers": {"x-team": "search"},
                   "timeoutMs": 10000},
        "parameterTemplate": {"key": "{{ event.payload.key }}"},
        "idempotencyKey": "{{ event.payload.key }}-{{ event.payload.version }}",
        "throttle": {"windowMs": 60000, "count": 100}, "maxConcurrency": 10,
        "retry": {"maxAttempts": 6, "initialDelayMs": 1000, "multiplier": 2, "maxDelayMs": 60000}, "status": "active"})
}

fn parse(body: Value) -> Result<Parsed, ValidationError> {
    Definition::parse(&body, &rules(), generated, now())
}

fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    *body.pointer_mut(pointer).expect(pointer) = value;
    body
}

#[test]
fn the_spec_example_parses_and_a_secret_is_generated() {
    let parsed = parse(spec_example()).unwrap();
    let d = &parsed.definition;
    assert_eq!(d.name, "Refresh search index");
    assert_eq!(d.predicates.len(), 1);
    assert_eq!(d.max_concurrency, Some(10));
    assert!(d.active);
    assert!(
        matches!(&d.target, Target::Webhook { timeout_ms: 10_000, headers, .. } if headers.len() == 1)
    );
    assert_eq!(parsed.secret.unwrap().expose(), generated().expose());
    assert!(d.normalized["target"].get("secret").is_none());
}

#[test]
fn a_given_secret_is_kept_but_never_in_the_normalized_definition() {
    let body = with(
        spec_example(),
        "/target",
        json!({"kind": "webhook", "url": "http://127.0.0.1:9000/hook", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
    );
    let parsed = parse(body).unwrap();
    assert_eq!(
        parsed.secret.unwrap().expose(),
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    );
    assert!(!parsed.definition.normalized.to_string().contains("whsec_"));
    assert_eq!(
        parsed.definition.normalized["target"]["timeoutMs"], 10_000,
        "default filled in"
    );
}

#[test]
fn defaults_are_filled_in() {
    let parsed = parse(json!({"name": "n", "eventType": "a.b",
        "target": {"kind": "workflow", "workflowSlug": "reindex"}}))
    .unwrap();
    let n = &parsed.definition.normalized;
    assert_eq!(n["status"], "active");
    assert_eq!(
        n["retry"],
        json!({"maxAttempts": 6, "initialDelayMs": 1000, "multiplier": 2, "maxDelayMs": 60000})
    );
    assert_eq!(n["runKeyTemplate"], DEFAULT_RUN_KEY);
    assert_eq!(n["target"]["stream"], "herald:workflow-runs");
    assert!(parsed.secret.is_none());
}

#[test]
fn every_broken_rule_names_its_field() {
    let long = "x".repeat(201);
    let cases = [
        (with(spec_example(), "/name", json!(long)), "name"),
        (
            with(spec_example(), "/description", json!("d".repeat(2001))),
            "description",
        ),
        (
            with(spec_example(), "/eventType", json!("meta*")),
            "eventType",
        ),
        (
            with(spec_example(), "/eventSource", json!("a.**.b")),
            "eventSource",
        ),
        (
            with(spec_example(), "/predicates/0/value", json!(null)),
            "predicates[0].value",
        ),
        (
            with(spec_example(), "/target/url", json!("ftp://x/")),
            "target.url",
        ),
        (
            with(spec_example(), "/target/timeoutMs", json!(0)),
            "target.timeoutMs",
        ),
        (
            with(spec_example(), "/target/kind", json!("email")),
            "target.kind",
        ),
        (
            with(spec_example(), "/throttle/count", json!(0)),
            "throttle.count",
        ),
        (
            with(spec_example(), "/maxConcurrency", json!(0)),
            "maxConcurrency",
        ),
        (
            with(spec_example(), "/retry/maxAttempts", json!(50)),
            "retry.maxAttempts",
        ),
        (with(spec_example(), "/status", json!("paused")), "status"),
        (
            with(
                spec_example(),
                "/parameterTemplate",
                json!({"k": "{{ event.id | shout }}"}),
            ),
            "parameterTemplate",
        ),
    ];
    for (body, field) in cases {
        let error = parse(body)
            .err()
            .unwrap_or_else(|| panic!("{field} should be refused"));
        assert_eq!(error.field.as_deref(), Some(field), "{error:?}");
    }
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    let mut body = spec_example();
    body["eventTpye"] = json!("x");
    assert_eq!(parse(body).unwrap_err().code, ErrorCode::UnknownField);
    let mut body = spec_example();
    body["target"]["retries"] = json!(3);
    let error = parse(body).unwrap_err();
    assert_eq!(
        (error.code, error.field.as_deref()),
        (ErrorCode::UnknownField, Some("target.retries"))
    );
    let mut body = spec_example();
    body["secret"] = json!("whsec_x");
    assert_eq!(parse(body).unwrap_err().field.as_deref(), Some("secret"));
}

#[test]
fn a_workflow_stream_must_carry_the_prefix_and_never_be_the_ingress_stream() {
    for stream in ["other:runs", "herald:events"] {
        let body = json!({"name": "n", "eventType": "a.b",
            "target": {"kind": "workflow", "workflowSlug": "w", "stream": stream}});
        assert_eq!(
            parse(body).unwrap_err().field.as_deref(),
            Some("target.stream"),
            "{stream}"
        );
    }
    let mut r = rules();
    r.workflow_stream_prefix = "herald:".into();
    let body = json!({"name": "n", "eventType": "a.b",
        "target": {"kind": "workflow", "workflowSlug": "w", "stream": "herald:events"}});
    assert_eq!(
        Definition::parse(&body, &r, generated, now())
            .unwrap_err()
            .field
            .as_deref(),
        Some("target.stream")
    );
}

#[test]
fn templates_are_checked_against_the_sample_event() {
    let mut body = spec_example();
    body["sampleEvent"] = json!({"id": "e", "type": "metastore.record.updated", "payload": {"key": "k", "version": 2}});
    assert!(parse(body.clone()).is_ok());
    body["idempotencyKey"] = json!("{{ event.payload.kee }}");
    let error = parse(body).unwrap_err();
    assert_eq!(error.field.as_deref(), Some("idempotencyKey"));
    assert!(error.message.contains("event.payload.kee"));
}

#[test]
fn a_patch_replaces_the_fields_it_names_and_keeps_the_secret() {
    let created = parse(spec_example()).unwrap();
    let stored = created.definition.normalized.clone();
    let secret = created.secret;
    let patched = Definition::patch(
        &stored,
        &json!({"name": "Renamed", "maxConcurrency": null}),
        &rules(),
        secret.clone(),
        || panic!("the existing secret is kept"),
        now(),
    )
    .unwrap();
    assert_eq!(patched.definition.name, "Renamed");
    assert_eq!(patched.definition.max_concurrency, None);
    assert_eq!(
        patched.definition.predicates.len(),
        1,
        "untouched fields stay"
    );
    assert_eq!(patched.secret.unwrap().expose(), secret.unwrap().expose());
}

#[test]
fn a_patch_is_checked_like_a_create() {
    let stored = parse(spec_example()).unwrap().definition.normalized;
    let patch = |body: Value| Definition::patch(&stored, &body, &rules(), None, generated, now());
    assert_eq!(patch(json!({})).unwrap_err().field.as_deref(), Some("body"));
    assert_eq!(
        patch(json!([1])).unwrap_err().field.as_deref(),
        Some("body")
    );
    assert_eq!(
        patch(json!({"eventType": "a*"}))
            .unwrap_err()
            .field
            .as_deref(),
        Some("eventType")
    );
    assert_eq!(
        patch(json!({"colour": "red"})).unwrap_err().code,
        ErrorCode::UnknownField
    );
    // Switching to a workflow target drops the webhook's secret and gets the default run key.
    let switched =
        patch(json!({"target": {"kind": "workflow", "workflowSlug": "reindex"}})).unwrap();
    assert!(switched.secret.is_none());
    assert_eq!(
        switched.definition.normalized["runKeyTemplate"],
        DEFAULT_RUN_KEY
    );
}
