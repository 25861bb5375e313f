//! The Redis Streams adapter (SPEC §2.1): `XADD` on accept; a consumer group shared by every instance;
//! `XREADGROUP … COUNT 500` on a client of its own (blocking reads would stall every other command on a shared
//! connection); `XACK` only after the router reports a durable outcome; `XAUTOCLAIM` of entries left pending by a
//! dead consumer; `poison` for entries delivered too often; trimming that never passes the oldest pending entry.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::Recipient;
use fred::prelude::{
    Builder, ClientLike, Config, LuaInterface, ReconnectPolicy, StreamsInterface,
    TransactionInterface,
};
use fred::types::Value as RedisValue;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::{PublishOutcome, QueueError, QueueHealth, backoff};
use crate::actors::IngestBatch;
use crate::domain::{Envelope, RawEntry};
use crate::ingest::{ENVELOPE_FIELD, IngressEntry, StreamEntry};
use crate::storage::Storage;

/// Entries read per `XREADGROUP` / `XAUTOCLAIM` (SPEC §2.1: up to 500).
const READ_COUNT: u64 = 500;
/// How long a read blocks; it bounds how long shutdown waits for the reader.
const READ_BLOCK_MS: u64 = 1000;
/// Deadline of every Redis command (reads block for [`READ_BLOCK_MS`], well inside it).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the stream is trimmed.
const TRIM_INTERVAL: Duration = Duration::from_secs(10);
/// First and largest delay between retries of a failing Redis call or batch.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Trims to about `ARGV[1]` entries, never removing an entry at or after the group's oldest pending entry or its
/// last delivered one (so nothing unread or unacknowledged is lost). Atomic, so no entry can be delivered between
/// reading the floor and trimming.
const TRIM_SCRIPT: &str = r#"
local len = redis.call('XLEN', KEYS[1])
local maxlen = tonumber(ARGV[1])
if len <= maxlen then return 0 end
local floor = nil
local summary = redis.call('XPENDING', KEYS[1], ARGV[2])
if summary[1] > 0 then floor = summary[2] end
if not floor then
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local name, last = nil, nil
    for i = 1, #group, 2 do
      if group[i] == 'name' then name = group[i + 1] end
      if group[i] == 'last-delivered-id' then last = group[i + 1] end
    end
    if name == ARGV[2] then floor = last end
  end
end
if not floor then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', '~', floor, 'LIMIT', len - maxlen)
"#;

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
}

/// The Redis Streams adapter; cheap to clone.
#[derive(Clone)]
pub struct RedisStreams {
    inner: Arc<Inner>,
}

struct Inner {
    settings: StreamSettings,
    /// Unique per process, so a restarted instance never mistakes a dead one's pending entries for its own.
    consumer: String,
    commands: fred::clients::Client,
    reader: fred::clients::Client,
    storage: Storage,
}

