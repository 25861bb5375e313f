//! The evaluation guarantee of SPEC §3 across crashes: every stored event is evaluated once against every
//! trigger that existed when it was stored, even if the instance that stored it died before evaluating it.
//!
//! - **Mark.** Every [`MARK_INTERVAL`] the directory writes its [`EvaluationLedger`](crate::trigger::EvaluationLedger)
//!   mark — the lowest sequence it stored whose outcomes are not committed — as its row of
//!   `trigger_evaluation_marks`. Events of a paused source count as settled once their deferral is durable
//!   (checked every [`DEFERRED_CHECK_INTERVAL`]): their limiter, on whichever instance, releases them.
//! - **Recovery.** At start and every [`RECOVERY_INTERVAL`], it looks for other instances' marks that stopped
//!   moving ([`STALE_AFTER`], or at once when the instance was a process of this host that is gone) and evaluates
//!   every stored, not deferred event from that mark on again, page by page, through the same writer. Outcome
//!   rows are unique per (trigger, event, replay), so what was recorded before the crash stays as it was and
//!   only the missing outcomes are added. Then it deletes the mark. Recovered events are not counted again
//!   against their source's rate limit.

use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use tokio::sync::oneshot;

use super::directory::TriggerDirectory;
use super::evaluator::EvaluationJob;
use crate::redis::InstanceId;
use crate::storage::EvaluationMark;

/// How often an instance writes its mark (its heartbeat).
pub const MARK_INTERVAL: Duration = Duration::from_secs(1);
/// How often the oldest unsettled events are checked against the durable deferrals.
pub const DEFERRED_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// How often other instances' marks are looked at.
pub const RECOVERY_INTERVAL: Duration = Duration::from_secs(5);
/// A mark not written for this long belongs to a stopped instance.
pub const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(15);
/// Events read per recovery page.
const PAGE: u64 = 500;

impl TriggerDirectory {
    /// Starts the mark heartbeat, the deferral check and the recovery sweep (which also runs once now).
    pub(super) fn start_marking(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(MARK_INTERVAL, |d, ctx| d.write_mark(ctx));
        ctx.run_interval(DEFERRED_CHECK_INTERVAL, |d, ctx| d.settle_deferred(ctx));
        ctx.run_interval(RECOVERY_INTERVAL, |d, ctx| d.recover(ctx));
        self.write_mark(ctx);
        self.recover(ctx);
    }

    fn write_mark(&mut self, ctx: &mut Context<Self>) {
        if self.marking {
            return;
        }
        self.marking = true;
        let storage = self.storage.clone();
        let instance = self.instance.clone();
        let mark = self.ledger.mark();
        let write = async move {
            storage
                .evaluation_marks()
                .save(&instance, mark, Utc::now())
                .await
        };
        ctx.spawn(write.into_actor(self).map(|written, d, _| {
            d.marking = false;
            if let Err(e) = written {
                tracing::warn!(error = %e, "Writing the evaluation mark failed; the next beat retries.");
            }
        }));
    }

    fn settle_deferred(&mut self, ctx: &mut Context<Self>) {
        if self.ledger.is_empty() {
            return;
        }
        let oldest = self.ledger.oldest(PAGE as usize);
        let storage = self.storage.clone();
        let read = async move { storage.evaluation_marks().deferred_among(&oldest).await };
        ctx.spawn(read.into_actor(self).map(|deferred, d, _| match deferred {
            Ok(deferred) => d.ledger.settled(deferred),
            Err(e) => tracing::debug!(error = %e, "Checking deferred events failed; the next check retries."),
        }));
    }

    fn recover(&mut self, ctx: &mut Context<Self>) {
        if self.recovering {
            return;
        }
        self.recovering = true;
        let storage = self.storage.clone();
        let instance = self.instance.clone();
        let read = async move { storage.evaluation_marks().others(&instance).await };
        ctx.spawn(read.into_actor(self).map(|marks, d, ctx| {
            let now = Utc::now();
            let stale: Vec<EvaluationMark> = match marks {
                Ok(marks) => marks
                    .into_iter()
                    .filter(|m| {
                        m.updated_at < now - STALE_AFTER
                            || InstanceId::is_dead_process_here(&m.instance_id)
                    })
                    .collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "Reading evaluation marks failed; the next sweep retries.");
                    Vec::new()
                }
            };
            d.recover_pages(stale, 0, ctx);
        }));
    }

    /// Evaluates the events of the last mark in `marks` page by page, deletes it, and goes on with the rest.
    fn recover_pages(
        &mut self,
        mut marks: Vec<EvaluationMark>,
        done_so_far: usize,
        ctx: &mut Context<Self>,
    ) {
        let Some(mark) = marks.last().cloned() else {
            self.recovering = false;
            return;
        };
        let storage = self.storage.clone();
        let read = async move {
            storage
                .evaluation_marks()
                .events_from(mark.unsettled_from, PAGE)
                .await
        };
        ctx.spawn(read.into_actor(self).map(move |events, d, ctx| {
            let events = match events {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, instance = %mark.instance_id, "Reading events to evaluate again failed; the next sweep retries.");
                    d.recovering = false;
                    return;
                }
            };
            let full = events.len() as u64 == PAGE;
            let next_from = events.last().map(|e| e.ingress_sequence + 1);
            let count = events.len();
            let (rows, wake) = d.outcomes(events.iter());
            let (done, committed) = oneshot::channel();
            let job = EvaluationJob {
                rows,
                wake,
                settle: Vec::new(),
                done: Some(done),
            };
            if d.evaluator.send(job).is_err() {
                d.recovering = false;
                return;
            }
            let storage = d.storage.clone();
            ctx.spawn(async move { committed.await.is_ok() }.into_actor(d).map(
                move |committed, d, ctx| {
                    if !committed {
                        d.recovering = false;
                        return;
                    }
                    let evaluated = done_so_far + count;
                    match (full, next_from) {
                        (true, Some(from)) => {
                            if let Some(last) = marks.last_mut() {
                                last.unsettled_from = from;
                            }
                            d.recover_pages(marks, evaluated, ctx);
                        }
                        _ => {
                            let instance = mark.instance_id.clone();
                            tracing::info!(instance = %instance, from = mark.unsettled_from, events = evaluated, "Evaluated again the events a stopped instance had stored; outcomes it had recorded are kept.");
                            marks.pop();
                            ctx.spawn(
                                async move { storage.evaluation_marks().delete(&instance).await }
                                    .into_actor(d)
                                    .map(move |_, d, ctx| d.recover_pages(marks, 0, ctx)),
                            );
                        }
                    }
                },
            ));
        }));
    }
}
