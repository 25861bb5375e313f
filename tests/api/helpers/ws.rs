//! `WsClient`: a client of `/ws`, and the `TestApp` methods that open one.

use std::time::Duration;

use serde_json::Value;

use super::TestApp;

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
