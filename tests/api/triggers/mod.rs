//! Triggers (SPEC §5, §6.3, §6.4): definitions and their errors, webhook deliveries and every §5.3 outcome
//! against a real receiver, auto-pause with hold and half-open resume, on-call pause and resume, restarts. Tests
//! run on every deployment with tokens for a writer, an operator and a reader.

mod backtest;
mod claim;
mod cli;
mod crash;
mod crud;
mod delivery;
mod explain;
mod pause;
mod replay;
mod replay_crash;
mod scale_out;
mod surfaces;

use base64::Engine;
use herald::auth::{AccessPolicy, Scope, TokenRegistry};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

pub use crate::helpers::call;
use crate::helpers::{Db, Mode, Received, TestApp, TestEnv, eventually_some};

/// `triggers:write` + `triggers:read` + `events:publish`.
pub const WRITER: &str = "t-writer";
/// `triggers:operate` + `triggers:read`.
pub const OPERATOR: &str = "t-operator";
/// `triggers:read` only.
pub const READER: &str = "t-reader";

/// A test environment whose webhooks may reach 127.0.0.1, with short auto-pause settings.
pub async fn env(db: Db, mode: Mode) -> TestEnv {
    let mut env = TestEnv::new(db, mode).await;
    env.set("HERALD_WEBHOOK_ALLOW_CIDRS", "127.0.0.0/8");
    env
}

/// Herald on `env`, requiring tokens.
pub async fn spawn_on(env: &TestEnv) -> TestApp {
    env.spawn_with(access(), None).await
}

/// Herald on `env` again, once the previous one has stopped.
pub async fn respawn_on(env: &TestEnv) -> TestApp {
    env.respawn_with(access(), None).await
}

fn access() -> AccessPolicy {
    let registry = TokenRegistry::from_tokens(&[
        (
            WRITER,
            "writer",
            &[
                Scope::TriggersWrite,
                Scope::TriggersRead,
                Scope::EventsPublish,
                Scope::EventsRead,
            ],
        ),
        (
            OPERATOR,
            "oncall",
            &[Scope::TriggersOperate, Scope::TriggersRead],
        ),
        (READER, "reader", &[Scope::TriggersRead]),
    ]);
    AccessPolicy::Tokens(registry)
}

/// A webhook trigger on `eventType` to `url` with fast retries; `extra` fields are merged in. Returns the trigger
/// and its secret.
pub async fn create_webhook(
    app: &TestApp,
    event_type: &str,
    url: &str,
    extra: Value,
) -> (Value, String) {
    let mut body = json!({
        "name": format!("hook {event_type}"),
        "eventType": event_type,
        "target": {"kind": "webhook", "url": url, "timeoutMs": 1000},
        "retry": {"maxAttempts": 3, "initialDelayMs": 50, "multiplier": 2, "maxDelayMs": 200},
    });
    for (k, v) in extra.as_object().expect("an object") {
        body[k] = v.clone();
    }
    let (status, answer) = call(app, Method::POST, "/admin/triggers", WRITER, Some(body)).await;
    assert_eq!(status, 201, "{answer}");
    let secret = answer["secret"]
        .as_str()
        .expect("a webhook secret")
        .to_owned();
    (answer["data"].clone(), secret)
}

/// Publishes `events` (each `{type, source, payload, …}`, given an id when it has none) and returns their ids.
pub async fn publish(app: &TestApp, events: Vec<Value>) -> Vec<String> {
    let events: Vec<Value> = events
        .into_iter()
        .map(|mut e| {
            if e.get("id").is_none() {
                e["id"] = json!(ulid::Ulid::generate().to_string());
            }
            e
        })
        .collect();
    let ids = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let (status, answer) = call(
        app,
        Method::POST,
        "/events",
        WRITER,
        Some(Value::Array(events)),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    ids
}

/// The trigger's deliveries (newest first), optionally of one status.
pub async fn deliveries(app: &TestApp, trigger_id: &str, query: &str) -> Vec<Value> {
    let (status, answer) = call(
        app,
        Method::GET,
        &format!("/admin/triggers/{trigger_id}/deliveries?limit=200{query}"),
        READER,
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer["data"]["deliveries"]
        .as_array()
        .expect("deliveries")
        .clone()
}

/// Waits until the trigger has `n` deliveries in `status`, and returns them.
pub async fn wait_for(app: &TestApp, trigger_id: &str, status: &str, n: usize) -> Vec<Value> {
    eventually_some(&format!("{n} {status} deliveries"), || async {
        let found = deliveries(app, trigger_id, &format!("&status={status}")).await;
        (found.len() == n).then_some(found)
    })
    .await
}

/// `GET /admin/deliveries/{id}`.
pub async fn delivery(app: &TestApp, id: &str) -> Value {
    let (status, answer) = call(
        app,
        Method::GET,
        &format!("/admin/deliveries/{id}"),
        READER,
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer["data"].clone()
}

/// POSTs each body of `cases` to `path` with `token`: each is a `400` with its code and `details.field`.
pub async fn assert_refused(app: &TestApp, path: &str, token: &str, cases: &[(Value, &str, &str)]) {
    for (body, code, field) in cases {
        let (status, answer) = call(app, Method::POST, path, token, Some(body.clone())).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], *code, "{body} → {answer}");
        assert_eq!(
            answer["error"]["details"]["field"], *field,
            "{body} → {answer}"
        );
    }
}

/// Checks a request's Standard Webhooks signature with `secret`, computed here independently of Herald.
pub fn assert_signed(request: &Received, secret: &str) {
    let id = request.header("webhook-id").expect("webhook-id");
    let timestamp = request
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let signature = request
        .header("webhook-signature")
        .expect("webhook-signature");
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(
        signature, expected,
        "the signature verifies with the secret returned at create"
    );
}
