//! Redis for the tests: the app's stream (`XADD`, pending, length), a client of the test's own, pipelined `XADD`s,
//! and a private `redis-server` a test may stop.

use std::process::{Child, Command, Stdio};

use fred::prelude::{ClientLike, KeysInterface, StreamsInterface};
use serde_json::{Value, json};

use super::{TestApp, eventually, redis_url};

impl TestApp {
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
