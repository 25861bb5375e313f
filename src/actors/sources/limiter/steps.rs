//! The limiter's ordered steps: every message, and the release timer, becomes a [`Step`] in one queue; one step
//! runs at a time, in arrival order.
//!
//! **Why a queue of its own and not `ctx.wait`.** Holding the mailbox while a storage call runs gives the order for
//! free, but a storage outage then holds it for as long as the outage lasts: nothing, not even a question that
//! needs no storage, is answered, and senders' mailboxes fill up. Here a handler only appends its step and starts
//! the queue ([`SourceRateLimiter::pump`]); a step whose work is a storage call (or a shared-counter ask) becomes
//! the step in progress (`current`), and the queue waits for its answer while the mailbox keeps being read.
//!
//! **The guarantees this keeps.** (1) Per-source order: a step starts only once the one before it is finished, so
//! the two halves of an admission (the window's decision, then the deferral write) never interleave with another
//! admission, a pause reload or a discard. (2) A deferral is durable before anything else happens to the source:
//! the deferral write is the step in progress until it commits; while it fails it stays the step in progress and
//! is retried, so everything behind it waits — including a `ReloadPause`, which could otherwise read storage
//! before the automatic pause is in it and resume the source too early. (3) [`FlushDeferrals`] is a step too, so
//! its answer still means "every earlier write is done".
//!
//! **Retries.** A failed call that must not be lost (the load, a deferral, a claim, a pause reload) keeps its step
//! in progress and is started again from a timer, after a capped exponential backoff with jitter
//! (`retry.rs`), which a success resets. A discard that fails is answered with the error (the operator
//! retries); an adoption that fails waits for the directory's next sweep.
//!
//! **Broken state.** An answer that does not match what was asked (a claim returning rows it was not asked for, a
//! window whose decisions do not cover the events) or a claimed row that no longer parses means the in-memory
//! state no longer mirrors storage: the step stops the actor (STYLE §2.5), and the restart rebuilds it from
//! storage. A read that fails, even on a corrupt row, is retried instead: a restart would read the same rows.
//!
//! [`FlushDeferrals`]: super::FlushDeferrals

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use actix::{ActorContext, ActorFutureExt, AsyncContext, Context, SpawnHandle, WrapFuture};
use chrono::Utc;
use tokio::sync::oneshot;

use super::{SourceError, SourceRateLimiter};
use crate::actors::messages::EventSelection;
use crate::actors::sources::retry::storage_backoff;
use crate::domain::{Admission, Grant};
use crate::domain::{HERALD_ACTOR, PauseKind, SourcePause, StoredEvent};
use crate::redis::retry::Backoff;
use crate::storage::StorageError;

/// One thing to do to the source, in arrival order.
pub(super) enum Step {
    /// Read the pause and the backlog (first start and every restart).
    Load,
    /// Decide for newly stored events (ask the counter, then the window).
    Admit { events: EventSelection },
    /// Record the deferred part of an admission, with the automatic pause it started.
    Defer {
        seqs: Vec<i64>,
        pause: Option<SourcePause>,
    },
    /// Take what the window and the counter allow from the backlog.
    Release,
    /// Claim released backlog rows in storage and load their events.
    Claim { seqs: Vec<i64> },
    /// Re-read the pause.
    ReloadPause,
    /// Re-read the backlog when storage holds more than the window queues.
    Adopt { durable: u64 },
    /// Delete the backlog.
    Discard {
        reply: oneshot::Sender<Result<u64, SourceError>>,
    },
    /// Answer once every earlier step is done.
    Flush { reply: oneshot::Sender<()> },
    /// Tests: answer once nothing is queued and no release is due now.
    #[cfg(test)]
    Settle {
        reply: oneshot::Sender<()>,
        rounds: u32,
    },
}

impl Step {
    /// What the restart keeps of the step that was in progress. A deferral write goes again (it is idempotent:
    /// rows already written are skipped) before the reload, so the reload sees it; an admission whose counter ask
    /// was cut short was never decided and is decided again. Everything else is read back by the reload (a cut
    /// claim either rolled back, and its rows are reloaded, or committed, and its events are lost like those of a
    /// crash); a cut discard answers [`SourceError::Gone`].
    pub(super) fn survives_restart(self) -> Option<Step> {
        match self {
            Step::Defer { .. } | Step::Admit { .. } => Some(self),
            Step::Discard { reply } => {
                let _ = reply.send(Err(SourceError::Gone));
                None
            }
            _ => None,
        }
    }
}

