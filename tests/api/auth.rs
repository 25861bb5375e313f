//! Who may call what (SPEC §10): bearer tokens and their scopes, anonymous access on loopback, and the start-up
//! checks of the real `herald serve` binary.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};

use herald::auth::AccessPolicy;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    DEPLOYMENTS, Db, Mode, TestApp, TestEnv, call_as, eventually, eventually_some, free_port,
    token_registry,
};

/// A protected route, the scope it needs, and the status a caller holding that scope gets.
struct Route {
    method: &'static str,
    path: &'static str,
    scope: &'static str,
    allowed_status: u16,
}

/// The protected routes of this build. The event and dead-letter ids are resolved against the fixture each test
/// sets up: `auth-seed` is stored, no dead letter exists.
const ROUTES: [Route; 7] = [
    Route {
        method: "POST",
        path: "/events",
        scope: "events:publish",
        allowed_status: 202,
    },
    Route {
        method: "GET",
        path: "/admin/events/auth-seed",
        scope: "events:read",
        allowed_status: 200,
    },
    Route {
        method: "GET",
        path: "/admin/dead-letters",
        scope: "events:read",
        allowed_status: 200,
    },
    Route {
        method: "GET",
        path: "/admin/dead-letters/no-such-letter",
        scope: "events:read",
        allowed_status: 404,
    },
    Route {
        method: "GET",
        path: "/admin/sources",
        scope: "events:read",
        allowed_status: 200,
    },
    Route {
        method: "GET",
        path: "/admin/event-schemas",
        scope: "events:read",
        allowed_status: 200,
    },
    Route {
        method: "GET",
        path: "/admin/saved-views",
        scope: "events:read",
        allowed_status: 200,
    },
];

/// Calls `route` with the app's current token.
async fn call(app: &TestApp, route: &Route) -> reqwest::Response {
    match route.method {
        "POST" => {
            app.post_events(&json!({ "type": "test.auth.checked", "source": "tests.auth" }))
                .await
        }
        _ => app.get(route.path).await,
    }
}

/// Starts Herald requiring tokens from [`token_registry`] and stores `auth-seed` with the admin token.
async fn spawn_with_tokens(db: Db, mode: Mode) -> TestApp {
    let env = TestEnv::new(db, mode).await;
    let mut app = env
        .spawn_with(
            AccessPolicy::Tokens(token_registry()),
            Some("t-admin".into()),
        )
        .await;
    let mut seed = crate::helpers::envelope("auth-seed");
    seed["source"] = json!("tests.auth");
    assert_eq!(app.post_events(&seed).await.status(), 202);
    app.stored_event("auth-seed").await;
    app.token = None;
    app
}

