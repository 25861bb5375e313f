//! The envelope rules: each rule's rejection with its code and field, and envelopes exactly at every limit.

use serde_json::{Value, json};

use crate::helpers::{DEPLOYMENTS, TestEnv, spawn_app};

use super::{
    assert_error, assert_still_serving, publish_a_survivor, string_of_json_bytes, with, without,
};

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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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
