//! The per-type JSON Schema registry (SPEC §1 "Per-type schemas", §6.7): registration, listing, checks at both
//! ways in, `HERALD_REQUIRE_SCHEMAS`, the refresh across instances, and a vendored part of the official JSON
//! Schema Test Suite.

mod ingest;
mod refresh;
mod registry;
mod suite;

use serde_json::Value;

use crate::helpers::TestApp;

/// An order schema: an object with a string `orderId` and a non-empty array of lines with a `sku`.
fn order_schema() -> Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["orderId", "lines"],
        "properties": {
            "orderId": {"type": "string"},
            "lines": {"type": "array", "minItems": 1,
                      "items": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}}
        }
    })
}

/// `PUT /admin/event-schemas/{event_type}` with `schema` as the body.
async fn put_schema(app: &TestApp, event_type: &str, schema: &Value) -> reqwest::Response {
    put_raw(app, event_type, serde_json::to_vec(schema).expect("json")).await
}

/// `PUT /admin/event-schemas/{event_type}` with a raw JSON body.
async fn put_raw(app: &TestApp, event_type: &str, body: Vec<u8>) -> reqwest::Response {
    let request = app
        .client
        .put(format!("{}/admin/event-schemas/{event_type}", app.address))
        .header("content-type", "application/json")
        .body(body);
    let request = match &app.token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.expect("request")
}

/// Registers `schema` for `event_type` and insists on 201 or 200; answers the version view.
async fn register(app: &TestApp, event_type: &str, schema: &Value) -> Value {
    let response = put_schema(app, event_type, schema).await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert!(
        status == 201 || status == 200,
        "registering {event_type}: {status} {body}"
    );
    body["data"].clone()
}

/// An envelope of `event_type` with `payload` and the given id.
fn event(id: &str, event_type: &str, payload: Value) -> Value {
    serde_json::json!({ "id": id, "type": event_type, "source": "tests.schemas", "payload": payload })
}
