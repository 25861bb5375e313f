//! `TestApp`: a running Herald and one method per HTTP endpoint of events and dead letters.

use fred::prelude::ClientLike;
use serde_json::{Value, json};

use super::{Mode, TestEnv, eventually_some, redis_url};

/// A running Herald and handles to its resources.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub token: Option<String>,
    pub env: TestEnv,
    pub redis: Option<fred::clients::Client>,
    /// The in-process publisher of a Herald started in this process (`Application::publisher`).
    pub publisher: Option<herald::publisher::EventPublisher>,
    shutdown: Option<herald::startup::ShutdownHandle>,
}

impl TestApp {
    pub(super) async fn new(
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
            publisher: None,
            shutdown,
        }
    }

    /// Begins a graceful shutdown of an in-process Herald.
    pub fn shutdown(&self) {
        if let Some(handle) = &self.shutdown {
            handle.shutdown();
        }
    }

    pub(super) fn with_token(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
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

    /// `POST /events` with extra headers (a binary-mode CloudEvent's `ce-*`), a raw body and, when given, a
    /// content type.
    pub async fn post_with_headers(
        &self,
        headers: &[(&str, &str)],
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self.client.post(format!("{}/events", self.address));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.with_token(request.body(body))
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

    /// Publishes `envelopes` with `POST /events` and insists on 202.
    pub async fn publish_ok(&self, envelopes: &[Value]) {
        let response = self.post_events(&json!(envelopes)).await;
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
    }
}
