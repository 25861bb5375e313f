//! `spawn_app`: a real Herald on port 0 with its own database (a fresh PostgreSQL database or SQLite file), its
//! own stream key and consumer group, and a `TestApp` with one method per endpoint.
#![allow(dead_code)] // Each test module uses a different subset.

use std::collections::HashMap;
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use fred::prelude::{ClientLike, KeysInterface, StreamsInterface};
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
        let port = app.port();
        let shutdown = app.shutdown_handle();
        actix_rt::spawn(app.run_until_stopped());
        TestApp::new(self, port, token, Some(shutdown)).await
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

/// A running Herald and handles to its resources.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub token: Option<String>,
    pub env: TestEnv,
    pub redis: Option<fred::clients::Client>,
    shutdown: Option<herald::startup::ShutdownHandle>,
}

impl TestApp {
    async fn new(
        env: &TestEnv,
        port: u16,
        token: Option<String>,
        shutdown: Option<herald::startup::ShutdownHandle>,
    ) -> TestApp {
        let redis = match env.mode {
            Mode::Redis => {
                let client = fred::prelude::Builder::from_config(
                    fred::prelude::Config::from_url(&redis_url()).expect("redis url"),
                )
                .build()
                .expect("redis client");
                client
                    .init()
                    .await
                    .expect("Redis is not reachable; run the tests through scripts/test.sh");
                Some(client)
            }
            Mode::Inline => None,
        };
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            token,
            env: env.clone(),
            redis,
            shutdown,
        }
    }

    /// Begins a graceful shutdown of an in-process Herald.
    pub fn shutdown(&self) {
        if let Some(handle) = &self.shutdown {
            handle.shutdown();
        }
    }

    fn with_token(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// `POST /events` with a JSON body.
    pub async fn post_events(&self, body: &Value) -> reqwest::Response {
        self.with_token(
            self.client
                .post(format!("{}/events", self.address))
                .json(body),
        )
        .send()
        .await
        .expect("request")
    }

    /// `POST /events` with a raw body and content type.
    pub async fn post_raw(
        &self,
        body: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> reqwest::Response {
        self.with_token(
            self.client
                .post(format!("{}/events", self.address))
                .header("content-type", content_type)
                .body(body),
        )
        .send()
        .await
        .expect("request")
    }

    /// `GET` any path, with the app's token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.with_token(self.client.get(format!("{}{path}", self.address)))
            .send()
            .await
            .expect("request")
    }

    /// `GET /admin/events/{id}`.
    pub async fn get_event(&self, id: &str) -> reqwest::Response {
        self.get(&format!("/admin/events/{id}")).await
    }

    /// `GET /admin/dead-letters?{query}`.
    pub async fn list_dead_letters(&self, query: &str) -> reqwest::Response {
        self.get(&format!("/admin/dead-letters?{query}")).await
    }

    /// `GET /admin/dead-letters/{id}`.
    pub async fn get_dead_letter(&self, id: &str) -> reqwest::Response {
        self.get(&format!("/admin/dead-letters/{id}")).await
    }

    /// Waits until the event is stored and returns its view.
    pub async fn stored_event(&self, id: &str) -> Value {
        eventually_some(&format!("event {id} to be stored"), || async {
            let response = self.get_event(id).await;
            if response.status() == 200 {
                Some(response.json::<Value>().await.expect("json")["data"]["event"].clone())
            } else {
                None
            }
        })
        .await
    }

    /// Every dead letter (all pages), newest first.
    pub async fn all_dead_letters(&self, query: &str) -> Vec<Value> {
        let mut letters = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = format!("limit=200&{query}");
            if let Some(c) = &cursor {
                q.push_str(&format!("&cursor={c}"));
            }
            let body: Value = self.list_dead_letters(&q).await.json().await.expect("json");
            letters.extend(
                body["data"]["deadLetters"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            match body["data"]["page"]["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return letters,
            }
        }
    }

    /// Waits until at least `n` dead letters exist and returns them.
    pub async fn dead_letters_eventually(&self, n: usize) -> Vec<Value> {
        eventually_some(&format!("{n} dead letters"), || async {
            let letters = self.all_dead_letters("").await;
            (letters.len() >= n).then_some(letters)
        })
        .await
    }

    fn redis(&self) -> &fred::clients::Client {
        self.redis.as_ref().expect("a redis-mode test app")
    }

    /// `XADD <stream> * envelope <json>`; returns the entry id.
    pub async fn xadd_envelope(&self, envelope: &str) -> String {
        self.xadd_fields(vec![("envelope", envelope.to_owned())])
            .await
    }

    /// `XADD <stream> * field value …`.
    pub async fn xadd_fields(&self, fields: Vec<(&str, String)>) -> String {
        self.redis()
            .xadd(self.env.stream.as_str(), false, None, "*", fields)
            .await
            .expect("XADD")
    }

    /// Entries pending in Herald's consumer group.
    pub async fn pending_count(&self) -> u64 {
        let summary: Value = {
            let raw: fred::types::Value = self
                .redis()
                .xpending(self.env.stream.as_str(), self.env.group.as_str(), ())
                .await
                .expect("XPENDING");
            json!(
                raw.into_array()
                    .first()
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0)
            )
        };
        summary.as_u64().unwrap_or(0)
    }

    /// Length of the ingress stream.
    pub async fn stream_len(&self) -> u64 {
        self.redis()
            .xlen(self.env.stream.as_str())
            .await
            .expect("XLEN")
    }

    /// Deletes the ingress stream (test clean-up is otherwise left to scripts/test.sh).
    pub async fn delete_stream(&self) {
        let _: Result<u64, _> = self.redis().del(self.env.stream.as_str()).await;
    }
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

/// A Redis client of the test's own, for arranging the stream before Herald starts and for playing a ghost
/// consumer.
pub async fn redis_client() -> fred::clients::Client {
    let client = fred::prelude::Builder::from_config(
        fred::prelude::Config::from_url(&redis_url()).expect("redis url"),
    )
    .build()
    .expect("redis client");
    client.init().await.expect("Redis is not reachable");
    client
}

/// `XADD <stream> * envelope <json>` for each envelope, in one pipeline; returns the entry ids in order.
pub async fn xadd_pipelined(
    redis: &fred::clients::Client,
    stream: &str,
    envelopes: &[String],
) -> Vec<String> {
    let pipeline = redis.pipeline();
    for envelope in envelopes {
        let _: () = pipeline
            .xadd(
                stream,
                false,
                None,
                "*",
                vec![("envelope", envelope.as_str())],
            )
            .await
            .expect("queue XADD");
    }
    pipeline.all().await.expect("XADD pipeline")
}

/// Reads the database directly, to check exactly-once without paging through the API.
impl TestEnv {
    /// How many events are stored.
    pub async fn stored_count(&self) -> i64 {
        self.stored_ids().await.len() as i64
    }

    /// The id of every stored event.
    pub async fn stored_ids(&self) -> Vec<String> {
        let sql = "SELECT id FROM workflow_events";
        match self.db {
            Db::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.database_url)
                    .await
                    .expect("connect");
                sqlx::query_scalar(sql)
                    .fetch_all(&mut conn)
                    .await
                    .expect("event ids")
            }
            Db::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.database_url)
                    .await
                    .expect("connect");
                sqlx::query_scalar(sql)
                    .fetch_all(&mut conn)
                    .await
                    .expect("event ids")
            }
        }
    }
}

