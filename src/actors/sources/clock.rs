//! The clock the source actors read: the real one in production, a [`FakeClock`](crate::domain::FakeClock) in
//! their tests, so a test moves time forward instead of sleeping (STYLE §6.4).

use std::sync::Arc;

use crate::domain::{Clock, SystemClock};

/// A shared, cloneable [`Clock`]: the directory hands a clone to every limiter, which gives clones to its
/// [`SourceWindow`](crate::domain::SourceWindow) and [`LocalWindow`](crate::domain::LocalWindow). A trait object
/// rather than a type parameter, so the actors stay one concrete type each (`Addr<SourceRateLimiter>`, not
/// `Addr<SourceRateLimiter<C>>`) at the cost of one indirect call per reading.
#[derive(Clone)]
pub struct ActorClock(Arc<dyn Clock>);

impl ActorClock {
    /// The real, monotonic clock ([`SystemClock`]).
    pub fn system() -> ActorClock {
        ActorClock(Arc::new(SystemClock::new()))
    }

    /// Any clock, typically a [`FakeClock`](crate::domain::FakeClock) whose clone the test keeps to advance it.
    pub fn new(clock: impl Clock) -> ActorClock {
        ActorClock(Arc::new(clock))
    }
}

impl Default for ActorClock {
    fn default() -> Self {
        ActorClock::system()
    }
}

impl Clock for ActorClock {
    fn now_ms(&self) -> u64 {
        self.0.now_ms()
    }
}

impl std::fmt::Debug for ActorClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ActorClock({} ms)", self.0.now_ms())
    }
}
