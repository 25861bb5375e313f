//! CloudEvents 1.0 in (SPEC §1): structured, batch and binary mode over HTTP in every deployment, and the
//! stream's `cloudevent` field in redis mode. Each round trip reads the event back through `GET /admin/events/{id}`.

mod binary;
mod stream;
mod structured;

use serde_json::{Value, json};

/// A valid structured-mode CloudEvent with every mapped attribute, a context attribute and an extension.
fn cloud_event(id: &str) -> Value {
    json!({
        "specversion": "1.0", "id": id, "type": "billing.invoice.paid", "source": "/billing/api",
        "time": "2026-01-02T03:04:05.678+01:00", "subject": "inv-7", "datacontenttype": "application/json",
        "data": {"amount": 42}, "correlationid": "c-1", "causationid": "e-0", "traceparent": "00-abc-def-01"
    })
}

/// The smallest valid structured-mode CloudEvent.
fn minimal(id: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "type": "billing.invoice.paid", "source": "/billing/api"})
}

/// [`minimal`] with `attribute` set to `value` (`null` removes it, which CloudEvents reads as absent).
fn minimal_with(id: &str, attribute: &str, value: Value) -> Value {
    let mut event = minimal(id);
    if value.is_null() {
        event.as_object_mut().unwrap().remove(attribute);
    } else {
        event[attribute] = value;
    }
    event
}

/// Asserts the stored view of [`cloud_event`] `id`: the envelope fields it maps to and `metadata.cloudEvents`.
fn assert_mapped(event: &Value, id: &str, case: &str) {
    assert_eq!(event["id"], id, "{case}");
    assert_eq!(event["type"], "billing.invoice.paid", "{case}");
    assert_eq!(event["source"], "/billing/api", "{case}");
    assert_eq!(event["occurredAt"], "2026-01-02T02:04:05.678Z", "{case}");
    assert_eq!(event["payload"], json!({"amount": 42}), "{case}");
    assert_eq!(event["correlationId"], "c-1", "{case}");
    assert_eq!(event["causationId"], "e-0", "{case}");
    assert_eq!(
        event["metadata"],
        json!({"cloudEvents": {
            "specversion": "1.0", "subject": "inv-7", "datacontenttype": "application/json",
            "traceparent": "00-abc-def-01"
        }}),
        "{case}"
    );
}