impl TestEnv {
    /// Writes `n` events straight into `workflow_events` (sequences from 1,000,001), each with a payload of 20
    /// items, for tests about query volume rather than ingest.
    pub async fn seed_bulk_events(&self, n: u64) {
        let items: Vec<Value> = (0..20)
            .map(|i| json!({ "name": format!("abcd-efgh-{i}-ijkl-mnop-qrst"), "qty": i }))
            .collect();
        let payload = json!({ "items": items }).to_string();
        match self.db {
            Db::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.database_url)
                    .await
                    .expect("connect");
                sqlx::query(
                    "INSERT INTO workflow_events (id, ingress_sequence, type, source, occurred_at, received_at, \
                     payload, content_hash, severity) \
                     SELECT 'bulk-' || i, 1000000 + i, 'bulk.event.seeded', 'tests.bulk', now(), now(), \
                     $1::jsonb, '', 'info' FROM generate_series(1, $2::bigint) AS i",
                )
                .bind(&payload)
                .bind(n as i64)
                .execute(&mut conn)
                .await
                .expect("seed events");
            }
            Db::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.database_url)
                    .await
                    .expect("connect");
                sqlx::query(
                    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2) \
                     INSERT INTO workflow_events (id, ingress_sequence, type, source, occurred_at, received_at, \
                     payload, content_hash, severity) \
                     SELECT 'bulk-' || i, 1000000 + i, 'bulk.event.seeded', 'tests.bulk', \
                     '2026-11-20T00:00:00+00:00', '2026-11-20T00:00:00+00:00', ?1, '', 'info' FROM s",
                )
                .bind(&payload)
                .bind(n as i64)
                .execute(&mut conn)
                .await
                .expect("seed events");
            }
        }
    }
}

