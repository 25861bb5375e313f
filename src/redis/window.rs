//! [`RedisWindow`]: the sliding-window counter shared by every instance in redis mode (SPEC §13), so that one
//! source's events count against one window wherever they are stored.
//!
//! One sorted set per source, `<HERALD_EVENT_STREAM>:sources:<source>:window`, scored by the millisecond each
//! counted event was recorded at; a Lua script trims what slid out, counts, and records up to the asked number of
//! events atomically. The time is Redis's own (`TIME`), so instances with skewed clocks still share one window.
//! The key expires one interval after its last write, so an idle source costs nothing. A set holds at most `limit`
//! members: a limit of a million per interval costs a few tens of MiB in Redis.
//!
//! # One script call for many sources
//!
//! A stored batch of events from 1,000 sources makes 1,000 limiters ask for slots at the same moment. One script
//! call each would cost more than everything else the limiters do, so the asks are group-committed: a task owns
//! the Redis side, takes every ask queued since its last call (up to [`MAX_SOURCES_PER_CALL`]), and answers them
//! all from one `EVALSHA` over their keys. While a call is in flight the next asks queue, so the number of calls
//! follows Redis's round trips, not the number of sources. Each key is still trimmed, counted and recorded on its
//! own inside the script, so the answer for a source is exactly what a call of its own would have given.
//!
//! The key derives from the stream key, so deployments (and tests) with their own stream never share windows.
//! All keys of a call go to one server: a Redis Cluster (not supported yet, see [`super::client()`]) would need
//! the calls split by hash slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fred::clients::Client;
use fred::types::scripts::Script;
use tokio::sync::{mpsc, oneshot};

use crate::domain::{Grant, RateLimit, SourceName};
use crate::telemetry::RateLimitedLog;

/// The most sources one script call serves; more asks wait for the next call. Bounds the script's run time (Redis
/// serves nobody else meanwhile) to about a millisecond.
pub const MAX_SOURCES_PER_CALL: usize = 1_000;

