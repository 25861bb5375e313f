//! `spawn_app`: a real Herald on port 0 with its own database (a fresh PostgreSQL database or SQLite file), its
//! own stream key and consumer group, and a `TestApp` with one method per endpoint. The submodules hold the
//! `TestApp` methods and the other clients by role; what tests name is re-exported here, so they import it all
//! from `helpers`.
#![allow(dead_code)] // Each test module uses a different subset.

mod app;
mod database;
mod receiver;
mod redis;
mod sources;
mod system;
mod ws;

pub use app::TestApp;
pub use receiver::{Received, Receiver, Reply};
pub use redis::{PrivateRedis, redis_client, xadd_pipelined};
pub use system::TestSystem;
pub use ws::{WsClient, WsEnd};

use std::collections::HashMap;
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use herald::auth::{AccessPolicy, Scope, TokenRegistry};
use herald::config::Settings;
use herald::startup::Application;
use herald::telemetry::{get_subscriber, init_subscriber};
use serde_json::{Value, json};
use sqlx::Connection;

/// PostgreSQL server the tests create their databases on.
pub fn pg_base_url() -> String {
    std::env::var("HERALD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Redis the tests use.
pub fn redis_url() -> String {
    std::env::var("HERALD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var("TEST_LOG").is_ok() {
        init_subscriber(get_subscriber(
            "info,herald=debug",
            herald::config::LogFormat::Text,
            std::io::stdout,
        ));
    } else {
        init_subscriber(get_subscriber(
            "info",
            herald::config::LogFormat::Text,
            std::io::sink,
        ));
    }
});

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

/// How events travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In-process, durable in the database.
    Inline,
    /// Redis Streams.
    Redis,
}

/// The deployments a behaviour must hold in: embedded (SQLite, inline), production (PostgreSQL, Redis), and
/// PostgreSQL without Redis (inline mode on PostgreSQL: one instance, queues durable in the database), which the
/// settings accept and so must work like the other two.
pub const DEPLOYMENTS: [(Db, Mode); 3] = [
    (Db::Sqlite, Mode::Inline),
    (Db::Postgres, Mode::Redis),
    (Db::Postgres, Mode::Inline),
];

/// Everything that identifies one test's private resources; reusable to restart Herald on the same ones.
#[derive(Debug, Clone)]
pub struct TestEnv {
    pub db: Db,
    pub mode: Mode,
    pub database_url: String,
    pub stream: String,
    pub group: String,
    /// Keeps the SQLite file alive for the test's duration.
    _dir: std::sync::Arc<tempfile::TempDir>,
    pub vars: HashMap<String, String>,
}

