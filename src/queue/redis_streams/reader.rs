//! Reading new entries (`XREADGROUP`), handing each batch to the router until it has a durable outcome, and
//! acknowledging it (`XACK`).

use std::sync::Arc;

use actix::Recipient;
use fred::prelude::StreamsInterface;
use fred::types::Value as RedisValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::reply::parse_read;
use super::{IngestBatch, Inner, READ_BLOCK_MS, READ_COUNT};
use crate::ingest::{IngressEntry, StreamEntry};
use crate::redis::retry::{Backoff, policy};

/// `XACK` tries before the entries are left to the reclaimer.
const ACK_ATTEMPTS: usize = 3;

/// Reads until shutdown, each batch holding a permit until it is acknowledged (or left pending at shutdown).
///
/// The loop reads one batch ahead of the permits: it reads, then waits for a permit to deliver what it read. So
/// when a write finishes and frees its batches' permits, the next batch is already in hand instead of one
/// `XREADGROUP` round trip away, and the single writer does not wait on the reader (a sixth of its time, measured
/// with `herald bench ingest`). A batch read is always delivered, even when shutdown comes while it waits: it is
/// one of the in-flight batches that finish before exit.
pub(super) async fn read_loop(
    inner: Arc<Inner>,
    router: Recipient<IngestBatch>,
    permits: Arc<Semaphore>,
    acking: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new();
    while !*shutdown.borrow() {
        // Not raced against shutdown: a cancelled read would leave what it delivered pending for a minute.
        let read: Result<RedisValue, _> = inner
            .reader
            .xreadgroup(
                inner.settings.group.as_str(),
                inner.consumer(),
                Some(READ_COUNT),
                Some(READ_BLOCK_MS),
                false,
                inner.settings.stream.as_str(),
                ">",
            )
            .await;
        let entries = match read {
            Ok(value) => {
                backoff.reset();
                parse_read(value, &inner.settings.stream)
            }
            Err(e) => {
                if e.details().contains("NOGROUP") {
                    // The stream or group was deleted under us: recreate it rather than spin.
                    let _: Result<(), _> = inner
                        .commands
                        .xgroup_create(
                            inner.settings.stream.as_str(),
                            inner.settings.group.as_str(),
                            "0",
                            true,
                        )
                        .await;
                }
                tracing::warn!(error.message = %e, attempt = backoff.attempts() + 1, "Reading the ingress stream failed; retrying.");
                if !backoff.wait(&mut shutdown).await {
                    return;
                }
                continue;
            }
        };
        if entries.is_empty() {
            continue;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let inner = inner.clone();
        let router = router.clone();
        let shutdown = shutdown.clone();
        let acking = acking.clone();
        actix_rt::spawn(async move {
            deliver(&inner, &router, entries, permit, acking, shutdown).await;
        });
    }
}

/// Sends a batch to the router until it has a durable outcome, then acknowledges it. On shutdown a failing batch
/// is left pending: another instance (or this one, after a restart) reclaims it.
///
/// The batch holds its persistence `permit` until its outcome is durable, and an `acking` permit from then until
/// its `XACK` is answered: the next batch goes to the router while this one is acknowledged, and shutdown's drain,
/// which takes every permit of both, still waits for the acknowledgement.
pub(super) async fn deliver(
    inner: &Inner,
    router: &Recipient<IngestBatch>,
    entries: Vec<StreamEntry>,
    permit: OwnedSemaphorePermit,
    acking: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let ids: Vec<String> = entries.iter().map(|e| e.entry_id.clone()).collect();
    let entries: Vec<IngressEntry> = entries.into_iter().map(IngressEntry::Stream).collect();
    let mut backoff = Backoff::new();
    loop {
        match router
            .send(IngestBatch {
                entries: entries.clone(),
            })
            .await
        {
            Ok(Ok(_outcomes)) => break,
            Ok(Err(e)) => {
                tracing::warn!(error.message = %e, error.cause_chain = ?e, attempt = backoff.attempts() + 1, "Ingest batch failed; retrying.")
            }
            Err(e) => {
                tracing::warn!(error.message = %e, attempt = backoff.attempts() + 1, "Ingress router unavailable; retrying.")
            }
        }
        if !backoff.wait(&mut shutdown).await {
            return;
        }
    }
    let Ok(acking) = acking.acquire_owned().await else {
        return;
    };
    drop(permit);
    ack(inner, ids, &mut shutdown).await;
    drop(acking);
}

/// Acknowledges stored entries, retrying a few times. Giving up is harmless: the entries stay pending, are
/// reclaimed, and their ids are already stored (duplicates). At shutdown the first try is the only one.
async fn ack(inner: &Inner, ids: Vec<String>, shutdown: &mut watch::Receiver<bool>) {
    let mut backoff = Backoff::with_policy(policy().with_max_times(ACK_ATTEMPTS - 1));
    loop {
        let acked: Result<u64, _> = inner
            .commands
            .xack(
                inner.settings.stream.as_str(),
                inner.settings.group.as_str(),
                ids.clone(),
            )
            .await;
        match acked {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error.message = %e, attempt = backoff.attempts() + 1, "XACK failed; retrying.");
                if !backoff.wait(shutdown).await {
                    break;
                }
            }
        }
    }
    tracing::error!(
        entries = ids.len(),
        "XACK failed; the entries will be reclaimed and counted as duplicates."
    );
}