/// A WebSocket client of `/ws`, reading JSON text frames.
pub struct WsClient {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    /// The handshake's answer (for the selected subprotocol).
    pub response: tokio_tungstenite::tungstenite::handshake::client::Response,
}

/// How a WebSocket frame read ended, when it was not a JSON text frame.
#[derive(Debug)]
pub enum WsEnd {
    /// The server closed with this code and reason.
    Closed(u16, String),
    /// The connection ended without a close frame.
    Gone(String),
}

impl TestApp {
    /// `ws://…/ws`.
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.address.replacen("http", "ws", 1))
    }

    /// A `/ws` handshake request carrying the app's token (if any) as a bearer header.
    pub fn ws_request(&self) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = self.ws_url().into_client_request().expect("ws request");
        if let Some(token) = &self.token {
            request.headers_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("header value"),
            );
        }
        request
    }

    /// Connects to `/ws` and reads the `connection.ack`.
    pub async fn ws_connect(&self) -> WsClient {
        let mut client = self
            .ws_try_connect(self.ws_request())
            .await
            .expect("WebSocket handshake");
        let ack = client.next_json().await;
        assert_eq!(ack["type"], "connection.ack", "{ack}");
        client
    }

    /// Attempts a handshake with `request`; the error carries the HTTP refusal.
    pub async fn ws_try_connect(
        &self,
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
        let (stream, response) = tokio_tungstenite::connect_async(request).await?;
        Ok(WsClient { stream, response })
    }

    /// Connects, subscribes with `subscribe` (the whole frame) and reads up to its `subscribed` answer.
    pub async fn ws_subscribed(&self, subscribe: Value) -> WsClient {
        let mut client = self.ws_connect().await;
        client.send_json(&subscribe).await;
        client.next_of_type("subscribed").await;
        client
    }

    /// Publishes `envelopes` with `POST /events` and insists on 202.
    pub async fn publish_ok(&self, envelopes: &[Value]) {
        let response = self.post_events(&json!(envelopes)).await;
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
    }
}

impl WsClient {
    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) {
        use futures::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::text(text))
            .await
            .expect("send frame");
    }

    /// Sends a JSON text frame.
    pub async fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next JSON text frame, or how the connection ended (pings and pongs are skipped).
    pub async fn next_frame(&mut self) -> Result<Value, WsEnd> {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            // One deadline for the whole read: the server's pings, which are skipped, must not extend it.
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("a WebSocket frame within 15 s");
            match next {
                Some(Ok(Message::Text(text))) => {
                    return Ok(serde_json::from_str(&text).expect("a JSON frame"));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(match frame {
                        Some(f) => WsEnd::Closed(f.code.into(), f.reason.to_string()),
                        None => WsEnd::Gone("close without a code".into()),
                    });
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(WsEnd::Gone(e.to_string())),
                None => return Err(WsEnd::Gone("end of stream".into())),
            }
        }
    }

    /// The next JSON text frame; panics if the connection ends.
    pub async fn next_json(&mut self) -> Value {
        match self.next_frame().await {
            Ok(value) => value,
            Err(end) => panic!("the WebSocket ended: {end:?}"),
        }
    }

    /// Reads frames until one of type `kind`, which it returns.
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// The next `n` `workflow.event.received` frames' events (other frames are skipped).
    pub async fn events(&mut self, n: usize) -> Vec<Value> {
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            let frame = self.next_json().await;
            if frame["type"] == "workflow.event.received" {
                events.push(frame["data"]["event"].clone());
            }
        }
        events
    }

    /// Sends a ping and reads up to its pong, returning every frame read on the way.
    pub async fn drain_until_pong(&mut self) -> Vec<Value> {
        self.send_text("ping").await;
        let mut frames = Vec::new();
        loop {
            let frame = self.next_json().await;
            if frame["type"] == "pong" {
                return frames;
            }
            frames.push(frame);
        }
    }
}

