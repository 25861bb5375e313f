//! `herald triggers list|create|pause|resume|explain` against a running Herald (SPEC §12).

use serde_json::Value;

use super::{OPERATOR, READER, WRITER, env};
use crate::helpers::{Db, Mode, run_herald};

async fn herald(args: &[&str], url: &str, token: &str) -> (bool, String, String) {
    run_herald(args, url, Some(token)).await
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn triggers_are_created_listed_paused_and_resumed_from_the_command_line() {
    let app = super::spawn_on(&env(Db::Sqlite, Mode::Inline).await).await;
    let url = app.address.clone();
    let definition = r#"{"name": "Search reindex", "eventType": "cli.t.*", "target": {"kind": "webhook", "url": "http://127.0.0.1:9/hook"}}"#;

    let (ok, out, err) = herald(
        &["triggers", "create", "--definition", definition, "--json"],
        &url,
        WRITER,
    )
    .await;
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));

    let (ok, out, err) = herald(
        &["triggers", "create", "--definition", definition],
        &url,
        WRITER,
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.starts_with("Created trigger "), "{out}");
    assert!(out.contains("whsec_"), "the secret is shown once: {out}");

    let (ok, out, err) = herald(&["triggers", "list"], &url, READER).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{out}");
    assert_eq!(lines.len(), 3, "a header and two triggers: {out}");
    assert!(
        out.contains(&id) && out.contains("http://127.0.0.1:9/hook") && out.contains("running"),
        "{out}"
    );

    let (ok, out, err) = herald(
        &[
            "triggers",
            "pause",
            &id,
            "--reason",
            "receiver maintenance",
            "--duration-ms",
            "60000",
        ],
        &url,
        OPERATOR,
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("Trigger {id} is paused until ")),
        "{out}"
    );
    let (ok, out, _) = herald(&["triggers", "list", "--json"], &url, READER).await;
    assert!(ok);
    let states: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["state"].clone())
        .collect();
    assert!(states.contains(&Value::from("paused")), "{out}");

    let (ok, out, err) = herald(
        &["triggers", "resume", &id, "--reason", "done"],
        &url,
        OPERATOR,
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("Trigger {id} is running."));

    // Refusals come back as the server's code and message, with a hint for scopes.
    let (ok, _, err) = herald(&["triggers", "pause", &id, "--reason", "x"], &url, READER).await;
    assert!(!ok);
    assert!(err.starts_with("herald triggers: forbidden"), "{err}");
    let (ok, _, err) = herald(
        &["triggers", "create", "--definition", r#"{"name": "x"}"#],
        &url,
        WRITER,
    )
    .await;
    assert!(!ok);
    assert!(err.contains("missing_field"), "{err}");
    let (ok, _, err) = herald(&["triggers", "resume", "nope"], &url, OPERATOR).await;
    assert!(!ok);
    assert_eq!(err.trim(), "herald triggers: no trigger nope");
    let (ok, _, err) = herald(
        &["triggers", "create", "--definition", "{oops"],
        &url,
        WRITER,
    )
    .await;
    assert!(!ok);
    assert!(
        err.starts_with("herald triggers: the definition is not JSON"),
        "{err}"
    );
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn triggers_explain_prints_each_step_and_names_the_one_that_failed() {
    let app = super::spawn_on(&env(Db::Sqlite, Mode::Inline).await).await;
    let url = app.address.clone();
    let (trigger, _) = super::create_webhook(
        &app,
        "cli.x.*",
        "http://127.0.0.1:9/hook",
        serde_json::json!({"predicates": [{"path": "$.payload.total", "operator": "gt", "value": 10}]}),
    )
    .await;
    let id = trigger["id"].as_str().unwrap();
    let draft = std::env::temp_dir().join(format!("herald-explain-{id}.json"));
    std::fs::write(
        &draft,
        r#"{"type": "cli.x.paid", "source": "shop", "payload": {"total": 3}}"#,
    )
    .unwrap();
    let file = draft.to_str().unwrap();

    let (ok, out, err) = herald(
        &["triggers", "explain", id, "--event-file", file],
        &url,
        READER,
    )
    .await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("STEP"), "{out}");
    assert!(
        out.contains("predicate 0 ($.payload.total gt)") && out.contains("NO"),
        "{out}"
    );
    assert!(
        out.contains("would not be delivered now: predicate 0 ($.payload.total gt) failed"),
        "{out}"
    );

    let (ok, out, err) = herald(
        &["triggers", "explain", id, "--event-file", file, "--json"],
        &url,
        READER,
    )
    .await;
    assert!(ok, "{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["failedStep"]["index"], 0);
    assert_eq!(answer["wouldDeliver"], false);

    let (ok, _, err) = herald(
        &[
            "triggers",
            "explain",
            id,
            "--event-id",
            "01JNOSUCHEVENT000000000000",
        ],
        &url,
        READER,
    )
    .await;
    assert!(
        !ok && err.contains("404") || err.contains("no event"),
        "{err}"
    );
    std::fs::remove_file(&draft).ok();
}
