//! Publishing and reading back: stored events, duplicates and conflicts by id, and JSON 404s.

use serde_json::{Value, json};

use crate::helpers::{DEPLOYMENTS, envelope, spawn_app};

use super::assert_error;

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_published_event_can_be_read_back_in_both_deployments() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        let sent = json!({
            "type": "billing.invoice.paid", "source": "billing.api", "payload": {"amount": 3},
            "occurredAt": "2026-11-22T11:00:00.123+01:00", "correlationId": "c-1", "ttl": 60000,
            "metadata": {"team": "billing"}
        });

        // Act
        let response = app.post_events(&sent).await;

        // Assert
        assert_eq!(response.status(), 202, "{db:?}/{mode:?}");
        let body: Value = response.json().await.unwrap();
        let accepted = &body["data"]["accepted"][0];
        assert_eq!(accepted["index"], 0);
        assert_eq!(accepted["duplicate"], false);
        assert_eq!(body["data"]["rejected"], json!([]));
        let id = accepted["id"].as_str().unwrap();
        assert_eq!(id.len(), 26, "a ULID is assigned");
        let event = app.stored_event(id).await;
        assert_eq!(event["type"], "billing.invoice.paid");
        assert_eq!(event["occurredAt"], "2026-11-22T10:00:00.123Z");
        assert_eq!(event["payload"], json!({"amount": 3}));
        assert_eq!(event["correlationId"], "c-1");
        assert_eq!(event["ttlMs"], 60000);
        assert_eq!(event["metadata"], json!({"team": "billing"}));
        assert!(
            event["ingressSequence"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
                > 0
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn re_sending_an_id_with_the_same_content_is_a_duplicate_and_different_content_is_a_conflict()
{
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_app(db, mode).await;
        assert_eq!(app.post_events(&envelope("dup-1")).await.status(), 202);
        app.stored_event("dup-1").await;

        let again = app.post_events(&envelope("dup-1")).await;
        assert_eq!(again.status(), 202);
        let body: Value = again.json().await.unwrap();
        assert_eq!(
            body["data"]["accepted"][0]["duplicate"], true,
            "{db:?}/{mode:?}"
        );

        let mut changed = envelope("dup-1");
        changed["payload"] = json!({"n": 2});
        let conflict = app.post_events(&changed).await;
        assert_eq!(conflict.status(), 409);
        let body: Value = conflict.json().await.unwrap();
        assert_eq!(body["error"]["code"], "id_conflict");
        assert_eq!(body["error"]["details"]["id"], "dup-1");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_unknown_route_or_event_id_answers_404_not_found_in_json() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;

        // Act
        let route = app.get("/no/such/route").await;
        let event = app.get_event("no-such-event").await;

        // Assert
        let case = format!("{db:?}/{mode:?}");
        assert_error(route, 404, "not_found", None, &format!("{case}: route")).await;
        assert_error(event, 404, "not_found", None, &format!("{case}: event")).await;
    }
}
