//! Events: the batch insert at the heart of ingest, and look-ups by id.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QuerySelect, Statement, TransactionTrait, TryInsertResult,
};

use super::dead_letters::insert_in;
use super::encoded::EncodedEvents;
pub(crate) use super::events_pg::PgEventWriter;
use super::rows::{event_from_model, event_row};
use crate::domain::{
    ErrorCode, EventOutcome, NewDeadLetter, NewEvent, PersistOutcome, StoredEvent,
};
use crate::storage::StorageError;
use crate::storage::entity::workflow_events as events;

/// Repository of `workflow_events`.
pub struct EventsRepo<'a> {
    pub(super) write: &'a DatabaseConnection,
    read: &'a DatabaseConnection,
    pub(super) writer: &'a PgEventWriter,
}

impl<'a> EventsRepo<'a> {
    pub(crate) fn new(
        write: &'a DatabaseConnection,
        read: &'a DatabaseConnection,
        writer: &'a PgEventWriter,
    ) -> Self {
        EventsRepo {
            write,
            read,
            writer,
        }
    }

    /// The connection that serves reads.
    pub(super) fn read(&self) -> &'a DatabaseConnection {
        self.read
    }

    /// Stores a batch in one transaction: its new rows (`COPY` on PostgreSQL, a multi-row `INSERT … ON CONFLICT
    /// (id) DO NOTHING` elsewhere), the batch's dead letters, and dead letters for stream entries whose id turns
    /// out to conflict.
    ///
    /// Sequences are assigned in commit order: the transaction first takes a lock that every batch takes (an
    /// advisory lock on PostgreSQL, the single write connection on SQLite), then numbers its rows after the
    /// current maximum. A reader that has seen sequence N can therefore never later find a new event below N,
    /// which is what keeps cursors and WebSocket `since` gap-free. Rows that turn out to be duplicates leave gaps,
    /// which is harmless.
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing of the batch is stored then.
    pub async fn persist_batch(
        &self,
        batch: Vec<NewEvent>,
        dead_letters: Vec<NewDeadLetter>,
    ) -> Result<PersistOutcome, StorageError> {
        self.persist_encoded(self.encode(batch), dead_letters).await
    }

    /// `events` with their storage encoding done (see [`EncodedEvents`]): CPU work only, for the caller to run
    /// off the write path, ahead of [`EventsRepo::persist_encoded`].
    pub fn encode(&self, events: Vec<NewEvent>) -> EncodedEvents {
        EncodedEvents::new(
            events,
            self.write.get_database_backend() == DbBackend::Postgres,
        )
    }

    /// [`EventsRepo::persist_batch`] for a batch encoded ahead.
    ///
    /// # Errors
    /// [`StorageError::Database`]; nothing of the batch is stored then.
    #[tracing::instrument(name = "persist_batch", skip_all, fields(events = batch.len(), dead_letters = dead_letters.len()))]
    pub async fn persist_encoded(
        &self,
        batch: EncodedEvents,
        dead_letters: Vec<NewDeadLetter>,
    ) -> Result<PersistOutcome, StorageError> {
        let plan = BatchPlan::new(&batch.events);
        let started = std::time::Instant::now();
        let mut outcome = match self.write.get_database_backend() {
            DbBackend::Postgres => self.persist_postgres(&plan, &batch, dead_letters).await?,
            _ => self.persist_generic(&plan, dead_letters).await?,
        };
        drop(plan);
        // Rows are numbered in batch order, so the stored events come out in `ingressSequence` order.
        outcome.stored = batch
            .events
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
                event_row(&plan.batch[index], sequence_of(position)).into_active_model()
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

/// A batch before it meets the database: which entry of each id is the one to insert (the first; later ones are
/// compared to it by content hash).
pub(super) struct BatchPlan<'a> {
    pub(super) batch: &'a [NewEvent],
    first_index: HashMap<&'a str, usize>,
    /// Indexes of first occurrences, in batch order; a row's sequence is the maximum plus its position + 1.
    pub(super) unique: Vec<usize>,
}

/// What a batch's writes came to.
pub(super) struct Classified {
    pub(super) outcome: PersistOutcome,
    pub(super) conflict_dead_letters: Vec<NewDeadLetter>,
}

impl<'a> BatchPlan<'a> {
    fn new(batch: &'a [NewEvent]) -> BatchPlan<'a> {
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
            first_index,
            unique,
        }
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
    pub(super) fn classify(
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
                Some(_) => Some(&self.batch[first].content_hash),
                None => existing.get(id),
            };
            let outcome = match stored_hash {
                Some(hash) if *hash == event.content_hash => EventOutcome::Duplicate,
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
