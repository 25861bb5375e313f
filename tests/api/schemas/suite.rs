//! The official JSON Schema Test Suite (draft 2020-12; a vendored subset, see
//! `tests/data/json-schema-test-suite/README.md`) run through the registry over HTTP: each group's schema is
//! registered for a type of its own, each case's data is published as a payload, and a valid case must be stored
//! while an invalid one must be refused with `schema_mismatch`.
//!
//! Cases whose data is `null` are skipped: SPEC §1 turns a `null` payload into `{}`, so such a case would test
//! `{}` instead of `null`. One deployment (SQLite, inline) keeps CI fast; the validator is the same code in all.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::register;
use crate::helpers::{Db, Mode, spawn_app};

/// Envelopes per `POST /events` (the batch limit).
const BATCH: usize = 500;

/// One case: the envelope id, the type of its group, its data and whether it is valid.
struct Case {
    id: String,
    event_type: String,
    data: Value,
    valid: bool,
    /// `file: group / case`, for failure messages.
    name: String,
}

fn load_cases() -> (Vec<(String, Value)>, Vec<Case>, usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/json-schema-test-suite/draft2020-12");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the vendored suite")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut schemas = Vec::new();
    let mut cases = Vec::new();
    let mut skipped = 0;
    for (f, file) in files.iter().enumerate() {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let groups: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(file).expect("read")).expect("json");
        for (g, group) in groups.iter().enumerate() {
            let event_type = format!("suite.f{f}.g{g}");
            schemas.push((event_type.clone(), group["schema"].clone()));
            for (t, test) in group["tests"].as_array().expect("tests").iter().enumerate() {
                if test["data"].is_null() {
                    skipped += 1;
                    continue;
                }
                cases.push(Case {
                    id: format!("suite-{f}-{g}-{t}"),
                    event_type: event_type.clone(),
                    data: test["data"].clone(),
                    valid: test["valid"].as_bool().expect("valid"),
                    name: format!(
                        "{stem}: {} / {}",
                        group["description"].as_str().unwrap_or(""),
                        test["description"].as_str().unwrap_or("")
                    ),
                });
            }
        }
    }
    (schemas, cases, skipped)
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn the_json_schema_test_suite_cases_are_stored_when_valid_and_refused_when_not() {
    // Arrange
    let (schemas, cases, skipped) = load_cases();
    assert!(
        cases.len() >= 200,
        "at least 200 cases, got {}",
        cases.len()
    );
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    for (event_type, schema) in &schemas {
        register(&app, event_type, schema).await;
    }

    // Act: every case as one envelope, in batches.
    let mut outcomes: BTreeMap<String, Result<(), Value>> = BTreeMap::new();
    for chunk in cases.chunks(BATCH) {
        let envelopes: Vec<Value> = chunk
            .iter()
            .map(|c| json!({"id": c.id, "type": c.event_type, "source": "tests.suite", "payload": c.data}))
            .collect();
        let response = app.post_events(&json!(envelopes)).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        let (accepted, rejected) = match status.as_u16() {
            202 => (
                body["data"]["accepted"].clone(),
                body["data"]["rejected"].clone(),
            ),
            400 => (json!([]), body["error"]["details"]["rejected"].clone()),
            other => panic!("batch answered {other}: {body}"),
        };
        for a in accepted.as_array().expect("accepted") {
            let index = a["index"].as_u64().unwrap() as usize;
            outcomes.insert(chunk[index].id.clone(), Ok(()));
        }
        for r in rejected.as_array().expect("rejected") {
            let index = r["index"].as_u64().unwrap() as usize;
            outcomes.insert(chunk[index].id.clone(), Err(r["error"].clone()));
        }
    }

    // Assert
    let mut wrong = Vec::new();
    for case in &cases {
        match (&outcomes[&case.id], case.valid) {
            (Ok(()), true) => {}
            (Err(error), false) if error["code"] == "schema_mismatch" => {}
            (outcome, valid) => wrong.push(format!(
                "{} (valid: {valid}, data {}): {outcome:?}",
                case.name, case.data
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    // Accepted means committed in inline mode; the store holds exactly the valid cases, each with its version.
    let valid = cases.iter().filter(|c| c.valid).count();
    let mut stored = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut query = "/admin/events?type=suite.**&limit=200".to_owned();
        if let Some(c) = &cursor {
            query.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app.get(&query).await.json().await.expect("json");
        for event in page["data"]["events"].as_array().expect("events") {
            assert_eq!(event["schemaVersion"], 1, "{event}");
            stored += 1;
        }
        match page["data"]["page"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        stored, valid,
        "every valid case is stored, nothing else ({skipped} null-data cases skipped)"
    );
}
