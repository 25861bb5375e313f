//! The WebSocket `/ws` (SPEC §7) and its relay across instances (SPEC §13): the handshake and its auth, the
//! frames, filters, `since` resume, slow clients, and shutdown.

mod filters;
mod frames;
mod handshake;
mod lifecycle;
mod relay;
mod since;

use serde_json::{Value, json};

use crate::helpers::{TestApp, WsClient};

fn event(id: &str, event_type: &str, source: &str, payload: Value) -> Value {
    json!({ "id": id, "type": event_type, "source": source, "payload": payload })
}

/// Every stored event as `(ingressSequence, id)`, oldest first, paging through `GET /admin/events`.
async fn stored_sequences(app: &TestApp) -> Vec<(i64, String)> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/admin/events?limit=200".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let body: Value = app.get(&path).await.json().await.expect("json");
        for e in body["data"]["events"].as_array().expect("events") {
            all.push((sequence_of(e), e["id"].as_str().expect("id").to_owned()));
        }
        match body["data"]["page"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    all.reverse();
    all
}

fn sequence_of(event: &Value) -> i64 {
    event["ingressSequence"]
        .as_str()
        .expect("ingressSequence is a string")
        .parse()
        .expect("a number")
}

/// Reads event frames until the one with id `last`, returning the ids in order.
async fn ids_until(client: &mut WsClient, last: &str) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let frame = client.next_json().await;
        if frame["type"] != "workflow.event.received" {
            continue;
        }
        let id = frame["data"]["event"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let done = id == last;
        ids.push(id);
        if done {
            return ids;
        }
    }
}
