//! Every text column survives the trip into the database and back unchanged, whatever characters it holds: the
//! PostgreSQL write path sends rows as CSV (`COPY`), where quotes, commas, newlines and backslashes are the
//! characters that could go wrong.

use serde_json::json;

use crate::helpers::{DEPLOYMENTS, spawn_app};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn quotes_commas_newlines_backslashes_and_unicode_are_stored_as_sent() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        let tricky = "a \"quoted\", comma,\nnew line\r\n\ttab \\ backslash \\\" ünïcødé 🚀 ,,\"\"";
        let envelope = json!({
            "id": "text-1",
            "type": "test.text.stored",
            "source": "tests/text:a@b+c~d",
            "payload": {"text": tricky, "\"key,\n": [tricky, "", null, 1.5]},
            "correlationId": tricky,
            "causationId": "\"",
            "metadata": {"note": tricky, "empty": ""},
        });

        // Act
        let response = app.post_events(&envelope).await;

        // Assert
        assert_eq!(response.status(), 202, "{db:?}/{mode:?}");
        let stored = app.stored_event("text-1").await;
        for field in [
            "payload",
            "correlationId",
            "causationId",
            "metadata",
            "source",
        ] {
            assert_eq!(stored[field], envelope[field], "{db:?}/{mode:?}: {field}");
        }
        assert!(
            stored["ttlMs"].is_null(),
            "{db:?}/{mode:?}: no ttl is NULL, not 0"
        );
        // A re-send is recognised as the same content, so the stored hash and text are what was sent.
        let again = app.post_events(&envelope).await;
        let body: serde_json::Value = again.json().await.expect("json");
        assert_eq!(
            body["data"]["accepted"][0]["duplicate"], true,
            "{db:?}/{mode:?}"
        );
    }
}
