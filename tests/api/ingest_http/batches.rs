//! Batches: per-index rejection, the 1 to 500 size bounds, and ids repeated inside one batch.

use serde_json::{Value, json};

use crate::helpers::{DEPLOYMENTS, Mode, envelope, spawn_app};

use super::{assert_error, assert_still_serving, publish_a_survivor, with, without};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_batch_accepts_its_valid_envelopes_and_reports_each_rejected_index() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        let mut bad = envelope("batch-bad");
        bad["type"] = json!("nodots");
        let batch = json!([
            envelope("batch-0"),
            bad,
            envelope("batch-2"),
            without("source")
        ]);

        // Act
        let response = app.post_events(&batch).await;

        // Assert
        assert_eq!(response.status(), 202, "{db:?}/{mode:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["data"]["accepted"],
            json!([
                {"index": 0, "id": "batch-0", "duplicate": false},
                {"index": 2, "id": "batch-2", "duplicate": false},
            ])
        );
        let rejected = body["data"]["rejected"].as_array().unwrap();
        assert_eq!(rejected.len(), 2, "{body}");
        assert_eq!(rejected[0]["index"], 1);
        assert_eq!(rejected[0]["error"]["code"], "invalid_field");
        assert_eq!(rejected[0]["error"]["details"]["field"], "type");
        assert_eq!(rejected[1]["index"], 3);
        assert_eq!(rejected[1]["error"]["code"], "missing_field");
        assert_eq!(rejected[1]["error"]["details"]["field"], "source");
        app.stored_event("batch-0").await;
        app.stored_event("batch-2").await;
        assert_eq!(
            app.get_event("batch-bad").await.status(),
            404,
            "a rejected envelope is never stored"
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_batch_holds_one_to_five_hundred_envelopes() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        publish_a_survivor(&app, "survivor-size").await;
        let batch_of =
            |n: usize| Value::Array((0..n).map(|i| envelope(&format!("size-{n}-{i}"))).collect());

        // Act
        let empty = app.post_events(&json!([])).await;
        let too_many = app.post_events(&batch_of(501)).await;
        let most = app.post_events(&batch_of(500)).await;

        // Assert
        for (case, response) in [("[]", empty), ("501 envelopes", too_many)] {
            let case = format!("{db:?}/{mode:?}: {case}");
            let body = assert_error(response, 400, "invalid_parameter", None, &case).await;
            assert_eq!(body["error"]["details"]["parameter"], "body", "{case}");
        }
        assert_eq!(most.status(), 202, "{db:?}/{mode:?}: 500 envelopes");
        let body: Value = most.json().await.unwrap();
        assert_eq!(body["data"]["accepted"].as_array().unwrap().len(), 500);
        assert_eq!(body["data"]["rejected"], json!([]));
        app.stored_event("size-500-499").await;
        assert_eq!(
            app.get_event("size-501-0").await.status(),
            404,
            "nothing of a refused batch is stored"
        );
        assert_still_serving(&app, "survivor-size", "batch size checks").await;
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_batch_without_a_valid_envelope_is_rejected_listing_every_index() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        publish_a_survivor(&app, "survivor-batch").await;
        let batch = json!([
            without("type"),
            with("ttl", json!(0)),
            42,
            with("colour", json!("red")),
        ]);

        // Act
        let response = app.post_events(&batch).await;

        // Assert
        let body = assert_error(
            response,
            400,
            "batch_rejected",
            None,
            &format!("{db:?}/{mode:?}"),
        )
        .await;
        let rejected = body["error"]["details"]["rejected"].as_array().unwrap();
        let summary: Vec<(u64, &str, Option<&str>)> = rejected
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
            summary,
            vec![
                (0, "missing_field", Some("type")),
                (1, "invalid_field", Some("ttl")),
                (2, "invalid_json", None),
                (3, "unknown_field", Some("colour")),
            ]
        );
        assert_still_serving(&app, "survivor-batch", "a rejected batch").await;
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_repeated_id_inside_one_batch_is_a_duplicate_or_a_conflict_by_content() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        let mut changed = envelope("twice-changed");
        changed["payload"] = json!({ "n": 2 });
        let batch = json!([
            envelope("twice-same"),
            envelope("twice-same"),
            envelope("twice-changed"),
            changed,
        ]);

        // Act
        let response = app.post_events(&batch).await;

        // Assert
        assert_eq!(response.status(), 202, "{db:?}/{mode:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["data"]["accepted"],
            json!([
                {"index": 0, "id": "twice-same", "duplicate": false},
                {"index": 1, "id": "twice-same", "duplicate": true},
                {"index": 2, "id": "twice-changed", "duplicate": false},
            ]),
            "{db:?}/{mode:?}"
        );
        let rejected = &body["data"]["rejected"];
        assert_eq!(rejected.as_array().map(Vec::len), Some(1), "{body}");
        assert_eq!(rejected[0]["index"], 3);
        assert_eq!(rejected[0]["error"]["code"], "id_conflict");
        assert_eq!(rejected[0]["error"]["details"]["id"], "twice-changed");
        let stored = app.stored_event("twice-changed").await;
        assert_eq!(
            stored["payload"],
            json!({ "n": 1 }),
            "the first content wins"
        );
    }
}

