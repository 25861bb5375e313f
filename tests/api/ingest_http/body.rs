//! The request body as a whole: not JSON, over `max_body_bytes` (also when chunked), or not declared JSON.

use serde_json::Value;

use crate::helpers::{DEPLOYMENTS, TestApp, TestEnv, envelope, spawn_app};

use super::{assert_error, assert_still_serving, publish_a_survivor, string_of_json_bytes};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_body_that_is_not_json_or_not_an_object_is_rejected_as_invalid_json() {
    let bodies = [
        ("malformed JSON", r#"{"type": "a.b", "source": "#),
        ("trailing garbage", r#"{"type": "a.b", "source": "s"} x"#),
        ("an empty body", ""),
        ("a number", "42"),
        ("a string", r#""test.event.happened""#),
        ("true", "true"),
        ("null", "null"),
    ];
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        publish_a_survivor(&app, "survivor-json").await;

        for (case, body) in bodies {
            let case = format!("{db:?}/{mode:?}: {case}");

            // Act
            let response = app.post_raw(body, "application/json").await;

            // Assert
            let error = assert_error(response, 400, "invalid_json", None, &case).await;
            assert!(
                error["error"]["details"]["field"].is_null(),
                "{case}: the whole body is at fault, not a field: {error}"
            );
            assert_still_serving(&app, "survivor-json", &case).await;
        }
    }
}

/// Sends `chunks` as a chunked `POST /events` (no `Content-Length`) over a raw connection and returns the status
/// and body of the answer; reqwest cannot send a body of unknown length without its `stream` feature.
async fn post_chunked(app: &TestApp, chunks: Vec<String>) -> (u16, Value) {
    use std::io::{Read, Write};
    let authority = app.address.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&authority).expect("connect");
        let mut request = format!(
            "POST /events HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        for chunk in &chunks {
            request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
        }
        request.push_str("0\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("write");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("read");
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status: u16 = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("a status line in {answer:?}"));
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        // A chunked answer wraps the JSON in chunk sizes; the JSON object itself sits between the outer braces.
        let json = match (body.find('{'), body.rfind('}')) {
            (Some(start), Some(end)) => &body[start..=end],
            _ => "null",
        };
        (status, serde_json::from_str(json).unwrap_or(Value::Null))
    })
    .await
    .expect("the raw request")
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_body_over_max_body_bytes_is_refused_with_413_naming_the_limit() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let mut env = TestEnv::new(db, mode).await;
        env.set("HERALD_MAX_BODY_BYTES", "2048");
        let app = env.spawn().await;
        publish_a_survivor(&app, "survivor-body").await;
        let sized = |bytes: usize| {
            let mut body = envelope("sized");
            let overhead = body.to_string().len() - body["payload"].to_string().len();
            body["payload"] = string_of_json_bytes(bytes - overhead);
            let text = body.to_string();
            assert_eq!(text.len(), bytes);
            text
        };

        // Act
        let at_limit = app.post_raw(sized(2048), "application/json").await;
        let over_limit = app.post_raw(sized(2049), "application/json").await;
        let (chunked_status, chunked_body) = post_chunked(
            &app,
            vec![
                sized(2100)[..1050].to_owned(),
                sized(2100)[1050..].to_owned(),
            ],
        )
        .await;

        // Assert
        let case = format!("{db:?}/{mode:?}");
        assert_eq!(at_limit.status(), 202, "{case}: exactly 2048 bytes");
        let body = assert_error(over_limit, 413, "body_too_large", None, &case).await;
        assert_eq!(body["error"]["details"]["limitBytes"], 2048, "{case}");
        assert_eq!(chunked_status, 413, "{case}: a chunked body is counted too");
        assert_eq!(chunked_body["error"]["code"], "body_too_large", "{case}");
        assert_eq!(
            chunked_body["error"]["details"]["limitBytes"], 2048,
            "{case}"
        );
        assert_still_serving(&app, "survivor-body", "an oversized body").await;
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_body_that_is_not_declared_json_is_refused_with_415() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        publish_a_survivor(&app, "survivor-media").await;
        let body = envelope("media").to_string();

        // Act
        let plain = app.post_raw(body.clone(), "text/plain").await;
        let form = app
            .post_raw(body.clone(), "application/x-www-form-urlencoded")
            .await;
        let undeclared = app
            .client
            .post(format!("{}/events", app.address))
            .body(body)
            .send()
            .await
            .unwrap();

        // Assert
        for (case, response) in [
            ("text/plain", plain),
            ("a form", form),
            ("no content type", undeclared),
        ] {
            let case = format!("{db:?}/{mode:?}: {case}");
            assert_error(response, 415, "unsupported_media_type", None, &case).await;
        }
        assert_eq!(
            app.get_event("media").await.status(),
            404,
            "nothing refused is stored"
        );
        assert_still_serving(&app, "survivor-media", "unsupported media types").await;
    }
}
