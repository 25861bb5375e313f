//! Reclaiming entries left pending by a silent consumer (`XAUTOCLAIM`), with each one's delivery count so the
//! router can tell poison.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::Recipient;
use fred::prelude::StreamsInterface;
use fred::types::Value as RedisValue;
use tokio::sync::{Semaphore, watch};

use super::reader::deliver;
use super::reply::{Claimed, parse_autoclaim};
use super::{IngestBatch, Inner, READ_COUNT};
use crate::ingest::StreamEntry;
use crate::redis::retry::sleep_or_shutdown;

/// Scans the group's pending entries every half claim-idle time (at least 100 ms) until shutdown.
pub(super) async fn claim_loop(
    inner: Arc<Inner>,
    router: Recipient<IngestBatch>,
    permits: Arc<Semaphore>,
    acking: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval = Duration::from_millis((inner.settings.claim_idle_ms / 2).max(100));
    loop {
        let mut start = "0-0".to_owned();
        loop {
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            match claim_once(&inner, &start).await {
                Ok((next, entries)) => {
                    if !entries.is_empty() {
                        tracing::info!(
                            entries = entries.len(),
                            "Reclaimed pending entries of a silent consumer."
                        );
                        deliver(
                            &inner,
                            &router,
                            entries,
                            permit,
                            acking.clone(),
                            shutdown.clone(),
                        )
                        .await;
                    }
                    if next == "0-0" {
                        break;
                    }
                    start = next;
                }
                Err(e) => {
                    tracing::warn!(error.message = %e, "Reclaiming pending entries failed.");
                    break;
                }
            }
        }
        if !sleep_or_shutdown(interval, &mut shutdown).await {
            return;
        }
    }
}

/// One `XAUTOCLAIM` step: claims idle entries from `start`, acknowledges those deleted while pending, and attaches
/// each claimed one's delivery count.
async fn claim_once(
    inner: &Inner,
    start: &str,
) -> Result<(String, Vec<StreamEntry>), fred::error::Error> {
    let s = &inner.settings;
    let reply: RedisValue = inner
        .commands
        .xautoclaim(
            s.stream.as_str(),
            s.group.as_str(),
            inner.consumer(),
            s.claim_idle_ms,
            start,
            Some(READ_COUNT),
            false,
        )
        .await?;
    let Claimed {
        next,
        mut entries,
        deleted,
    } = parse_autoclaim(reply, &s.stream);
    if !deleted.is_empty() {
        // Entries trimmed or deleted while pending: nothing is left to store.
        let _: Result<u64, _> = inner
            .commands
            .xack(s.stream.as_str(), s.group.as_str(), deleted)
            .await;
    }
    if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
        let pending: Vec<(String, String, u64, u64)> = inner
            .commands
            .xpending(
                s.stream.as_str(),
                s.group.as_str(),
                (
                    first.entry_id.as_str(),
                    last.entry_id.as_str(),
                    entries.len() as u64,
                    inner.consumer(),
                ),
            )
            .await?;
        let counts: HashMap<String, u64> = pending
            .into_iter()
            .map(|(id, _, _, count)| (id, count))
            .collect();
        for entry in &mut entries {
            entry.deliveries = counts.get(&entry.entry_id).copied().unwrap_or(1);
        }
    }
    Ok((next, entries))
}
