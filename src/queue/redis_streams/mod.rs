//! The Redis Streams adapter (SPEC §2.1): `XADD` on accept; a consumer group shared by every instance;
//! `XREADGROUP … COUNT 500` on a client of its own (blocking reads would stall every other command on a shared
//! connection); `XACK` only after the router reports a durable outcome; `XAUTOCLAIM` of entries left pending by a
//! dead consumer; `poison` for entries delivered too often; trimming that never passes the oldest pending entry.

//!
//! One file per role: [`reader`] (read, hand to the router, acknowledge), [`reclaim`] (`XAUTOCLAIM`), [`trim`],
//! and [`reply`], the pure parsing of Redis's answers.

mod reader;
mod reclaim;
mod reply;
mod trim;

use std::sync::Arc;

use actix::Recipient;
use fred::prelude::{ClientLike, StreamsInterface, TransactionInterface};
use fred::types::Value as RedisValue;
use secrecy::SecretString;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::{IngestBatch, PublishOutcome, QueueError, QueueHealth};
use crate::domain::Envelope;
use crate::ingest::ENVELOPE_FIELD;
use crate::redis::InstanceId;
use crate::storage::Storage;
use reply::{entry_ms, fields};

/// Entries read per `XREADGROUP` / `XAUTOCLAIM` (SPEC §2.1: up to 500).
const READ_COUNT: u64 = 500;
/// How long a read blocks; it bounds how long shutdown waits for the reader. Well inside the client's
/// [`crate::redis::COMMAND_TIMEOUT`].
const READ_BLOCK_MS: u64 = 1000;

/// What the adapter needs from the settings.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// `REDIS_URL`.
    pub redis_url: SecretString,
    /// `HERALD_EVENT_STREAM`.
    pub stream: String,
    /// `HERALD_CONSUMER_GROUP`.
    pub group: String,
    /// `HERALD_CLAIM_IDLE_MS`.
    pub claim_idle_ms: u64,
    /// `HERALD_STREAM_MAXLEN`.
    pub maxlen: u64,
    /// `EVENT_INGRESS_CONCURRENCY`.
    pub concurrency: usize,
    /// This instance, the consumer name it reads with: unique per process start, so a restarted instance never
    /// mistakes a dead one's pending entries for its own.
    pub instance: InstanceId,
}

/// The Redis Streams adapter; cheap to clone.
#[derive(Clone)]
pub struct RedisStreams {
    inner: Arc<Inner>,
}

/// Batches whose outcome is durable and whose `XACK` is still on its way; past it, a batch keeps its persistence
/// permit until an acknowledgement finishes (back-pressure on a Redis that answers slowly).
const ACKS_IN_FLIGHT: usize = 64;

struct Inner {
    settings: StreamSettings,
    commands: fred::clients::Client,
    reader: fred::clients::Client,
    storage: Storage,
}

impl Inner {
    /// The consumer name this instance reads with.
    fn consumer(&self) -> &str {
        self.settings.instance.as_str()
    }
}

impl RedisStreams {
    /// The command connection (fred multiplexes it), for other Herald parts that talk to the same Redis, such as
    /// the shared source windows; cloning shares the connection.
    pub fn commands(&self) -> fred::clients::Client {
        self.inner.commands.clone()
    }

    /// The ingress stream's key (`HERALD_EVENT_STREAM`).
    pub fn stream_key(&self) -> &str {
        &self.inner.settings.stream
    }

    /// Connects, creates the consumer group (with `MKSTREAM`, at id `0` so entries published before Herald's
    /// first start are read), and warns when Redis keeps nothing on disk.
    ///
    /// # Errors
    /// [`QueueError::Redis`] when Redis cannot be reached or the URL is invalid.
    pub async fn connect(
        settings: StreamSettings,
        storage: Storage,
    ) -> Result<RedisStreams, QueueError> {
        let commands = crate::redis::client(&settings.redis_url).await?;
        let reader = crate::redis::client(&settings.redis_url).await?;
        let created: Result<(), _> = commands
            .xgroup_create(settings.stream.as_str(), settings.group.as_str(), "0", true)
            .await;
        if let Err(e) = created
            && !e.details().contains("BUSYGROUP")
        {
            return Err(e.into());
        }
        warn_if_not_persistent(&commands).await;
        tracing::info!(stream = %settings.stream, group = %settings.group, consumer = %settings.instance, "Reading the ingress stream.");
        Ok(RedisStreams {
            inner: Arc::new(Inner {
                settings,
                commands,
                reader,
                storage,
            }),
        })
    }

