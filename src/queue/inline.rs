//! The inline adapter: an in-process queue in front of the router that groups concurrent requests into one
//! batch (one transaction) and answers each request once its batch is committed.

use std::sync::Arc;

use actix::Recipient;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::{PublishOutcome, QueueError};
use crate::actors::IngestBatch;
use crate::domain::Envelope;
use crate::ingest::{EntryOutcome, IngressEntry};

/// Most envelopes grouped into one batch (the same cap as a stream read).
const MAX_BATCH_ENVELOPES: usize = 500;

/// Requests waiting to be batched; beyond this, publishers wait (backpressure instead of unbounded memory).
const QUEUE_CAPACITY: usize = 1024;

struct Submission {
    envelopes: Vec<Envelope>,
    reply: oneshot::Sender<Result<Vec<EntryOutcome>, QueueError>>,
}

/// The sending side of the in-process queue; cheap to clone.
#[derive(Clone)]
pub struct InlineQueue {
    tx: mpsc::Sender<Submission>,
    rx: Arc<std::sync::Mutex<Option<mpsc::Receiver<Submission>>>>,
    concurrency: usize,
}

impl InlineQueue {
    /// A queue whose batcher, once started, keeps up to `concurrency` batches in flight.
    pub fn new(concurrency: usize) -> InlineQueue {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        InlineQueue {
            tx,
            rx: Arc::new(std::sync::Mutex::new(Some(rx))),
            concurrency,
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
        self.tx
            .send(Submission { envelopes, reply })
            .await
            .map_err(|_| QueueError::ShuttingDown)?;
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
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let router = router.clone();
                actix_rt::spawn(async move {
                    run_batch(batch, &router).await;
                    drop(permit);
                });
            }
            // Answer whatever is still queued so that no publisher waits forever, then wait for batches in flight.
            rx.close();
            while let Some(submission) = rx.recv().await {
                run_batch(vec![submission], &router).await;
            }
            let _ = permits.acquire_many(concurrency).await;
            tracing::info!("Inline queue drained.");
        })
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
            for reply in replies {
                let _ = reply.send(Err(QueueError::Persist(e.to_string())));
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