/// How a finished call leaves the limiter.
pub(super) enum Outcome {
    /// Go on with the next step.
    Done,
    /// The call failed and must not be lost: keep the step in progress and try again later.
    Retry(Step, StorageError, &'static str),
    /// The state no longer mirrors storage: stop, and let the supervisor restart and reload.
    Broken(String),
}

/// A step in progress whose call failed.
pub(super) struct Retrying {
    backoff: Backoff,
    attempts: u32,
    /// The timer of the next attempt.
    pub(super) timer: Option<SpawnHandle>,
}

type Ctx = Context<SourceRateLimiter>;

impl SourceRateLimiter {
    /// Appends `step` and runs the queue.
    pub(super) fn push(&mut self, step: Step, ctx: &mut Ctx) {
        self.queue.push_back(step);
        self.pump(ctx);
    }

    /// Runs queued steps until one needs a call (it becomes `current`) or none is left. Re-entrant calls (a step
    /// that queues another) return at once: the outer loop picks the new step up.
    pub(super) fn pump(&mut self, ctx: &mut Ctx) {
        if self.pumping {
            return;
        }
        self.pumping = true;
        while self.current.is_none() && ctx.state().alive() {
            let Some(step) = self.queue.pop_front() else {
                break;
            };
            self.begin(step, ctx);
        }
        self.pumping = false;
    }

    /// Starts the next attempt of the step in progress now (its backoff timer fired, or a test asked).
    pub(super) fn retry_now(&mut self, ctx: &mut Ctx) {
        let Some(timer) = self.retrying.as_mut().and_then(|r| r.timer.take()) else {
            return;
        };
        ctx.cancel_future(timer);
        if let Some(step) = self.current.take() {
            self.begin(step, ctx);
        }
        self.pump(ctx);
    }

    fn begin(&mut self, step: Step, ctx: &mut Ctx) {
        let storage = self.link.storage.clone();
        let source = self.source.clone();
        match step {
            Step::Load => self.call(
                ctx,
                step,
                async move {
                    let repo = storage.sources();
                    Ok((repo.pause_of(&source).await?, repo.backlog(&source).await?))
                },
                |act, ctx, step, loaded| match loaded {
                    Ok((pause, backlog)) => {
                        act.apply_pause(pause);
                        act.window.restore_backlog(backlog);
                        tracing::debug!(source = %act.source, backlog = act.window.backlog_len(), starts = act.starts, "Source rate limiter started.");
                        act.schedule_release(ctx);
                        Outcome::Done
                    }
                    Err(e) => Outcome::Retry(step, e, "load its pause and backlog"),
                },
            ),
            Step::Admit { events } => {
                let wanted = self.window.slots_to_admit(events.len());
                self.with_grant(ctx, Step::Admit { events }, wanted, Self::admit);
            }
            Step::Defer {
                ref seqs,
                ref pause,
            } => {
                let (seqs, pause) = (seqs.clone(), pause.clone());
                self.call(
                    ctx,
                    step,
                    async move { storage.sources().defer(&source, &seqs, pause.as_ref()).await },
                    |act, ctx, step, written| match (written, step) {
                        (Ok(()), Step::Defer { seqs, .. }) => {
                            act.link
                                .metrics
                                .events_throttled(&act.source, seqs.len() as u64);
                            act.schedule_release(ctx);
                            Outcome::Done
                        }
                        (Err(e), step) => Outcome::Retry(step, e, "record deferred events"),
                        (Ok(()), _) => Outcome::Broken("a deferral answered another step".into()),
                    },
                );
            }
            Step::Release => {
                self.release_queued = false;
                let wanted = self.window.slots_to_release();
                self.with_grant(ctx, Step::Release, wanted, |act, ctx, _step, grant| {
                    let seqs = act.window.release(grant);
                    if seqs.is_empty() {
                        act.schedule_release(ctx);
                    } else {
                        act.begin(Step::Claim { seqs }, ctx);
                    }
                    Outcome::Done
                });
            }
            Step::Claim { ref seqs } => {
                let seqs = seqs.clone();
                self.call(
                    ctx,
                    step,
                    async move { storage.sources().release(&source, &seqs).await },
                    Self::claimed,
                );
            }
            Step::ReloadPause => self.call(
                ctx,
                step,
                async move { storage.sources().pause_of(&source).await },
                |act, ctx, step, pause| match pause {
                    Ok(pause) => {
                        act.apply_pause(pause);
                        act.schedule_release(ctx);
                        Outcome::Done
                    }
                    Err(e) => Outcome::Retry(step, e, "read its pause"),
                },
            ),
            Step::Adopt { durable } => {
                if self.window.backlog_len() as u64 >= durable {
                    return;
                }
                self.call(
                    ctx,
                    step,
                    async move { storage.sources().backlog(&source).await },
                    |act, ctx, _step, backlog| {
                        match backlog {
                            Ok(backlog) => {
                                act.window.restore_backlog(backlog);
                                act.schedule_release(ctx);
                            }
                            Err(e) => {
                                tracing::warn!(source = %act.source, error.message = %e, error.cause_chain = ?e, "Could not read the durable backlog; the next sweep tries again.");
                            }
                        }
                        Outcome::Done
                    },
                );
            }
            Step::Discard { .. } => self.call(
                ctx,
                step,
                async move { storage.sources().discard_backlog(&source).await },
                |act, ctx, step, discarded| {
                    let Step::Discard { reply } = step else {
                        return Outcome::Broken("a discard answered another step".into());
                    };
                    let answer = match discarded {
                        Ok(n) => {
                            act.link.metrics.events_dropped(&act.source, n);
                            act.window.discard_backlog();
                            act.schedule_release(ctx);
                            Ok(n)
                        }
                        Err(e) => Err(SourceError::Storage(e)),
                    };
                    let _ = reply.send(answer);
                    Outcome::Done
                },
            ),
            Step::Flush { reply } => {
                let _ = reply.send(());
            }
            #[cfg(test)]
            Step::Settle { reply, rounds } => {
                if self.release_due() && rounds < 1_000 {
                    self.queue.retain(|s| !matches!(s, Step::Release));
                    self.queue.push_front(Step::Settle {
                        reply,
                        rounds: rounds + 1,
                    });
                    self.begin(Step::Release, ctx);
                } else {
                    let _ = reply.send(());
                }
            }
        }
    }

