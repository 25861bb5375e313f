//! The evaluation writer (not an actor): a task that commits the outcome rows the directory computes, in the
//! order they were computed, several jobs per transaction when they queue up (group commit), and then wakes the
//! actors with new deliveries. A failed write is retried with capped backoff until it succeeds: an outcome is
//! never dropped.

use std::collections::HashMap;
use std::sync::Arc;

use actix::{Addr, Message, Recipient};
use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use super::actor::{FreshDeliveries, TriggerActor};
use crate::domain::StoredEvent;
use crate::redis::retry::Backoff;
use crate::storage::Storage;
use crate::trigger::Delivery;
use crate::trigger::NewDelivery;

/// Rows per transaction at most, when jobs queue up.
const MAX_ROWS_PER_WRITE: usize = 5_000;

/// A new `pending` delivery and its event, handed to its trigger's actor once committed (so the actor need not
/// read back what was just written).
#[derive(Debug)]
pub struct Fresh {
    /// The trigger.
    pub trigger: Arc<str>,
    /// Its actor.
    pub addr: Addr<TriggerActor>,
    /// The delivery as recorded.
    pub delivery: Delivery,
    /// Its event.
    pub event: StoredEvent,
}

/// One actor's share of a job's new deliveries.
type Handover = (Addr<TriggerActor>, Vec<(Delivery, StoredEvent)>);

/// The new `pending` deliveries of a job.
pub type WakeList = Vec<Fresh>;

/// Outcome rows to record, and the actors to wake once they are.
#[derive(Debug)]
pub struct EvaluationJob {
    /// The rows.
    pub rows: Vec<NewDelivery>,
    /// The actors of triggers with a new `pending` row.
    pub wake: WakeList,
    /// The events whose evaluation this job completes (they leave the evaluation ledger once it commits).
    pub settle: Vec<i64>,
    /// Told once the job is committed.
    pub done: Option<oneshot::Sender<()>>,
}

/// The outcomes of these events are committed (sent to the directory by the writer).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Settled {
    /// Their `ingressSequence`s.
    pub sequences: Vec<i64>,
}

/// Starts the writer; it ends when every sender is dropped.
pub fn spawn_evaluator(
    storage: Storage,
    settled: Recipient<Settled>,
) -> mpsc::UnboundedSender<EvaluationJob> {
    let (tx, mut rx) = mpsc::unbounded_channel::<EvaluationJob>();
    actix_rt::spawn(async move {
        while let Some(first) = rx.recv().await {
            let EvaluationJob {
                mut rows,
                mut wake,
                mut settle,
                done,
            } = first;
            let mut dones: Vec<oneshot::Sender<()>> = done.into_iter().collect();
            while rows.len() < MAX_ROWS_PER_WRITE {
                match rx.try_recv() {
                    Ok(job) => {
                        rows.extend(job.rows);
                        wake.extend(job.wake);
                        settle.extend(job.settle);
                        dones.extend(job.done);
                    }
                    Err(_) => break,
                }
            }
            let mut backoff = Backoff::new();
            loop {
                match storage.deliveries().record(rows.clone(), Utc::now()).await {
                    Ok(()) => break,
                    Err(e) => {
                        let delay = backoff.next_delay();
                        tracing::warn!(error = %e, rows = rows.len(), retry_in_ms = delay.as_millis() as u64, "Recording trigger outcomes failed; retrying.");
                        tokio::time::sleep(delay).await;
                    }
                }
            }
            let mut woken: HashMap<Arc<str>, Handover> = HashMap::new();
            for fresh in wake {
                woken
                    .entry(fresh.trigger)
                    .or_insert_with(|| (fresh.addr, Vec::new()))
                    .1
                    .push((fresh.delivery, fresh.event));
            }
            for (addr, deliveries) in woken.into_values() {
                addr.do_send(FreshDeliveries { deliveries });
            }
            if !settle.is_empty() {
                settled.do_send(Settled { sequences: settle });
            }
            for done in dones {
                let _ = done.send(());
            }
        }
    });
    tx
}
