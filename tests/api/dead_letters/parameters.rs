//! The list's query parameters refused by name: bad times, `from` after `to`, `limit`, unknown or repeated ones.

use serde_json::Value;

use crate::helpers::TestApp;

use super::{DATABASES, dead_letters, list_ok, param, spawn, stream_ids, stream_ids_where};

/// Asserts a 400 with `code` and `details.parameter`.
async fn assert_bad_request(app: &TestApp, query: &str, code: &str, parameter: &str) {
    let response = app.list_dead_letters(query).await;
    assert_eq!(response.status(), 400, "?{query}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "?{query}: {body}");
    assert_eq!(
        body["error"]["details"]["parameter"], parameter,
        "?{query}: {body}"
    );
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_bad_time_or_from_after_to_is_rejected_naming_the_parameter() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        dead_letters(&app, 1).await;
        let cases = [
            (param("from", "yesterday"), "from"),
            (param("to", "2026-13-01"), "to"),
            (param("from", "2026-11-22T10:00:00"), "from"),
            (param("to", "22/11/2026"), "to"),
            (
                format!(
                    "{}&{}",
                    param("from", "2026-11-23"),
                    param("to", "2026-11-22")
                ),
                "from",
            ),
            (
                format!(
                    "{}&{}",
                    param("from", "2026-11-22T10:00:00.001Z"),
                    param("to", "2026-11-22T12:00:00+02:00")
                ),
                "from",
            ),
        ];

        for (query, parameter) in cases {
            // Act and Assert
            assert_bad_request(&app, &query, "invalid_parameter", parameter).await;
        }
        // Equal bounds are in order.
        list_ok(
            &app,
            &format!(
                "{}&{}",
                param("from", "2026-11-22"),
                param("to", "2026-11-22")
            ),
        )
        .await;
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn limit_takes_an_integer_from_1_to_200() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let all = dead_letters(&app, 2).await;

        // Act and Assert
        for bad in ["0", "201", "x", "-1", "1.5", ""] {
            assert_bad_request(&app, &param("limit", bad), "invalid_parameter", "limit").await;
        }
        let one = list_ok(&app, "limit=1").await;
        assert_eq!(
            stream_ids(&one),
            stream_ids_where(&all[..1], |_| true),
            "{db:?}"
        );
        assert_eq!(one["data"]["page"]["limit"], 1);
        assert_eq!(one["data"]["page"]["hasMore"], true);
        let most = list_ok(&app, "limit=200").await;
        assert_eq!(
            stream_ids(&most),
            stream_ids_where(&all, |_| true),
            "{db:?}"
        );
        assert_eq!(most["data"]["page"]["limit"], 200);
        assert_eq!(most["data"]["page"]["hasMore"], false);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_unknown_or_repeated_query_parameter_is_rejected_naming_it() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        dead_letters(&app, 1).await;

        // Act and Assert
        assert_bad_request(&app, "sauce=x", "invalid_parameter", "sauce").await;
        assert_bad_request(&app, "Reason=poison", "invalid_parameter", "Reason").await;
        assert_bad_request(&app, "limit=5&type=a.b", "invalid_parameter", "type").await;
        assert_bad_request(
            &app,
            "reason=poison&reason=invalid_json",
            "invalid_parameter",
            "reason",
        )
        .await;
    }
}
