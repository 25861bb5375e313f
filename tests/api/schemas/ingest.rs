//! Payloads checked at both ways in: `POST /events` (single and batch) and the Redis stream (dead letters), with
//! `schemaVersion` on every stored event, and `HERALD_REQUIRE_SCHEMAS`.

use serde_json::{Value, json};

use super::{event, order_schema, register};
use crate::helpers::{DEPLOYMENTS, Db, Mode, TestEnv, spawn_app};

const ORDER: &str = "shop.order.placed";

fn good_order() -> Value {
    json!({"orderId": "o-1", "lines": [{"sku": "a-1"}]})
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn over_http_a_valid_payload_is_stored_with_its_schema_version_and_an_invalid_one_is_400() {
    for (db, mode) in DEPLOYMENTS {
        let case = format!("{db:?}/{mode:?}");
        // Arrange
        let app = spawn_app(db, mode).await;
        register(&app, ORDER, &json!({"type": "object"})).await;
        register(&app, ORDER, &order_schema()).await;

        // Act
        let valid = app.post_events(&event("ok-1", ORDER, good_order())).await;
        let invalid = app
            .post_events(&event(
                "bad-1",
                ORDER,
                json!({"orderId": "o-2", "lines": [{"sku": "a"}, {"qty": 2}]}),
            ))
            .await;
        let unschematized = app
            .post_events(&event("free-1", "shop.cart.updated", json!({"any": 1})))
            .await;

        // Assert
        assert_eq!(valid.status(), 202, "{case}");
        assert_eq!(app.stored_event("ok-1").await["schemaVersion"], 2, "{case}");
        assert_eq!(invalid.status(), 400, "{case}");
        let body: Value = invalid.json().await.unwrap();
        assert_eq!(body["error"]["code"], "schema_mismatch", "{case}: {body}");
        assert_eq!(body["error"]["details"]["instancePath"], "/lines/1");
        assert_eq!(body["error"]["details"]["keyword"], "required");
        assert_eq!(body["error"]["details"]["schemaVersion"], 2);
        assert!(body["error"]["message"].as_str().unwrap().contains("sku"));
        assert_eq!(app.get_event("bad-1").await.status(), 404, "{case}");
        assert_eq!(unschematized.status(), 202, "{case}");
        assert_eq!(
            app.stored_event("free-1").await["schemaVersion"],
            Value::Null
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn in_a_batch_only_the_envelopes_that_fail_their_schema_are_rejected() {
    for (db, mode) in DEPLOYMENTS {
        let case = format!("{db:?}/{mode:?}");
        let app = spawn_app(db, mode).await;
        register(&app, ORDER, &order_schema()).await;

        let response = app
            .post_events(&json!([
                event("b-0", ORDER, good_order()),
                event("b-1", ORDER, json!({"orderId": 7, "lines": [{"sku": "x"}]})),
                event("b-2", ORDER, good_order()),
            ]))
            .await;

        assert_eq!(response.status(), 202, "{case}");
        let body: Value = response.json().await.unwrap();
        let accepted: Vec<i64> = body["data"]["accepted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["index"].as_i64().unwrap())
            .collect();
        assert_eq!(accepted, vec![0, 2], "{case}: {body}");
        let rejected = &body["data"]["rejected"][0];
        assert_eq!(rejected["index"], 1);
        assert_eq!(rejected["error"]["code"], "schema_mismatch");
        assert_eq!(rejected["error"]["details"]["instancePath"], "/orderId");
        assert_eq!(rejected["error"]["details"]["keyword"], "type");
        assert_eq!(app.stored_event("b-2").await["schemaVersion"], 1);

        let none_valid = app
            .post_events(&json!([event("b-3", ORDER, json!({}))]))
            .await;
        assert_eq!(none_valid.status(), 400, "{case}");
        let body: Value = none_valid.json().await.unwrap();
        assert_eq!(body["error"]["code"], "batch_rejected");
        assert_eq!(
            body["error"]["details"]["rejected"][0]["error"]["code"],
            "schema_mismatch"
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn over_the_stream_a_failing_payload_is_a_dead_letter_and_a_passing_one_records_its_version()
{
    for db in [Db::Postgres, Db::Sqlite] {
        // Arrange
        let app = spawn_app(db, Mode::Redis).await;
        register(&app, ORDER, &order_schema()).await;

        // Act
        app.xadd_envelope(&event("s-ok", ORDER, good_order()).to_string())
            .await;
        app.xadd_envelope(&event("s-bad", ORDER, json!({"orderId": "o"})).to_string())
            .await;

        // Assert
        assert_eq!(app.stored_event("s-ok").await["schemaVersion"], 1, "{db:?}");
        let letters = app.dead_letters_eventually(1).await;
        assert_eq!(letters.len(), 1, "{db:?}: {letters:?}");
        assert_eq!(letters[0]["reason"], "schema_mismatch");
        assert_eq!(letters[0]["eventId"], "s-bad");
        let message = letters[0]["message"].as_str().unwrap();
        assert!(
            message.contains("`required`") && message.contains("schema version 1"),
            "{message}"
        );
        assert_eq!(app.get_event("s-bad").await.status(), 404);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn with_require_schemas_a_type_without_one_is_refused_at_both_ways_in() {
    for (db, mode) in DEPLOYMENTS {
        let case = format!("{db:?}/{mode:?}");
        // Arrange
        let mut env = TestEnv::new(db, mode).await;
        env.set("HERALD_REQUIRE_SCHEMAS", "true");
        let app = env.spawn().await;
        register(&app, ORDER, &order_schema()).await;

        // Act
        let refused = app
            .post_events(&event("r-1", "shop.cart.updated", json!({})))
            .await;
        let accepted = app.post_events(&event("r-2", ORDER, good_order())).await;

        // Assert
        assert_eq!(refused.status(), 400, "{case}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "schema_required", "{case}: {body}");
        assert_eq!(body["error"]["details"]["type"], "shop.cart.updated");
        assert_eq!(accepted.status(), 202, "{case}");
        assert_eq!(app.stored_event("r-2").await["schemaVersion"], 1);

        if mode == Mode::Redis {
            app.xadd_envelope(&event("r-3", "shop.cart.updated", json!({})).to_string())
                .await;
            let letters = app.dead_letters_eventually(1).await;
            assert_eq!(letters[0]["reason"], "schema_required", "{case}");
            assert!(
                letters[0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("HERALD_REQUIRE_SCHEMAS")
            );
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn without_require_schemas_every_type_without_one_is_accepted() {
    // The default, stated once more as a test: turning the requirement off must not be the same as on.
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let response = app
        .post_events(&event("d-1", "shop.cart.updated", json!({})))
        .await;
    assert_eq!(response.status(), 202);
}
