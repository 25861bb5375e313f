//! The delivery loop of a [`TriggerActor`]: reading due deliveries, asking the pause machine and the gate,
//! claiming, timing the next wake, judging an attempt and recording it. The actor, its messages and handlers are
//! in `actor.rs`.

use actix::prelude::*;
use chrono::{DateTime, Utc};
use rand::Rng;

use super::actor::{AttemptEnded, STORAGE_RETRY, TriggerActor, Wake, replay};
use super::attempt::Tried;
use crate::actors::TriggerNotice;
use crate::domain::StoredEvent;
use crate::trigger::{
    AttemptOutcome, AttemptRecord, AttemptResult, Delivery, DeliveryStatus, Ended, Gate,
    StateChange, TriggerState, Wait, is_expired, next_status,
};
use crate::views::delivery_failed_frame_data;

/// Deliveries fetched per pump when the trigger has no concurrency cap.
pub(super) const DEFAULT_CONCURRENCY: u32 = 64;

impl TriggerActor {
    /// Reads due deliveries and starts what the pause machine, the throttle and the cap allow.
    pub(super) fn pump(&mut self, ctx: &mut Context<Self>) {
        if !self.owner {
            return;
        }
        if self.pumping {
            self.again = true;
            return;
        }
        let now = self.now();
        if let Some(change) = self.machine.tick(now) {
            self.persist(change, ctx);
        }
        if self.machine.state() == TriggerState::Paused {
            self.hold_pending(now, ctx);
            if let Some(until) = self.machine.paused_until() {
                self.wake_at(until, ctx);
            }
            return;
        }
        let cap = self
            .trigger
            .definition
            .max_concurrency
            .unwrap_or(DEFAULT_CONCURRENCY);
        let room = cap.saturating_sub(self.gate.in_flight());
        if room == 0 {
            return;
        }
        let limit = if self.machine.state() == TriggerState::HalfOpen {
            1
        } else {
            room
        };
        self.pumping = true;
        let storage = self.storage.clone();
        let id = self.trigger.id.clone();
        let read = async move { storage.deliveries().due(&id, now, u64::from(limit)).await };
        ctx.spawn(read.into_actor(self).map(move |due, actor, ctx| {
            actor.pumping = false;
            match due {
                Ok(due) => {
                    let full = due.len() as u32 >= limit;
                    actor.caught_up = !full;
                    actor.dispatch(due, ctx);
                    if full || std::mem::take(&mut actor.again) {
                        ctx.notify(Wake);
                    } else {
                        actor.schedule_next(ctx);
                    }
                }
                Err(e) => {
                    tracing::warn!(trigger_id = %actor.trigger.id, error = %e, "Reading due deliveries failed; retrying.");
                    ctx.run_later(STORAGE_RETRY, |actor, ctx| actor.pump(ctx));
                }
            }
        }));
    }

    pub(super) fn hold_pending(&mut self, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        let storage = self.storage.clone();
        let id = self.trigger.id.clone();
        ctx.spawn(
            async move { storage.deliveries().hold_pending(&id, now).await }
                .into_actor(self)
                .map(|held, actor, _| {
                    if let Err(e) = held {
                        tracing::warn!(trigger_id = %actor.trigger.id, error = %e, "Marking deliveries held failed; the next wake retries.");
                    }
                }),
        );
    }

