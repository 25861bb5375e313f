//! Events: the batch insert at the heart of ingest, and look-ups by id.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QuerySelect, Statement, TransactionTrait, TryInsertResult,
};
use serde_json::Value;

use super::dead_letters::{insert_in, insert_postgres};
use super::rows::{event_from_model, event_row};
use crate::domain::{
    ErrorCode, EventOutcome, NewDeadLetter, NewEvent, PersistOutcome, StoredEvent,
};
use crate::storage::StorageError;
use crate::storage::entity::workflow_events as events;

/// Opens a batch transaction and takes the advisory lock that orders batch commits (see
/// [`EventsRepo::persist_batch`]) in one round trip. The key is `0x6865_7261_6c64` ("herald").
const BEGIN_AND_LOCK: &str = "BEGIN; SELECT pg_advisory_xact_lock(114784919972964)";

/// Repository of `workflow_events`.
pub struct EventsRepo<'a> {
    write: &'a DatabaseConnection,
    read: &'a DatabaseConnection,
}

impl<'a> EventsRepo<'a> {
    pub(crate) fn new(write: &'a DatabaseConnection, read: &'a DatabaseConnection) -> Self {
        EventsRepo { write, read }
    }

    /// The connection that serves reads.
    pub(super) fn read(&self) -> &'a DatabaseConnection {
        self.read
    }

    /// Stores a batch in one transaction: one multi-row `INSERT … ON CONFLICT (id) DO NOTHING RETURNING id`, the
    /// batch's dead letters, and dead letters for stream entries whose id turns out to conflict.
    ///
    /// Sequences are assigned in commit order: the transaction first takes a lock that every batch takes (an
    /// advisory lock on PostgreSQL, the single write connection on SQLite), then numbers its rows after the
    /// current maximum. A reader that has seen sequence N can therefore never later find a new event below N,
    /// which is what keeps cursors and WebSocket `since` gap-free. Rows that turn out to be duplicates leave gaps,
    /// which is harmless.
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing of the batch is stored then.
    #[tracing::instrument(name = "persist_batch", skip_all, fields(events = batch.len(), dead_letters = dead_letters.len()))]
    pub async fn persist_batch(
        &self,
        batch: Vec<NewEvent>,
        dead_letters: Vec<NewDeadLetter>,
    ) -> Result<PersistOutcome, StorageError> {
        let plan = BatchPlan::new(&batch);
        let started = std::time::Instant::now();
        let mut outcome = match self.write.get_database_backend() {
            DbBackend::Postgres => self.persist_postgres(&plan, dead_letters).await?,
            _ => self.persist_generic(&plan, dead_letters).await?,
        };
        drop(plan);
        // Rows are numbered in batch order, so the stored events come out in `ingressSequence` order.
        outcome.stored = batch
            .into_iter()
            .zip(&outcome.outcomes)
            .filter_map(|(event, result)| match *result {
                EventOutcome::Stored(sequence) => Some(event.into_stored(sequence)),
                _ => None,
            })
            .collect();
        tracing::debug!(
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "Batch persisted."
        );
        Ok(outcome)
    }

    /// PostgreSQL: every column travels as one array parameter and `UNNEST … WITH ORDINALITY` numbers the rows
    /// after the current maximum, so the statement is prepared once, built before the lock is taken, and the lock
    /// is held for two round trips and the commit.
    async fn persist_postgres(
        &self,
        plan: &BatchPlan<'_>,
        mut dead_letters: Vec<NewDeadLetter>,
    ) -> Result<PersistOutcome, StorageError> {
        let columns = plan.columns();
        let started = std::time::Instant::now();
        let mut tx = self
            .write
            .get_postgres_connection_pool()
            .begin_with(BEGIN_AND_LOCK)
            .await?;
        let lock_wait = started.elapsed();
        let mut inserted = HashMap::new();
        let mut existing = HashMap::new();
        if !plan.unique.is_empty() {
            let rows: Vec<(String, i64)> = sqlx::query_as(POSTGRES_INSERT)
                .bind(columns.ids)
                .bind(columns.types)
                .bind(columns.sources)
                .bind(columns.occurred_at)
                .bind(columns.received_at)
                .bind(columns.payloads)
                .bind(columns.correlation_ids)
                .bind(columns.causation_ids)
                .bind(columns.ttl_ms)
                .bind(columns.metadata)
                .bind(columns.content_hashes)
                .bind(columns.stream_ids)
                .bind(columns.severities)
                .fetch_all(&mut *tx)
                .await?;
            inserted = rows.into_iter().collect();
            let missing = plan.not_inserted(&inserted);
            if !missing.is_empty() {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT id, content_hash FROM workflow_events WHERE id = ANY($1)",
                )
                .bind(missing)
                .fetch_all(&mut *tx)
                .await?;
                existing = rows.into_iter().collect();
            }
        }
        let classified = plan.classify(&inserted, &existing);
        dead_letters.extend(classified.conflict_dead_letters);
        let writes_done = started.elapsed();
        insert_postgres(&mut tx, dead_letters).await?;
        tx.commit().await?;
        // Where a batch's time goes: waiting for the sequence lock (other batches), the insert, the commit.
        tracing::debug!(
            lock_wait_ms = lock_wait.as_secs_f64() * 1e3,
            insert_ms = (writes_done - lock_wait).as_secs_f64() * 1e3,
            commit_ms = (started.elapsed() - writes_done).as_secs_f64() * 1e3,
            "Batch written."
        );
        Ok(classified.outcome)
    }

    /// SQLite (and any other backend): the single write connection is the lock; rows are numbered in Rust and
    /// inserted with one multi-row `INSERT … ON CONFLICT (id) DO NOTHING RETURNING id`.
    async fn persist_generic(
        &self,
        plan: &BatchPlan<'_>,
        mut dead_letters: Vec<NewDeadLetter>,
    ) -> Result<PersistOutcome, StorageError> {
        let txn = self.write.begin().await?;
        let mut inserted = HashMap::new();
        let mut existing = HashMap::new();
        if !plan.unique.is_empty() {
            let max: i64 = txn
                .query_one_raw(Statement::from_string(
                    txn.get_database_backend(),
                    "SELECT COALESCE(MAX(ingress_sequence), 0) AS m FROM workflow_events",
                ))
                .await?
                .map(|row| row.try_get::<i64>("", "m"))
                .transpose()?
                .unwrap_or(0);
            let sequence_of = |position: usize| max + position as i64 + 1;
            let rows = plan.unique.iter().enumerate().map(|(position, &index)| {
                event_row(
                    &plan.batch[index],
                    sequence_of(position),
                    plan.hashes[index].clone(),
                )
                .into_active_model()
            });
            let keys: HashSet<String> = match events::Entity::insert_many(rows)
                .on_conflict_do_nothing()
                .exec_with_returning_keys(&txn)
                .await?
            {
                TryInsertResult::Inserted(ids) => ids.into_iter().collect(),
                TryInsertResult::Empty | TryInsertResult::Conflicted => HashSet::new(),
            };
            for (position, &index) in plan.unique.iter().enumerate() {
                let id = plan.batch[index].envelope.id.as_str();
                if keys.contains(id) {
                    inserted.insert(id.to_owned(), sequence_of(position));
                }
            }
            let missing = plan.not_inserted(&inserted);
            if !missing.is_empty() {
                existing = events::Entity::find()
                    .select_only()
                    .column(events::Column::Id)
                    .column(events::Column::ContentHash)
                    .filter(events::Column::Id.is_in(missing))
                    .into_tuple::<(String, String)>()
                    .all(&txn)
                    .await?
                    .into_iter()
                    .collect();
            }
        }
        let classified = plan.classify(&inserted, &existing);
        dead_letters.extend(classified.conflict_dead_letters);
        insert_in(&txn, dead_letters).await?;
        txn.commit().await?;
        Ok(classified.outcome)
    }

    /// The stored content hash of each of `ids` that exists, for the redis-mode duplicate check before `XADD`.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn content_hashes(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, String>, StorageError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(events::Entity::find()
            .select_only()
            .column(events::Column::Id)
            .column(events::Column::ContentHash)
            .filter(events::Column::Id.is_in(ids.iter().copied()))
            .into_tuple::<(String, String)>()
            .all(self.read)
            .await?
            .into_iter()
            .collect())
    }

    /// One event by id.
    ///
    /// # Errors
    /// [`StorageError::Database`], or [`StorageError::Corrupt`] when the stored row no longer parses.
    #[tracing::instrument(name = "find_event", skip(self))]
    pub async fn find(&self, id: &str) -> Result<Option<StoredEvent>, StorageError> {
        let row = events::Entity::find_by_id(id.to_owned())
            .one(self.read)
            .await?;
        row.map(event_from_model).transpose()
    }
}

