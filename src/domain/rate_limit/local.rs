//! [`LocalWindow`]: the sliding-window counter of one process.

use std::collections::VecDeque;

use super::{Clock, Grant, RateLimit};

/// An in-process sliding-window counter: the counter of inline mode, of unit tests, and the fallback of redis mode
/// while Redis cannot be reached (the limit then holds per instance).
///
/// It keeps one entry per distinct millisecond rather than per event (events of one batch share their
/// millisecond), so a source with a limit of a million per minute costs a few entries, not a million.
#[derive(Debug)]
pub struct LocalWindow<C: Clock> {
    clock: C,
    /// `(millisecond, events recorded then)`, oldest first.
    pub(super) runs: VecDeque<(u64, u32)>,
    /// The sum of the runs' counts.
    counted: u64,
}

impl<C: Clock> LocalWindow<C> {
    /// An empty window.
    pub fn new(clock: C) -> Self {
        LocalWindow {
            clock,
            runs: VecDeque::new(),
            counted: 0,
        }
    }

    /// Records up to `wanted` events now, as many as `limit` leaves room for in the sliding interval ending now.
    pub fn take(&mut self, limit: RateLimit, wanted: u32) -> Grant {
        let now = self.clock.now_ms();
        while let Some(&(at, count)) = self.runs.front()
            && at.saturating_add(limit.interval_ms()) <= now
        {
            self.runs.pop_front();
            self.counted -= u64::from(count);
        }
        let room = u64::from(limit.limit()).saturating_sub(self.counted);
        // `room` fits in u32: it is at most `limit`, a u32.
        let granted = wanted.min(u32::try_from(room).unwrap_or(u32::MAX));
        if granted > 0 {
            match self.runs.back_mut() {
                Some((at, count)) if *at == now => *count += granted,
                _ => self.runs.push_back((now, granted)),
            }
            self.counted += u64::from(granted);
        }
        let retry_in_ms = if granted < wanted {
            // Full: a slot frees when the oldest run slides out.
            self.runs
                .front()
                .map_or(1, |&(at, _)| {
                    at.saturating_add(limit.interval_ms()).saturating_sub(now)
                })
                .max(1)
        } else {
            0
        };
        Grant {
            granted,
            retry_in_ms,
        }
    }

    /// Events recorded in the current interval (as of the last [`LocalWindow::take`]).
    pub fn counted(&self) -> u64 {
        self.counted
    }
}
