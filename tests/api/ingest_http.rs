//! `POST /events` in both deployments (SPEC §2.2).

use serde_json::{Value, json};

use crate::helpers::{DEPLOYMENTS, TestApp, TestEnv, envelope, spawn_app};

#[actix_web::test]
async fn a_published_event_can_be_read_back_in_both_deployments() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        let sent = json!({
            "type": "billing.invoice.paid", "source": "billing.api", "payload": {"amount": 3},
            "occurredAt": "2026-11-22T11:00:00.123+01:00", "correlationId": "c-1", "ttl": 60000,
            "metadata": {"team": "billing"}
        });

        // Act
        let response = app.post_events(&sent).await;

        // Assert
        assert_eq!(response.status(), 202, "{db:?}/{mode:?}");
        let body: Value = response.json().await.unwrap();
        let accepted = &body["data"]["accepted"][0];
        assert_eq!(accepted["index"], 0);
        assert_eq!(accepted["duplicate"], false);
        assert_eq!(body["data"]["rejected"], json!([]));
        let id = accepted["id"].as_str().unwrap();
        assert_eq!(id.len(), 26, "a ULID is assigned");
        let event = app.stored_event(id).await;
        assert_eq!(event["type"], "billing.invoice.paid");
        assert_eq!(event["occurredAt"], "2026-11-22T10:00:00.123Z");
        assert_eq!(event["payload"], json!({"amount": 3}));
        assert_eq!(event["correlationId"], "c-1");
        assert_eq!(event["ttlMs"], 60000);
        assert_eq!(event["metadata"], json!({"team": "billing"}));
        assert!(
            event["ingressSequence"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
                > 0
        );
    }
}

#[actix_web::test]
async fn re_sending_an_id_with_the_same_content_is_a_duplicate_and_different_content_is_a_conflict()
{
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_app(db, mode).await;
        assert_eq!(app.post_events(&envelope("dup-1")).await.status(), 202);
        app.stored_event("dup-1").await;

        let again = app.post_events(&envelope("dup-1")).await;
        assert_eq!(again.status(), 202);
        let body: Value = again.json().await.unwrap();
        assert_eq!(
            body["data"]["accepted"][0]["duplicate"], true,
            "{db:?}/{mode:?}"
        );

        let mut changed = envelope("dup-1");
        changed["payload"] = json!({"n": 2});
        let conflict = app.post_events(&changed).await;
        assert_eq!(conflict.status(), 409);
        let body: Value = conflict.json().await.unwrap();
        assert_eq!(body["error"]["code"], "id_conflict");
        assert_eq!(body["error"]["details"]["id"], "dup-1");
    }
}

/// A valid envelope without an id; the rule tables change one field of it.
fn valid() -> Value {
    json!({ "type": "test.rule.checked", "source": "tests.api", "payload": { "n": 1 } })
}

/// [`valid`] with `field` set to `value` (which may be `null`).
fn with(field: &str, value: Value) -> Value {
    let mut envelope = valid();
    envelope[field] = value;
    envelope
}

/// [`valid`] without `field`.
fn without(field: &str) -> Value {
    let mut envelope = valid();
    envelope.as_object_mut().unwrap().remove(field);
    envelope
}

/// A `metadata.__workflow` with every required key.
fn workflow() -> Value {
    json!({
        "workflowDefinitionId": "wf-alpha", "workflowRunId": "run-1", "workflowRunStepId": "step-1",
        "jobRunId": "job-run-1", "jobSlug": "ingest"
    })
}

/// [`valid`] with `metadata.__workflow` set to `context`.
fn with_workflow(context: Value) -> Value {
    with("metadata", json!({ "__workflow": context }))
}

/// [`workflow`] with `key` set to `value`.
fn workflow_with(key: &str, value: Value) -> Value {
    let mut context = workflow();
    context[key] = value;
    context
}

/// A JSON string whose compact serialisation is exactly `bytes` long (the quotes count).
fn string_of_json_bytes(bytes: usize) -> Value {
    Value::String("x".repeat(bytes - 2))
}

/// Publishes one valid envelope and waits until it is stored, so a test can show it survives what follows.
async fn publish_a_survivor(app: &TestApp, id: &str) {
    let response = app.post_events(&envelope(id)).await;
    assert_eq!(response.status(), 202, "the survivor {id} is accepted");
    app.stored_event(id).await;
}

/// Asserts that Herald still answers and still serves what it accepted before.
async fn assert_still_serving(app: &TestApp, survivor: &str, after: &str) {
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "/healthz after {after}"
    );
    assert_eq!(
        app.get_event(survivor).await.status(),
        200,
        "event {survivor} is still readable after {after}"
    );
}

