//! Bad bodies: every bad filter is a 400 naming `filters.<name>`, with the events list's codes.

use reqwest::Method;
use serde_json::{Value, json};

use super::{ALICE, call, create, spawn};
use crate::helpers::DEPLOYMENTS;

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn bad_filters_and_fields_are_400_naming_the_field() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn(db, mode).await;
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"name": "v", "filters": {"type": "meta*"}}),
                "invalid_pattern",
                "filters.type",
            ),
            (
                json!({"name": "v", "filters": {"source": "a.**.b"}}),
                "invalid_pattern",
                "filters.source",
            ),
            (
                json!({"name": "v", "filters": {"jsonPath": "$.a ==="}}),
                "invalid_json_path",
                "filters.jsonPath",
            ),
            (
                json!({"name": "v", "filters": {"from": "2026-11-23", "to": "2026-11-22"}}),
                "invalid_parameter",
                "filters.from",
            ),
            (
                json!({"name": "v", "filters": {"to": "tomorrow"}}),
                "invalid_parameter",
                "filters.to",
            ),
            (
                json!({"name": "v", "filters": {"severity": ["loud"]}}),
                "invalid_parameter",
                "filters.severity",
            ),
            (
                json!({"name": "v", "filters": {"limit": 5}}),
                "unknown_field",
                "filters.limit",
            ),
            (
                json!({"name": "v", "filters": "type=a"}),
                "invalid_field",
                "filters",
            ),
            (json!({"name": ""}), "invalid_field", "name"),
            (json!({"name": "x".repeat(121)}), "invalid_field", "name"),
            (
                json!({"name": "v", "description": "d".repeat(501)}),
                "invalid_field",
                "description",
            ),
            (
                json!({"name": "v", "visibility": "public"}),
                "invalid_field",
                "visibility",
            ),
            (
                json!({"name": "v", "slug": "mine"}),
                "unknown_field",
                "slug",
            ),
            (json!({"description": "no name"}), "missing_field", "name"),
        ];
        for (body, code, field) in cases {
            let (status, answer) = call(
                &app,
                Method::POST,
                "/admin/saved-views",
                ALICE,
                Some(body.clone()),
            )
            .await;
            assert_eq!(status, 400, "{db:?}/{mode:?} {body}: {answer}");
            assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
            assert_eq!(
                answer["error"]["details"]["field"], field,
                "{body}: {answer}"
            );
        }
        let (_, list) = call(&app, Method::GET, "/admin/saved-views", ALICE, None).await;
        assert_eq!(list["data"]["savedViews"], json!([]), "nothing was stored");

        create(&app, ALICE, json!({"name": "v"})).await;
        for (body, code) in [
            (
                json!({"filters": {"jsonPath": "$.a ==="}}),
                "invalid_json_path",
            ),
            (json!({}), "missing_field"),
        ] {
            let (status, answer) = call(
                &app,
                Method::PATCH,
                "/admin/saved-views/v",
                ALICE,
                Some(body.clone()),
            )
            .await;
            assert_eq!(
                (status, answer["error"]["code"].clone()),
                (400, json!(code)),
                "{body}: {answer}"
            );
        }
    }
}
