//! Create, read, list, patch and delete; what bad definitions get; who may do what.

use reqwest::Method;
use serde_json::{Value, json};

use super::{OPERATOR, READER, WRITER, assert_refused, call, create_webhook, env, spawn_on};
use crate::helpers::DEPLOYMENTS;

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_trigger_is_created_read_listed_patched_and_deleted_with_its_history() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_on(&env(db, mode).await).await;
        let (trigger, secret) = create_webhook(
            &app,
            "shop.order.*",
            "http://127.0.0.1:9/hook",
            json!({"predicates": [{"path": "$.payload.total", "operator": "gt", "value": 10}]}),
        )
        .await;
        let id = trigger["id"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"), "{secret}");
        assert_eq!(trigger["version"], 1, "{db:?}/{mode:?}");
        assert_eq!(trigger["state"], "running");
        assert_eq!(trigger["status"], "active");
        assert_eq!(trigger["pause"], Value::Null);
        assert_eq!(trigger["retry"]["maxAttempts"], 3);
        assert!(
            trigger["target"].get("secret").is_none(),
            "the secret is never shown again"
        );

        let (status, got) = call(
            &app,
            Method::GET,
            &format!("/admin/triggers/{id}"),
            READER,
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(got["data"], trigger);
        assert!(!got.to_string().contains(&secret), "no secret in a read");

        let (_, other) =
            create_webhook(&app, "shop.refund", "http://127.0.0.1:9/x", json!({})).await;
        let (status, list) = call(&app, Method::GET, "/admin/triggers?limit=1", READER, None).await;
        assert_eq!(status, 200);
        let page = &list["data"];
        assert_eq!(page["triggers"].as_array().unwrap().len(), 1);
        assert_eq!(page["page"]["hasMore"], true, "{list}");
        let cursor = page["page"]["nextCursor"].as_str().unwrap();
        let (_, next) = call(
            &app,
            Method::GET,
            &format!("/admin/triggers?limit=1&cursor={cursor}"),
            READER,
            None,
        )
        .await;
        assert_eq!(next["data"]["triggers"][0]["id"], json!(id), "oldest last");
        assert!(!other.is_empty());

        let (status, patched) = call(
            &app,
            Method::PATCH,
            &format!("/admin/triggers/{id}"),
            WRITER,
            Some(json!({"name": "Big orders", "maxConcurrency": 2})),
        )
        .await;
        assert_eq!(status, 200, "{patched}");
        assert_eq!(patched["data"]["version"], 2);
        assert_eq!(patched["data"]["name"], "Big orders");
        assert_eq!(
            patched["data"]["predicates"], trigger["predicates"],
            "untouched fields stay"
        );

        let (status, empty) = call(
            &app,
            Method::PATCH,
            &format!("/admin/triggers/{id}"),
            WRITER,
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 400, "{empty}");

        let (status, _) = call(
            &app,
            Method::DELETE,
            &format!("/admin/triggers/{id}"),
            WRITER,
            None,
        )
        .await;
        assert_eq!(status, 204);
        let (status, gone) = call(
            &app,
            Method::GET,
            &format!("/admin/triggers/{id}"),
            READER,
            None,
        )
        .await;
        assert_eq!(
            (status, gone["error"]["code"].clone()),
            (404, json!("not_found"))
        );
        let (status, _) = call(
            &app,
            Method::DELETE,
            &format!("/admin/triggers/{id}"),
            WRITER,
            None,
        )
        .await;
        assert_eq!(status, 404, "deleting twice");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_invalid_definition_is_refused_naming_the_field_and_code() {
    let app = spawn_on(&env(crate::helpers::Db::Sqlite, crate::helpers::Mode::Inline).await).await;
    let base = json!({"name": "n", "eventType": "a.b", "target": {"kind": "webhook", "url": "http://127.0.0.1:9/"}});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("colour", json!("red")), "unknown_field", "colour"),
        (
            with("eventType", json!("meta*")),
            "invalid_pattern",
            "eventType",
        ),
        (
            with(
                "predicates",
                json!([{"path": "$.payload.a", "operator": "equals", "value": 1},
                                      {"path": "$.payload.n", "operator": "gt", "value": "5"}]),
            ),
            "invalid_field",
            "predicates[1].value",
        ),
        (
            with(
                "predicates",
                json!([{"path": "$.payload.a", "operator": "regex", "value": "("}]),
            ),
            "invalid_field",
            "predicates[0].value",
        ),
        (
            with(
                "target",
                json!({"kind": "webhook", "url": "ftp://example.com/x"}),
            ),
            "invalid_field",
            "target.url",
        ),
        (
            with(
                "target",
                json!({"kind": "workflow", "workflowSlug": "w", "stream": "elsewhere"}),
            ),
            "invalid_field",
            "target.stream",
        ),
        (
            with("name", json!("x".repeat(201))),
            "invalid_field",
            "name",
        ),
    ];
    assert_refused(&app, "/admin/triggers", WRITER, &cases).await;
    let (status, answer) = call(&app, Method::GET, "/admin/triggers", READER, None).await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["triggers"], json!([]), "nothing was stored");
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn each_route_needs_its_scope() {
    let app = spawn_on(&env(crate::helpers::Db::Sqlite, crate::helpers::Mode::Inline).await).await;
    let body = json!({"name": "n", "eventType": "a.b", "target": {"kind": "webhook", "url": "http://127.0.0.1:9/"}});
    for token in [READER, OPERATOR] {
        let (status, answer) = call(
            &app,
            Method::POST,
            "/admin/triggers",
            token,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 403, "{answer}");
        assert_eq!(
            answer["error"]["details"]["requiredScope"],
            "triggers:write"
        );
    }
    let (trigger, _) = create_webhook(&app, "a.b", "http://127.0.0.1:9/", json!({})).await;
    let id = trigger["id"].as_str().unwrap();
    let pause = json!({"reason": "maintenance"});
    let (status, answer) = call(
        &app,
        Method::POST,
        &format!("/admin/triggers/{id}/pause"),
        READER,
        Some(pause.clone()),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        answer["error"]["details"]["requiredScope"],
        "triggers:operate"
    );
    let (status, answer) = call(
        &app,
        Method::POST,
        &format!("/admin/triggers/{id}/pause"),
        OPERATOR,
        Some(pause),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["state"], "paused");
}