/// Asserts a SPEC error body: `status`, `error.code`, a non-empty message and, when given, `error.details.field`.
async fn assert_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
    field: Option<&str>,
    case: &str,
) -> Value {
    assert_eq!(response.status(), status, "{case}: status");
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], code, "{case}: code in {body}");
    assert!(
        !body["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{case}: a message in {body}"
    );
    if let Some(field) = field {
        assert_eq!(
            body["error"]["details"]["field"], field,
            "{case}: field in {body}"
        );
    }
    body
}

#[actix_web::test]
async fn every_envelope_rule_rejects_a_single_envelope_with_its_code_and_field() {
    let in_six_minutes = (chrono::Utc::now() + chrono::TimeDelta::minutes(6))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let long = |n: usize| "a".repeat(n);
    // (what is wrong, envelope, code, field)
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "an unknown field",
            with("tpye", json!("x.y")),
            "unknown_field",
            "tpye",
        ),
        ("a missing type", without("type"), "missing_field", "type"),
        (
            "a missing source",
            without("source"),
            "missing_field",
            "source",
        ),
        (
            "a null type",
            with("type", Value::Null),
            "missing_field",
            "type",
        ),
        (
            "a null source",
            with("source", Value::Null),
            "missing_field",
            "source",
        ),
        (
            "a type that is a number",
            with("type", json!(7)),
            "invalid_field",
            "type",
        ),
        (
            "a type with one segment",
            with("type", json!("billing")),
            "invalid_field",
            "type",
        ),
        (
            "a type with an empty segment",
            with("type", json!("billing..paid")),
            "invalid_field",
            "type",
        ),
        (
            "a type with a space",
            with("type", json!("billing.invoice paid")),
            "invalid_field",
            "type",
        ),
        (
            "a type of 201 characters",
            with("type", json!(format!("a.{}", long(199)))),
            "invalid_field",
            "type",
        ),
        (
            "an empty type",
            with("type", json!("")),
            "invalid_field",
            "type",
        ),
        (
            "a source with a space",
            with("source", json!("billing api")),
            "invalid_field",
            "source",
        ),
        (
            "a source with a hash",
            with("source", json!("billing#api")),
            "invalid_field",
            "source",
        ),
        (
            "a source of 201 characters",
            with("source", json!(long(201))),
            "invalid_field",
            "source",
        ),
        (
            "an empty source",
            with("source", json!("")),
            "invalid_field",
            "source",
        ),
        ("an empty id", with("id", json!("")), "invalid_field", "id"),
        (
            "an id with a space",
            with("id", json!("evt 1")),
            "invalid_field",
            "id",
        ),
        (
            "an id with a slash",
            with("id", json!("evt/1")),
            "invalid_field",
            "id",
        ),
        (
            "an id of 129 characters",
            with("id", json!(long(129))),
            "invalid_field",
            "id",
        ),
        (
            "an id that is a number",
            with("id", json!(42)),
            "invalid_field",
            "id",
        ),
        (
            "occurredAt without an offset",
            with("occurredAt", json!("2026-11-22T10:00:00")),
            "invalid_field",
            "occurredAt",
        ),
        (
            "occurredAt that is not a time",
            with("occurredAt", json!("yesterday")),
            "invalid_field",
            "occurredAt",
        ),
        (
            "occurredAt six minutes in the future",
            with("occurredAt", json!(in_six_minutes)),
            "invalid_field",
            "occurredAt",
        ),
        (
            "an empty occurredAt",
            with("occurredAt", json!("")),
            "invalid_field",
            "occurredAt",
        ),
        ("ttl 0", with("ttl", json!(0)), "invalid_field", "ttl"),
        ("ttl -5", with("ttl", json!(-5)), "invalid_field", "ttl"),
        ("ttl 1.5", with("ttl", json!(1.5)), "invalid_field", "ttl"),
        ("ttl 1.0", with("ttl", json!(1.0)), "invalid_field", "ttl"),
        ("ttl \"5\"", with("ttl", json!("5")), "invalid_field", "ttl"),
        (
            "a correlationId of 257 characters",
            with("correlationId", json!(long(257))),
            "invalid_field",
            "correlationId",
        ),
        (
            "an empty correlationId",
            with("correlationId", json!("")),
            "invalid_field",
            "correlationId",
        ),
        (
            "a causationId of 257 characters",
            with("causationId", json!(long(257))),
            "invalid_field",
            "causationId",
        ),
        (
            "metadata that is a string",
            with("metadata", json!("team=billing")),
            "invalid_field",
            "metadata",
        ),
        (
            "metadata that is an array",
            with("metadata", json!([1, 2])),
            "invalid_field",
            "metadata",
        ),
        (
            "metadata over 64 KiB",
            with("metadata", json!({ "blob": long(65_536) })),
            "payload_too_large",
            "metadata",
        ),
        (
            "a __workflow that is a string",
            with_workflow(json!("run-1")),
            "invalid_field",
            "metadata.__workflow",
        ),
        (
            "a __workflow without jobSlug",
            with_workflow({
                let mut w = workflow();
                w.as_object_mut().unwrap().remove("jobSlug");
                w
            }),
            "invalid_field",
            "metadata.__workflow",
        ),
        (
            "a __workflow with a blank jobRunId",
            with_workflow(workflow_with("jobRunId", json!("   "))),
            "invalid_field",
            "metadata.__workflow",
        ),
        (
            "a __workflow with a numeric workflowRunId",
            with_workflow(workflow_with("workflowRunId", json!(7))),
            "invalid_field",
            "metadata.__workflow",
        ),
        (
            "a __workflow value of 257 characters",
            with_workflow(workflow_with("workflowRunKey", json!(long(257)))),
            "invalid_field",
            "metadata.__workflow",
        ),
        (
            "a payload one byte over HERALD_MAX_PAYLOAD_BYTES",
            with("payload", string_of_json_bytes(262_145)),
            "payload_too_large",
            "payload",
        ),
    ];
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;
        publish_a_survivor(&app, "survivor-rules").await;

        for (case, body, code, field) in &cases {
            let case = format!("{db:?}/{mode:?}: {case}");

            // Act
            let response = app.post_events(body).await;

            // Assert
            assert_error(response, 400, code, Some(field), &case).await;
            assert_still_serving(&app, "survivor-rules", &case).await;
        }
    }
}