/// For each key: trim, count, record up to the wanted number, and say when a slot frees if not all fit.
///
/// KEYS: the windows. `ARGV[1]`: a member prefix unique to this call; then, per key, `interval_ms, limit, wanted`.
/// Returns `{granted, retry_in_ms}` per key, flattened. Members are `<prefix><key's position>` when one event is
/// recorded (the common case: a stored batch rarely holds two events of one source) and
/// `<prefix><position>:<n>` for more, so they never collide within a key.
const TAKE_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = ARGV[1]
local out = {}
for k = 1, #KEYS do
  local key = KEYS[k]
  local interval = tonumber(ARGV[k * 3 - 1])
  local wanted = tonumber(ARGV[k * 3 + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - interval)
  local room = tonumber(ARGV[k * 3]) - redis.call('ZCARD', key)
  local granted = wanted
  if room < wanted then
    granted = math.max(room, 0)
  end
  if granted == 1 then
    redis.call('ZADD', key, now, prefix .. k)
  elseif granted > 1 then
    local first = 1
    while first <= granted do
      local last = math.min(granted, first + 499)
      local args = {}
      for i = first, last do
        args[#args + 1] = now
        args[#args + 1] = prefix .. k .. ':' .. i
      end
      redis.call('ZADD', key, unpack(args))
      first = last + 1
    end
  end
  local retry = 0
  if granted > 0 then
    redis.call('PEXPIRE', key, interval)
  end
  if granted < wanted then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if oldest[2] then
      retry = tonumber(oldest[2]) + interval - now
    end
    if retry < 1 then retry = 1 end
  end
  out[#out + 1] = granted
  out[#out + 1] = retry
end
return out
"#;

/// One limiter's ask, waiting for the next script call.
struct Ask {
    key: String,
    limit: RateLimit,
    wanted: u32,
    answer: oneshot::Sender<Result<Grant, fred::error::Error>>,
}

/// The shared counter: a handle on the task that talks to Redis, and the key prefix. Cheap to clone; every
/// source's limiter holds one. The task stops when the last clone is dropped.
#[derive(Clone)]
pub struct RedisWindow {
    prefix: Arc<str>,
    asks: mpsc::UnboundedSender<Ask>,
    calls: Arc<AtomicU64>,
}

impl std::fmt::Debug for RedisWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisWindow")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisWindow {
    /// A counter on `client` for the deployment whose ingress stream is `stream`, and the task that serves it.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn new(client: Client, stream: &str) -> RedisWindow {
        let (asks, queued) = mpsc::unbounded_channel();
        let calls = Arc::new(AtomicU64::new(0));
        // This instance's id (60 random bits of a ULID, kept short because every counted event stores it), so
        // members recorded by two instances in one millisecond never collide.
        let instance = ulid::Ulid::generate().to_string().split_off(14);
        tokio::spawn(serve(client, queued, instance, calls.clone()));
        RedisWindow {
            prefix: Arc::from(format!("{stream}:sources")),
            asks,
            calls,
        }
    }

    /// The window's key for `source`.
    pub fn key(&self, source: &SourceName) -> String {
        format!("{}:{source}:window", self.prefix)
    }

    /// How many script calls the counter has made so far (each serves every ask queued when it started).
    pub fn script_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Records up to `wanted` of `source`'s events in the shared window now, as many as `limit` leaves room for.
    /// The ask is queued before the first `.await`, so asks made together share a script call.
    ///
    /// # Errors
    /// When Redis fails or answers something else than the script's pairs (the caller then counts locally).
    pub fn take(
        &self,
        source: &SourceName,
        limit: RateLimit,
        wanted: u32,
    ) -> impl Future<Output = Result<Grant, fred::error::Error>> + use<> {
        let (answer, answered) = oneshot::channel();
        let queued = self.asks.send(Ask {
            key: self.key(source),
            limit,
            wanted,
            answer,
        });
        async move {
            if queued.is_err() {
                return Err(stopped());
            }
            answered.await.unwrap_or_else(|_| Err(stopped()))
        }
    }
}

fn stopped() -> fred::error::Error {
    fred::error::Error::new(
        fred::error::ErrorKind::Canceled,
        "the shared window's task stopped",
    )
}

/// The task behind a [`RedisWindow`]: one script call at a time, each for every ask queued meanwhile.
async fn serve(
    client: Client,
    mut queued: mpsc::UnboundedReceiver<Ask>,
    instance: String,
    calls: Arc<AtomicU64>,
) {
    let script = Script::from_lua(TAKE_SCRIPT);
    let mut asks = Vec::with_capacity(MAX_SOURCES_PER_CALL);
    // One log for every limiter a failing call leaves to count alone, not one per source.
    let mut errors = RateLimitedLog::default();
    while queued.recv_many(&mut asks, MAX_SOURCES_PER_CALL).await > 0 {
        // Let the limiters woken by the same stored batch queue their asks too.
        tokio::task::yield_now().await;
        while asks.len() < MAX_SOURCES_PER_CALL
            && let Ok(ask) = queued.try_recv()
        {
            asks.push(ask);
        }
        let call = calls.fetch_add(1, Ordering::Relaxed);
        let answers = take_all(&client, &script, &format!("{instance}:{call}:"), &asks).await;
        match answers {
            Ok(grants) => {
                errors.reset();
                for (ask, grant) in asks.drain(..).zip(grants) {
                    // A limiter that restarted meanwhile no longer waits; its slots stay counted, as they would
                    // have with a call of its own.
                    let _ = ask.answer.send(Ok(grant));
                }
            }
            Err(e) => {
                if let Some(suppressed) = errors.due(std::time::Instant::now()) {
                    tracing::error!(error.message = %e, sources = asks.len(), suppressed, "The shared rate-limit window is unreachable; each source counts on this instance alone meanwhile.");
                }
                for ask in asks.drain(..) {
                    let _ = ask.answer.send(Err(e.clone()));
                }
            }
        }
    }
}

/// One script call for `asks`; answers one grant per ask, in order.
async fn take_all(
    client: &Client,
    script: &Script,
    member_prefix: &str,
    asks: &[Ask],
) -> Result<Vec<Grant>, fred::error::Error> {
    let keys: Vec<String> = asks.iter().map(|a| a.key.clone()).collect();
    let mut args = Vec::with_capacity(1 + asks.len() * 3);
    args.push(member_prefix.to_owned());
    for ask in asks {
        args.push(ask.limit.interval_ms().to_string());
        args.push(ask.limit.limit().to_string());
        args.push(ask.wanted.to_string());
    }
    let answer: Vec<i64> = script.evalsha_with_reload(client, keys, args).await?;
    if answer.len() != asks.len() * 2 {
        return Err(fred::error::Error::new(
            fred::error::ErrorKind::Parse,
            format!(
                "the window script answered {} numbers for {} sources",
                answer.len(),
                asks.len()
            ),
        ));
    }
    Ok(asks
        .iter()
        .zip(answer.chunks_exact(2))
        .map(|(ask, pair)| Grant {
            granted: u32::try_from(pair[0]).unwrap_or(0).min(ask.wanted),
            retry_in_ms: u64::try_from(pair[1]).unwrap_or(1),
        })
        .collect())
}
