//! The PostgreSQL write of an events batch: under the sequence lock, the new rows go in with one
//! `COPY … FROM STDIN (FORMAT csv)`, numbered after the highest stored sequence.
//!
//! Every writer of `workflow_events` holds the same lock, so no id can appear between the read of the highest
//! sequence and the copy: this is what lets a plain COPY replace `INSERT … SELECT FROM UNNEST(…) ON CONFLICT DO
//! NOTHING RETURNING`, whose speculative insertion and per-row executor cost about a quarter of the write, all of
//! it while the lock is held. Each row's CSV but its sequence is written before the lock is taken (see
//! [`super::encoded`]).
//!
//! A batch rarely holds an id that is already stored (a reclaimed entry, a publisher sending again), so a write
//! copies without looking first. When the copy meets a stored id, the primary key refuses it, the transaction
//! rolls back whole, and the batch is written again looking first: one query reads which ids are stored (with
//! their content hashes) and the highest sequence, and only new ids are copied. [`ProbeHint`] then keeps looking
//! first for a while, since stored ids come in runs. Either way a batch is stored once or not at all: a retry,
//! never a lost or doubled event.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Postgres, Transaction};

use super::dead_letters::insert_postgres;
use super::encoded::EncodedEvents;
use super::events::{BatchPlan, Classified, EventsRepo};
use crate::domain::{NewDeadLetter, PersistOutcome};
use crate::storage::StorageError;

/// Opens a batch transaction and takes the advisory lock that orders batch commits (see
/// [`EventsRepo::persist_batch`]) in one round trip. The key is `0x6865_7261_6c64` ("herald").
const BEGIN_AND_LOCK: &str = "BEGIN; SELECT pg_advisory_xact_lock(114784919972964)";

/// The highest stored sequence, read under the lock.
const MAX_SEQUENCE: &str = "SELECT COALESCE(MAX(ingress_sequence), 0) FROM workflow_events";

/// Which of the batch's ids (`$1`) are stored, with their content hashes, and (in a row of its own) the highest
/// sequence: one round trip under the lock.
const LOOK_UP_STORED: &str = "\
SELECT id, content_hash, NULL::bigint FROM workflow_events WHERE id = ANY($1::text[])
UNION ALL
SELECT NULL, NULL, COALESCE(MAX(ingress_sequence), 0) FROM workflow_events";

/// The new rows, as CSV in this column order ([`super::encoded::copy_line`] writes all but the sequence).
const COPY_EVENTS: &str = "COPY workflow_events (ingress_sequence, id, type, source, occurred_at, received_at, \
payload, correlation_id, causation_id, ttl_ms, metadata, content_hash, stream_id, severity, schema_version) FROM STDIN WITH (FORMAT csv)";

/// How much CSV is sent to the server at a time: a batch of 2,000 events is about a megabyte, which in one
/// buffer is a fresh allocation (and fresh pages) per write, copied once more into the connection's buffer.
const COPY_CHUNK_BYTES: usize = 128 * 1024;

/// After a copy met a stored id, how many writes look first.
const LOOK_FIRST_AFTER_STORED_ID: u32 = 16;

/// Whether the next event writes look for stored ids before copying; shared by every handle of one
/// [`Storage`](crate::storage::Storage).
#[derive(Debug, Default)]
pub(crate) struct ProbeHint {
    /// Writes left that look first; each that finds no stored id counts one down.
    look_first: AtomicU32,
}

impl ProbeHint {
    fn looks_first(&self) -> bool {
        self.look_first.load(Ordering::Relaxed) > 0
    }

    /// A write found (or met) stored ids: the next ones look first.
    fn found_stored_ids(&self) {
        self.look_first
            .store(LOOK_FIRST_AFTER_STORED_ID, Ordering::Relaxed);
    }