#[actix_web::test]
async fn envelopes_exactly_at_every_limit_are_accepted_and_stored() {
    let in_four_minutes = (chrono::Utc::now() + chrono::TimeDelta::minutes(4))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let long = |n: usize| "a".repeat(n);
    let metadata_of_64_kib = {
        let mut blob = json!({ "blob": "" });
        let overhead = blob.to_string().len();
        blob["blob"] = json!(long(65_536 - overhead));
        assert_eq!(blob.to_string().len(), 65_536);
        blob
    };
    let payload_of_256_kib = string_of_json_bytes(262_144);
    assert_eq!(payload_of_256_kib.to_string().len(), 262_144);
    // (what is at its limit, envelope)
    let cases: Vec<(&str, Value)> = vec![
        (
            "a type of 200 characters",
            with("type", json!(format!("a.{}", long(198)))),
        ),
        (
            "a source of 200 characters",
            with("source", json!(long(200))),
        ),
        (
            "a URI source",
            with("source", json!("urn:svc:x/sensors/tn-1@eu+1~b")),
        ),
        ("an id of 128 characters", with("id", json!(long(128)))),
        (
            "an id of every allowed character kind",
            with("id", json!("Az09._:-")),
        ),
        (
            "occurredAt four minutes in the future",
            with("occurredAt", json!(in_four_minutes)),
        ),
        ("ttl 1", with("ttl", json!(1))),
        (
            "a correlationId of 256 characters",
            with("correlationId", json!(long(256))),
        ),
        ("a null payload", with("payload", Value::Null)),
        (
            "a payload of exactly 262,144 bytes",
            with("payload", payload_of_256_kib),
        ),
        (
            "metadata of exactly 64 KiB",
            with("metadata", metadata_of_64_kib),
        ),
        ("a valid __workflow", with_workflow(workflow())),
    ];
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;

        for (case, body) in &cases {
            let case = format!("{db:?}/{mode:?}: {case}");

            // Act
            let response = app.post_events(body).await;

            // Assert
            assert_eq!(response.status(), 202, "{case}");
            let body: Value = response.json().await.unwrap();
            let id = body["data"]["accepted"][0]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{case}: an accepted id in {body}"));
            app.stored_event(id).await;
        }
    }
}

#[actix_web::test]
async fn a_configured_max_payload_bytes_is_the_payload_limit() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let mut env = TestEnv::new(db, mode).await;
        env.set("HERALD_MAX_PAYLOAD_BYTES", "1024");
        let app = env.spawn().await;

        // Act
        let at_limit = app
            .post_events(&with("payload", string_of_json_bytes(1024)))
            .await;
        let over_limit = app
            .post_events(&with("payload", string_of_json_bytes(1025)))
            .await;

        // Assert
        assert_eq!(at_limit.status(), 202, "{db:?}/{mode:?}");
        assert_error(
            over_limit,
            400,
            "payload_too_large",
            Some("payload"),
            "1025 bytes",
        )
        .await;
    }
}

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
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

#[actix_web::test]
async fn an_unknown_route_or_event_id_answers_404_not_found_in_json() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = spawn_app(db, mode).await;

        // Act
        let route = app.get("/no/such/route").await;
        let event = app.get_event("no-such-event").await;

        // Assert
        let case = format!("{db:?}/{mode:?}");
        assert_error(route, 404, "not_found", None, &format!("{case}: route")).await;
        assert_error(event, 404, "not_found", None, &format!("{case}: event")).await;
    }
}
