//! The Explorer in a real browser: `tests/explorer/explorer.test.mjs` (Node's test runner, Playwright's library,
//! Debian's chromium) against a Herald started here in redis mode on PostgreSQL, with two tokens (an operator who
//! can do everything and a viewer who reads events) and a dead letter whose cause is already fixed. Screenshots of
//! every page land in `tests/explorer/screenshots/`.

use std::path::Path;
use std::process::Stdio;

use herald::auth::{AccessPolicy, Scope, TokenRegistry};
use serde_json::{Value, json};

use crate::helpers::{Db, Mode, TestApp, TestEnv};

const OPERATOR: &str = "explorer-operator-token";
const VIEWER: &str = "explorer-viewer-token";

fn access() -> AccessPolicy {
    AccessPolicy::Tokens(TokenRegistry::from_tokens(&[
        (OPERATOR, "alice", &[Scope::Admin]),
        (VIEWER, "bob", &[Scope::EventsRead, Scope::TriggersRead]),
    ]))
}

/// Registers `schema` for the type the dead letter has.
async fn put_schema(app: &TestApp, schema: Value) {
    let status = app
        .client
        .put(format!(
            "{}/admin/event-schemas/explorer.order.placed",
            app.address
        ))
        .bearer_auth(OPERATOR)
        .json(&schema)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
}

/// A dead letter that a redrive stores: refused by the type's schema, which has since been relaxed.
async fn fixed_dead_letter(app: &TestApp) -> String {
    put_schema(
        app,
        json!({"type": "object", "properties": {"amount": {"type": "number"}}, "required": ["amount"]}),
    )
    .await;
    app.xadd_envelope(
        r#"{"type":"explorer.order.placed","source":"explorer.shop","payload":{"amount":"12.50"}}"#,
    )
    .await;
    let letters = app.dead_letters_eventually(1).await;
    put_schema(
        app,
        json!({"type": "object", "properties": {"amount": {"type": ["number", "string"]}}}),
    )
    .await;
    letters[0]["id"].as_str().unwrap().to_owned()
}

/// Runs the Node test file `file` of `tests/explorer` with `vars`; panics with its report unless every test passed.
async fn run_browser_tests(file: &str, vars: &[(&str, &str)]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/explorer");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "tests/explorer/node_modules is missing: run scripts/test.sh, which installs it (npm ci)"
    );
    let output = tokio::process::Command::new("node")
        .args(["--test", file])
        .current_dir(&dir)
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("node (scripts/test.sh installs it)");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{report}");
    assert!(output.status.success(), "{file} failed:\n{report}");
    assert!(report.contains("# fail 0"), "{report}");
    assert!(
        !report.contains("# pass 0"),
        "no browser test ran: {report}"
    );
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn the_explorer_works_in_a_real_browser() {
    let mut env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    env.set("HERALD_WEBHOOK_ALLOW_CIDRS", "127.0.0.0/8");
    let app = env.spawn_with(access(), Some(OPERATOR.to_owned())).await;
    let dead_letter = fixed_dead_letter(&app).await;
    run_browser_tests(
        "explorer.test.mjs",
        &[
            ("HERALD_URL", &app.address),
            ("HERALD_OPERATOR_TOKEN", OPERATOR),
            ("HERALD_VIEWER_TOKEN", VIEWER),
            ("HERALD_DEAD_LETTER_ID", &dead_letter),
        ],
    )
    .await;
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn the_explorer_opens_without_a_token_on_the_embedded_default() {
    let app = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;
    run_browser_tests("anonymous.test.mjs", &[("HERALD_URL", &app.address)]).await;
}
