//! Structured mode (`application/cloudevents+json`) and batch mode (`application/cloudevents-batch+json`).

use serde_json::{Value, json};

use crate::helpers::{DEPLOYMENTS, spawn_app};
use crate::ingest_http::assert_error;

use super::{assert_mapped, cloud_event, minimal, minimal_with};

const STRUCTURED: &str = "application/cloudevents+json";
const BATCH: &str = "application/cloudevents-batch+json";

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_structured_cloud_event_is_stored_as_its_mapped_envelope() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        let sent = cloud_event("ce-structured").to_string();

        // Act
        let response = app
            .post_raw(sent.clone(), "application/cloudevents+json; charset=utf-8")
            .await;
        let event = app.stored_event("ce-structured").await;
        let again = app.post_raw(sent, STRUCTURED).await;

        // Assert
        let case = format!("{db:?}/{mode:?}");
        assert_eq!(response.status(), 202, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["data"],
            json!({"accepted": [{"index": 0, "id": "ce-structured", "duplicate": false}], "rejected": []}),
            "{case}"
        );
        let body: Value = again.json().await.unwrap();
        assert_eq!(
            body["data"]["accepted"][0]["duplicate"], true,
            "{case}: a re-sent CloudEvent is a duplicate"
        );
        assert_mapped(&event, "ce-structured", &case);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_cloud_events_batch_accepts_its_valid_events_and_reports_each_rejected_index() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        let batch = json!([
            cloud_event("ce-batch-0"),
            minimal_with("ce-batch-1", "id", Value::Null),
            minimal_with("ce-batch-2", "specversion", json!("0.3")),
            minimal_with("ce-batch-3", "type", json!("com.example object")),
            "not an event",
            minimal_with("ce-batch-5", "data_base64", json!("aGVsbG8=")),
        ]);

        // Act
        let response = app.post_raw(batch.to_string(), BATCH).await;

        // Assert
        let case = format!("{db:?}/{mode:?}");
        assert_eq!(response.status(), 202, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["data"]["accepted"],
            json!([
                {"index": 0, "id": "ce-batch-0", "duplicate": false},
                {"index": 5, "id": "ce-batch-5", "duplicate": false},
            ]),
            "{case}"
        );
        let rejected: Vec<(u64, &str, Option<&str>)> = body["data"]["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["index"].as_u64().unwrap(),
                    r["error"]["code"].as_str().unwrap(),
                    r["error"]["details"]["field"].as_str(),
                )
            })
            .collect();
        assert_eq!(
            rejected,
            vec![
                (1, "missing_field", Some("id")),
                (2, "invalid_field", Some("specversion")),
                (3, "invalid_field", Some("type")),
                (4, "invalid_json", None),
            ],
            "{case}"
        );
        assert_mapped(&app.stored_event("ce-batch-0").await, "ce-batch-0", &case);
        let binary = app.stored_event("ce-batch-5").await;
        assert_eq!(
            binary["payload"], "aGVsbG8=",
            "{case}: data_base64 is kept as text"
        );
        assert_eq!(
            binary["metadata"]["cloudEvents"]["data_base64"], true,
            "{case}"
        );
        for id in ["ce-batch-2", "ce-batch-3"] {
            assert_eq!(app.get_event(id).await.status(), 404, "{case}: {id}");
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_cloud_events_batch_has_the_limits_of_an_envelope_batch() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        let many: Vec<Value> = (0..501).map(|i| minimal(&format!("many-{i}"))).collect();
        let none_valid = json!([
            minimal_with("nv-0", "source", Value::Null),
            minimal_with("nv-1", "type", json!("nodots"))
        ]);

        // Act
        let empty = app.post_raw("[]", BATCH).await;
        let too_many = app.post_raw(json!(many).to_string(), BATCH).await;
        let not_an_array = app.post_raw(minimal("solo").to_string(), BATCH).await;
        let rejected = app.post_raw(none_valid.to_string(), BATCH).await;

        // Assert
        let case = format!("{db:?}/{mode:?}");
        for (what, response) in [("[]", empty), ("501 events", too_many)] {
            let body = assert_error(
                response,
                400,
                "invalid_parameter",
                None,
                &format!("{case}: {what}"),
            )
            .await;
            assert_eq!(
                body["error"]["details"]["parameter"], "body",
                "{case}: {what}"
            );
        }
        assert_error(not_an_array, 400, "invalid_json", None, &case).await;
        let body = assert_error(rejected, 400, "batch_rejected", None, &case).await;
        let fields: Vec<&str> = body["error"]["details"]["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["error"]["details"]["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["source", "type"], "{case}");
        assert_eq!(app.get_event("many-0").await.status(), 404, "{case}");
        assert_eq!(app.get_event("solo").await.status(), 404, "{case}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn each_structured_rule_is_a_400_with_its_code_naming_the_cloud_events_attribute() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        let cases = [
            (
                minimal_with("r", "specversion", Value::Null),
                "missing_field",
                "specversion",
            ),
            (minimal_with("r", "id", Value::Null), "missing_field", "id"),
            (
                minimal_with("r", "type", Value::Null),
                "missing_field",
                "type",
            ),
            (
                minimal_with("r", "source", Value::Null),
                "missing_field",
                "source",
            ),
            (
                minimal_with("r", "specversion", json!("0.3")),
                "invalid_field",
                "specversion",
            ),
            (
                minimal_with("r", "type", json!("nodots")),
                "invalid_field",
                "type",
            ),
            (
                minimal_with("r", "type", json!("com.example.object created")),
                "invalid_field",
                "type",
            ),
            (
                minimal_with("r", "source", json!("https://example.com/a?b=c")),
                "invalid_field",
                "source",
            ),
            (minimal_with("r", "id", json!("a b")), "invalid_field", "id"),
            (
                minimal_with("r", "time", json!("yesterday")),
                "invalid_field",
                "time",
            ),
            (
                minimal_with("r", "correlationid", json!(5)),
                "invalid_field",
                "correlationid",
            ),
            (
                minimal_with("r", "data", json!("x".repeat(262_144))),
                "payload_too_large",
                "data",
            ),
            (
                minimal_with("r", "data_base64", json!("%%%")),
                "invalid_field",
                "data_base64",
            ),
            (
                minimal_with("r", "subject", json!({"a": 1})),
                "invalid_field",
                "subject",
            ),
            (
                minimal_with("r", "myext", json!([1, 2])),
                "invalid_field",
                "myext",
            ),
            (
                minimal_with("r", "correlationId", json!("c")),
                "unknown_field",
                "correlationId",
            ),
        ];

        for (event, code, attribute) in cases {
            // Act
            let response = app.post_raw(event.to_string(), STRUCTURED).await;

            // Assert
            let case = format!("{db:?}/{mode:?}: {code} {attribute}");
            let body = assert_error(response, 400, code, Some(attribute), &case).await;
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("`{attribute}`")),
                "{case}: {message}"
            );
        }
        assert_eq!(app.get_event("r").await.status(), 404, "{db:?}/{mode:?}");

        let array = app.post_raw("[]", STRUCTURED).await;
        assert_error(
            array,
            400,
            "invalid_json",
            None,
            "an array as one CloudEvent",
        )
        .await;
        let other_format = app
            .post_raw("<event/>", "application/cloudevents+xml")
            .await;
        assert_error(
            other_format,
            415,
            "unsupported_media_type",
            None,
            "an XML CloudEvent",
        )
        .await;
    }
}
