//! `POST /events` in both deployments (SPEC §2.2).

mod batches;
mod body;
mod publish;
mod rules;

use serde_json::{Value, json};

use crate::helpers::{TestApp, envelope};

/// A valid envelope without an id; the rule tables change one field of it.
fn valid() -> Value {
    json!({ "type": "test.rule.checked", "source": "tests.api", "payload": { "n": 1 } })
}

/// [`valid`] with `field` set to `value` (which may be `null`).
fn with(field: &str, value: Value) -> Value {
    let mut envelope = valid();
    envelope[field] = value;
    envelope
}

/// [`valid`] without `field`.
fn without(field: &str) -> Value {
    let mut envelope = valid();
    envelope.as_object_mut().unwrap().remove(field);
    envelope
}

/// A JSON string whose compact serialisation is exactly `bytes` long (the quotes count).
fn string_of_json_bytes(bytes: usize) -> Value {
    Value::String("x".repeat(bytes - 2))
}

/// Publishes one valid envelope and waits until it is stored, so a test can show it survives what follows.
async fn publish_a_survivor(app: &TestApp, id: &str) {
    let response = app.post_events(&envelope(id)).await;
    assert_eq!(response.status(), 202, "the survivor {id} is accepted");
    app.stored_event(id).await;
}

/// Asserts that Herald still answers and still serves what it accepted before.
async fn assert_still_serving(app: &TestApp, survivor: &str, after: &str) {
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "/healthz after {after}"
    );
    assert_eq!(
        app.get_event(survivor).await.status(),
        200,
        "event {survivor} is still readable after {after}"
    );
}

/// Asserts a SPEC error body: `status`, `error.code`, a non-empty message and, when given, `error.details.field`.
pub(crate) async fn assert_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
    field: Option<&str>,
    case: &str,
) -> Value {
    assert_eq!(response.status(), status, "{case}: status");
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], code, "{case}: code in {body}");
    assert!(
        !body["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{case}: a message in {body}"
    );
    if let Some(field) = field {
        assert_eq!(
            body["error"]["details"]["field"], field,
            "{case}: field in {body}"
        );
    }
    body
}
