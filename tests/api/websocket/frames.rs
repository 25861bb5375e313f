//! The frames of a session: event frames, ping/pong, malformed frames, and the 64 KiB frame limit.

use serde_json::json;
use tokio_tungstenite::tungstenite;

use crate::helpers::{Db, Mode, WsEnd, spawn_app};

use super::{event, sequence_of};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn ping_is_answered_with_pong_in_both_forms() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut client = app.ws_connect().await;

    for ping in ["ping", r#""ping""#, r#"{"type": "ping"}"#] {
        client.send_text(ping).await;
        assert_eq!(client.next_json().await, json!({"type": "pong"}), "{ping}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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