/// Asserts a 401 `unauthorized` answer.
async fn assert_unauthorized(response: reqwest::Response, case: &str) {
    assert_eq!(response.status(), 401, "{case}");
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], "unauthorized", "{case}: {body}");
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_request_without_a_known_bearer_token_is_unauthorized_on_every_protected_route() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let mut app = spawn_with_tokens(db, mode).await;

        for route in &ROUTES {
            let case = format!("{db:?}/{mode:?} {} {}", route.method, route.path);

            // Act
            app.token = None;
            let no_token = call(&app, route).await;
            app.token = Some("t-no-such-token".into());
            let unknown_token = call(&app, route).await;
            let other_scheme = app
                .client
                .request(
                    route.method.parse().unwrap(),
                    format!("{}{}", app.address, route.path),
                )
                .header("authorization", "Token t-admin")
                .json(&json!({ "type": "test.auth.checked", "source": "tests.auth" }))
                .send()
                .await
                .unwrap();

            // Assert
            assert_unauthorized(no_token, &format!("{case}: no token")).await;
            assert_unauthorized(unknown_token, &format!("{case}: unknown token")).await;
            assert_unauthorized(other_scheme, &format!("{case}: not a Bearer header")).await;
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn each_route_answers_only_tokens_holding_its_scope_or_admin_and_names_the_scope_otherwise() {
    let tokens = [
        "events:publish",
        "events:read",
        "triggers:read",
        "sources:operate",
        "admin",
    ];
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let mut app = spawn_with_tokens(db, mode).await;

        for scope in tokens {
            app.token = Some(format!("t-{scope}"));
            for route in &ROUTES {
                let case = format!(
                    "{db:?}/{mode:?} {} {} with {scope}",
                    route.method, route.path
                );

                // Act
                let response = call(&app, route).await;

                // Assert
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                if scope == route.scope || scope == "admin" {
                    assert_eq!(status, route.allowed_status, "{case}: allowed; {body}");
                } else {
                    assert_eq!(status, 403, "{case}: forbidden; {body}");
                    assert_eq!(body["error"]["code"], "forbidden", "{case}");
                    assert_eq!(
                        body["error"]["details"]["requiredScope"], route.scope,
                        "{case}"
                    );
                }
            }
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn health_endpoints_need_no_token_even_when_tokens_are_required() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let mut app = spawn_with_tokens(db, mode).await;
        app.token = None;

        // Act
        let healthz = app.get("/healthz").await;
        let readyz = app.get("/readyz").await;

        // Assert
        assert_eq!(healthz.status(), 200, "{db:?}/{mode:?} /healthz");
        assert_eq!(readyz.status(), 200, "{db:?}/{mode:?} /readyz");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn anonymous_access_on_loopback_allows_every_route_without_a_token() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = TestEnv::new(db, mode).await.spawn().await;
        assert!(app.token.is_none());
        let mut seed = crate::helpers::envelope("auth-seed");
        seed["source"] = json!("tests.auth");
        assert_eq!(app.post_events(&seed).await.status(), 202);
        app.stored_event("auth-seed").await;

        for route in &ROUTES {
            // Act
            let response = call(&app, route).await;

            // Assert
            assert_eq!(
                response.status(),
                route.allowed_status,
                "{db:?}/{mode:?} {} {}",
                route.method,
                route.path
            );
        }
    }
}

/// A `herald` child process that is killed and reaped when dropped, also when the test panics.
struct HeraldProcess(Child);

impl HeraldProcess {
    /// Waits (polling, up to the `eventually` deadline) for the process to exit on its own.
    async fn exit_status(&mut self) -> ExitStatus {
        let child = std::cell::RefCell::new(&mut self.0);
        eventually_some("herald to exit", || {
            let status = child.borrow_mut().try_wait().expect("try_wait");
            async move { status }
        })
        .await
    }

    /// Everything the process wrote to stderr (call after it exited).
    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.0.stderr.take() {
            stderr.read_to_string(&mut text).expect("read stderr");
        }
        text
    }
}

impl Drop for HeraldProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `herald serve` with exactly `env`'s variables (nothing inherited but `PATH`), stdout discarded.
fn herald_serve(env: &TestEnv) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HERALD_LOG", "warn")
        .envs(&env.vars)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// Runs `command` expecting it to fail at start-up; returns its exit status and stderr.
