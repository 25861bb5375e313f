//! `GET /admin/dead-letters` and `GET /admin/dead-letters/{id}` (SPEC §6, §6.6). Dead letters come from stream
//! entries, so every test runs in redis mode, on SQLite and on PostgreSQL.

mod cli;
mod listing;
mod pagination;
mod parameters;
mod redrive;

use serde_json::Value;

use crate::helpers::{Db, Mode, TestApp, TestEnv};

/// The databases dead letters are stored in.
const DATABASES: [Db; 2] = [Db::Sqlite, Db::Postgres];

/// A stream entry that cannot become an event, and what Herald should record about it.
struct Invalid {
    /// The entry's fields.
    fields: Vec<(&'static str, &'static str)>,
    /// The expected reason code.
    reason: &'static str,
    /// The expected `source` (read from the envelope when possible).
    source: Option<&'static str>,
}

/// One entry per reason, from several sources.
fn invalid_entries() -> Vec<Invalid> {
    let envelope = |json: &'static str, reason, source| Invalid {
        fields: vec![("envelope", json)],
        reason,
        source,
    };
    vec![
        envelope("{not json", "invalid_json", None),
        envelope(
            r#"{"id":"dl-type","type":"billing","source":"billing.api"}"#,
            "invalid_field",
            Some("billing.api"),
        ),
        envelope(
            r#"{"id":"dl-missing","source":"shipping.api"}"#,
            "missing_field",
            Some("shipping.api"),
        ),
        envelope(
            r#"{"type":"billing.invoice.paid","source":"billing.api","colour":"red"}"#,
            "unknown_field",
            Some("billing.api"),
        ),
        envelope(
            r#"{"type":"billing.invoice.paid","source":"shipping.api","ttl":0}"#,
            "invalid_field",
            Some("shipping.api"),
        ),
        envelope(
            r#"{"type":"reading","source":"/sensors/tn-1"}"#,
            "invalid_field",
            Some("/sensors/tn-1"),
        ),
        Invalid {
            fields: vec![("payload", r#"{"n":1}"#), ("type", "billing.invoice.paid")],
            reason: "missing_envelope",
            source: None,
        },
    ]
}

/// A fresh Herald in redis mode on `db`.
async fn spawn(db: Db) -> TestApp {
    TestEnv::new(db, Mode::Redis).await.spawn().await
}

/// XADDs every entry and returns their stream ids, in order.
async fn xadd_all(app: &TestApp, entries: &[Invalid]) -> Vec<String> {
    let mut ids = Vec::new();
    for entry in entries {
        let fields = entry
            .fields
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned()))
            .collect();
        ids.push(app.xadd_fields(fields).await);
    }
    ids
}

/// Waits until exactly `n` dead letters exist and returns them, newest first.
async fn exactly(app: &TestApp, n: usize) -> Vec<Value> {
    let letters = app.dead_letters_eventually(n).await;
    assert_eq!(letters.len(), n, "no more dead letters than entries sent");
    letters
}

/// Makes `n` dead letters with reason `invalid_field` from `pager.api`, and returns them newest first.
async fn dead_letters(app: &TestApp, n: usize) -> Vec<Value> {
    for i in 0..n {
        app.xadd_envelope(&format!(r#"{{"type":"page{i}","source":"pager.api"}}"#))
            .await;
    }
    exactly(app, n).await
}

/// `GET /admin/dead-letters?{query}` answered 200; returns the body.
async fn list_ok(app: &TestApp, query: &str) -> Value {
    let response = app.list_dead_letters(query).await;
    assert_eq!(response.status(), 200, "?{query}");
    response.json().await.unwrap()
}

/// The stream ids of a list answer, in order.
fn stream_ids(body: &Value) -> Vec<String> {
    body["data"]["deadLetters"]
        .as_array()
        .unwrap_or_else(|| panic!("data.deadLetters in {body}"))
        .iter()
        .map(|l| l["streamId"].as_str().unwrap().to_owned())
        .collect()
}

/// The stream ids of `letters` that satisfy `keep`, in order.
fn stream_ids_where(letters: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    letters
        .iter()
        .filter(|l| keep(l))
        .map(|l| l["streamId"].as_str().unwrap().to_owned())
        .collect()
}

/// `name=value`, percent-encoded.
fn param(name: &str, value: &str) -> String {
    serde_urlencoded::to_string([(name, value)]).unwrap()
}
