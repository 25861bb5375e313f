//! `subscribe` filters: what they select, how a new one replaces the last, and how a bad one is refused.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::helpers::{DEPLOYMENTS, Db, Mode, spawn_app};

use super::{event, ids_until};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn subscribe_filters_events_by_type_source_severity_and_json_path_in_both_deployments() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_app(db, mode).await;
        let filters = [
            ("type", json!({"type": "orders.**"})),
            ("source", json!({"source": "/sensors/*"})),
            ("severity", json!({"severity": "error,critical"})),
            ("path", json!({"jsonPath": "$.amount > 100"})),
            (
                "combined",
                json!({"type": "orders.order.created", "jsonPath": "$.amount > 100"}),
            ),
        ];
        let mut clients = Vec::new();
        for (name, f) in &filters {
            let mut client = app.ws_connect().await;
            client
                .send_json(&json!({"type": "subscribe", "filters": f}))
                .await;
            let subscribed = client.next_of_type("subscribed").await;
            assert_eq!(&subscribed["data"]["filters"], f, "{db:?}/{mode:?} {name}");
            assert_eq!(subscribed["data"]["since"], Value::Null);
            clients.push((*name, client));
        }

        app.publish_ok(&[
            event(
                "o-small",
                "orders.order.created",
                "shop.api",
                json!({"amount": 5}),
            ),
            event(
                "o-big",
                "orders.order.created",
                "shop.api",
                json!({"amount": 500}),
            ),
            event(
                "s-1",
                "sensors.reading.taken",
                "/sensors/tn-1",
                json!({"amount": 101}),
            ),
            event("p-fail", "billing.payment.failed", "billing.api", json!({})),
            event("crit", "ops.node.down", "ops", json!({"severity": "fatal"})),
            event("other", "ops.node.up", "ops", json!({"amount": "lots"})),
            // One last event every filter passes, so that reading up to it reads everything a filter let by.
            event(
                "last",
                "orders.order.created",
                "/sensors/tn-2",
                json!({"amount": 1000, "level": "error"}),
            ),
        ])
        .await;

        let expected: HashMap<&str, Vec<&str>> = HashMap::from([
            ("type", vec!["o-small", "o-big", "last"]),
            ("source", vec!["s-1", "last"]),
            ("severity", vec!["p-fail", "crit", "last"]),
            ("path", vec!["o-big", "s-1", "last"]),
            ("combined", vec!["o-big", "last"]),
        ]);
        for (name, client) in &mut clients {
            let ids = ids_until(client, "last").await;
            assert_eq!(ids, expected[name], "{db:?}/{mode:?} filter {name}");
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_new_subscribe_replaces_the_previous_filters() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut client = app
        .ws_subscribed(json!({"type": "subscribe", "filters": {"type": "first.**"}}))
        .await;
    client
        .send_json(&json!({"type": "subscribe", "filters": {"type": "second.**"}}))
        .await;
    client.next_of_type("subscribed").await;

    app.publish_ok(&[
        event("f-1", "first.thing.happened", "tests", json!({})),
        event("s-1", "second.thing.happened", "tests", json!({})),
    ])
    .await;

    assert_eq!(ids_until(&mut client, "s-1").await, ["s-1"]);
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_bad_filter_gets_an_error_frame_naming_it_and_keeps_the_previous_subscription() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut client = app
        .ws_subscribed(json!({"type": "subscribe", "filters": {"type": "kept.**"}}))
        .await;

    let cases = [
        (
            json!({"jsonPath": "$.a ? ("}),
            "invalid_json_path",
            "filters.jsonPath",
        ),
        (json!({"type": "a..b"}), "invalid_pattern", "filters.type"),
        (
            json!({"source": "bad source!"}),
            "invalid_pattern",
            "filters.source",
        ),
        (
            json!({"severity": "loud"}),
            "invalid_parameter",
            "filters.severity",
        ),
        (json!({"colour": "red"}), "unknown_field", "filters.colour"),
        (json!({"type": 7}), "invalid_field", "filters.type"),
    ];
    for (filters, code, field) in cases {
        client
            .send_json(&json!({"type": "subscribe", "filters": filters}))
            .await;
        let frame = client.next_of_type("error").await;
        assert_eq!(frame["data"]["code"], code, "{filters}");
        assert_eq!(frame["data"]["field"], field, "{filters}");
    }

    app.publish_ok(&[
        event("dropped", "other.thing.happened", "tests", json!({})),
        event("kept", "kept.thing.happened", "tests", json!({})),
    ])
    .await;
    assert_eq!(ids_until(&mut client, "kept").await, ["kept"]);
}
