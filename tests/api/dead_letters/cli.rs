//! `herald dead-letters list|get|redrive|delete` against a running Herald (SPEC §6.6, §12).

use serde_json::{Value, json};

use super::{exactly, spawn};
use crate::helpers::{Db, run_herald};

async fn herald(args: &[&str], url: &str) -> (bool, String, String) {
    run_herald(args, url, None).await
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn dead_letters_are_listed_shown_redriven_and_deleted_from_the_command_line() {
    // Arrange: two dead letters.
    let app = spawn(Db::Sqlite).await;
    let url = app.address.clone();
    app.xadd_envelope(r#"{"id":"cli-fix","type":"billing","source":"billing.api"}"#)
        .await;
    app.xadd_envelope(r#"{"type":"reading","source":"cli.api"}"#)
        .await;
    let letters = exactly(&app, 2).await;
    let fix = letters
        .iter()
        .find(|l| l["source"] == "billing.api")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = letters.iter().find(|l| l["source"] == "cli.api").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // list: a table for people, one JSON object per line for scripts, filters passed on.
    let (ok, out, err) = herald(&["dead-letters", "list"], &url).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("RECEIVED"), "{out}");
    assert_eq!(lines.len(), 3, "a header and two dead letters: {out}");
    assert!(out.contains(&fix) && out.contains("invalid_field"), "{out}");
    let (ok, out, err) = herald(
        &["dead-letters", "list", "--source", "cli.api", "--json"],
        &url,
    )
    .await;
    assert!(ok, "{err}");
    let listed: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 1, "{out}");
    assert_eq!(listed[0]["id"], other.as_str());

    // get: the fields and the raw entry, pretty.
    let (ok, out, err) = herald(&["dead-letters", "get", &fix], &url).await;
    assert!(ok, "{err}");
    assert!(out.contains("reason     invalid_field"), "{out}");
    assert!(out.contains("\"envelope\""), "the raw entry: {out}");

    // redrive with a corrected envelope from a file.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        json!({"id": "cli-fix", "type": "billing.invoice.paid", "source": "billing.api"})
            .to_string(),
    )
    .unwrap();
    let path = file.path().to_str().unwrap();
    let (ok, out, err) = herald(
        &["dead-letters", "redrive", &fix, "--envelope-file", path],
        &url,
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        format!("Redrove dead letter {fix} as event cli-fix.")
    );
    app.stored_event("cli-fix").await;

    // A refused redrive and an unknown id fail with the server's reason.
    let (ok, _, err) = herald(&["dead-letters", "redrive", &fix], &url).await;
    assert!(!ok);
    assert!(err.contains("invalid_state"), "{err}");

    // delete
    let (ok, out, err) = herald(&["dead-letters", "delete", &other], &url).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("Deleted dead letter {other}."));
    let (ok, _, err) = herald(&["dead-letters", "get", &other], &url).await;
    assert!(!ok);
    assert!(err.contains(&other), "names what is missing: {err}");
}
