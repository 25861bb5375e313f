//! Binary mode: `ce-*` headers carry the attributes, `Content-Type` is `datacontenttype`, the body is the data.

use serde_json::{Value, json};

use crate::helpers::{DEPLOYMENTS, spawn_app};
use crate::ingest_http::assert_error;

use super::assert_mapped;

/// The headers of [`super::cloud_event`] `id` in binary mode, `content-type` aside.
fn headers(id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ce-specversion", "1.0".into()),
        ("ce-id", id.into()),
        ("ce-type", "billing.invoice.paid".into()),
        ("ce-source", "%2Fbilling%2Fapi".into()),
        ("ce-time", "2026-01-02T03:04:05.678+01:00".into()),
        ("ce-subject", "inv-7".into()),
        ("ce-correlationid", "c-1".into()),
        ("ce-causationid", "e-0".into()),
        ("ce-traceparent", "00-abc-def-01".into()),
    ]
}

fn without(mut headers: Vec<(&'static str, String)>, name: &str) -> Vec<(&'static str, String)> {
    headers.retain(|(n, _)| *n != name);
    headers
}

fn borrowed<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_binary_cloud_event_is_stored_with_its_json_body_as_payload() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        let headers = headers("ce-binary");

        // Act
        let response = app
            .post_with_headers(
                &borrowed(&headers),
                Some("application/json"),
                r#"{"amount": 42}"#,
            )
            .await;

        // Assert
        let case = format!("{db:?}/{mode:?}");
        assert_eq!(response.status(), 202, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["data"],
            json!({"accepted": [{"index": 0, "id": "ce-binary", "duplicate": false}], "rejected": []}),
            "{case}"
        );
        assert_mapped(&app.stored_event("ce-binary").await, "ce-binary", &case);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_binary_body_that_is_not_json_is_kept_as_text_or_base64() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        let text = headers("ce-text");
        let bytes = headers("ce-bytes");
        let empty = headers("ce-empty");

        // Act
        let text_response = app
            .post_with_headers(&borrowed(&text), Some("text/plain; charset=utf-8"), "héllo")
            .await;
        let bytes_response = app
            .post_with_headers(
                &borrowed(&bytes),
                Some("application/octet-stream"),
                vec![0u8, 159, 146, 150],
            )
            .await;
        let empty_response = app.post_with_headers(&borrowed(&empty), None, "").await;

        // Assert
        let case = format!("{db:?}/{mode:?}");
        for response in [text_response, bytes_response, empty_response] {
            assert_eq!(
                response.status(),
                202,
                "{case}: {:?}",
                response.text().await
            );
        }
        let text = app.stored_event("ce-text").await;
        assert_eq!(text["payload"], "héllo", "{case}");
        assert_eq!(
            text["metadata"]["cloudEvents"]["datacontenttype"],
            "text/plain; charset=utf-8"
        );
        let bytes = app.stored_event("ce-bytes").await;
        assert_eq!(bytes["payload"], "AJ+Slg==", "{case}: base64 of the body");
        assert_eq!(
            bytes["metadata"]["cloudEvents"]["data_base64"], true,
            "{case}"
        );
        let empty = app.stored_event("ce-empty").await;
        assert_eq!(empty["payload"], json!({}), "{case}: no data");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn each_binary_rule_is_a_400_naming_the_header() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        let mut old = headers("b");
        old[0].1 = "0.3".into();
        let mut bad_type = headers("b");
        bad_type[2].1 = "billing invoice".into();
        let mut bad_source = headers("b");
        bad_source[3].1 = "https://example.com/?q=1".into();
        let mut typo = headers("b");
        typo.push(("ce-correlation_id", "c".into()));
        let cases = [
            (
                without(headers("b"), "ce-specversion"),
                "missing_field",
                "ce-specversion",
            ),
            (without(headers("b"), "ce-id"), "missing_field", "ce-id"),
            (without(headers("b"), "ce-type"), "missing_field", "ce-type"),
            (
                without(headers("b"), "ce-source"),
                "missing_field",
                "ce-source",
            ),
            (old, "invalid_field", "ce-specversion"),
            (bad_type, "invalid_field", "ce-type"),
            (bad_source, "invalid_field", "ce-source"),
            (typo, "unknown_field", "ce-correlation_id"),
        ];

        for (headers, code, header) in cases {
            // Act
            let response = app
                .post_with_headers(&borrowed(&headers), Some("application/json"), "{}")
                .await;

            // Assert
            let case = format!("{db:?}/{mode:?}: {code} {header}");
            let body = assert_error(response, 400, code, Some(header), &case).await;
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("`{header}`")),
                "{case}: {message}"
            );
        }

        let not_json = app
            .post_with_headers(&borrowed(&headers("b")), Some("application/json"), "{nope")
            .await;
        assert_error(
            not_json,
            400,
            "invalid_json",
            Some("body"),
            "a JSON body that does not parse",
        )
        .await;
        assert_eq!(app.get_event("b").await.status(), 404, "{db:?}/{mode:?}");
    }
}
