//! `POST /admin/dead-letters/{id}/redrive` and `DELETE /admin/dead-letters/{id}` (SPEC §6.6): a redriven entry goes
//! back through validation and storage (with a corrected envelope, or as it was once its cause is resolved), is
//! marked `redrivenAt`, and a dead letter that fails again stays with the new reason and message.

use herald::auth::AccessPolicy;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Db, Mode, Receiver, TestApp, TestEnv, call, call_as, eventually, token_registry,
};

use super::{DATABASES, exactly, spawn};

/// `method /admin/dead-letters/{path}` with an optional JSON body; the status and the JSON answer (`null` if none).
async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let path = format!("/admin/dead-letters/{path}");
    call_as(app, method, &path, app.token.as_deref(), body).await
}

async fn redrive(app: &TestApp, id: &str, body: Option<Value>) -> (u16, Value) {
    send(app, Method::POST, &format!("{id}/redrive"), body).await
}

async fn dead_letter(app: &TestApp, id: &str) -> (u16, Value) {
    send(app, Method::GET, id, None).await
}

/// XADDs `envelope` and waits for it to be the only dead letter; returns it.
async fn one_dead_letter(app: &TestApp, envelope: &str) -> Value {
    app.xadd_envelope(envelope).await;
    exactly(app, 1).await.remove(0)
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_corrected_envelope_is_stored_and_the_dead_letter_marked_redriven_once() {
    for db in DATABASES {
        // Arrange: `billing` is not a valid type (one segment).
        let app = spawn(db).await;
        let letter = one_dead_letter(
            &app,
            r#"{"id":"dl-fix","type":"billing","source":"billing.api"}"#,
        )
        .await;
        let id = letter["id"].as_str().unwrap();
        assert_eq!(letter["reason"], "invalid_field", "{db:?}");
        let corrected = json!({"id": "dl-fix", "type": "billing.invoice.paid", "source": "billing.api",
            "payload": {"amount": 12}});

        // Act
        let (status, body) = redrive(&app, id, Some(json!({ "envelope": corrected }))).await;

        // Assert
        assert_eq!(status, 202, "{db:?}: {body}");
        assert_eq!(body["data"]["event"]["id"], "dl-fix", "{db:?}: {body}");
        assert_eq!(body["data"]["event"]["duplicate"], false, "{db:?}: {body}");
        assert!(
            body["data"]["deadLetter"]["redrivenAt"].is_string(),
            "{db:?}: {body}"
        );
        let stored = app.stored_event("dl-fix").await;
        assert_eq!(stored["type"], "billing.invoice.paid", "{db:?}");
        assert_eq!(stored["payload"], json!({"amount": 12}), "{db:?}");
        let (_, read) = dead_letter(&app, id).await;
        assert_eq!(
            read["data"]["redrivenAt"], body["data"]["deadLetter"]["redrivenAt"],
            "{db:?}: the list and detail show when it was redriven"
        );
        assert_eq!(
            read["data"]["raw"], letter["raw"],
            "{db:?}: the raw entry is kept as it came"
        );

        let (again, body) = redrive(&app, id, Some(json!({ "envelope": corrected }))).await;
        assert_eq!(again, 409, "{db:?}: a second redrive is refused: {body}");
        assert_eq!(body["error"]["code"], "invalid_state", "{db:?}: {body}");
        assert!(
            body["error"]["details"]["redrivenAt"].is_string(),
            "{db:?}: {body}"
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_entry_refused_by_its_schema_is_stored_as_it_was_once_the_schema_accepts_it() {
    for db in DATABASES {
        // Arrange: the schema wants a numeric amount; the entry has none of an id, so its id comes from the entry.
        let app = spawn(db).await;
        let strict = json!({"type": "object", "required": ["amount"],
            "properties": {"amount": {"type": "number"}}});
        put_schema(&app, "orders.order.created", &strict).await;
        let letter = one_dead_letter(
            &app,
            r#"{"type":"orders.order.created","source":"orders.api","payload":{"amount":"12.50"}}"#,
        )
        .await;
        let id = letter["id"].as_str().unwrap();
        assert_eq!(letter["reason"], "schema_mismatch", "{db:?}: {letter}");

        // Act 1: the cause is not resolved yet.
        let (refused, body) = redrive(&app, id, None).await;

        // Assert 1: refused as `POST /events` would refuse it; the dead letter stays, not redriven.
        assert_eq!(body["error"]["code"], "schema_mismatch", "{db:?}: {body}");
        assert!((400..500).contains(&refused), "{db:?}: {refused}");
        let (_, read) = dead_letter(&app, id).await;
        assert!(read["data"]["redrivenAt"].is_null(), "{db:?}: {read}");

        // Act 2: a new schema version accepts string amounts.
        let lenient = json!({"type": "object", "required": ["amount"],
            "properties": {"amount": {"type": ["number", "string"]}}});
        put_schema(&app, "orders.order.created", &lenient).await;
        let (status, body) = redrive(&app, id, None).await;

        // Assert 2: stored as it was.
        assert_eq!(status, 202, "{db:?}: {body}");
        let event_id = body["data"]["event"]["id"].as_str().unwrap();
        let stored = app.stored_event(event_id).await;
        assert_eq!(stored["payload"], json!({"amount": "12.50"}), "{db:?}");
        assert_eq!(stored["source"], "orders.api", "{db:?}");
        assert_eq!(
            stored["schemaVersion"], 2,
            "{db:?}: checked against the new version"
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_redriven_event_goes_through_the_pipeline_and_fires_the_triggers_it_matches() {
    for db in DATABASES {
        // Arrange: a trigger on the corrected type, and a dead letter.
        let mut env = TestEnv::new(db, Mode::Redis).await;
        env.set("HERALD_WEBHOOK_ALLOW_CIDRS", "127.0.0.0/8");
        let app = env.spawn().await;
        let receiver = Receiver::start().await;
        let response = app
            .client
            .post(format!("{}/admin/triggers", app.address))
            .json(&json!({"name": "paid", "eventType": "billing.invoice.paid",
                "target": {"kind": "webhook", "url": receiver.url, "timeoutMs": 1000}}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201, "{db:?}");
        let letter = one_dead_letter(&app, r#"{"type":"billing","source":"billing.api"}"#).await;
        let corrected =
            json!({"id": "dl-hook", "type": "billing.invoice.paid", "source": "billing.api"});

        // Act
        let (status, body) = redrive(
            &app,
            letter["id"].as_str().unwrap(),
            Some(json!({
                "envelope": corrected
            })),
        )
        .await;

        // Assert
        assert_eq!(status, 202, "{db:?}: {body}");
        eventually("the trigger to deliver the redriven event", || {
            let receiver = receiver.clone();
            async move {
                receiver
                    .accepted()
                    .iter()
                    .any(|r| String::from_utf8_lossy(&r.body).contains("dl-hook"))
            }
        })
        .await;
        receiver.stop().await;
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_redrive_that_fails_again_keeps_the_dead_letter_with_the_new_reason_and_message() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let letter = one_dead_letter(&app, r#"{"type":"billing","source":"billing.api"}"#).await;
        let id = letter["id"].as_str().unwrap();

        // Act: the correction fixes the type but adds an unknown field.
        let corrected =
            json!({"type": "billing.invoice.paid", "source": "billing.api", "colour": "red"});
        let (status, body) = redrive(&app, id, Some(json!({ "envelope": corrected }))).await;

        // Assert
        assert_eq!(status, 400, "{db:?}: {body}");
        assert_eq!(body["error"]["code"], "unknown_field", "{db:?}: {body}");
        let (_, read) = dead_letter(&app, id).await;
        let read = &read["data"];
        assert_eq!(read["reason"], "unknown_field", "{db:?}: {read}");
        assert!(
            read["message"].as_str().unwrap().contains("colour"),
            "{db:?}: the new message names the field: {read}"
        );
        assert!(read["redrivenAt"].is_null(), "{db:?}: {read}");
        assert_eq!(read["raw"], letter["raw"], "{db:?}");
        assert_eq!(
            app.all_dead_letters("").await.len(),
            1,
            "{db:?}: still one dead letter"
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_id_conflict_redriven_as_it_was_conflicts_again_and_a_new_id_stores_it() {
    for db in DATABASES {
        // Arrange: `dl-dup` is stored, then an entry reuses the id with another payload.
        let app = spawn(db).await;
        app.publish_ok(&[json!({"id": "dl-dup", "type": "billing.invoice.paid",
            "source": "billing.api", "payload": {"n": 1}})])
            .await;
        app.stored_event("dl-dup").await;
        let letter = one_dead_letter(
            &app,
            r#"{"id":"dl-dup","type":"billing.invoice.paid","source":"billing.api","payload":{"n":2}}"#,
        )
        .await;
        let id = letter["id"].as_str().unwrap();
        assert_eq!(letter["reason"], "id_conflict", "{db:?}: {letter}");

        // Act 1
        let (status, body) = redrive(&app, id, None).await;

        // Assert 1: the same conflict; the dead letter stays, not redriven.
        assert_eq!(status, 409, "{db:?}: {body}");
        assert_eq!(body["error"]["code"], "id_conflict", "{db:?}: {body}");
        let (_, read) = dead_letter(&app, id).await;
        assert_eq!(read["data"]["reason"], "id_conflict", "{db:?}: {read}");
        assert!(read["data"]["redrivenAt"].is_null(), "{db:?}: {read}");

        // Act 2: corrected with an id of its own.
        let corrected = json!({"id": "dl-dup-2", "type": "billing.invoice.paid",
            "source": "billing.api", "payload": {"n": 2}});
        let (status, body) = redrive(&app, id, Some(json!({ "envelope": corrected }))).await;

        // Assert 2
        assert_eq!(status, 202, "{db:?}: {body}");
        assert_eq!(
            app.stored_event("dl-dup-2").await["payload"],
            json!({"n": 2}),
            "{db:?}"
        );
        assert_eq!(
            app.stored_event("dl-dup").await["payload"],
            json!({"n": 1}),
            "{db:?}"
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_deleted_dead_letter_is_gone_and_unknown_ids_or_bodies_are_clear_errors() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let letter = one_dead_letter(&app, r#"{"type":"billing","source":"billing.api"}"#).await;
        let id = letter["id"].as_str().unwrap();

        // Act + Assert
        let (status, body) = redrive(&app, id, Some(json!({"envelop": {}}))).await;
        assert_eq!(status, 400, "{db:?}: a misspelt body field: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("envelop"),
            "{body}"
        );

        let (status, body) = send(&app, Method::DELETE, id, None).await;
        assert_eq!(status, 204, "{db:?}: {body}");
        assert_eq!(dead_letter(&app, id).await.0, 404, "{db:?}");
        assert!(app.all_dead_letters("").await.is_empty(), "{db:?}");
        let (status, body) = send(&app, Method::DELETE, id, None).await;
        assert_eq!(status, 404, "{db:?}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{db:?}: {body}");
        let (status, body) = redrive(&app, "01JNOSUCHDEADLETTER0000000", None).await;
        assert_eq!(status, 404, "{db:?}: {body}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn redrive_and_delete_need_sources_operate() {
    // Arrange
    let env = TestEnv::new(Db::Sqlite, Mode::Redis).await;
    let app = env
        .spawn_with(
            AccessPolicy::Tokens(token_registry()),
            Some("t-events:read".into()),
        )
        .await;
    app.xadd_envelope(r#"{"type":"billing","source":"billing.api"}"#)
        .await;
    let letter = exactly(&app, 1).await.remove(0);
    let id = letter["id"].as_str().unwrap();
    let redrive_path = format!("/admin/dead-letters/{id}/redrive");
    let path = format!("/admin/dead-letters/{id}");

    // Act + Assert
    for (method, path) in [(Method::POST, &redrive_path), (Method::DELETE, &path)] {
        let (status, body) = call(&app, method.clone(), path, "t-events:read", None).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert_eq!(
            body["error"]["details"]["requiredScope"], "sources:operate",
            "{body}"
        );
    }
    let (status, body) = call(&app, Method::DELETE, &path, "t-sources:operate", None).await;
    assert_eq!(status, 204, "{body}");
}

async fn put_schema(app: &TestApp, event_type: &str, schema: &Value) {
    let response = app
        .client
        .put(format!("{}/admin/event-schemas/{event_type}", app.address))
        .json(schema)
        .send()
        .await
        .expect("request");
    assert!(response.status().is_success(), "{}", response.status());
}