/// Sources (SPEC §6.5).
impl TestApp {
    /// `POST {path}` with a JSON body and the app's token.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.with_token(
            self.client
                .post(format!("{}{path}", self.address))
                .json(body),
        )
        .send()
        .await
        .expect("request")
    }

    /// `GET /admin/sources?{query}`.
    pub async fn list_sources(&self, query: &str) -> reqwest::Response {
        self.get(&format!("/admin/sources?{query}")).await
    }

    /// `GET /admin/sources/history?{query}`.
    pub async fn source_history(&self, query: &str) -> reqwest::Response {
        self.get(&format!("/admin/sources/history?{query}")).await
    }

    /// The `GET /admin/sources` entry of `source`, looked up through every page.
    pub async fn source_view(&self, source: &str) -> Option<Value> {
        let mut cursor: Option<String> = None;
        loop {
            let mut query = "limit=200".to_owned();
            if let Some(c) = &cursor {
                query.push_str(&format!("&cursor={c}"));
            }
            let response = self.list_sources(&query).await;
            assert_eq!(response.status(), 200, "GET /admin/sources");
            let body: Value = response.json().await.expect("json");
            let sources = body["data"]["sources"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if let Some(found) = sources.into_iter().find(|s| s["source"] == source) {
                return Some(found);
            }
            match body["data"]["page"]["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return None,
            }
        }
    }

    /// `POST /admin/sources/pause`.
    pub async fn pause_source(&self, body: &Value) -> reqwest::Response {
        self.post_json("/admin/sources/pause", body).await
    }

    /// `POST /admin/sources/resume`.
    pub async fn resume_source(&self, body: &Value) -> reqwest::Response {
        self.post_json("/admin/sources/resume", body).await
    }

    /// `GET /admin/event-health`, insisting on 200; returns `data`.
    pub async fn event_health(&self) -> Value {
        let response = self.get("/admin/event-health").await;
        assert_eq!(response.status(), 200, "GET /admin/event-health");
        response.json::<Value>().await.expect("json")["data"].clone()
    }

    /// `GET /admin/queue-health`, insisting on 200; returns `data`.
    pub async fn queue_health(&self) -> Value {
        let response = self.get("/admin/queue-health").await;
        assert_eq!(response.status(), 200, "GET /admin/queue-health");
        response.json::<Value>().await.expect("json")["data"].clone()
    }

    /// `GET /metrics/prometheus`.
    pub async fn prometheus(&self) -> reqwest::Response {
        self.get("/metrics/prometheus").await
    }

    /// `POST /admin/sources/discard-backlog`.
    pub async fn discard_source_backlog(&self, body: &Value) -> reqwest::Response {
        self.post_json("/admin/sources/discard-backlog", body).await
    }
}

/// A `redis-server` of the test's own, stopped on drop.
pub struct PrivateRedis {
    port: u16,
    child: Child,
}

impl PrivateRedis {
    /// Starts one on `port` and waits until it accepts connections.
    pub async fn start(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed by scripts/test.sh");
        let redis = PrivateRedis { port, child };
        eventually("the private Redis to answer", || async {
            std::net::TcpStream::connect(("127.0.0.1", redis.port)).is_ok()
        })
        .await;
        redis
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