    /// Makes `step` the step in progress while `work` runs; `done` decides what its answer means.
    fn call<T: 'static>(
        &mut self,
        ctx: &mut Ctx,
        step: Step,
        work: impl Future<Output = Result<T, StorageError>> + 'static,
        done: fn(&mut Self, &mut Ctx, Step, Result<T, StorageError>) -> Outcome,
    ) {
        self.current = Some(step);
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            let Some(step) = act.current.take() else {
                return act.broken(ctx, "a storage answer came with no step in progress".into());
            };
            let outcome = done(act, ctx, step, result);
            act.finish(outcome, ctx);
        }));
    }

    /// Asks the counter for `wanted` slots for `step` and continues with its grant. In redis mode `step` is in
    /// progress until the answer; when Redis fails, this instance counts on its own meanwhile.
    fn with_grant(
        &mut self,
        ctx: &mut Ctx,
        step: Step,
        wanted: u32,
        then: fn(&mut Self, &mut Ctx, Step, Grant) -> Outcome,
    ) {
        let Some(limit) = self.window.limit().filter(|_| wanted > 0) else {
            let outcome = then(self, ctx, step, Grant::NOTHING_ASKED);
            return self.finish_sync(outcome, ctx);
        };
        let Some(shared) = self.link.shared.clone() else {
            let grant = self.local.take(limit, wanted);
            let outcome = then(self, ctx, step, grant);
            return self.finish_sync(outcome, ctx);
        };
        self.current = Some(step);
        let source = self.source.clone();
        ctx.spawn(
            async move { shared.take(&source, limit, wanted).await }
                .into_actor(self)
                .map(move |answer, act, ctx| {
                    let Some(step) = act.current.take() else {
                        return act.broken(ctx, "a counter answer came with no step in progress".into());
                    };
                    let grant = match answer {
                        Ok(grant) => grant,
                        // The shared window's task logs the failure, once for all the sources it served.
                        Err(e) => {
                            tracing::debug!(source = %act.source, error.message = %e, "Counting on this instance alone.");
                            act.local.take(limit, wanted)
                        }
                    };
                    let outcome = then(act, ctx, step, grant);
                    act.finish(outcome, ctx);
                }),
        );
    }

    /// After an answered call: go on, retry or stop.
    fn finish(&mut self, outcome: Outcome, ctx: &mut Ctx) {
        match outcome {
            Outcome::Done => {
                self.retrying = None;
                self.pump(ctx);
            }
            Outcome::Retry(step, error, what) => self.retry_later(ctx, step, error, what),
            Outcome::Broken(why) => self.broken(ctx, why),
        }
    }

    /// After a step that needed no call: the pump loop goes on by itself.
    fn finish_sync(&mut self, outcome: Outcome, ctx: &mut Ctx) {
        match outcome {
            Outcome::Done => {}
            Outcome::Retry(step, error, what) => self.retry_later(ctx, step, error, what),
            Outcome::Broken(why) => self.broken(ctx, why),
        }
    }

    fn retry_later(&mut self, ctx: &mut Ctx, step: Step, error: StorageError, what: &str) {
        let retrying = self.retrying.get_or_insert_with(|| Retrying {
            backoff: storage_backoff(),
            attempts: 0,
            timer: None,
        });
        retrying.attempts += 1;
        let delay = retrying.backoff.next_delay();
        tracing::error!(source = %self.source, attempt = retrying.attempts, delay_ms = delay.as_millis() as u64, queued = self.queue.len(), error.message = %error, error.cause_chain = ?error, "Source rate limiter could not {what}; retrying.");
        self.current = Some(step);
        retrying.timer = Some(ctx.run_later(delay, |act, ctx| act.retry_now(ctx)));
    }

    fn broken(&mut self, ctx: &mut Ctx, why: String) {
        tracing::error!(source = %self.source, why, "Source rate limiter state is broken; stopping so its supervisor restarts it from storage.");
        ctx.stop();
    }

    /// The second half of an admission, once the counter answered: hand the evaluated events on, then record the
    /// deferred ones (the step in progress until durable).
    fn admit(&mut self, ctx: &mut Ctx, step: Step, grant: Grant) -> Outcome {
        let Step::Admit { events } = step else {
            return Outcome::Broken("a grant for an admission answered another step".into());
        };
        let seqs = events.sequences();
        let admissions = self.window.admit(&seqs, grant);
        let evaluate = admissions
            .iter()
            .take_while(|a| **a == Admission::Evaluate)
            .count();
        if admissions.len() != seqs.len() || admissions[evaluate..].contains(&Admission::Evaluate) {
            return Outcome::Broken(format!(
                "the window decided {} admissions for {} events, or evaluated one after a deferral",
                admissions.len(),
                seqs.len()
            ));
        }
        let (now, later) = events.split_at(evaluate);
        self.hand_on(now);
        if later.is_empty() {
            return Outcome::Done;
        }
        let pause = admissions
            .contains(&Admission::DeferAndPause)
            .then(|| self.rate_limit_pause())
            .flatten();
        if let Some(pause) = &pause {
            tracing::info!(source = %self.source, until = ?pause.until, "Source paused: it exceeded its rate limit.");
        }
        let seqs = seqs[evaluate..].to_vec();
        self.begin(Step::Defer { seqs, pause }, ctx);
        Outcome::Done
    }

    fn claimed(
        &mut self,
        ctx: &mut Ctx,
        step: Step,
        claimed: Result<Vec<StoredEvent>, StorageError>,
    ) -> Outcome {
        let Step::Claim { seqs } = step else {
            return Outcome::Broken("a claim answered another step".into());
        };
        match claimed {
            Ok(events) => {
                if !answers_claim(&seqs, &events) {
                    return Outcome::Broken(format!(
                        "a claim of {} deferred events returned {} events it did not ask for, or out of order",
                        seqs.len(),
                        events.len()
                    ));
                }
                tracing::debug!(source = %self.source, asked = seqs.len(), released = events.len(), "Released deferred events.");
                self.hand_on(EventSelection::whole(Arc::from(events)));
                self.schedule_release(ctx);
                Outcome::Done
            }
            // The claim committed, then its rows did not parse: the window and storage no longer agree.
            Err(e @ StorageError::Corrupt { .. }) => {
                Outcome::Broken(format!("a claimed event does not parse: {e}"))
            }
            Err(e) => Outcome::Retry(Step::Claim { seqs }, e, "release deferred events"),
        }
    }

    fn rate_limit_pause(&self) -> Option<SourcePause> {
        let limit = self.window.limit()?;
        let now = Utc::now();
        let pause_ms = i64::try_from(limit.pause_ms()).unwrap_or(i64::MAX);
        Some(SourcePause {
            source: self.source.clone(),
            kind: PauseKind::RateLimit,
            reason: limit.exceeded_reason(),
            actor: HERALD_ACTOR.to_owned(),
            paused_at: now,
            until: Some(now + chrono::Duration::milliseconds(pause_ms)),
        })
    }
}

/// Whether `events` can be the answer to a claim of `asked`: only asked-for events, each once, in
/// `ingressSequence` order (fewer is fine: another instance claimed some, or retention purged them).
fn answers_claim(asked: &[i64], events: &[StoredEvent]) -> bool {
    let asked: HashSet<i64> = asked.iter().copied().collect();
    events.len() <= asked.len()
        && events.iter().all(|e| asked.contains(&e.ingress_sequence))
        && events
            .windows(2)
            .all(|w| w[0].ingress_sequence < w[1].ingress_sequence)
}