impl TestEnv {
    /// A fresh database and fresh stream names.
    pub async fn new(db: Db, mode: Mode) -> TestEnv {
        LazyLock::force(&TRACING);
        let id = ulid::Ulid::generate().to_string().to_lowercase();
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = match db {
            Db::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("herald.db").display()
            ),
            Db::Postgres => {
                let name = format!("herald_test_{id}");
                let mut conn = sqlx::PgConnection::connect(&format!("{}/postgres", pg_base_url()))
                    .await
                    .expect("PostgreSQL is not reachable; run the tests through scripts/test.sh");
                // The name is made here from a ULID, never from input.
                let create = sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#));
                sqlx::raw_sql(create)
                    .execute(&mut conn)
                    .await
                    .expect("create database");
                format!("{}/{name}", pg_base_url())
            }
        };
        let stream = format!("herald:test:{id}:events");
        let group = format!("herald-test-{id}");
        let mut vars = HashMap::new();
        vars.insert("DATABASE_URL".into(), database_url.clone());
        vars.insert("HERALD_LISTEN".into(), "127.0.0.1:0".into());
        vars.insert("HERALD_EVENT_STREAM".into(), stream.clone());
        vars.insert("HERALD_CONSUMER_GROUP".into(), group.clone());
        vars.insert(
            "HERALD_EVENTS_MODE".into(),
            if mode == Mode::Redis {
                "redis"
            } else {
                "inline"
            }
            .into(),
        );
        if mode == Mode::Redis {
            vars.insert("REDIS_URL".into(), redis_url());
        }
        TestEnv {
            db,
            mode,
            database_url,
            stream,
            group,
            _dir: std::sync::Arc::new(dir),
            vars,
        }
    }

    /// Sets a configuration variable for the next start.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// The settings these variables give.
    pub fn settings(&self) -> Settings {
        Settings::from_sources(None, |name| self.vars.get(name).cloned())
            .expect("valid test settings")
    }

    /// Starts Herald in this process with anonymous access.
    pub async fn spawn(&self) -> TestApp {
        self.spawn_with(AccessPolicy::Anonymous, None).await
    }

    /// Starts Herald in this process with `access`; requests carry `token` when given.
    pub async fn spawn_with(&self, access: AccessPolicy, token: Option<String>) -> TestApp {
        let app = Application::build_with_access(self.settings(), access)
            .await
            .expect("Herald starts");
        self.serve(app, token).await
    }

    /// [`TestEnv::spawn_with`] for a restart: while the previous Herald on this environment is still stopping
    /// (it releases the inline lease last), start-up is refused; try again until it is not, for up to 30 s.
    pub async fn respawn_with(&self, access: AccessPolicy, token: Option<String>) -> TestApp {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match Application::build_with_access(self.settings(), access.clone()).await {
                Ok(app) => return self.serve(app, token).await,
                Err(e) if Instant::now() < deadline && e.to_string().contains("is held by") => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("Herald starts again: {e:#}"),
            }
        }
    }

    async fn serve(&self, app: Application, token: Option<String>) -> TestApp {
        let port = app.port();
        let shutdown = app.shutdown_handle();
        let publisher = app.publisher();
        actix_rt::spawn(app.run_until_stopped());
        let mut test_app = TestApp::new(self, port, token, Some(shutdown)).await;
        test_app.publisher = Some(publisher);
        test_app
    }

    /// Starts the `herald serve` binary on these resources (for kill -9 and CLI tests).
    pub async fn spawn_process(&self) -> (Child, TestApp) {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (name, value) in &self.vars {
            command.env(name, value);
        }
        command
            .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HERALD_LOG", "warn");
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn herald");
        let app = TestApp::new(self, port, None, None).await;
        eventually("the herald process to be ready", || async {
            app.client
                .get(format!("{}/readyz", app.address))
                .send()
                .await
                .map(|r| r.status() == 200)
                .unwrap_or(false)
        })
        .await;
        (child, app)
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts a fresh Herald on `db` in `mode` with anonymous access.
pub async fn spawn_app(db: Db, mode: Mode) -> TestApp {
    TestEnv::new(db, mode).await.spawn().await
}

/// Polls `check` every 20 ms until it holds; panics after 15 s naming what was awaited. Not a timing assertion:
/// the deadline only turns a hang into a readable failure.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_some(what, || {
        let fut = check();
        async move { fut.await.then_some(()) }
    })
    .await
}

/// Polls `check` every 20 ms until it gives a value; panics after 15 s naming what was awaited.
pub async fn eventually_some<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A valid envelope of type `test.event.happened`.
pub fn envelope(id: &str) -> Value {
    json!({ "id": id, "type": "test.event.happened", "source": "tests.api", "payload": { "n": 1 } })
}

/// A token registry with one token per scope plus an admin token; the token string is the scope name prefixed
/// with `t-`.
pub fn token_registry() -> TokenRegistry {
    let scopes: Vec<(String, Scope)> = [
        Scope::EventsPublish,
        Scope::EventsRead,
        Scope::TriggersRead,
        Scope::SourcesOperate,
        Scope::MetricsRead,
        Scope::Admin,
    ]
    .into_iter()
    .map(|s| (format!("t-{}", s.as_str()), s))
    .collect();
    let entries: Vec<(&str, &str, &[Scope])> = scopes
        .iter()
        .map(|(token, scope)| (token.as_str(), scope.as_str(), std::slice::from_ref(scope)))
        .collect();
    TokenRegistry::from_tokens(&entries)
}

/// Calls `method path` with `token` and an optional JSON body; the status and the JSON answer (`null` when
/// there is none).
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    call_as(app, method, path, Some(token), body).await
}

/// [`call`] with the token optional (none: the anonymous caller of a Herald without tokens).
pub async fn call_as(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.client.request(method, format!("{}{path}", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, json)
}

/// Runs the `herald` binary with `args`, `--url url` and `--token` when given: success, stdout, stderr.
pub async fn run_herald(args: &[&str], url: &str, token: Option<&str>) -> (bool, String, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"));
    command.args(args).args(["--url", url]);
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    let output = command.output().await.expect("run herald");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
