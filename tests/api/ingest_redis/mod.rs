//! The Redis Stream ingress (SPEC §2.1, §3): what an `XADD`ed entry becomes, acknowledgement, reclaiming, poison,
//! several instances sharing the group, and trimming.

mod entries;
mod group;

use serde_json::Value;

use crate::helpers::{TestApp, eventually};

/// Waits until Herald's group has acknowledged everything it was delivered.
async fn nothing_pending_eventually(app: &TestApp) {
    eventually("every entry to be acknowledged", || async {
        app.pending_count().await == 0
    })
    .await;
}

/// The `raw` Herald keeps for an entry: every field as a JSON object of strings.
fn raw_of(fields: &[(&str, String)]) -> String {
    let map: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(name, value)| ((*name).to_owned(), Value::from(value.as_str())))
        .collect();
    Value::Object(map).to_string()
}
