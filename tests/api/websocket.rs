//! The WebSocket `/ws` (SPEC §7) and its relay across instances (SPEC §13): the handshake and its auth, the
//! frames, filters, `since` resume, slow clients, and shutdown.

use std::collections::{HashMap, HashSet};

use herald::auth::{AccessPolicy, Scope, TokenRegistry};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use crate::helpers::{
    DEPLOYMENTS, Db, Mode, PrivateRedis, TestApp, TestEnv, WsClient, WsEnd, eventually, free_port,
    spawn_app, token_registry,
};

fn event(id: &str, event_type: &str, source: &str, payload: Value) -> Value {
    json!({ "id": id, "type": event_type, "source": source, "payload": payload })
}

/// Every stored event as `(ingressSequence, id)`, oldest first, paging through `GET /admin/events`.
async fn stored_sequences(app: &TestApp) -> Vec<(i64, String)> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/admin/events?limit=200".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let body: Value = app.get(&path).await.json().await.expect("json");
        for e in body["data"]["events"].as_array().expect("events") {
            all.push((sequence_of(e), e["id"].as_str().expect("id").to_owned()));
        }
        match body["data"]["page"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    all.reverse();
    all
}

fn sequence_of(event: &Value) -> i64 {
    event["ingressSequence"]
        .as_str()
        .expect("ingressSequence is a string")
        .parse()
        .expect("a number")
}

/// Reads event frames until the one with id `last`, returning the ids in order.
async fn ids_until(client: &mut WsClient, last: &str) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let frame = client.next_json().await;
        if frame["type"] != "workflow.event.received" {
            continue;
        }
        let id = frame["data"]["event"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let done = id == last;
        ids.push(id);
        if done {
            return ids;
        }
    }
}

#[actix_web::test]
async fn connecting_is_acknowledged_with_a_session_id_and_the_time() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;

    let mut client = app
        .ws_try_connect(app.ws_request())
        .await
        .expect("handshake");
    let ack = client.next_json().await;

    assert_eq!(ack["type"], "connection.ack");
    assert!(
        !ack["data"]["sessionId"]
            .as_str()
            .expect("sessionId")
            .is_empty()
    );
    let now = ack["data"]["now"].as_str().expect("now");
    assert!(
        chrono::DateTime::parse_from_rfc3339(now).is_ok() && now.ends_with('Z') && now.len() == 24,
        "{now}"
    );
}

#[actix_web::test]
async fn a_session_that_never_subscribes_receives_every_event() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut client = app.ws_connect().await;

    app.publish_ok(&[
        event("all-1", "orders.order.created", "shop.api", json!({})),
        event(
            "all-2",
            "billing.invoice.paid",
            "/billing/eu",
            json!({"level": "debug"}),
        ),
    ])
    .await;

    let events = client.events(2).await;
    assert_eq!(events[0]["id"], "all-1");
    assert_eq!(events[1]["id"], "all-2");
    // The frame carries the §6.1 view.
    assert_eq!(events[1]["severity"], "debug");
    assert_eq!(events[1]["source"], "/billing/eu");
    assert!(sequence_of(&events[1]) > sequence_of(&events[0]));
}

