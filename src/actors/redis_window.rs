//! [`RedisWindow`]: the sliding-window counter shared by every instance in redis mode (SPEC §13), so that one
//! source's events count against one window wherever they are stored.
//!
//! One sorted set per source, `<HERALD_EVENT_STREAM>:sources:<source>:window`, scored by the millisecond each
//! counted event was recorded at; a Lua script trims what slid out, counts, and records up to the asked number of
//! events atomically. The time is Redis's own (`TIME`), so instances with skewed clocks still share one window.
//! The key expires one interval after its last write, so an idle source costs nothing. A set holds at most `limit`
//! members: a limit of a million per interval costs a few tens of MiB in Redis.
//!
//! The key derives from the stream key, so deployments (and tests) with their own stream never share windows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fred::clients::Client;
use fred::interfaces::LuaInterface;

use crate::domain::{Grant, RateLimit, SourceName};

/// Trim, count, record up to `wanted`, and say when a slot frees if not all fit.
///
/// KEYS[1]: the window. ARGV: interval_ms, limit, wanted, a member prefix unique to this call. Returns
/// `{granted, retry_in_ms}`.
const TAKE_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - interval)
local count = redis.call('ZCARD', KEYS[1])
local granted = math.min(wanted, math.max(limit - count, 0))
for i = 1, granted do
  redis.call('ZADD', KEYS[1], now, ARGV[4] .. i)
end
if granted > 0 then
  redis.call('PEXPIRE', KEYS[1], interval)
end
local retry = 0
if granted < wanted then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if oldest[2] then
    retry = tonumber(oldest[2]) + interval - now
  end
  if retry < 1 then retry = 1 end
end
return {granted, retry}
"#;

/// The shared counter: a Redis client and the key prefix. Cheap to clone; every source's limiter holds one.
#[derive(Clone)]
pub struct RedisWindow {
    client: Client,
    prefix: Arc<str>,
    /// This instance's id, so members recorded by two instances in one millisecond never collide.
    instance: Arc<str>,
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
    /// A counter on `client` for the deployment whose ingress stream is `stream`.
    pub fn new(client: Client, stream: &str) -> RedisWindow {
        RedisWindow {
            client,
            prefix: Arc::from(format!("{stream}:sources")),
            instance: Arc::from(ulid::Ulid::generate().to_string()),
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The window's key for `source`.
    pub fn key(&self, source: &SourceName) -> String {
        format!("{}:{source}:window", self.prefix)
    }

    /// Records up to `wanted` of `source`'s events in the shared window now, as many as `limit` leaves room for.
    ///
    /// # Errors
    /// When Redis fails or answers something else than the script's pair (the caller then counts locally).
    pub async fn take(
        &self,
        source: &SourceName,
        limit: RateLimit,
        wanted: u32,
    ) -> Result<Grant, fred::error::Error> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let member_prefix = format!("{}:{call}:", self.instance);
        let answer: Vec<i64> = self
            .client
            .eval(
                TAKE_SCRIPT,
                vec![self.key(source)],
                vec![
                    limit.interval_ms().to_string(),
                    limit.limit().to_string(),
                    wanted.to_string(),
                    member_prefix,
                ],
            )
            .await?;
        match answer.as_slice() {
            [granted, retry] => Ok(Grant {
                granted: u32::try_from(*granted).unwrap_or(0).min(wanted),
                retry_in_ms: u64::try_from(*retry).unwrap_or(1),
            }),
            other => Err(fred::error::Error::new(
                fred::error::ErrorKind::Parse,
                format!("the window script answered {other:?}"),
            )),
        }
    }
}
