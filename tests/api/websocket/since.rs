//! `subscribe` with `since`: resuming from a stored sequence without gap or duplicate, and its limits.

use serde_json::{Value, json};

use crate::helpers::{DEPLOYMENTS, Db, Mode, eventually, spawn_app};

use super::{event, ids_until, sequence_of, stored_sequences};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn since_resumes_without_gap_or_duplicate_while_events_keep_arriving_in_both_deployments() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_app(db, mode).await;
        let early: Vec<Value> = (0..40)
            .map(|i| {
                event(
                    &format!("early-{i}"),
                    "tests.since.early",
                    "tests",
                    json!({"i": i}),
                )
            })
            .collect();
        app.publish_ok(&early).await;
        eventually("the early events to be stored", || async {
            stored_sequences(&app).await.len() == 40
        })
        .await;
        let since = stored_sequences(&app).await[19].0;

        // Events keep coming while the client subscribes and its backfill runs.
        let publisher = {
            let address = app.address.clone();
            actix_rt::spawn(async move {
                let client = reqwest::Client::new();
                for batch in 0..30 {
                    let events: Vec<Value> = (0..5)
                        .map(|i| {
                            event(
                                &format!("live-{batch}-{i}"),
                                "tests.since.live",
                                "tests",
                                json!({"i": i}),
                            )
                        })
                        .collect();
                    let response = client
                        .post(format!("{address}/events"))
                        .json(&events)
                        .send()
                        .await
                        .expect("publish");
                    assert_eq!(response.status(), 202);
                }
            })
        };
        let mut client = app.ws_connect().await;
        client
            .send_json(&json!({"type": "subscribe", "since": since.to_string()}))
            .await;
        let subscribed = client.next_of_type("subscribed").await;
        assert_eq!(subscribed["data"]["since"], since.to_string());
        publisher.await.expect("publisher");
        eventually("every event to be stored", || async {
            stored_sequences(&app).await.len() == 40 + 150
        })
        .await;

        let expected: Vec<(i64, String)> = stored_sequences(&app)
            .await
            .into_iter()
            .filter(|(seq, _)| *seq > since)
            .collect();
        let received: Vec<(i64, String)> = client
            .events(expected.len())
            .await
            .iter()
            .map(|e| (sequence_of(e), e["id"].as_str().expect("id").to_owned()))
            .collect();

        assert!(
            received.windows(2).all(|w| w[0].0 < w[1].0),
            "{db:?}/{mode:?}: sequences strictly increase"
        );
        assert_eq!(
            received, expected,
            "{db:?}/{mode:?}: every stored event after since, once"
        );
        // Nothing more (no duplicate comes later): a fresh event is the next one.
        app.publish_ok(&[event("sentinel", "tests.since.done", "tests", json!({}))])
            .await;
        assert_eq!(
            client.events(1).await[0]["id"],
            "sentinel",
            "{db:?}/{mode:?}"
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn since_with_filters_sends_only_matching_stored_events() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    app.publish_ok(&[
        event("m-1", "match.thing.happened", "tests", json!({})),
        event("n-1", "nomatch.thing.happened", "tests", json!({})),
        event("m-2", "match.thing.happened", "tests", json!({})),
    ])
    .await;
    eventually("the events to be stored", || async {
        stored_sequences(&app).await.len() == 3
    })
    .await;

    let mut client = app
        .ws_subscribed(json!({"type": "subscribe", "filters": {"type": "match.**"}, "since": "0"}))
        .await;
    app.publish_ok(&[event("m-3", "match.thing.happened", "tests", json!({}))])
        .await;

    assert_eq!(ids_until(&mut client, "m-3").await, ["m-1", "m-2", "m-3"]);
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_since_more_than_10000_events_back_is_refused_as_since_too_old() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    for batch in 0..21 {
        let events: Vec<Value> = (0..500)
            .map(|i| {
                event(
                    &format!("old-{batch}-{i}"),
                    "tests.old.event",
                    "tests",
                    json!({}),
                )
            })
            .collect();
        app.publish_ok(&events[..if batch == 20 { 1 } else { 500 }])
            .await;
    }
    let mut client = app
        .ws_subscribed(json!({"type": "subscribe", "filters": {"type": "keep.**"}}))
        .await;

    client
        .send_json(&json!({"type": "subscribe", "since": "0"}))
        .await;

    let frame = client.next_json().await;
    assert_eq!(frame["type"], "error");
    assert_eq!(frame["data"]["code"], "since_too_old");
    assert!(
        frame["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/admin/events")),
        "{frame}"
    );
    // The previous subscription stands.
    app.publish_ok(&[
        event("nope", "other.thing.happened", "tests", json!({})),
        event("keep-1", "keep.thing.happened", "tests", json!({})),
    ])
    .await;
    assert_eq!(ids_until(&mut client, "keep-1").await, ["keep-1"]);
    // 10,000 back is still fine.
    let ten_thousand_back = stored_sequences(&app)
        .await
        .iter()
        .rev()
        .nth(10_000)
        .map(|e| e.0);
    client
        .send_json(&json!({"type": "subscribe", "filters": {"type": "keep.**"},
                           "since": ten_thousand_back.expect("enough events").to_string()}))
        .await;
    assert_eq!(client.next_json().await["type"], "subscribed");
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_since_that_is_not_a_sequence_is_an_invalid_parameter() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut client = app.ws_connect().await;

    client
        .send_json(&json!({"type": "subscribe", "since": "yesterday"}))
        .await;

    let frame = client.next_json().await;
    assert_eq!(frame["type"], "error");
    assert_eq!(frame["data"]["code"], "invalid_parameter");
    assert_eq!(frame["data"]["field"], "since");
}