#[actix_web::test]
async fn event_frames_carry_the_view_and_when_they_were_emitted_and_derived_events_get_a_typed_frame()
 {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut client = app.ws_connect().await;

    app.publish_ok(&[event(
        "asset-1",
        "asset.produced",
        "core.workflows",
        json!({"assetId": "a-1", "workflowDefinitionId": "wf-1", "noise": true}),
    )])
    .await;

    let generic = client.next_json().await;
    assert_eq!(generic["type"], "workflow.event.received");
    assert_eq!(generic["data"]["event"]["id"], "asset-1");
    assert_eq!(
        generic["data"]["event"]["derived"]["type"],
        "asset.produced"
    );
    assert!(
        generic["emittedAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let typed = client.next_json().await;
    assert_eq!(typed["type"], "asset.produced");
    assert_eq!(typed["data"]["event"]["id"], "asset-1");
    assert_eq!(
        typed["data"]["derived"],
        json!({"assetId": "a-1", "workflowDefinitionId": "wf-1"})
    );
}

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
async fn ping_is_answered_with_pong_in_both_forms() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut client = app.ws_connect().await;

    for ping in ["ping", r#""ping""#, r#"{"type": "ping"}"#] {
        client.send_text(ping).await;
        assert_eq!(client.next_json().await, json!({"type": "pong"}), "{ping}");
    }
}

#[actix_web::test]
async fn malformed_frames_get_an_error_frame_and_the_session_keeps_working() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut client = app.ws_connect().await;

    let cases = [
        ("{not json", "invalid_json", None),
        ("[1, 2]", "invalid_json", None),
        (r#"{"filters": {}}"#, "missing_field", Some("type")),
        (r#"{"type": "dance"}"#, "invalid_field", Some("type")),
        (
            r#"{"type": "subscribe", "filterz": {}}"#,
            "unknown_field",
            Some("filterz"),
        ),
        (
            r#"{"type": "subscribe", "filters": "x"}"#,
            "invalid_field",
            Some("filters"),
        ),
    ];
    for (text, code, field) in cases {
        client.send_text(text).await;
        let frame = client.next_json().await;
        assert_eq!(frame["type"], "error", "{text}");
        assert_eq!(frame["data"]["code"], code, "{text}");
        assert!(
            frame["data"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert_eq!(frame["data"]["field"].as_str(), field, "{text}");
    }
    {
        use futures::SinkExt;
        client
            .stream
            .send(tungstenite::Message::binary(vec![1u8, 2, 3]))
            .await
            .expect("send binary");
    }
    assert_eq!(
        client.next_of_type("error").await["data"]["code"],
        "invalid_json"
    );

    // Still subscribed to everything, still answering.
    app.publish_ok(&[event(
        "after-errors",
        "tests.still.working",
        "tests",
        json!({}),
    )])
    .await;
    assert_eq!(client.events(1).await[0]["id"], "after-errors");
    client.send_text("ping").await;
    assert_eq!(client.next_json().await["type"], "pong");
}

#[actix_web::test]
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

#[actix_web::test]
async fn a_frame_over_64_kib_closes_the_session_with_1009() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut client = app.ws_connect().await;

    // Exactly 64 KiB is still read.
    let shell = r#"{"type": "ping", "pad": ""}"#.len();
    let at_limit = format!(
        r#"{{"type": "ping", "pad": "{}"}}"#,
        "x".repeat(64 * 1024 - shell)
    );
    assert_eq!(at_limit.len(), 64 * 1024);
    client.send_text(&at_limit).await;
    assert_eq!(client.next_json().await["type"], "pong");

    client.send_text(&"x".repeat(64 * 1024 + 1)).await;

    match client.next_frame().await {
        Err(WsEnd::Closed(code, reason)) => {
            assert_eq!(code, 1009);
            assert!(reason.contains("65536"), "{reason}");
        }
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    // Herald itself is fine.
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[actix_web::test]
async fn a_frame_declaring_more_than_64_kib_is_refused_at_its_header_without_waiting_for_it() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut client = app.ws_connect().await;

    // A masked text frame header declaring 1 GiB, and 10 bytes of it: the rest never comes.
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    header.extend_from_slice(&[0; 10]);
    {
        use tokio::io::AsyncWriteExt;
        let tokio_tungstenite::MaybeTlsStream::Plain(socket) = client.stream.get_mut() else {
            panic!("the test server is plain TCP");
        };
        socket.write_all(&header).await.expect("write the header");
    }

    // Closed with 1009 at once (actix-http alone would wait for the whole gigabyte).
    match client.next_frame().await {
        Err(WsEnd::Closed(code, reason)) => {
            assert_eq!(code, 1009);
            assert!(reason.contains("65536"), "{reason}");
        }
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
async fn the_handshake_needs_a_token_with_events_read() {
    let env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
    let app = env
        .spawn_with(AccessPolicy::Tokens(token_registry()), None)
        .await;

    let refusal = |e: tungstenite::Error| match e {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("a JSON error body");
            (status, body)
        }
        other => panic!("expected an HTTP refusal, got {other}"),
    };

    let no_token = app
        .ws_try_connect(app.ws_request())
        .await
        .map(|_| ())
        .expect_err("refused");
    let (status, body) = refusal(no_token);
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");

    let mut wrong_token = app.ws_request();
    wrong_token
        .headers_mut()
        .insert("authorization", "Bearer nope".parse().expect("header"));
    let (status, _) = refusal(
        app.ws_try_connect(wrong_token)
            .await
            .map(|_| ())
            .expect_err("refused"),
    );
    assert_eq!(status, 401);

    let mut publisher = app.ws_request();
    publisher.headers_mut().insert(
        "authorization",
        "Bearer t-events:publish".parse().expect("header"),
    );
    let (status, body) = refusal(
        app.ws_try_connect(publisher)
            .await
            .map(|_| ())
            .expect_err("refused"),
    );
    assert_eq!(status, 403);
    assert_eq!(body["error"]["details"]["requiredScope"], "events:read");

    let mut reader = app.ws_request();
    reader.headers_mut().insert(
        "authorization",
        "Bearer t-events:read".parse().expect("header"),
    );
    let mut client = app.ws_try_connect(reader).await.expect("accepted");
    assert_eq!(client.next_json().await["type"], "connection.ack");
}

#[actix_web::test]
async fn a_browser_can_send_its_token_as_a_subprotocol_and_the_server_selects_herald_v1() {
    let env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
    let registry = TokenRegistry::from_tokens(&[
        ("reader-0123456789", "reader", &[Scope::EventsRead]),
        ("publisher-0123456789", "publisher", &[Scope::EventsPublish]),
    ]);
    let app = env.spawn_with(AccessPolicy::Tokens(registry), None).await;
    let with_protocols = |protocols: &str| {
        let mut request = app.ws_url().into_client_request().expect("request");
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols.parse().expect("header"));
        request
    };

    let mut client = app
        .ws_try_connect(with_protocols("herald.v1, herald.bearer.reader-0123456789"))
        .await
        .expect("accepted");
    assert_eq!(
        client
            .response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("herald.v1")
    );
    assert_eq!(client.next_json().await["type"], "connection.ack");

    match app
        .ws_try_connect(with_protocols(
            "herald.v1, herald.bearer.publisher-0123456789",
        ))
        .await
    {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    match app
        .ws_try_connect(with_protocols("herald.v1, herald.bearer.wrong"))
        .await
    {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
}

#[actix_web::test]
async fn clients_on_two_instances_sharing_redis_each_receive_every_event_exactly_once() {
    let env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    let a = env.spawn().await;
    let b = env.spawn().await;
    let mut on_a = a.ws_connect().await;
    let mut on_b = b.ws_connect().await;

    // Both instances read the shared stream, so each stores some of these: every event reaches the client of
    // the other instance only through the relay.
    for i in 0..60 {
        let app = if i % 2 == 0 { &a } else { &b };
        app.publish_ok(&[event(
            &format!("x-{i}"),
            "tests.relay.crossed",
            "tests",
            json!({"i": i}),
        )])
        .await;
    }
    let expected: HashSet<String> = (0..60).map(|i| format!("x-{i}")).collect();
    for (name, client) in [("A", &mut on_a), ("B", &mut on_b)] {
        let ids: Vec<String> = client
            .events(60)
            .await
            .iter()
            .map(|e| e["id"].as_str().expect("id").to_owned())
            .collect();
        let unique: HashSet<String> = ids.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            60,
            "client on {name}: no duplicate among {ids:?}"
        );
        assert_eq!(unique, expected, "client on {name}");
    }
    // Nothing comes twice later either: the next event is the sentinel itself.
    b.publish_ok(&[event("sentinel", "tests.relay.done", "tests", json!({}))])
        .await;
    assert_eq!(on_a.events(1).await[0]["id"], "sentinel");
    assert_eq!(on_b.events(1).await[0]["id"], "sentinel");
    a.shutdown();
    b.shutdown();
    a.delete_stream().await;
}

/// Whether the event `id` reaches `client` within `within` (frames of other events are skipped).
async fn receives(client: &mut WsClient, id: &str, within: std::time::Duration) -> bool {
    tokio::time::timeout(within, async {
        loop {
            let frame = client.next_json().await;
            if frame["type"] == "workflow.event.received" && frame["data"]["event"]["id"] == id {
                return;
            }
        }
    })
    .await
    .is_ok()
}

#[actix_web::test]
async fn after_a_redis_restart_the_relay_subscribes_again_and_clients_get_the_other_instances_events()
 {
    // Arrange: two instances on a Redis of the test's own, a client on B.
    let port = free_port();
    let redis = PrivateRedis::start(port).await;
    let mut env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    env.set("REDIS_URL", &redis.url());
    let a = env.spawn().await;
    let b = env.spawn().await;
    let mut on_b = b.ws_connect().await;

    // Act: Redis restarts, empty; both instances recover.
    drop(redis);
    eventually("A to notice Redis is gone", || async {
        a.get("/readyz").await.status() == 503
    })
    .await;
    let _redis = PrivateRedis::start(port).await;
    eventually("both instances to be ready again", || async {
        a.get("/readyz").await.status() == 200 && b.get("/readyz").await.status() == 200
    })
    .await;

    // Assert: once the relay is back, every event published through A reaches B's client, whichever instance
    // stored it. Both instances read the stream, so about half are stored by A and reach B only through the
    // relay: ten in a row arriving means it subscribed again (a dead relay passes that 1 time in 1,024).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut streak = 0;
    for n in 1.. {
        assert!(
            std::time::Instant::now() < deadline,
            "B's client still misses events stored by A 30 s after Redis came back"
        );
        let id = format!("back-{n}");
        a.publish_ok(&[event(&id, "tests.relay.back", "tests", json!({}))])
            .await;
        streak = if receives(&mut on_b, &id, std::time::Duration::from_secs(1)).await {
            streak + 1
        } else {
            0
        };
        if streak == 10 {
            break;
        }
    }
    a.shutdown();
    b.shutdown();
}

#[actix_web::test]
async fn a_client_that_stops_reading_gets_a_lagged_frame_and_the_server_stays_healthy() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut stuck = app.ws_connect().await;
    let mut watcher = app.ws_connect().await;
    const EVENTS: u64 = 400;
    // A second client reads along, counting what it is sent or told it missed: once that is every event, the
    // hub has handed out (or skipped) all of them to `stuck` too, since it serves every session per event.
    let watched = actix_rt::spawn(async move {
        let mut seen = 0;
        while seen < EVENTS {
            let frame = watcher.next_json().await;
            match frame["type"].as_str() {
                Some("workflow.event.received") => seen += 1,
                Some("lagged") => seen += frame["data"]["missed"].as_u64().expect("missed"),
                _ => {}
            }
        }
    });
    let big = "x".repeat(60 * 1024);

    // `stuck` reads nothing while ~24 MiB of events go out: far more than the socket buffers and the session's
    // 4 MiB allowance hold.
    for batch in 0..EVENTS / 20 {
        let events: Vec<Value> = (0..20)
            .map(|i| {
                event(
                    &format!("big-{batch}-{i}"),
                    "tests.lag.big",
                    "tests",
                    json!({"blob": big}),
                )
            })
            .collect();
        app.publish_ok(&events).await;
    }
    watched.await.expect("the watcher saw every event");

    // Read everything it was sent: events, and a `lagged` notice after each run of skipped ones, whose
    // resumeFrom is the last sequence sent before the skip.
    let mut received: Vec<i64> = Vec::new();
    let mut missed = 0;
    let mut first_resume_from = None;
    while received.len() as u64 + missed < EVENTS {
        let frame = stuck.next_json().await;
        match frame["type"].as_str() {
            Some("workflow.event.received") => received.push(sequence_of(&frame["data"]["event"])),
            Some("lagged") => {
                let n = frame["data"]["missed"].as_u64().expect("missed");
                let resume_from: i64 = frame["data"]["resumeFrom"]
                    .as_str()
                    .expect("resumeFrom is a string")
                    .parse()
                    .expect("a sequence");
                assert!(n > 0, "{frame}");
                assert_eq!(Some(&resume_from), received.last(), "{frame}");
                first_resume_from.get_or_insert(resume_from);
                missed += n;
            }
            _ => {}
        }
    }
    assert!(missed > 0, "the client was never lagged");

    // The session is still open and the server healthy.
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.publish_ok(&[event("after-lag", "tests.lag.after", "tests", json!({}))])
        .await;
    assert_eq!(stuck.events(1).await[0]["id"], "after-lag");
    // And it can fetch what it missed.
    let resume_from = first_resume_from.expect("a lagged frame");
    stuck
        .send_json(&json!({"type": "subscribe", "since": resume_from.to_string()}))
        .await;
    stuck.next_of_type("subscribed").await;
    let expected: Vec<String> = stored_sequences(&app)
        .await
        .into_iter()
        .filter(|(seq, _)| *seq > resume_from)
        .map(|(_, id)| id)
        .collect();
    assert_eq!(ids_until(&mut stuck, "after-lag").await, expected);
}

#[actix_web::test]
async fn shutdown_closes_sessions_with_1001() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut client = app.ws_connect().await;

    app.shutdown();

    match client.next_frame().await {
        Err(WsEnd::Closed(code, _)) => assert_eq!(code, 1001),
        other => panic!("expected a 1001 close, got {other:?}"),
    }
}
