//! The stream's `cloudevent` field (redis mode): a structured CloudEvent in place of an envelope.

use serde_json::{Value, json};

use crate::helpers::{Db, Mode, eventually, spawn_app};

use super::{assert_mapped, cloud_event, minimal_with};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_xadded_cloudevent_is_stored_mapped_and_a_bad_one_becomes_a_dead_letter_with_the_envelope_code()
 {
    for db in [Db::Postgres, Db::Sqlite] {
        // Arrange
        let app = spawn_app(db, Mode::Redis).await;
        let bad = [
            (
                minimal_with("st-old", "specversion", json!("0.3")),
                "invalid_field",
                "`specversion`",
                json!("/billing/api"),
            ),
            (
                minimal_with("st-no-id", "id", Value::Null),
                "missing_field",
                "`id` is required",
                json!("/billing/api"),
            ),
            (
                minimal_with("st-type", "type", json!("nodots")),
                "invalid_field",
                "CloudEvents attribute `type`",
                json!("/billing/api"),
            ),
            (
                json!("not an object"),
                "invalid_json",
                "JSON object",
                Value::Null,
            ),
        ];

        // Act
        app.xadd_fields(vec![("cloudevent", cloud_event("st-good").to_string())])
            .await;
        let mut entries = Vec::new();
        for (event, ..) in &bad {
            entries.push(
                app.xadd_fields(vec![("cloudevent", event.to_string())])
                    .await,
            );
        }
        let neither = app.xadd_fields(vec![("other", "x".to_owned())]).await;

        // Assert
        let case = format!("{db:?}");
        assert_mapped(&app.stored_event("st-good").await, "st-good", &case);
        let letters = app.dead_letters_eventually(bad.len() + 1).await;
        for ((_, reason, message, source), entry) in bad.iter().zip(&entries) {
            let letter = letters
                .iter()
                .find(|l| l["streamId"] == entry.as_str())
                .unwrap_or_else(|| panic!("{case}: a dead letter for {reason}"));
            assert_eq!(letter["reason"], *reason, "{case}: {letter}");
            let text = letter["message"].as_str().unwrap();
            assert!(text.contains(message), "{case}: {reason}: {text}");
            assert_eq!(letter["source"], *source, "{case}: {reason}");
        }
        let letter = letters
            .iter()
            .find(|l| l["streamId"] == neither.as_str())
            .expect("a dead letter for the entry without either field");
        assert_eq!(letter["reason"], "missing_envelope", "{case}");
        assert!(letter["message"].as_str().unwrap().contains("`cloudevent`"));
        eventually("every entry to be acknowledged", || async {
            app.pending_count().await == 0
        })
        .await;
        assert_eq!(app.get_event("st-old").await.status(), 404, "{case}");
    }
}