    /// Accepts envelopes: ids already stored are answered from the store (duplicate or conflict) without an
    /// `XADD`; the rest are added in one `MULTI`, so a request is accepted whole or not at all.
    ///
    /// # Errors
    /// [`QueueError`] when the store or Redis fails; nothing was added then.
    pub async fn publish(
        &self,
        envelopes: Vec<Envelope>,
    ) -> Result<Vec<PublishOutcome>, QueueError> {
        // While Redis is unreachable fred would buffer the XADD until it reconnects and send it then, after this
        // request was already answered 503: refuse at once instead, so a refused event is never stored later.
        if !self.inner.commands.is_connected() {
            return Err(QueueError::Unavailable("Redis is not connected".into()));
        }
        let ids: Vec<&str> = envelopes.iter().map(|e| e.id.as_str()).collect();
        // Ids already stored, plus ids taken earlier in this same request: a repeat is a duplicate or a conflict
        // by content, exactly as it would be against the store.
        let mut known = self.inner.storage.events().content_hashes(&ids).await?;
        let mut outcomes = Vec::with_capacity(envelopes.len());
        let trx = self.inner.commands.multi();
        let mut queued = 0;
        for envelope in &envelopes {
            let id = envelope.id.clone();
            let hash = envelope.content_hash();
            match known.get(envelope.id.as_str()) {
                Some(stored) if *stored == hash => outcomes.push(PublishOutcome::Accepted {
                    id,
                    duplicate: true,
                }),
                Some(_) => outcomes.push(PublishOutcome::Conflict { id }),
                None => {
                    // unwrap: the wire envelope is plain JSON with string keys, whose serialization cannot fail.
                    let json = serde_json::to_string(&envelope.wire())
                        .expect("the wire envelope is plain JSON");
                    let stream = self.inner.settings.stream.as_str();
                    let _: () = trx
                        .xadd(stream, false, None, "*", vec![(ENVELOPE_FIELD, json)])
                        .await?;
                    queued += 1;
                    known.insert(envelope.id.to_string(), hash);
                    outcomes.push(PublishOutcome::Accepted {
                        id,
                        duplicate: false,
                    });
                }
            }
        }
        if queued > 0 {
            let _: RedisValue = trx.exec(true).await?;
        }
        Ok(outcomes)
    }

    /// Checks that Redis answers.
    ///
    /// # Errors
    /// [`QueueError::Redis`].
    pub async fn ping(&self) -> Result<(), QueueError> {
        let _: String = self.inner.commands.ping(None).await?;
        Ok(())
    }

    /// The ingress stream's key (`HERALD_EVENT_STREAM`).
    pub fn stream(&self) -> &str {
        &self.inner.settings.stream
    }

    /// The consumer group (`HERALD_CONSUMER_GROUP`).
    pub fn group(&self) -> &str {
        &self.inner.settings.group
    }

