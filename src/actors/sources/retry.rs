//! The retry policy of the source actors' storage calls: Herald's one back-off policy ([`crate::redis::retry`]),
//! with jitter, so that the limiters of many sources do not retry in step after a shared outage.

use crate::redis::retry::{Backoff, policy};

/// A fresh back-off for a storage call that must not be lost (no last attempt): 100 ms doubling to 5 s, jittered.
/// Start a fresh one after a success.
pub(super) fn storage_backoff() -> Backoff {
    Backoff::with_policy(policy().with_jitter())
}