    /// A write looked first and found nothing stored.
    fn found_none(&self) {
        let _ = self
            .look_first
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

/// How a copy attempt ended.
enum Copied<'c> {
    /// Rows copied; the transaction is open, for the dead letters and the commit.
    Written {
        tx: Transaction<'c, Postgres>,
        classified: Classified,
        lock_wait: Duration,
    },
    /// The copy met a stored id (it did not look first) and was rolled back.
    MetStoredId,
}

impl EventsRepo<'_> {
    /// Writes the batch's new rows and dead letters in one transaction (see the module's text).
    pub(super) async fn persist_postgres(
        &self,
        plan: &BatchPlan<'_>,
        encoded: &EncodedEvents,
        mut dead_letters: Vec<NewDeadLetter>,
    ) -> Result<PersistOutcome, StorageError> {
        let rows: Vec<(&str, Cow<'_, str>)> = plan
            .unique
            .iter()
            .map(|&i| (plan.batch[i].envelope.id.as_str(), encoded.copy_line(i)))
            .collect();
        let started = Instant::now();
        let mut look_first = self.probe.looks_first();
        let (mut tx, classified, lock_wait) = loop {
            match self.copy_rows(plan, &rows, look_first).await? {
                Copied::Written {
                    tx,
                    classified,
                    lock_wait,
                } => break (tx, classified, lock_wait),
                Copied::MetStoredId => {
                    tracing::debug!("A batch met a stored id; writing it again, looking first.");
                    self.probe.found_stored_ids();
                    look_first = true;
                }
            }
        };
        dead_letters.extend(classified.conflict_dead_letters);
        let writes_done = started.elapsed();
        insert_postgres(&mut tx, dead_letters).await?;
        tx.commit().await?;
        // Where a batch's time goes: waiting for the sequence lock (other batches), the insert, the commit.
        tracing::debug!(
            lock_wait_ms = lock_wait.as_secs_f64() * 1e3,
            insert_ms = (writes_done - lock_wait).as_secs_f64() * 1e3,
            commit_ms = (started.elapsed() - writes_done).as_secs_f64() * 1e3,
            look_first,
            "Batch written."
        );
        Ok(classified.outcome)
    }

    /// One attempt: lock, read the highest sequence (and, `look_first`, which ids are stored), copy the rows
    /// whose ids are not. Without looking first, a stored id rolls the attempt back ([`Copied::MetStoredId`]);
    /// looking first, it is an error (something wrote without the lock).
    async fn copy_rows(
        &self,
        plan: &BatchPlan<'_>,
        rows: &[(&str, Cow<'_, str>)],
        look_first: bool,
    ) -> Result<Copied<'static>, StorageError> {
        let started = Instant::now();
        let mut tx = self
            .write
            .get_postgres_connection_pool()
            .begin_with(BEGIN_AND_LOCK)
            .await?;
        let lock_wait = started.elapsed();
        let mut existing = HashMap::new();
        let mut inserted = HashMap::with_capacity(rows.len());
        if !rows.is_empty() {
            let mut sequence = if look_first {
                let (max, found) = look_up_stored(&mut tx, rows).await?;
                existing = found;
                if existing.is_empty() {
                    self.probe.found_none();
                } else {
                    self.probe.found_stored_ids();
                }
                max
            } else {
                sqlx::query_scalar::<_, i64>(MAX_SEQUENCE)
                    .fetch_one(&mut *tx)
                    .await?
            };
            let new_rows = rows.iter().filter(|(id, _)| !existing.contains_key(*id));
            if existing.len() < rows.len() {
                let mut copy = tx.copy_in_raw(COPY_EVENTS).await?;
                let mut chunk = Vec::with_capacity(COPY_CHUNK_BYTES + 4 * 1024);
                for (id, line) in new_rows {
                    sequence += 1;
                    inserted.insert((*id).to_owned(), sequence);
                    // unwrap: writing into a Vec cannot fail.
                    write!(chunk, "{sequence}").expect("a Vec accepts every write");
                    chunk.extend_from_slice(line.as_bytes());
                    if chunk.len() >= COPY_CHUNK_BYTES {
                        copy.send(chunk.as_slice()).await?;
                        chunk.clear();
                    }
                }
                if !chunk.is_empty() {
                    copy.send(chunk.as_slice()).await?;
                }
                match copy.finish().await {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(e))
                        if !look_first && e.kind() == sqlx::error::ErrorKind::UniqueViolation =>
                    {
                        tx.rollback().await?;
                        return Ok(Copied::MetStoredId);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(Copied::Written {
            tx,
            classified: plan.classify(&inserted, &existing),
            lock_wait,
        })
    }
}

/// Which of `rows`' ids are stored (id → content hash), and the highest stored sequence.
async fn look_up_stored(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[(&str, Cow<'_, str>)],
) -> Result<(i64, HashMap<String, String>), StorageError> {
    let ids: Vec<&str> = rows.iter().map(|(id, _)| *id).collect();
    let found: Vec<(Option<String>, Option<String>, Option<i64>)> = sqlx::query_as(LOOK_UP_STORED)
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await?;
    let mut max_sequence = 0;
    let mut existing = HashMap::new();
    for row in found {
        match row {
            (Some(id), Some(hash), _) => {
                existing.insert(id, hash);
            }
            (_, _, Some(max)) => max_sequence = max,
            _ => {}
        }
    }
    Ok((max_sequence, existing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_look_first_after_a_stored_id_until_a_run_of_them_finds_none() {
        let hint = ProbeHint::default();
        assert!(!hint.looks_first(), "a new storage copies straight away");
        hint.found_stored_ids();
        for _ in 1..LOOK_FIRST_AFTER_STORED_ID {
            hint.found_none();
            assert!(hint.looks_first());
        }
        hint.found_stored_ids();
        for _ in 0..LOOK_FIRST_AFTER_STORED_ID {
            assert!(hint.looks_first(), "finding one again starts the run over");
            hint.found_none();
        }
        assert!(!hint.looks_first());
        hint.found_none();
        assert!(!hint.looks_first(), "the count stops at zero");
    }
}