/// Rows inserted by `INSERT … SELECT FROM UNNEST(…) WITH ORDINALITY`: one array per column, numbered after the
/// current maximum (read once, after the advisory lock).
const POSTGRES_INSERT: &str = "\
INSERT INTO workflow_events (id, ingress_sequence, type, source, occurred_at, received_at, payload, correlation_id, \
  causation_id, ttl_ms, metadata, content_hash, stream_id, severity)
SELECT u.id, m.max_sequence + u.ord, u.type, u.source, u.occurred_at, u.received_at, u.payload::jsonb, \
  u.correlation_id, u.causation_id, u.ttl_ms, u.metadata::jsonb, u.content_hash, u.stream_id, u.severity
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[], \
  $8::text[], $9::int8[], $10::text[], $11::text[], $12::text[], $13::text[])
  WITH ORDINALITY AS u(id, type, source, occurred_at, received_at, payload, correlation_id, causation_id, ttl_ms, \
  metadata, content_hash, stream_id, severity, ord)
CROSS JOIN (SELECT COALESCE(MAX(ingress_sequence), 0) AS max_sequence FROM workflow_events) AS m
ON CONFLICT (id) DO NOTHING
RETURNING id, ingress_sequence";

/// A batch before it meets the database: content hashes, and which entry of each id is the one to insert (the
/// first; later ones are compared to it).
struct BatchPlan<'a> {
    batch: &'a [NewEvent],
    hashes: Vec<String>,
    first_index: HashMap<&'a str, usize>,
    /// Indexes of first occurrences, in batch order; a row's sequence is the maximum plus its position + 1.
    unique: Vec<usize>,
}

