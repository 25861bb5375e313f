//! What a dead letter records and how the list is filtered by reason, source and received time; reading one by id.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta};
use serde_json::{Value, json};

use crate::helpers::eventually;

use super::{
    DATABASES, dead_letters, exactly, invalid_entries, list_ok, param, spawn, stream_ids,
    stream_ids_where, xadd_all,
};

fn received_at(letter: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(letter["receivedAt"].as_str().unwrap()).unwrap()
}

/// Waits until the clock is past the millisecond every one of `letters` was received in, so that a letter made
/// next is strictly newer (times are stored at millisecond precision; Herald runs on this machine's clock).
async fn clock_past(letters: &[Value]) {
    let latest = letters.iter().map(received_at).max().unwrap();
    eventually("the clock to pass the latest receivedAt", || async move {
        chrono::Utc::now() >= latest + TimeDelta::milliseconds(1)
    })
    .await;
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn invalid_stream_entries_are_listed_newest_first_with_their_reason_source_and_raw_entry() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let entries = invalid_entries();
        let stream_ids = xadd_all(&app, &entries).await;
        app.xadd_envelope(
            r#"{"id":"dl-valid","type":"billing.invoice.paid","source":"billing.api"}"#,
        )
        .await;
        let first = exactly(&app, entries.len()).await;
        app.stored_event("dl-valid").await;
        clock_past(&first).await;
        let late = app
            .xadd_envelope(r#"{"type":"late","source":"late.api"}"#)
            .await;
        exactly(&app, entries.len() + 1).await;

        // Act
        let body = list_ok(&app, "").await;

        // Assert
        let letters = body["data"]["deadLetters"].as_array().unwrap();
        assert_eq!(
            letters.len(),
            entries.len() + 1,
            "{db:?}: the valid entry is stored, not dead-lettered"
        );
        assert_eq!(letters[0]["streamId"], late, "{db:?}: newest first");
        for pair in letters.windows(2) {
            let key = |l: &Value| (received_at(l), l["id"].as_str().unwrap().to_owned());
            assert!(
                key(&pair[0]) > key(&pair[1]),
                "{db:?}: newest first, id as tie-break: {pair:?}"
            );
        }
        assert_eq!(
            body["data"]["page"],
            json!({ "nextCursor": null, "hasMore": false, "limit": 100 })
        );
        for (entry, stream_id) in entries.iter().zip(&stream_ids) {
            let case = format!("{db:?}: {}", entry.reason);
            let letter = letters
                .iter()
                .find(|l| l["streamId"] == *stream_id)
                .unwrap_or_else(|| panic!("{case}: a dead letter for entry {stream_id}"));
            for key in [
                "id",
                "reason",
                "message",
                "source",
                "streamId",
                "raw",
                "receivedAt",
                "redrivenAt",
            ] {
                assert!(letter.get(key).is_some(), "{case}: {key} in {letter}");
            }
            assert_eq!(
                letter["id"].as_str().unwrap().len(),
                26,
                "{case}: a ULID id"
            );
            assert_eq!(letter["reason"], entry.reason, "{case}");
            assert_eq!(letter["source"], json!(entry.source), "{case}");
            assert!(
                !letter["message"].as_str().unwrap().is_empty(),
                "{case}: a message"
            );
            let raw: Value = serde_json::from_str(letter["raw"].as_str().unwrap()).unwrap();
            let fields: serde_json::Map<String, Value> = entry
                .fields
                .iter()
                .map(|(name, value)| ((*name).to_owned(), json!(value)))
                .collect();
            assert_eq!(raw, Value::Object(fields), "{case}: the raw entry");
            let at = letter["receivedAt"].as_str().unwrap();
            assert!(
                at.len() == 24 && at.ends_with('Z') && DateTime::parse_from_rfc3339(at).is_ok(),
                "{case}: receivedAt in UTC with milliseconds, got {at}"
            );
            assert!(letter["redrivenAt"].is_null(), "{case}: not redriven");
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn dead_letters_can_be_filtered_by_reason_and_source() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let entries = invalid_entries();
        xadd_all(&app, &entries).await;
        let all = exactly(&app, entries.len()).await;
        let cases: Vec<(String, Vec<String>)> = vec![
            (
                param("reason", "invalid_field"),
                stream_ids_where(&all, |l| l["reason"] == "invalid_field"),
            ),
            (
                param("source", "billing.api"),
                stream_ids_where(&all, |l| l["source"] == "billing.api"),
            ),
            (
                param("source", "/sensors/tn-1"),
                stream_ids_where(&all, |l| l["source"] == "/sensors/tn-1"),
            ),
            (
                format!(
                    "{}&{}",
                    param("reason", "invalid_field"),
                    param("source", "shipping.api")
                ),
                stream_ids_where(&all, |l| {
                    l["reason"] == "invalid_field" && l["source"] == "shipping.api"
                }),
            ),
            (
                param("reason", "missing_envelope"),
                stream_ids_where(&all, |l| l["reason"] == "missing_envelope"),
            ),
            (param("reason", "poison"), vec![]),
            (param("source", "nobody.api"), vec![]),
        ];
        assert_eq!(
            cases[0].1.len(),
            3,
            "the fixture has three invalid_field letters"
        );
        assert_eq!(cases[3].1.len(), 1, "and one of them from shipping.api");

        for (query, expected) in cases {
            // Act
            let body = list_ok(&app, &query).await;

            // Assert
            assert_eq!(stream_ids(&body), expected, "{db:?}: ?{query}");
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn dead_letters_can_be_filtered_by_received_time_as_a_date_or_an_rfc_3339_instant() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let first = dead_letters(&app, 3).await;
        clock_past(&first).await;
        app.xadd_envelope(r#"{"type":"late","source":"late.api"}"#)
            .await;
        let all = exactly(&app, 4).await;
        let every = stream_ids_where(&all, |_| true);
        let pivot = received_at(&all[0]);
        let pivot_z = all[0]["receivedAt"].as_str().unwrap().to_owned();
        let pivot_plus_two = pivot
            .with_timezone(&FixedOffset::east_opt(2 * 3600).unwrap())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
        assert!(pivot_plus_two.ends_with("+02:00"));
        let oldest_day: NaiveDate = received_at(&all[3]).date_naive();
        let newest_day: NaiveDate = pivot.date_naive();
        let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        let from_pivot = stream_ids_where(&all, |l| received_at(l) >= pivot);
        let to_pivot = stream_ids_where(&all, |l| received_at(l) <= pivot);
        assert!(
            !from_pivot.is_empty() && from_pivot.len() < every.len(),
            "the late letter was received after the others"
        );
        let cases: Vec<(String, Vec<String>)> = vec![
            (param("from", &day(oldest_day)), every.clone()),
            (
                param("to", &day(newest_day + TimeDelta::days(1))),
                every.clone(),
            ),
            (param("to", &day(oldest_day - TimeDelta::days(1))), vec![]),
            (param("from", &day(newest_day + TimeDelta::days(1))), vec![]),
            (param("from", &pivot_z), from_pivot.clone()),
            (param("from", &pivot_plus_two), from_pivot.clone()),
            (param("to", &pivot_plus_two), to_pivot),
            (
                format!(
                    "{}&{}",
                    param("from", &pivot_plus_two),
                    param("to", &pivot_z)
                ),
                stream_ids_where(&all, |l| received_at(l) == pivot),
            ),
        ];

        for (query, expected) in cases {
            // Act
            let body = list_ok(&app, &query).await;

            // Assert
            assert_eq!(stream_ids(&body), expected, "{db:?}: ?{query}");
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_dead_letter_is_read_by_id_as_listed_and_an_unknown_id_is_not_found() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let entries = invalid_entries();
        xadd_all(&app, &entries).await;
        let all = exactly(&app, entries.len()).await;

        for listed in &all {
            let id = listed["id"].as_str().unwrap();

            // Act
            let response = app.get_dead_letter(id).await;

            // Assert
            assert_eq!(response.status(), 200, "{db:?}: {id}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(&body["data"], listed, "{db:?}: the same record as listed");
        }
        let unknown = app.get_dead_letter("01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
        assert_eq!(unknown.status(), 404, "{db:?}");
        let body: Value = unknown.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{db:?}");
    }
}