async fn start_up_failure(mut command: Command) -> (ExitStatus, String) {
    let child = command
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn herald");
    let mut process = HeraldProcess(child);
    let status = process.exit_status().await;
    (status, process.stderr())
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn serving_beyond_loopback_without_tokens_is_refused_with_how_to_create_one() {
    // Arrange
    let mut env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
    env.set("HERALD_LISTEN", "0.0.0.0:0");
    env.vars.remove("HERALD_TOKENS_FILE");

    // Act
    let (status, stderr) = start_up_failure(herald_serve(&env)).await;

    // Assert
    assert!(!status.success(), "{status}: {stderr}");
    assert!(stderr.contains("herald token create"), "{stderr}");
    assert!(stderr.contains("0.0.0.0"), "names the address: {stderr}");
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_token_printed_by_herald_token_create_authorizes_requests_to_herald_serve() {
    // Arrange
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["token", "create", "--subject", "ops", "--scopes", "admin"])
        .output()
        .expect("herald token create");
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let token = printed
        .lines()
        .find_map(|line| line.strip_prefix("token: "))
        .unwrap_or_else(|| panic!("a `token:` line in {printed}"))
        .trim()
        .to_owned();
    let entry = &printed[printed
        .find("[[token]]")
        .unwrap_or_else(|| panic!("a [[token]] entry in {printed}"))..];
    assert!(
        !entry.contains(&token),
        "the entry holds the hash, never the token"
    );
    let dir = tempfile::tempdir().unwrap();
    let tokens_file = dir.path().join("tokens.toml");
    std::fs::write(&tokens_file, entry).unwrap();
    let port = free_port();
    let mut env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
    env.set("HERALD_TOKENS_FILE", tokens_file.to_str().unwrap())
        .set("HERALD_LISTEN", &format!("127.0.0.1:{port}"));
    let mut process = HeraldProcess(
        herald_serve(&env)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn herald"),
    );
    let address = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let child = std::cell::RefCell::new(&mut process.0);
    eventually("herald serve to be ready", || {
        if let Ok(Some(status)) = child.borrow_mut().try_wait() {
            panic!("herald serve exited early: {status}");
        }
        let request = client.get(format!("{address}/readyz")).send();
        async move { request.await.is_ok_and(|r| r.status() == 200) }
    })
    .await;

    // Act
    let with_token = client
        .get(format!("{address}/admin/dead-letters"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let published = client
        .post(format!("{address}/events"))
        .bearer_auth(&token)
        .json(&crate::helpers::envelope("cli-token"))
        .send()
        .await
        .unwrap();
    let without_token = client
        .get(format!("{address}/admin/dead-letters"))
        .send()
        .await
        .unwrap();
    let with_other_token = client
        .get(format!("{address}/admin/dead-letters"))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(with_token.status(), 200);
    let body: Value = with_token.json().await.unwrap();
    assert!(body["data"]["deadLetters"].is_array(), "{body}");
    assert_eq!(published.status(), 202);
    assert_unauthorized(without_token, "no token").await;
    assert_unauthorized(with_other_token, "an altered token").await;
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_malformed_configuration_value_stops_start_up_naming_the_variable() {
    let cases = [
        ("HERALD_CLAIM_IDLE_MS", "soon"),
        ("HERALD_MAX_BODY_BYTES", "lots"),
        ("HERALD_LISTEN", "nowhere"),
        ("HERALD_EVENTS_MODE", "sideways"),
    ];
    for (variable, value) in cases {
        // Arrange
        let mut env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
        env.set(variable, value);

        // Act
        let (status, stderr) = start_up_failure(herald_serve(&env)).await;

        // Assert
        assert!(!status.success(), "{variable}={value}: {status}");
        assert!(stderr.contains(variable), "{variable}={value}: {stderr}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_invalid_tokens_file_stops_start_up_naming_the_file_and_the_entry() {
    let admin_hash = "0".repeat(64);
    let cases = [
        (
            "an unknown scope",
            "[[token]]\nsubject = \"bob\"\nscopes = [\"events:rite\"]\nsha256 = \"{hash}\"\n",
            vec!["token #1", "bob", "events:rite"],
        ),
        (
            "a short sha256",
            "[[token]]\nsubject = \"carol\"\nscopes = [\"admin\"]\nsha256 = \"abc\"\n",
            vec!["token #1", "carol", "64 hex digits"],
        ),
        (
            "a broken second entry",
            "[[token]]\nsubject = \"ops\"\nscopes = [\"admin\"]\nsha256 = \"{hash}\"\n\n\
             [[token]]\nsubject = \" \"\nscopes = [\"admin\"]\nsha256 = \"{hash}\"\n",
            vec!["token #2", "subject"],
        ),
        ("a file that is not TOML", "this is not toml", vec![]),
    ];
    for (case, contents, mentions) in cases {
        // Arrange
        let dir = tempfile::tempdir().unwrap();
        let tokens_file = dir.path().join("tokens.toml");
        std::fs::write(&tokens_file, contents.replace("{hash}", &admin_hash)).unwrap();
        let mut env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
        env.set("HERALD_TOKENS_FILE", tokens_file.to_str().unwrap());

        // Act
        let (status, stderr) = start_up_failure(herald_serve(&env)).await;

        // Assert
        assert!(!status.success(), "{case}: {status}");
        assert!(
            stderr.contains(tokens_file.to_str().unwrap()),
            "{case}: names the file: {stderr}"
        );
        for mention in mentions {
            assert!(
                stderr.contains(mention),
                "{case}: mentions {mention:?}: {stderr}"
            );
        }
    }
    // A tokens file that does not exist is refused the same way.
    let mut env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
    env.set("HERALD_TOKENS_FILE", "/nonexistent/herald-tokens.toml");
    let (status, stderr) = start_up_failure(herald_serve(&env)).await;
    assert!(!status.success(), "a missing file: {status}");
    assert!(
        stderr.contains("/nonexistent/herald-tokens.toml"),
        "a missing file: {stderr}"
    );
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn admin_me_says_who_the_token_is_and_needs_no_scope() {
    let env = TestEnv::new(Db::Sqlite, Mode::Inline).await;
    let app = env
        .spawn_with(AccessPolicy::Tokens(token_registry()), None)
        .await;
    let (status, answer) =
        call_as(&app, Method::GET, "/admin/me", Some("t-metrics:read"), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["data"],
        json!({"subject": "metrics:read", "scopes": ["metrics:read"]})
    );
    let (status, answer) = call_as(&app, Method::GET, "/admin/me", None, None).await;
    assert_eq!(status, 401, "{answer}");

    let anonymous = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;
    let (status, answer) = call_as(&anonymous, Method::GET, "/admin/me", None, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["data"],
        json!({"subject": "anonymous", "scopes": ["admin"]})
    );
}