impl RedisStreams {
    /// The command connection (fred multiplexes it), for other Herald parts that talk to the same Redis, such as
    /// the shared source windows; cloning shares the connection.
    pub fn commands(&self) -> fred::clients::Client {
        self.inner.commands.clone()
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
        let commands = client(&settings.redis_url).await?;
        let reader = client(&settings.redis_url).await?;
        let created: Result<(), _> = commands
            .xgroup_create(settings.stream.as_str(), settings.group.as_str(), "0", true)
            .await;
        if let Err(e) = created
            && !e.details().contains("BUSYGROUP")
        {
            return Err(e.into());
        }
        warn_if_not_persistent(&commands).await;
        let host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "herald".into());
        let consumer = format!("{host}-{}-{}", std::process::id(), ulid::Ulid::generate());
        tracing::info!(stream = %settings.stream, group = %settings.group, %consumer, "Reading the ingress stream.");
        Ok(RedisStreams {
            inner: Arc::new(Inner {
                settings,
                consumer,
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
                    let json = envelope.to_json().to_string();
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
            let trimmer = actix_rt::spawn(trim_loop(inner.clone(), shutdown.clone()));
            let claimer = actix_rt::spawn(claim_loop(
                inner.clone(),
                router.clone(),
                permits.clone(),
                shutdown.clone(),
            ));
            read_loop(inner.clone(), router, permits.clone(), shutdown).await;
            let _ = claimer.await;
            // Every batch in flight holds a permit: once all are back, every read entry has a durable outcome.
            let _ = permits
                .acquire_many(inner.settings.concurrency as u32)
                .await;
            trimmer.abort();
            tracing::info!("Ingress stream reader drained.");
        })
    }
}

/// A Redis client as Herald uses it: reconnecting forever, TCP_NODELAY, a deadline on every command.
///
/// # Errors
/// [`QueueError::Redis`] when the URL is invalid or Redis cannot be reached.
pub async fn client(url: &SecretString) -> Result<fred::clients::Client, QueueError> {
    let config = Config::from_url(url.expose_secret())?;
    let client = Builder::from_config(config)
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
        // Without TCP_NODELAY a small command (an XACK) can wait for the delayed ACK of the previous one.
        .with_connection_config(|c| c.tcp.nodelay = Some(true))
        // While Redis is down fred queues commands until it reconnects; without a deadline a publish, a readiness
        // check or an XACK would wait for as long as the outage lasts.
        .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
        .build()?;
    client.init().await?;
    Ok(client)
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

async fn read_loop(
    inner: Arc<Inner>,
    router: Recipient<IngestBatch>,
    permits: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut delay = RETRY_MIN;
    while !*shutdown.borrow() {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        // Not raced against shutdown: a cancelled read would leave what it delivered pending for a minute.
        let read: Result<RedisValue, _> = inner
            .reader
            .xreadgroup(
                inner.settings.group.as_str(),
                inner.consumer.as_str(),
                Some(READ_COUNT),
                Some(READ_BLOCK_MS),
                false,
                inner.settings.stream.as_str(),
                ">",
            )
            .await;
        let entries = match read {
            Ok(value) => {
                delay = RETRY_MIN;
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
                tracing::warn!(error.message = %e, "Reading the ingress stream failed; retrying.");
                drop(permit);
                if !backoff(delay, &mut shutdown).await {
                    return;
                }
                delay = (delay * 2).min(RETRY_MAX);
                continue;
            }
        };
        if entries.is_empty() {
            continue;
        }
        let inner = inner.clone();
        let router = router.clone();
        let shutdown = shutdown.clone();
        actix_rt::spawn(async move {
            deliver(&inner, &router, entries, shutdown).await;
            drop(permit);
        });
    }
}

/// Sends a batch to the router until it has a durable outcome, then acknowledges it. On shutdown a failing batch
/// is left pending: another instance (or this one, after a restart) reclaims it.
async fn deliver(
    inner: &Inner,
    router: &Recipient<IngestBatch>,
    entries: Vec<StreamEntry>,
    mut shutdown: watch::Receiver<bool>,
) {
    let ids: Vec<String> = entries.iter().map(|e| e.entry_id.clone()).collect();
    let entries: Vec<IngressEntry> = entries.into_iter().map(IngressEntry::Stream).collect();
    let mut delay = RETRY_MIN;
    loop {
        match router
            .send(IngestBatch {
                entries: entries.clone(),
            })
            .await
        {
            Ok(Ok(_outcomes)) => break,
            Ok(Err(e)) => {
                tracing::warn!(error.message = %e, error.cause_chain = ?e, "Ingest batch failed; retrying.")
            }
            Err(e) => tracing::warn!(error.message = %e, "Ingress router unavailable; retrying."),
        }
        if !backoff(delay, &mut shutdown).await {
            return;
        }
        delay = (delay * 2).min(RETRY_MAX);
    }
    ack(inner, ids).await;
}

async fn ack(inner: &Inner, ids: Vec<String>) {
    for attempt in 0..3u32 {
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
                tracing::warn!(error.message = %e, attempt, "XACK failed; retrying.");
                tokio::time::sleep(RETRY_MIN * 2u32.pow(attempt)).await;
            }
        }
    }
    // Harmless: the entries stay pending, are reclaimed, and their ids are already stored (duplicates).
    tracing::error!(
        entries = ids.len(),
        "XACK failed; the entries will be reclaimed and counted as duplicates."
    );
}

