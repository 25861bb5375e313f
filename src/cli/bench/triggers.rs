//! Trigger set-up shared by the benches (SPEC §14): creating triggers over HTTP the way an operator would, and
//! waiting for the outcome rows of a run.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::storage::Storage;

/// Triggers created at once.
const CREATES_IN_FLIGHT: usize = 16;

/// Creates `matching` triggers on `event_type` (each with the extra definition fields `extra`) and `others`
/// triggers on types no bench event has, over `POST /admin/triggers`. Returns the ids of the matching ones.
///
/// # Errors
/// When Herald refuses a definition.
pub(super) async fn create_triggers(
    port: u16,
    event_type: &str,
    matching: usize,
    others: usize,
    extra: &Value,
) -> anyhow::Result<Vec<String>> {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/admin/triggers");
    let bodies = (0..matching + others).map(|i| {
        let mut body = if i < matching {
            json!({"name": format!("bench match {i}"), "eventType": event_type})
        } else {
            // Types spread over many first segments and patterns, as a large deployment's would be.
            json!({"name": format!("bench other {i}"), "eventType": format!("other{}.t{i}.*", i % 97)})
        };
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e.clone());
        }
        body
    });
    let answers: Vec<anyhow::Result<(bool, String)>> = futures::stream::iter(bodies.enumerate())
        .map(|(i, body)| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let response = client.post(&url).json(&body).send().await?;
                let status = response.status();
                let answer: Value = response.json().await?;
                anyhow::ensure!(
                    status.as_u16() == 201,
                    "creating a bench trigger failed: {answer}"
                );
                Ok((
                    i < matching,
                    answer["data"]["id"].as_str().unwrap_or_default().to_owned(),
                ))
            }
        })
        .buffered(CREATES_IN_FLIGHT)
        .collect()
        .await;
    let mut ids = Vec::new();
    for answer in answers {
        let (matched, id) = answer?;
        if matched {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Waits until `expected` outcome rows are recorded; answers how long it took.
///
/// # Errors
/// When they are not all recorded within `limit`.
pub(super) async fn wait_for_outcomes(
    storage: &Storage,
    expected: u64,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let recorded = storage.delivery_stats().total().await?;
        if recorded >= expected {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "only {recorded} of {expected} trigger outcomes were recorded within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
