//! The inline adapter: an in-process queue in front of the router that groups concurrent requests into one
//! batch (one transaction) and answers each request once its batch is committed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix::Recipient;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::{IngestBatch, PublishOutcome, QueueError, QueueHealth};
use crate::domain::Envelope;
use crate::ingest::{EntryOutcome, IngressEntry};

/// Most envelopes grouped into one batch (the same cap as a stream read).
const MAX_BATCH_ENVELOPES: usize = 500;

/// Requests waiting to be batched; beyond this, publishers wait (backpressure instead of unbounded memory).
const QUEUE_CAPACITY: usize = 1024;

struct Submission {
    envelopes: Vec<Envelope>,
    reply: oneshot::Sender<Result<Vec<EntryOutcome>, QueueError>>,
    enqueued_at: Instant,
}

/// What health reports about the in-process queue; updated by publishers and the batcher.
#[derive(Default)]
struct Gauges {
    /// Envelopes waiting on the channel for the batcher.
    queued: AtomicU64,
    /// Envelopes in batches handed to the router and not yet answered.
    in_flight: AtomicU64,
    /// Batch number → when its oldest submission was enqueued, for every batch not yet answered (at most
    /// `concurrency` + 1 entries).
    batches: std::sync::Mutex<BTreeMap<u64, Instant>>,
    next_batch: AtomicU64,
}

/// The sending side of the in-process queue; cheap to clone.
#[derive(Clone)]
pub struct InlineQueue {
    tx: mpsc::Sender<Submission>,
    rx: Arc<std::sync::Mutex<Option<mpsc::Receiver<Submission>>>>,
    concurrency: usize,
    gauges: Arc<Gauges>,
}

impl InlineQueue {
    /// A queue whose batcher, once started, keeps up to `concurrency` batches in flight.
    pub fn new(concurrency: usize) -> InlineQueue {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        InlineQueue {
            tx,
            rx: Arc::new(std::sync::Mutex::new(Some(rx))),
            concurrency,
            gauges: Arc::new(Gauges::default()),
        }
    }

    /// Depth (envelopes waiting for the batcher), pending (envelopes being persisted), the age of the oldest
    /// unanswered batch, and one consumer (the batcher).
    pub fn health(&self) -> QueueHealth {
        let oldest = self
            .gauges
            .batches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .min()
            .map(|at| u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX));
        QueueHealth {
            depth: self.gauges.queued.load(Ordering::Relaxed),
            pending: self.gauges.in_flight.load(Ordering::Relaxed),
            oldest_pending_age_ms: oldest,
            consumers: 1,
            length: None,
        }
    }

    /// Persists `envelopes` and answers each one's outcome.
    ///
    /// # Errors
    /// [`QueueError::ShuttingDown`] once the batcher has stopped; [`QueueError::Persist`] when the batch could not
    /// be persisted (nothing of it was accepted).
    pub async fn publish(
        &self,
        envelopes: Vec<Envelope>,
    ) -> Result<Vec<PublishOutcome>, QueueError> {
        let ids: Vec<_> = envelopes.iter().map(|e| e.id.clone()).collect();
        let (reply, answer) = oneshot::channel();
        let count = envelopes.len() as u64;
        self.gauges.queued.fetch_add(count, Ordering::Relaxed);
        let sent = self
            .tx
            .send(Submission {
                envelopes,
                reply,
                enqueued_at: Instant::now(),
            })
            .await;
        if sent.is_err() {
            self.gauges.queued.fetch_sub(count, Ordering::Relaxed);
            return Err(QueueError::ShuttingDown);
        }
        let outcomes = answer.await.map_err(|_| QueueError::ShuttingDown)??;
        Ok(ids
            .into_iter()
            .zip(outcomes)
            .map(|(id, outcome)| match outcome {
                EntryOutcome::Stored(_) => PublishOutcome::Accepted {
                    id,
                    duplicate: false,
                },
                EntryOutcome::Duplicate => PublishOutcome::Accepted {
                    id,
                    duplicate: true,
                },
                // Envelopes were validated before they were queued, so a dead letter cannot happen here; a
                // conflict is the only refusal persistence can give.
                EntryOutcome::Conflict | EntryOutcome::DeadLettered(_) => {
                    PublishOutcome::Conflict { id }
                }
            })
            .collect())
    }

    /// Starts the batcher. It runs until `shutdown` turns true, then answers what is queued and stops.
    pub fn start(
        &self,
        router: Recipient<IngestBatch>,
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        // unwrap: the mutex is never held across a panic.
        let rx = self.rx.lock().unwrap().take();
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let concurrency = self.concurrency as u32;
        let gauges = self.gauges.clone();
        actix_rt::spawn(async move {
            let Some(mut rx) = rx else {
                tracing::error!("Inline queue started twice.");
                return;
            };
            loop {
                let first = tokio::select! {
                    next = rx.recv() => match next { Some(s) => s, None => break },
                    _ = shutdown.wait_for(|stop| *stop) => break,
                };
                let batch = collect_batch(first, &mut rx);
                let tracked = gauges.track(&batch);
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let router = router.clone();
                let gauges = gauges.clone();
                actix_rt::spawn(async move {
                    run_batch(batch, &router).await;
                    gauges.done(tracked);
                    drop(permit);
                });
            }
            // Answer whatever is still queued so that no publisher waits forever, then wait for batches in flight.
            rx.close();
            while let Some(submission) = rx.recv().await {
                let batch = vec![submission];
                let tracked = gauges.track(&batch);
                run_batch(batch, &router).await;
                gauges.done(tracked);
            }
            let _ = permits.acquire_many(concurrency).await;
            tracing::info!("Inline queue drained.");
        })
    }
}

