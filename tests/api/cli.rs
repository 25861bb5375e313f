//! The `herald` command line against a running Herald: `publish` (one event, an NDJSON file), `migrate`.

use tokio::process::Command;

use serde_json::Value;

use crate::helpers::{Db, Mode, TestEnv, eventually};

/// The `herald` binary, run without blocking the test's runtime (the in-process Herald it talks to runs there).
fn herald() -> Command {
    Command::new(env!("CARGO_BIN_EXE_herald"))
}

#[actix_web::test]
async fn publish_sends_one_event_that_can_be_read_back() {
    // Arrange
    let app = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;

    // Act
    let output = herald()
        .args([
            "publish",
            "--type",
            "cli.event.sent",
            "--source",
            "cli.test",
            "--payload",
            r#"{"k": 1}"#,
        ])
        .args(["--url", &app.address, "--json"])
        .output()
        .await
        .unwrap();

    // Assert
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["accepted"], 1);
    let id = summary["ids"][0].as_str().unwrap();
    let event = app.stored_event(id).await;
    assert_eq!(event["type"], "cli.event.sent");
    assert_eq!(event["payload"]["k"], 1);
}

#[actix_web::test]
async fn publish_from_a_file_sends_every_valid_line_and_reports_the_bad_ones_by_line_number() {
    // Arrange: 1,203 lines: three bad ones (bad JSON, bad type, blank lines are skipped), across several batches.
    let app = TestEnv::new(Db::Postgres, Mode::Redis).await.spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    let mut lines = Vec::new();
    for i in 0..1200 {
        lines.push(format!(r#"{{"id":"file-{i}","type":"cli.file.line","source":"cli.test","payload":{{"i":{i}}}}}"#));
    }
    lines.insert(10, "{not json".into());
    lines.insert(600, r#"{"type":"nodots","source":"cli.test"}"#.into());
    lines.insert(700, String::new());
    std::fs::write(&path, lines.join("\n")).unwrap();

    // Act
    let output = herald()
        .args(["publish", "--file"])
        .arg(&path)
        .args(["--url", &app.address, "--json"])
        .output()
        .await
        .unwrap();

    // Assert
    assert!(
        !output.status.success(),
        "rejected lines make the exit code non-zero"
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["accepted"], 1200);
    let rejected = summary["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["line"], 11);
    assert_eq!(rejected[0]["error"]["code"], "invalid_json");
    assert_eq!(rejected[1]["line"], 601);
    assert_eq!(rejected[1]["error"]["code"], "invalid_field");
    app.stored_event("file-0").await;
    app.stored_event("file-1199").await;

    // Re-publishing the same file is idempotent: every valid line is a duplicate.
    let output = herald()
        .args(["publish", "--file"])
        .arg(&path)
        .args(["--url", &app.address, "--json"])
        .output()
        .await
        .unwrap();
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["duplicates"], 1200);
}

#[actix_web::test]
async fn publish_without_a_reachable_herald_fails_with_a_clear_message() {
    let port = crate::helpers::free_port();
    let output = herald()
        .args([
            "publish",
            "--type",
            "a.b",
            "--source",
            "s",
            "--url",
            &format!("http://127.0.0.1:{port}"),
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot reach Herald"), "{stderr}");
}

#[actix_web::test]
async fn migrate_creates_the_schema_and_serve_then_starts_on_it() {
    // Arrange
    let env = TestEnv::new(Db::Postgres, Mode::Inline).await;

    // Act
    let output = herald()
        .arg("migrate")
        .env("DATABASE_URL", &env.database_url)
        .output()
        .await
        .unwrap();

    // Assert
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let again = herald()
        .arg("migrate")
        .env("DATABASE_URL", &env.database_url)
        .output()
        .await
        .unwrap();
    assert!(again.status.success(), "migrate is idempotent");
    let app = env.spawn().await;
    let accepted = app
        .post_events(&crate::helpers::envelope("after-migrate"))
        .await;
    assert_eq!(accepted.status(), 202);
    eventually("the event to be readable", || async {
        app.get_event("after-migrate").await.status() == 200
    })
    .await;
}

#[actix_web::test]
async fn token_create_prints_the_token_once_and_a_tokens_file_entry() {
    let output = herald()
        .args([
            "token",
            "create",
            "--subject",
            "alice",
            "--scopes",
            "events:read,admin",
        ])
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("token: hrld_"), "{stdout}");
    assert!(
        stdout.contains("[[token]]") && stdout.contains(r#"subject = "alice""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"scopes = ["events:read", "admin"]"#),
        "{stdout}"
    );

    let bad = herald()
        .args([
            "token",
            "create",
            "--subject",
            "bob",
            "--scopes",
            "events:wrte",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("events:wrte"));
}
