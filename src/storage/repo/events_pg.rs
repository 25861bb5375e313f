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
//!
//! Writes go through a connection of their own ([`PgEventWriter`]), opened by the first write on the runtime that
//! writes (the ingress router's thread), rather than through the pool: a pooled connection costs a ping when it
//! is handed back, and its socket is driven by whichever runtime opened it, so every round trip under the lock
//! also waited for another thread. Owning the connection also lets the transaction start, the lock and the read
//! of the highest sequence go in one round trip, which sqlx's `Transaction` cannot (it drops the rows its `BEGIN`
//! statement returns). The connection is put back only after a write ended cleanly; a failed or cancelled write
//! drops it, which closes it and makes the server roll back, and the next write opens another.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use sqlx::{Connection as _, Executor as _, PgConnection, Row as _};
use tokio::sync::Mutex;

use super::dead_letters::insert_postgres;
use super::encoded::EncodedEvents;
use super::events::{BatchPlan, Classified, EventsRepo};
use crate::domain::{NewDeadLetter, PersistOutcome};
use crate::storage::{IDLE_BEFORE_PING, StorageError, nodelay};

/// Opens a batch transaction and takes the advisory lock that orders batch commits (see
/// [`EventsRepo::persist_batch`]), for a write that then looks up stored ids. The key is `0x6865_7261_6c64`
/// ("herald").
const BEGIN_AND_LOCK: &str = "BEGIN; SELECT pg_advisory_xact_lock(114784919972964)";

/// [`BEGIN_AND_LOCK`], then the highest stored sequence: one round trip. The read is a statement of its own, so in
/// READ COMMITTED it sees every batch committed before the lock was granted.
const BEGIN_LOCK_AND_READ_MAX: &str = "BEGIN; SELECT pg_advisory_xact_lock(114784919972964); \
SELECT COALESCE(MAX(ingress_sequence), 0) FROM workflow_events";

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

/// What event writes on PostgreSQL keep between writes; shared by every handle of one
/// [`Storage`](crate::storage::Storage).
#[derive(Default)]
pub(crate) struct PgEventWriter {
    /// The writer's connection while no write uses it, and since when it is idle. Held for a whole write: writes
    /// of one process queue here instead of on the sequence lock.
    idle: Mutex<Option<(PgConnection, Instant)>>,
    /// Whether writes look for stored ids first.
    probe: ProbeHint,
}

impl std::fmt::Debug for PgEventWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventWriter")
            .field("probe", &self.probe)
            .finish_non_exhaustive()
    }
}

/// Whether the next event writes look for stored ids before copying.
#[derive(Debug, Default)]
struct ProbeHint {
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

    /// A write looked first and found stored ids, or none.
    fn looked_up(&self, found: bool) {
        if found {
            self.found_stored_ids();
        } else {
            self.found_none();
        }
    }