    /// The ingress stream's health for this consumer group, from `XINFO GROUPS` (pending, lag, last delivered),
    /// `XLEN`, the `XPENDING` summary (oldest pending id; never the per-entry list), `XRANGE … COUNT 1` after the
    /// last delivered id (oldest undelivered entry) and `XINFO CONSUMERS` (consumers that read within
    /// `HERALD_CLAIM_IDLE_MS`; every process reads with a consumer name of its own, so dead ones linger in the
    /// group until Redis forgets them).
    ///
    /// Depth is the group's `lag` (entries not yet delivered) plus its pending entries; when Redis cannot tell
    /// the lag (an entry deleted out of order), the depth is the pending count alone.
    ///
    /// # Errors
    /// [`QueueError::Redis`].
    pub async fn health(&self) -> Result<QueueHealth, QueueError> {
        let s = &self.inner.settings;
        let redis = &self.inner.commands;
        let stream = s.stream.as_str();
        let length: u64 = redis.xlen(stream).await?;
        let groups: RedisValue = redis.xinfo_groups(stream).await?;
        let group = groups
            .into_array()
            .into_iter()
            .map(fields)
            .find(|g| {
                g.get("name").and_then(|v| v.as_string()).as_deref() == Some(s.group.as_str())
            })
            .unwrap_or_default();
        let pending = group.get("pending").and_then(|v| v.as_u64()).unwrap_or(0);
        let lag = group.get("lag").and_then(|v| v.as_u64());
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let mut oldest_ms: Option<u64> = None;
        if pending > 0 {
            let summary: RedisValue = redis.xpending(stream, s.group.as_str(), ()).await?;
            oldest_ms = summary
                .into_array()
                .get(1)
                .and_then(|v| v.as_string())
                .and_then(|id| entry_ms(&id));
        }
        if lag.unwrap_or(1) > 0
            && let Some(last) = group.get("last-delivered-id").and_then(|v| v.as_string())
        {
            let next: RedisValue = redis
                .xrange(stream, format!("({last}"), "+", Some(1))
                .await?;
            let undelivered = next
                .into_array()
                .into_iter()
                .next()
                .and_then(|entry| entry.into_array().into_iter().next())
                .and_then(|id| id.as_string())
                .and_then(|id| entry_ms(&id));
            oldest_ms = match (oldest_ms, undelivered) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let consumers: RedisValue = redis.xinfo_consumers(stream, s.group.as_str()).await?;
        let active = consumers
            .into_array()
            .into_iter()
            .map(fields)
            .filter(|c| {
                c.get("idle")
                    .and_then(|v| v.as_u64())
                    .is_some_and(|idle| idle <= s.claim_idle_ms)
            })
            .count() as u64;
        Ok(QueueHealth {
            depth: lag.unwrap_or(0) + pending,
            pending,
            oldest_pending_age_ms: oldest_ms.map(|ms| now_ms.saturating_sub(ms)),
            consumers: active,
            length: Some(length),
        })
    }

    /// Starts the reader, the reclaimer and the trimmer.
    pub fn start(
        &self,
        router: Recipient<IngestBatch>,
        shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let inner = self.inner.clone();
        actix_rt::spawn(async move {
            let permits = Arc::new(Semaphore::new(inner.settings.concurrency));
            let acking = Arc::new(Semaphore::new(ACKS_IN_FLIGHT));
            let trimmer = actix_rt::spawn(trim::trim_loop(inner.clone(), shutdown.clone()));
            let claimer = actix_rt::spawn(reclaim::claim_loop(
                inner.clone(),
                router.clone(),
                permits.clone(),
                acking.clone(),
                shutdown.clone(),
            ));
            reader::read_loop(
                inner.clone(),
                router,
                permits.clone(),
                acking.clone(),
                shutdown,
            )
            .await;
            let _ = claimer.await;
            // Every batch in flight holds a permit until its outcome is durable, then an acking one until its XACK
            // is answered: once all of both are back, every read entry is stored (or dead-lettered) and acked.
            let _ = permits
                .acquire_many(inner.settings.concurrency as u32)
                .await;
            let _ = acking.acquire_many(ACKS_IN_FLIGHT as u32).await;
            trimmer.abort();
            tracing::info!("Ingress stream reader drained.");
        })
    }
}

async fn warn_if_not_persistent(client: &fred::clients::Client) {
    let info: Result<String, _> = client.custom(fred::cmd!("INFO"), vec!["persistence"]).await;
    if let Ok(info) = info
        && info.lines().any(|l| l.trim() == "aof_enabled:0")
    {
        tracing::warn!(
            "Redis reports AOF persistence off: an event accepted over HTTP is only as durable as Redis. \
             Run Redis with `appendonly yes` in production."
        );
    }
}