impl Gauges {
    /// Moves a collected batch from queued to in flight; answers its number and size for [`Gauges::done`].
    fn track(&self, batch: &[Submission]) -> (u64, u64) {
        let size: u64 = batch.iter().map(|s| s.envelopes.len() as u64).sum();
        let oldest = batch
            .iter()
            .map(|s| s.enqueued_at)
            .min()
            .unwrap_or_else(Instant::now);
        let number = self.next_batch.fetch_add(1, Ordering::Relaxed);
        self.queued.fetch_sub(size, Ordering::Relaxed);
        self.in_flight.fetch_add(size, Ordering::Relaxed);
        self.batches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(number, oldest);
        (number, size)
    }

    /// The batch numbered by [`Gauges::track`] has been answered.
    fn done(&self, (number, size): (u64, u64)) {
        self.in_flight.fetch_sub(size, Ordering::Relaxed);
        self.batches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&number);
    }
}

fn collect_batch(first: Submission, rx: &mut mpsc::Receiver<Submission>) -> Vec<Submission> {
    let mut size = first.envelopes.len();
    let mut batch = vec![first];
    while size < MAX_BATCH_ENVELOPES {
        match rx.try_recv() {
            Ok(next) => {
                size += next.envelopes.len();
                batch.push(next);
            }
            Err(_) => break,
        }
    }
    batch
}

async fn run_batch(batch: Vec<Submission>, router: &Recipient<IngestBatch>) {
    let counts: Vec<usize> = batch.iter().map(|s| s.envelopes.len()).collect();
    let mut replies = Vec::with_capacity(batch.len());
    let mut entries = Vec::with_capacity(counts.iter().sum());
    for submission in batch {
        entries.extend(submission.envelopes.into_iter().map(IngressEntry::Envelope));
        replies.push(submission.reply);
    }
    match router.send(IngestBatch { entries }).await {
        Ok(Ok(outcomes)) => {
            let mut outcomes = outcomes.into_iter();
            for (reply, count) in replies.into_iter().zip(counts) {
                let _ = reply.send(Ok(outcomes.by_ref().take(count).collect()));
            }
        }
        Ok(Err(e)) => {
            tracing::error!(error.message = %e, error.cause_chain = ?e, "Inline batch could not be persisted.");
            let e = Arc::new(e);
            for reply in replies {
                let _ = reply.send(Err(QueueError::Persist(e.clone())));
            }
        }
        Err(e) => {
            tracing::error!(error.message = %e, "Ingress router is not reachable.");
            for reply in replies {
                let _ = reply.send(Err(QueueError::ShuttingDown));
            }
        }
    }
}
