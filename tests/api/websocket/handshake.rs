//! Opening a `/ws` session: the `connection.ack`, and the handshake's auth by bearer header or subprotocol.

use herald::auth::{AccessPolicy, Scope, TokenRegistry};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use crate::helpers::{Db, Mode, TestEnv, spawn_app, token_registry};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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
