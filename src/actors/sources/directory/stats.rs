//! The directory's counter writes (`source_stats`): merged per source while a write is in progress or paced,
//! at most one write per [`STATS_WRITE_INTERVAL`], retried after [`STATS_RETRY`] with the failed deltas merged
//! back (they are metrics, never events).

use std::time::Duration;

use actix::{ActorFutureExt, AsyncContext, Context, WrapFuture};

use super::{STATS_RETRY, STATS_WRITE_INTERVAL, SourceDirectory};
use crate::domain::Clock;
use crate::domain::StatsDelta;

impl SourceDirectory {
    /// Writes the pending counters, unless a write is in progress or the last one started less than
    /// [`STATS_WRITE_INTERVAL`] ago (then a timer writes them, with whatever arrives meanwhile).
    pub(super) fn flush_stats(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.write_scheduled || self.pending.is_empty() {
            return;
        }
        let since_ms = self
            .last_write_ms
            .map(|at| self.clock.now_ms().saturating_sub(at));
        if let Some(wait) = since_ms
            .and_then(|since| STATS_WRITE_INTERVAL.checked_sub(Duration::from_millis(since)))
            .filter(|wait| !wait.is_zero())
        {
            self.write_scheduled = true;
            ctx.run_later(wait, |act, ctx| {
                act.write_scheduled = false;
                act.write_stats(ctx);
            });
            return;
        }
        self.write_stats(ctx);
    }

    /// Writes the pending counters now, unless a write is in progress; a failed write is merged back and tried
    /// again after [`STATS_RETRY`].
    fn write_stats(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.pending.is_empty() {
            return;
        }
        self.writing = true;
        self.last_write_ms = Some(self.clock.now_ms());
        let deltas: Vec<StatsDelta> = self.pending.drain().map(|(_, d)| d).collect();
        let storage = self.storage.clone();
        ctx.spawn(
            async move {
                let result = storage.sources().add_stats(deltas.clone()).await;
                (result, deltas)
            }
            .into_actor(self)
            .map(|(result, deltas), act, ctx| {
                act.writing = false;
                match result {
                    Ok(()) => act.flush_stats(ctx),
                    Err(e) => {
                        tracing::warn!(error.message = %e, error.cause_chain = ?e, "Could not write source counters; retrying.");
                        for delta in deltas {
                            act.add_pending(delta);
                        }
                        ctx.run_later(STATS_RETRY, |act, ctx| act.write_stats(ctx));
                    }
                }
            }),
        );
    }

    pub(super) fn add_pending(&mut self, delta: StatsDelta) {
        match self.pending.get_mut(&delta.source) {
            Some(pending) => pending.counters.merge(delta.counters),
            None => {
                self.pending.insert(delta.source.clone(), delta);
            }
        }
    }
}
