//! Source rate limits and pauses (SPEC §4, §6.5, §13): a limited source's events are stored at once while their
//! trigger evaluation waits, durably, across restarts and instances; on-call engineers pause, resume and discard.

mod control;
mod limits;
mod views;

use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually_some};

/// A valid envelope of `source`.
fn event(id: &str, source: &str) -> Value {
    json!({ "id": id, "type": "test.source.checked", "source": source, "payload": { "id": id } })
}

/// Waits until `source`'s `GET /admin/sources` entry satisfies `check`, and returns it.
async fn view_when(
    app: &TestApp,
    source: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    eventually_some(what, || async {
        app.source_view(source).await.filter(|view| check(view))
    })
    .await
}

/// The answer's `data`, insisting on 200.
async fn data(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}
