//! The `herald` command line against a running Herald: `publish` (one event, an NDJSON file), `migrate`.

use tokio::process::Command;

use serde_json::Value;

use crate::helpers::{Db, Mode, TestEnv, eventually};

/// The `herald` binary, run without blocking the test's runtime (the in-process Herald it talks to runs there).
fn herald() -> Command {
    Command::new(env!("CARGO_BIN_EXE_herald"))
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn publish_from_a_file_fills_in_type_and_source_only_where_a_line_lacks_them() {
    // Arrange: SPEC §12: with --file, --type and --source fill in lines that lack them; a line's own values stay.
    let app = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    let lines = [
        r#"{"id":"fill-both","payload":{"i":1}}"#,
        r#"{"id":"own-type","type":"cli.own.type","payload":{"i":2}}"#,
        r#"{"id":"own-source","source":"cli.own.source","payload":{"i":3}}"#,
        r#"{"id":"own-both","type":"cli.own.both","source":"cli.own.both","payload":{"i":4}}"#,
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();

    // Act
    let output = herald()
        .args([
            "publish",
            "--type",
            "cli.filled.type",
            "--source",
            "cli.filled",
        ])
        .arg("--file")
        .arg(&path)
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
    assert_eq!(summary["accepted"], 4, "{summary}");
    let expected = [
        ("fill-both", "cli.filled.type", "cli.filled"),
        ("own-type", "cli.own.type", "cli.filled"),
        ("own-source", "cli.filled.type", "cli.own.source"),
        ("own-both", "cli.own.both", "cli.own.both"),
    ];
    for (id, event_type, source) in expected {
        let event = app.stored_event(id).await;
        assert_eq!(event["type"], event_type, "{id}: {event}");
        assert_eq!(event["source"], source, "{id}: {event}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn publish_refuses_a_payload_with_a_file_as_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    std::fs::write(&path, r#"{"type":"a.b","source":"s"}"#).unwrap();

    let output = herald()
        .args(["publish", "--payload", "{}", "--file"])
        .arg(&path)
        .output()
        .await
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

#[actix_rt::test(system = "crate::helpers::TestSystem")]
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

/// Publishes one event of `event_type` with id `id` and waits until it is stored, so that events published one
/// after another are stored (and sequenced) in that order.
async fn publish_stored(app: &crate::helpers::TestApp, id: &str, event_type: &str) {
    let envelope = serde_json::json!({ "id": id, "type": event_type, "source": "cli.test", "payload": { "n": 1 } });
    assert_eq!(app.post_events(&envelope).await.status(), 202);
    app.stored_event(id).await;
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn events_list_prints_a_table_of_the_published_events_newest_first() {
    // Arrange
    let app = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;
    for id in ["list-1", "list-2", "list-3"] {
        publish_stored(&app, id, "cli.list.shown").await;
    }

    // Act
    let output = herald()
        .args(["events", "list", "--url", &app.address])
        .output()
        .await
        .unwrap();

    // Assert
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    for title in ["SEQ", "OCCURRED AT", "SEVERITY", "TYPE", "SOURCE", "ID"] {
        assert!(lines[0].contains(title), "{stdout}");
    }
    let ids: Vec<&str> = lines[1..4]
        .iter()
        .map(|line| line.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(ids, ["list-3", "list-2", "list-1"], "{stdout}");
    assert!(
        lines[1].contains("cli.list.shown") && lines[1].contains("info"),
        "{stdout}"
    );
    assert_eq!(lines[4], "3 events.");
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn events_list_json_prints_one_object_per_line_with_the_type_pattern_applied() {
    // Arrange
    let app = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;
    publish_stored(&app, "keep-1", "cli.keep.one").await;
    publish_stored(&app, "drop-1", "cli.drop.one").await;
    publish_stored(&app, "keep-2", "cli.keep.two").await;

    // Act
    let output = herald()
        .args(["events", "list", "--type", "cli.keep.*", "--json"])
        .args(["--url", &app.address])
        .output()
        .await
        .unwrap();

    // Assert
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["keep-2", "keep-1"]);
    assert_eq!(events[0]["type"], "cli.keep.two");
    assert_eq!(events[0]["payload"]["n"], 1);
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn events_list_all_follows_the_cursors_to_the_last_page() {
    // Arrange
    let app = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;
    for i in 1..=5 {
        publish_stored(&app, &format!("page-{i}"), "cli.page.item").await;
    }

    // Act
    let all = herald()
        .args(["events", "list", "--limit", "2", "--all", "--json"])
        .args(["--url", &app.address])
        .output()
        .await
        .unwrap();
    let one_page = herald()
        .args(["events", "list", "--limit", "2", "--url", &app.address])
        .output()
        .await
        .unwrap();

    // Assert
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let ids: Vec<String> = String::from_utf8_lossy(&all.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, ["page-5", "page-4", "page-3", "page-2", "page-1"]);
    let stdout = String::from_utf8_lossy(&one_page.stdout);
    let footer = stdout.lines().last().unwrap();
    assert!(
        footer.starts_with("2 events; more: herald events list --limit 2 --url ")
            && footer.contains(" --cursor "),
        "{stdout}"
    );
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn events_get_prints_the_event_for_people_and_its_json_round_trips() {
    // Arrange
    let app = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;
    publish_stored(&app, "get-1", "cli.get.shown").await;
    let expected: Value = app.get_event("get-1").await.json().await.unwrap();

    // Act
    let text = herald()
        .args(["events", "get", "get-1", "--url", &app.address])
        .output()
        .await
        .unwrap();
    let json = herald()
        .args(["events", "get", "get-1", "--json", "--url", &app.address])
        .output()
        .await
        .unwrap();

    // Assert
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let stdout = String::from_utf8_lossy(&text.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["id:", "get-1"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["type:", "cli.get.shown"]
    );
    assert!(
        stdout.contains("\npayload:\n  {\n    \"n\": 1\n  }\n"),
        "{stdout}"
    );
    assert!(json.status.success());
    assert_eq!(String::from_utf8_lossy(&json.stdout).lines().count(), 1);
    let data: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(data, expected["data"]);
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn events_list_with_a_bad_pattern_fails_with_the_servers_invalid_pattern() {
    let app = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;

    let output = herald()
        .args(["events", "list", "--type", "meta*", "--url", &app.address])
        .output()
        .await
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("herald events: invalid_pattern: "),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn events_get_of_an_unknown_id_exits_1_saying_there_is_no_such_event() {
    let app = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;

    let output = herald()
        .args(["events", "get", "nope-1", "--url", &app.address])
        .output()
        .await
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim_end(),
        "herald events: no event nope-1"
    );
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn events_list_needs_a_token_where_tokens_are_required_and_says_how_to_give_one() {
    // Arrange
    let app = TestEnv::new(Db::Sqlite, Mode::Inline)
        .await
        .spawn_with(
            herald::auth::AccessPolicy::Tokens(crate::helpers::token_registry()),
            Some("t-events:read".into()),
        )
        .await;

    // Act
    let without = herald()
        .args(["events", "list", "--url", &app.address])
        .env_remove("HERALD_TOKEN")
        .output()
        .await
        .unwrap();
    let with = herald()
        .args(["events", "list", "--url", &app.address])
        .env("HERALD_TOKEN", "t-events:read")
        .output()
        .await
        .unwrap();

    // Assert
    assert_eq!(without.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(
        stderr.contains("unauthorized") && stderr.contains("--token or HERALD_TOKEN"),
        "{stderr}"
    );
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&with.stdout).trim_end(),
        "0 events."
    );
}
