//! `TestApp` methods for sources (SPEC §6.5) and the health and metrics endpoints.

use serde_json::Value;

use super::TestApp;

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