    pub(super) fn dispatch(&mut self, due: Vec<(Delivery, StoredEvent)>, ctx: &mut Context<Self>) {
        let now = self.now();
        let mut expired = Vec::new();
        let mut start = Vec::new();
        let mut throttled: Option<(Vec<String>, Option<DateTime<Utc>>)> = None;
        for (delivery, event) in due {
            if let Some((ids, _)) = &mut throttled {
                ids.push(delivery.id);
                continue;
            }
            // A replayed delivery was asked for by an operator however old its event is (SPEC §6.2).
            if delivery.replay_id.is_empty()
                && is_expired(event.envelope.occurred_at, event.envelope.ttl_ms, now)
            {
                expired.push(delivery.id);
                continue;
            }
            let probe = match self.machine.gate() {
                Gate::Hold => break,
                Gate::Go => false,
                Gate::Probe => true,
            };
            match self.gate.try_start(now) {
                Ok(()) => start.push((delivery, event, probe)),
                Err(Wait::Until(at)) => throttled = Some((vec![delivery.id], Some(at))),
                Err(Wait::ForAFinish) => throttled = Some((vec![delivery.id], None)),
            }
        }
        let storage = self.storage.clone();
        if let Some((ids, at)) = throttled {
            if let Some(at) = at {
                self.wake_at(at, ctx);
            }
            let storage = storage.clone();
            ctx.spawn(fut::wrap_future(async move {
                if let Err(e) = storage.deliveries().park(&ids, DeliveryStatus::Throttled, at, now).await {
                    tracing::warn!(error = %e, "Marking deliveries throttled failed; they stay due.");
                }
            }));
        }
        if !expired.is_empty() {
            let storage = storage.clone();
            ctx.spawn(fut::wrap_future(async move {
                if let Err(e) = storage
                    .deliveries()
                    .park(&expired, DeliveryStatus::Expired, None, now)
                    .await
                {
                    tracing::warn!(error = %e, "Marking deliveries expired failed; they stay due.");
                }
            }));
        }
        if start.is_empty() {
            return;
        }
        let seen: Vec<(String, i32)> = start
            .iter()
            .map(|(d, _, _)| (d.id.clone(), d.attempts))
            .collect();
        let claim = async move { storage.deliveries().claim(&seen, now).await };
        ctx.spawn(claim.into_actor(self).map(move |claimed, actor, ctx| {
            let claimed = match claimed {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(trigger_id = %actor.trigger.id, error = %e, "Claiming deliveries failed; retrying.");
                    for _ in &start {
                        actor.gate.finish();
                    }
                    actor.machine = replay(actor.config, &actor.head, []);
                    ctx.run_later(STORAGE_RETRY, |actor, ctx| actor.pump(ctx));
                    return;
                }
            };
            for (mut delivery, event, probe) in start {
                if !claimed.contains(&delivery.id) {
                    actor.gate.finish();
                    continue;
                }
                delivery.attempts += 1;
                delivery.status = DeliveryStatus::Delivering;
                let deliverer = actor.deliverer.clone();
                let trigger = actor.trigger.clone();
                let started_at = actor.now();
                let run = async move {
                    let tried = deliverer.attempt(trigger, delivery.clone(), event, started_at).await;
                    AttemptEnded { delivery, probe, started_at, tried }
                };
                ctx.spawn(run.into_actor(actor).map(|ended, _, ctx| ctx.notify(ended)));
            }
        }));
    }

    pub(super) fn wake_at(&mut self, at: DateTime<Utc>, ctx: &mut Context<Self>) {
        let delay = (at - self.now()).to_std().unwrap_or_default();
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        self.timer = Some(ctx.run_later(delay, |actor, ctx| {
            actor.timer = None;
            actor.pump(ctx);
        }));
    }

    /// Sets the timer for the next delivery waiting on a time (a retry, a throttle window).
    pub(super) fn schedule_next(&mut self, ctx: &mut Context<Self>) {
        let storage = self.storage.clone();
        let id = self.trigger.id.clone();
        ctx.spawn(
            async move { storage.deliveries().next_due_at(&id).await }
                .into_actor(self)
                .map(|next, actor, ctx| {
                    if let Ok(Some(at)) = next {
                        actor.wake_at(at.max(actor.now()), ctx);
                    }
                }),
        );
    }

    /// What an attempt makes of its delivery, and of the pause machine.
    pub(super) fn judge(
        &mut self,
        delivery: &Delivery,
        probe: bool,
        started_at: DateTime<Utc>,
        tried: &Tried,
    ) -> (AttemptResult, Option<StateChange>) {
        let now = self.now();
        let jitter = rand::rng().random_range(-1.0..=1.0);
        let (status, next_attempt_at) = next_status(
            &self.trigger.definition.retry,
            Ended {
                outcome: tried.outcome,
                attempts: delivery.attempts.max(1) as u32,
                probe,
                retry_after: tried.retry_after,
            },
            now,
            jitter,
        );
        let change = match tried.outcome {
            AttemptOutcome::Delivered => self.machine.record_success(now),
            _ => self.machine.record_failure(now, delivery.attempts <= 1),
        };
        let result = AttemptResult {
            attempt: AttemptRecord {
                delivery_id: delivery.id.clone(),
                attempt: delivery.attempts,
                started_at,
                finished_at: now,
                status_code: tried.status_code,
                error: tried.error.clone(),
                duration_ms: tried.duration.as_millis() as i64,
                outcome: tried.outcome,
            },
            status,
            next_attempt_at,
        };
        (result, change)
    }

    /// Records finished attempts and their deliveries' new statuses, every result that ended meanwhile in one
    /// write (a group commit: attempts finish in bursts). A failed write is retried (the attempts happened and
    /// must be on record). The concurrency slots were given back when the attempts ended: until recorded, their
    /// deliveries are `delivering`, which no read of due work returns.
    pub(super) fn record(&mut self, ctx: &mut Context<Self>) {
        if self.recording || self.finished.is_empty() {
            return;
        }
        self.recording = true;
        let batch = std::mem::take(&mut self.finished);
        let storage = self.storage.clone();
        let id = self.trigger.id.clone();
        let write = async move {
            let results: Vec<AttemptResult> = batch.iter().map(|(r, _)| r.clone()).collect();
            let written = storage.deliveries().finish(&id, &results).await;
            (written, batch)
        };
        ctx.spawn(write.into_actor(self).map(move |(written, batch), actor, ctx| {
            actor.recording = false;
            if let Err(e) = written {
                tracing::warn!(trigger_id = %actor.trigger.id, attempts = batch.len(), error = %e, "Recording attempts failed; retrying.");
                let mut batch = batch;
                batch.append(&mut actor.finished);
                actor.finished = batch;
                ctx.run_later(STORAGE_RETRY, |actor, ctx| actor.record(ctx));
                return;
            }
            for (result, mut delivery) in batch {
                if result.status == DeliveryStatus::Failed {
                    delivery.status = DeliveryStatus::Failed;
                    delivery.last_error = result.attempt.error.clone();
                    delivery.last_status_code = result.attempt.status_code;
                    if let Some(notices) = &actor.notices {
                        notices.do_send(TriggerNotice {
                            frame_type: "delivery.failed",
                            data: delivery_failed_frame_data(&actor.trigger.name, &delivery),
                        });
                    }
                }
            }
            actor.record(ctx);
            actor.pump(ctx);
        }));
    }
}