/// Batch after batch of new ids, now and then with a stored one: each new id is stored once, numbered after the
/// events before it, and a stored id is answered by content. On PostgreSQL a write copies without looking for
/// stored ids, and one that meets a stored id is rolled back and written again looking first (and the next
/// writes look first for a while): rounds 3, 25 and 45 each meet a stored id after a run of writes that did not.
#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn batches_that_repeat_stored_ids_store_each_new_id_once_in_order() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        let rounds = 50;

        // Act
        let mut answers = Vec::new();
        for round in 0..rounds {
            let mut batch = vec![
                envelope(&format!("run-{round}-a")),
                envelope(&format!("run-{round}-b")),
            ];
            match round {
                3 | 45 => batch.push(envelope(&format!("run-{}-a", round - 1))),
                25 => {
                    let mut changed = envelope(&format!("run-{}-b", round - 1));
                    changed["payload"] = json!({ "n": 2 });
                    batch.push(changed);
                }
                _ => {}
            }
            let response = app.post_events(&Value::Array(batch)).await;
            assert_eq!(response.status(), 202, "{db:?}/{mode:?} round {round}");
            answers.push(response.json::<Value>().await.unwrap());
        }

        // Assert: the rows first (redis mode stores after answering), then the answers.
        let mut previous = 0;
        for round in 0..rounds {
            for part in ["a", "b"] {
                let event = app.stored_event(&format!("run-{round}-{part}")).await;
                let sequence: i64 = event["ingressSequence"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .expect("a sequence");
                assert!(
                    sequence > previous,
                    "{db:?}/{mode:?}: run-{round}-{part} at {sequence}, after {previous}"
                );
                previous = sequence;
                assert_eq!(
                    event["payload"],
                    json!({ "n": 1 }),
                    "the first content stays"
                );
            }
        }
        let mut stored = app.env.stored_ids().await;
        stored.sort();
        let mut expected: Vec<String> = (0..rounds)
            .flat_map(|r| [format!("run-{r}-a"), format!("run-{r}-b")])
            .collect();
        expected.sort();
        assert_eq!(stored, expected, "{db:?}/{mode:?}: each new id once");
        if mode == Mode::Inline {
            // Redis mode answers before the events are stored, so its answer cannot know every stored id yet.
            for round in [3, 45] {
                assert_eq!(
                    answers[round]["data"]["accepted"][2],
                    json!({"index": 2, "id": format!("run-{}-a", round - 1), "duplicate": true}),
                    "{db:?}/{mode:?}"
                );
            }
            let rejected = &answers[25]["data"]["rejected"];
            assert_eq!(rejected[0]["index"], 2, "{db:?}/{mode:?}: {rejected}");
            assert_eq!(rejected[0]["error"]["code"], "id_conflict");
        }
    }
}
