//! `PUT/GET /admin/event-schemas…`: versions, identical re-registration, listing, bad input and scopes.

use herald::auth::{AccessPolicy, Scope, TokenRegistry};
use serde_json::{Value, json};

use super::{order_schema, put_raw, put_schema, register};
use crate::helpers::{DEPLOYMENTS, TestEnv, spawn_app};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_schema_is_versioned_identical_re_registration_is_200_and_a_change_is_version_2() {
    for (db, mode) in DEPLOYMENTS {
        let case = format!("{db:?}/{mode:?}");
        // Arrange
        let app = spawn_app(db, mode).await;

        // Act
        let first = put_schema(&app, "shop.order.placed", &order_schema()).await;
        let first_status = first.status();
        let first: Value = first.json().await.expect("json");
        // The same schema with its keys in another order and other spacing is the same schema.
        let mut reordered = serde_json::to_string_pretty(&order_schema()).unwrap();
        reordered = reordered.replace("\"type\": \"object\",", "\"type\":\"object\" ,");
        let again = put_raw(&app, "shop.order.placed", reordered.into_bytes()).await;
        let again_status = again.status();
        let again: Value = again.json().await.expect("json");
        let mut changed = order_schema();
        changed["required"] = json!(["orderId"]);
        let second = put_schema(&app, "shop.order.placed", &changed).await;
        let second_status = second.status();
        let second: Value = second.json().await.expect("json");

        // Assert
        assert_eq!(first_status, 201, "{case}: {first}");
        assert_eq!(first["data"]["version"], 1, "{case}");
        assert_eq!(first["data"]["type"], "shop.order.placed");
        assert_eq!(first["data"]["schema"], order_schema());
        assert_eq!(first["data"]["createdBy"], "anonymous");
        assert_eq!(first["data"]["hash"].as_str().map(str::len), Some(64));
        assert!(first["data"]["createdAt"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            again_status, 200,
            "{case}: identical is no new version: {again}"
        );
        assert_eq!(again["data"]["version"], 1, "{case}");
        assert_eq!(second_status, 201, "{case}: {second}");
        assert_eq!(second["data"]["version"], 2, "{case}");

        let history: Value = app
            .get("/admin/event-schemas/shop.order.placed")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(history["data"]["activeVersion"], 2, "{case}: {history}");
        let versions: Vec<i64> = history["data"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect();
        assert_eq!(versions, vec![2, 1], "{case}: newest first");
        assert_eq!(history["data"]["versions"][0]["schema"], changed);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn the_list_names_each_type_with_its_active_version_in_pages() {
    for (db, mode) in DEPLOYMENTS {
        let case = format!("{db:?}/{mode:?}");
        // Arrange
        let app = spawn_app(db, mode).await;
        register(&app, "shop.order.placed", &order_schema()).await;
        register(&app, "shop.order.placed", &json!({"type": "object"})).await;
        register(&app, "shop.cart.updated", &json!(true)).await;
        register(&app, "shop.user.created", &json!({"type": "object"})).await;

        // Act
        let first: Value = app
            .get("/admin/event-schemas?limit=2")
            .await
            .json()
            .await
            .unwrap();
        let cursor = first["data"]["page"]["nextCursor"].as_str().unwrap();
        let second: Value = app
            .get(&format!("/admin/event-schemas?limit=2&cursor={cursor}"))
            .await
            .json()
            .await
            .unwrap();

        // Assert
        let items: Vec<Value> = [&first, &second]
            .iter()
            .flat_map(|page| page["data"]["schemas"].as_array().unwrap().clone())
            .collect();
        let listed: Vec<(String, i64)> = items
            .iter()
            .map(|s| {
                (
                    s["type"].as_str().unwrap().to_owned(),
                    s["activeVersion"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            vec![
                ("shop.cart.updated".to_owned(), 1),
                ("shop.order.placed".to_owned(), 2),
                ("shop.user.created".to_owned(), 1),
            ],
            "{case}"
        );
        assert!(items.iter().all(|s| s["updatedAt"].is_string()));
        assert_eq!(second["data"]["page"]["hasMore"], false, "{case}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_type_without_a_schema_is_404_and_a_bad_type_is_400() {
    for (db, mode) in DEPLOYMENTS {
        let case = format!("{db:?}/{mode:?}");
        let app = spawn_app(db, mode).await;

        let unknown = app.get("/admin/event-schemas/shop.nothing.here").await;
        assert_eq!(unknown.status(), 404, "{case}");
        let body: Value = unknown.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");

        for bad in ["nodots", "a..b", "bad%20char.x"] {
            let response = put_schema(&app, bad, &json!({"type": "object"})).await;
            assert_eq!(response.status(), 400, "{case}: PUT {bad}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "invalid_parameter", "{case}: {body}");
            assert_eq!(body["error"]["details"]["parameter"], "type", "{case}");
            assert_eq!(
                app.get(&format!("/admin/event-schemas/{bad}"))
                    .await
                    .status(),
                400
            );
        }
        let list: Value = app.get("/admin/event-schemas").await.json().await.unwrap();
        assert_eq!(
            list["data"]["schemas"],
            json!([]),
            "{case}: nothing was stored"
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_schema_that_does_not_compile_is_400_invalid_schema_with_the_validators_message() {
    for (db, mode) in DEPLOYMENTS {
        let case = format!("{db:?}/{mode:?}");
        let app = spawn_app(db, mode).await;

        for (schema, part) in [
            (json!({"type": "strnig"}), "strnig"),
            (json!({"minLength": -1}), "-1"),
            (
                json!({"$schema": "http://json-schema.org/draft-04/schema#"}),
                "draft-04",
            ),
            (json!([1, 2]), "an array"),
        ] {
            let response = put_schema(&app, "shop.order.placed", &schema).await;
            assert_eq!(response.status(), 400, "{case}: {schema}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "invalid_schema", "{case}: {body}");
            let message = body["error"]["details"]["message"].as_str().unwrap();
            assert!(message.contains(part), "{case}: {message:?} names {part}");
        }
        let not_json = put_raw(&app, "shop.order.placed", b"{nope".to_vec()).await;
        assert_eq!(not_json.status(), 400);
        let body: Value = not_json.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_json");
        assert_eq!(
            app.get("/admin/event-schemas/shop.order.placed")
                .await
                .status(),
            404,
            "{case}: nothing was stored"
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_schema_over_256_kib_is_413_and_one_of_exactly_256_kib_is_stored() {
    for (db, mode) in DEPLOYMENTS {
        let case = format!("{db:?}/{mode:?}");
        let app = spawn_app(db, mode).await;
        // {"description":"…"} is 18 bytes around the text.
        let of_size = |bytes: usize| json!({"description": "x".repeat(bytes - 18)});

        let over = put_schema(&app, "shop.order.placed", &of_size(262_145)).await;
        assert_eq!(over.status(), 413, "{case}");
        let body: Value = over.json().await.unwrap();
        assert_eq!(body["error"]["code"], "body_too_large", "{case}: {body}");
        assert_eq!(body["error"]["details"]["limitBytes"], 262_144);

        let exact = put_schema(&app, "shop.order.placed", &of_size(262_144)).await;
        assert_eq!(exact.status(), 201, "{case}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn registering_needs_schemas_write_and_reading_needs_events_read() {
    for (db, mode) in DEPLOYMENTS {
        let case = format!("{db:?}/{mode:?}");
        // Arrange
        let registry = TokenRegistry::from_tokens(&[
            ("t-read", "reader", &[Scope::EventsRead]),
            ("t-publish", "publisher", &[Scope::EventsPublish]),
            ("t-schemas", "schema-owner", &[Scope::SchemasWrite]),
        ]);
        let env = TestEnv::new(db, mode).await;
        let mut app = env
            .spawn_with(AccessPolicy::Tokens(registry), Some("t-read".into()))
            .await;

        // Act / Assert
        for token in ["t-read", "t-publish"] {
            app.token = Some(token.into());
            let response = put_schema(&app, "shop.order.placed", &order_schema()).await;
            assert_eq!(response.status(), 403, "{case}: {token}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["details"]["requiredScope"], "schemas:write");
        }
        app.token = None;
        assert_eq!(
            put_schema(&app, "shop.order.placed", &order_schema())
                .await
                .status(),
            401
        );
        app.token = Some("t-schemas".into());
        let created = put_schema(&app, "shop.order.placed", &order_schema()).await;
        assert_eq!(created.status(), 201, "{case}");
        let created: Value = created.json().await.unwrap();
        assert_eq!(created["data"]["createdBy"], "schema-owner", "{case}");
        for path in [
            "/admin/event-schemas",
            "/admin/event-schemas/shop.order.placed",
        ] {
            let response = app.get(path).await;
            assert_eq!(
                response.status(),
                403,
                "{case}: {path} with schemas:write only"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["details"]["requiredScope"], "events:read");
        }
        app.token = Some("t-read".into());
        assert_eq!(app.get("/admin/event-schemas").await.status(), 200);
        assert_eq!(
            app.get("/admin/event-schemas/shop.order.placed")
                .await
                .status(),
            200
        );
    }
}
