//! Trimming the ingress stream to about `HERALD_STREAM_MAXLEN` entries, never past what the group still needs.

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::LuaInterface;
use tokio::sync::watch;

use super::Inner;
use crate::redis::retry::sleep_or_shutdown;

/// How often the stream is trimmed.
const TRIM_INTERVAL: Duration = Duration::from_secs(10);

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

/// Trims every [`TRIM_INTERVAL`] until shutdown. A failed trim is only logged: the next one catches up.
pub(super) async fn trim_loop(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
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
        if !sleep_or_shutdown(TRIM_INTERVAL, &mut shutdown).await {
            return;
        }
    }
}