/// The batch's rows as one array per column (PostgreSQL).
struct Columns {
    ids: Vec<String>,
    types: Vec<String>,
    sources: Vec<String>,
    occurred_at: Vec<DateTime<Utc>>,
    received_at: Vec<DateTime<Utc>>,
    payloads: Vec<String>,
    correlation_ids: Vec<Option<String>>,
    causation_ids: Vec<Option<String>>,
    ttl_ms: Vec<Option<i64>>,
    metadata: Vec<Option<String>>,
    content_hashes: Vec<String>,
    stream_ids: Vec<Option<String>>,
    severities: Vec<&'static str>,
}

/// What a batch's writes came to.
struct Classified {
    outcome: PersistOutcome,
    conflict_dead_letters: Vec<NewDeadLetter>,
}

impl<'a> BatchPlan<'a> {
    fn new(batch: &'a [NewEvent]) -> BatchPlan<'a> {
        let hashes: Vec<String> = batch.iter().map(|e| e.envelope.content_hash()).collect();
        let mut first_index = HashMap::with_capacity(batch.len());
        let mut unique = Vec::with_capacity(batch.len());
        for (index, event) in batch.iter().enumerate() {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                first_index.entry(event.envelope.id.as_str())
            {
                slot.insert(index);
                unique.push(index);
            }
        }
        BatchPlan {
            batch,
            hashes,
            first_index,
            unique,
        }
    }

    fn columns(&self) -> Columns {
        let n = self.unique.len();
        let mut c = Columns {
            ids: Vec::with_capacity(n),
            types: Vec::with_capacity(n),
            sources: Vec::with_capacity(n),
            occurred_at: Vec::with_capacity(n),
            received_at: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            correlation_ids: Vec::with_capacity(n),
            causation_ids: Vec::with_capacity(n),
            ttl_ms: Vec::with_capacity(n),
            metadata: Vec::with_capacity(n),
            content_hashes: Vec::with_capacity(n),
            stream_ids: Vec::with_capacity(n),
            severities: Vec::with_capacity(n),
        };
        for &index in &self.unique {
            let event = &self.batch[index];
            let e = &event.envelope;
            c.ids.push(e.id.to_string());
            c.types.push(e.event_type.to_string());
            c.sources.push(e.source.to_string());
            c.occurred_at.push(e.occurred_at);
            c.received_at.push(event.received_at);
            c.payloads.push(e.payload.to_string());
            c.correlation_ids
                .push(e.correlation_id.as_ref().map(ToString::to_string));
            c.causation_ids
                .push(e.causation_id.as_ref().map(ToString::to_string));
            c.ttl_ms.push(e.ttl_ms);
            c.metadata.push(
                e.metadata
                    .as_ref()
                    .map(|m| Value::Object(m.clone()).to_string()),
            );
            c.content_hashes.push(self.hashes[index].clone());
            c.stream_ids.push(event.stream_id.clone());
            c.severities.push(event.severity.as_str());
        }
        c
    }

    /// Ids of first occurrences that were not inserted (already stored).
    fn not_inserted(&self, inserted: &HashMap<String, i64>) -> Vec<String> {
        self.unique
            .iter()
            .map(|&i| self.batch[i].envelope.id.as_str())
            .filter(|id| !inserted.contains_key(*id))
            .map(str::to_owned)
            .collect()
    }

    /// Each event's outcome from what was inserted (`id → sequence`) and the stored hashes of the rest.
    fn classify(
        &self,
        inserted: &HashMap<String, i64>,
        existing: &HashMap<String, String>,
    ) -> Classified {
        let mut outcomes = Vec::with_capacity(self.batch.len());
        let mut conflict_dead_letters = Vec::new();
        for (index, event) in self.batch.iter().enumerate() {
            let id = event.envelope.id.as_str();
            let first = self.first_index[id];
            let stored_hash = match inserted.get(id) {
                Some(&sequence) if first == index => {
                    outcomes.push(EventOutcome::Stored(sequence));
                    continue;
                }
                Some(_) => Some(&self.hashes[first]),
                None => existing.get(id),
            };
            let outcome = match stored_hash {
                Some(hash) if *hash == self.hashes[index] => EventOutcome::Duplicate,
                _ => EventOutcome::Conflict,
            };
            outcomes.push(outcome);
            if outcome == EventOutcome::Conflict
                && let Some(raw) = &event.raw_on_conflict
            {
                conflict_dead_letters.push(NewDeadLetter::new(
                    ErrorCode::IdConflict,
                    format!("id {id} is already stored with a different type, source or payload"),
                    &raw.to_json_string(),
                    event.stream_id.clone(),
                    Some(event.envelope.source.to_string()),
                    Some(id.to_owned()),
                ));
            }
        }
        Classified {
            // Filled by `persist_batch`, which owns the batch and can move the stored envelopes instead of
            // copying them.
            outcome: PersistOutcome {
                outcomes,
                stored: Vec::new(),
            },
            conflict_dead_letters,
        }
    }
}
