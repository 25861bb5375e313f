//! The publisher SDK (`herald-client`, SPEC §2.3) against a real Herald: every transport in every deployment it
//! applies to, its typed errors, workflow context, and the transactional outbox with its relay across a kill -9.

mod outbox;
mod publisher;

use herald::publisher::EventPublisher;
use serde_json::{Value, json};

use crate::helpers::{Mode, TestApp};

/// An envelope without an id: the SDK assigns one before its first try.
fn order(n: u64) -> Value {
    json!({"type": "shop.order.created", "source": "shop.api", "payload": {"order": n}})
}

/// The publishers that reach `app`: its own in-process queue, HTTP, and (redis mode) its stream.
async fn publishers(app: &TestApp) -> Vec<(&'static str, EventPublisher)> {
    let mut all = vec![
        (
            "inline",
            app.publisher.clone().expect("an in-process Herald"),
        ),
        (
            "http",
            EventPublisher::http(&app.address, app.token.as_deref()).expect("http publisher"),
        ),
    ];
    if app.env.mode == Mode::Redis {
        let redis = EventPublisher::redis_stream(&crate::helpers::redis_url(), &app.env.stream)
            .await
            .expect("redis publisher");
        all.push(("redis", redis));
    }
    all
}