async fn claim_loop(
    inner: Arc<Inner>,
    router: Recipient<IngestBatch>,
    permits: Arc<Semaphore>,
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
                        deliver(&inner, &router, entries, shutdown.clone()).await;
                    }
                    drop(permit);
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
        if !backoff(interval, &mut shutdown).await {
            return;
        }
    }
}

/// One `XAUTOCLAIM` step: claims idle entries from `start`, and attaches each one's delivery count so the
/// router can tell poison.
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
            inner.consumer.as_str(),
            s.claim_idle_ms,
            start,
            Some(READ_COUNT),
            false,
        )
        .await?;
    let mut parts = reply.into_array().into_iter();
    let next = parts
        .next()
        .and_then(|v| v.as_string())
        .unwrap_or_else(|| "0-0".into());
    let mut entries = parse_entries(parts.next().unwrap_or(RedisValue::Null), &s.stream);
    let deleted: Vec<String> = parts
        .next()
        .map(|v| {
            v.into_array()
                .iter()
                .filter_map(|v| v.as_string())
                .collect()
        })
        .unwrap_or_default();
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
                    inner.consumer.as_str(),
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

async fn trim_loop(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let trimmed: Result<i64, _> = inner
            .commands
            .eval(
                TRIM_SCRIPT,
                vec![inner.settings.stream.as_str()],
                vec![
                    inner.settings.maxlen.to_string(),
                    inner.settings.group.clone(),
                ],
            )
            .await;
        match trimmed {
            Ok(n) if n > 0 => tracing::debug!(entries = n, "Trimmed the ingress stream."),
            Ok(_) => {}
            Err(e) => tracing::warn!(error.message = %e, "Trimming the ingress stream failed."),
        }
        if !backoff(TRIM_INTERVAL, &mut shutdown).await {
            return;
        }
    }
}

/// An `XINFO` record as `name → value`, whether Redis answered a flat RESP2 array or a RESP3 map.
fn fields(value: RedisValue) -> HashMap<String, RedisValue> {
    match value {
        RedisValue::Map(map) => map
            .inner()
            .into_iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v)))
            .collect(),
        other => {
            let mut out = HashMap::new();
            let mut items = other.into_array().into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                if let Some(k) = k.as_string() {
                    out.insert(k, v);
                }
            }
            out
        }
    }
}

/// The milliseconds part of a stream entry id (`1700000000000-0`).
fn entry_ms(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

/// Parses an `XREADGROUP` reply (`[[key, [[id, [field, value, …]], …]]]`, or nil on timeout).
fn parse_read(value: RedisValue, stream_key: &str) -> Vec<StreamEntry> {
    value
        .into_array()
        .into_iter()
        .flat_map(|stream| {
            let mut parts = stream.into_array().into_iter();
            let _key = parts.next();
            parse_entries(parts.next().unwrap_or(RedisValue::Null), stream_key)
        })
        .collect()
}

/// Parses `[[id, [field, value, …]], …]`; entries deleted while pending come back as nil and are skipped.
fn parse_entries(value: RedisValue, stream_key: &str) -> Vec<StreamEntry> {
    value
        .into_array()
        .into_iter()
        .filter_map(|entry| {
            let mut parts = entry.into_array().into_iter();
            let entry_id = parts.next()?.as_string()?;
            let fields = parts
                .next()?
                .into_array()
                .chunks(2)
                .filter_map(|pair| match pair {
                    [name, value] => Some((lossy(name), lossy(value))),
                    _ => None,
                })
                .collect();
            Some(StreamEntry {
                stream_key: stream_key.to_owned(),
                entry_id,
                fields: RawEntry::new(fields),
                deliveries: 1,
            })
        })
        .collect()
}

/// A field as text; bytes that are not UTF-8 are replaced, so the envelope then fails validation with a
/// readable reason instead of stalling the reader.
fn lossy(value: &RedisValue) -> String {
    match value.as_bytes() {
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => value.as_string().unwrap_or_default(),
    }
}
