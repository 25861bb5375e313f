//! Saved views (SPEC §6.8): CRUD and slugs, owner rules and scope, apply counts and analytics, bad filters. Every
//! test runs on every deployment with tokens for two subjects (`alice`, `bob`, both `events:read`), a publisher
//! and a token without `events:read`.

mod access;
mod analytics;
mod crud;
mod filters;

use herald::auth::{AccessPolicy, Scope, TokenRegistry};
use reqwest::Method;
use serde_json::Value;

pub use crate::helpers::call;
use crate::helpers::{Db, Mode, TestApp, TestEnv, eventually};

/// `alice`'s token (`events:read`).
pub const ALICE: &str = "t-alice";
/// `bob`'s token (`events:read`).
pub const BOB: &str = "t-bob";
/// A token with `events:publish` only: no saved views for it.
pub const PUBLISHER: &str = "t-publisher";

/// Herald requiring tokens: alice and bob read, the publisher publishes.
pub async fn spawn(db: Db, mode: Mode) -> TestApp {
    let registry = TokenRegistry::from_tokens(&[
        (ALICE, "alice", &[Scope::EventsRead]),
        (BOB, "bob", &[Scope::EventsRead]),
        (PUBLISHER, "publisher", &[Scope::EventsPublish]),
    ]);
    TestEnv::new(db, mode)
        .await
        .spawn_with(AccessPolicy::Tokens(registry), None)
        .await
}

/// `POST /admin/saved-views` as `token`; insists on 201 and answers the view.
pub async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, answer) = call(app, Method::POST, "/admin/saved-views", token, Some(body)).await;
    assert_eq!(status, 201, "{answer}");
    answer["data"].clone()
}

/// Publishes `envelopes` as the publisher and waits until alice can read every one.
pub async fn publish(app: &TestApp, envelopes: Vec<Value>) {
    let ids: Vec<String> = envelopes
        .iter()
        .map(|e| e["id"].as_str().expect("an id").to_owned())
        .collect();
    let (status, answer) = call(
        app,
        Method::POST,
        "/events",
        PUBLISHER,
        Some(Value::Array(envelopes)),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    for id in ids {
        eventually(&format!("event {id} to be stored"), || async {
            call(
                app,
                Method::GET,
                &format!("/admin/events/{id}"),
                ALICE,
                None,
            )
            .await
            .0 == 200
        })
        .await;
    }
}