    /// A write looked first and found nothing stored.
    fn found_none(&self) {
        let _ = self
            .look_first
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
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
        let mut idle = self.writer.idle.lock().await;
        let (mut conn, mut reused) = match idle.take() {
            Some((conn, since)) => (self.reuse(conn, since).await?, true),
            None => (self.open_writer().await?, false),
        };
        let started = Instant::now();
        let mut look_first = self.writer.probe.looks_first();
        let (classified, lock_wait) = loop {
            let attempt = Instant::now();
            let (sequence, existing) = match begin(&mut conn, &rows, look_first).await {
                Ok(begun) => begun,
                // The server closed the connection since the last write (a restart, a terminated backend): nothing
                // of this batch was sent, so it is written on a new one.
                Err(e) if reused && connection_lost(&e) => {
                    tracing::info!(error.message = %e, "The event writer's connection was closed; opening another.");
                    conn = self.open_writer().await?;
                    reused = false;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if look_first {
                self.writer.probe.looked_up(!existing.is_empty());
            }
            let lock_wait = attempt.elapsed();
            match copy_rows(&mut conn, plan, &rows, look_first, sequence, existing).await? {
                Some(classified) => break (classified, lock_wait),
                None => {
                    tracing::debug!("A batch met a stored id; writing it again, looking first.");
                    self.writer.probe.found_stored_ids();
                    look_first = true;
                }
            }
        };
        dead_letters.extend(classified.conflict_dead_letters);
        let writes_done = started.elapsed();
        insert_postgres(&mut conn, dead_letters).await?;
        conn.execute("COMMIT").await?;
        *idle = Some((conn, Instant::now()));
        // Where a batch's time goes: the lock (with the read of the highest sequence), the rows, the commit.
        tracing::debug!(
            lock_wait_ms = lock_wait.as_secs_f64() * 1e3,
            insert_ms = (writes_done - lock_wait).as_secs_f64() * 1e3,
            commit_ms = (started.elapsed() - writes_done).as_secs_f64() * 1e3,
            look_first,
            "Batch written."
        );
        Ok(classified.outcome)
    }

    /// The idle writer connection, pinged first when it sat idle long enough to have been dropped by a server,
    /// proxy or firewall; a new one when that ping fails.
    async fn reuse(
        &self,
        mut conn: PgConnection,
        since: Instant,
    ) -> Result<PgConnection, StorageError> {
        if since.elapsed() < IDLE_BEFORE_PING || conn.ping().await.is_ok() {
            return Ok(conn);
        }
        self.open_writer().await
    }

    /// A new writer connection, with the pool's settings, on this runtime.
    async fn open_writer(&self) -> Result<PgConnection, StorageError> {
        let options = self.write.get_postgres_connection_pool().connect_options();
        let conn = PgConnection::connect_with(&options).await?;
        nodelay::enable_on_open_sockets();
        Ok(conn)
    }
}

/// Whether `e` says the connection is gone (I/O, or the server's connection and shutdown error classes).
fn connection_lost(e: &StorageError) -> bool {
    match e {
        StorageError::Sqlx(sqlx::Error::Io(_)) => true,
        StorageError::Sqlx(sqlx::Error::Database(e)) => e
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// Begins the batch's transaction under the lock: the highest stored sequence, and (`look_first`) which of the
/// rows' ids are stored, with their content hashes.
async fn begin(
    conn: &mut PgConnection,
    rows: &[(&str, Cow<'_, str>)],
    look_first: bool,
) -> Result<(i64, HashMap<String, String>), StorageError> {
    if look_first {
        conn.execute(BEGIN_AND_LOCK).await?;
        return look_up_stored(conn, rows).await;
    }
    let answers = sqlx::raw_sql(BEGIN_LOCK_AND_READ_MAX)
        .fetch_all(&mut *conn)
        .await?;
    // The lock's row, then the highest sequence's.
    let max = match answers.last() {
        Some(row) => row.try_get::<i64, _>(0)?,
        None => 0,
    };
    Ok((max, HashMap::new()))
}

/// Copies the rows whose ids are not stored, numbered after `sequence`, and classifies the batch. `None` when the
/// copy met a stored id without looking first: the transaction is rolled back. Looking first, a stored id is an
/// error (something wrote without the lock).
async fn copy_rows(
    conn: &mut PgConnection,
    plan: &BatchPlan<'_>,
    rows: &[(&str, Cow<'_, str>)],
    look_first: bool,
    mut sequence: i64,
    existing: HashMap<String, String>,
) -> Result<Option<Classified>, StorageError> {
    let mut inserted = HashMap::with_capacity(rows.len());
    if existing.len() < rows.len() {
        let mut copy = conn.copy_in_raw(COPY_EVENTS).await?;
        let mut chunk = Vec::with_capacity(COPY_CHUNK_BYTES + 4 * 1024);
        for (id, line) in rows.iter().filter(|(id, _)| !existing.contains_key(*id)) {
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
                conn.execute("ROLLBACK").await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(plan.classify(&inserted, &existing)))
}

/// Which of `rows`' ids are stored (id → content hash), and the highest stored sequence.
async fn look_up_stored(
    conn: &mut PgConnection,
    rows: &[(&str, Cow<'_, str>)],
) -> Result<(i64, HashMap<String, String>), StorageError> {
    let ids: Vec<&str> = rows.iter().map(|(id, _)| *id).collect();
    let found: Vec<(Option<String>, Option<String>, Option<i64>)> = sqlx::query_as(LOOK_UP_STORED)
        .bind(&ids)
        .fetch_all(&mut *conn)
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
