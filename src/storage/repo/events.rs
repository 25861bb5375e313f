//! Events: the batch insert at the heart of ingest, and look-ups by id.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QuerySelect, Statement, TransactionTrait, TryInsertResult,
};
use serde_json::Value;

use super::dead_letters::{DeadLettersRepo, NewDeadLetter};
use crate::domain::{CorrelationId, Envelope, ErrorCode, EventId, EventType, SourceName};
use crate::storage::StorageError;
use crate::storage::entity::workflow_events as events;

/// Key of the PostgreSQL advisory lock that orders batch commits (see [`EventsRepo::persist_batch`]).
const SEQUENCE_LOCK_KEY: i64 = 0x6865_7261_6c64; // "herald"

/// An event ready to be stored.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The validated envelope.
    pub envelope: Envelope,
    /// When Herald accepted it.
    pub received_at: DateTime<Utc>,
    /// The stream entry it came from.
    pub stream_id: Option<String>,
    /// For stream entries: the raw entry, so that an id conflict found at persistence becomes a dead letter in
    /// the same transaction. HTTP callers leave it `None` and answer the conflict with `409` instead.
    pub raw_on_conflict: Option<String>,
}

/// What happened to one [`NewEvent`] of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Newly stored with this `ingressSequence`.
    Stored(i64),
    /// The id was already stored with the same content.
    Duplicate,
    /// The id was already stored with different content (dead-lettered when it came from the stream).
    Conflict,
}

/// The result of [`EventsRepo::persist_batch`].
#[derive(Debug, Default)]
pub struct PersistOutcome {
    /// One outcome per input event, in input order.
    pub outcomes: Vec<EventOutcome>,
    /// The newly stored events, in `ingressSequence` order.
    pub stored: Vec<StoredEvent>,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The envelope.
    pub envelope: Envelope,
    /// Position in commit order.
    pub ingress_sequence: i64,
    /// When Herald accepted it.
    pub received_at: DateTime<Utc>,
    /// The payload schema version, when the type has a schema.
    pub schema_version: Option<i32>,
}

/// Repository of `workflow_events`.
pub struct EventsRepo<'a> {
    write: &'a DatabaseConnection,
    read: &'a DatabaseConnection,
}

impl<'a> EventsRepo<'a> {
    pub(crate) fn new(write: &'a DatabaseConnection, read: &'a DatabaseConnection) -> Self {
        EventsRepo { write, read }
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
        mut dead_letters: Vec<NewDeadLetter>,
    ) -> Result<PersistOutcome, StorageError> {
        let txn = self.write.begin().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [SEQUENCE_LOCK_KEY.into()],
            ))
            .await?;
        }
        let mut outcomes = vec![EventOutcome::Duplicate; batch.len()];
        let mut stored = Vec::new();
        if !batch.is_empty() {
            let max: i64 = txn
                .query_one_raw(Statement::from_string(
                    txn.get_database_backend(),
                    "SELECT COALESCE(MAX(ingress_sequence), 0) AS m FROM workflow_events",
                ))
                .await?
                .map(|row| row.try_get::<i64>("", "m"))
                .transpose()?
                .unwrap_or(0);

            // The first occurrence of an id within the batch is the one inserted; later ones are compared to it.
            let mut first_index: HashMap<&str, usize> = HashMap::new();
            let mut rows = Vec::with_capacity(batch.len());
            let mut sequences = vec![0i64; batch.len()];
            let mut hashes = Vec::with_capacity(batch.len());
            for (index, event) in batch.iter().enumerate() {
                hashes.push(event.envelope.content_hash());
                if first_index.contains_key(event.envelope.id.as_str()) {
                    continue;
                }
                first_index.insert(event.envelope.id.as_str(), index);
                let sequence = max + rows.len() as i64 + 1;
                sequences[index] = sequence;
                rows.push(to_model(event, sequence, hashes[index].clone()).into_active_model());
            }

            let inserted: HashSet<String> = match events::Entity::insert_many(rows)
                .on_conflict_do_nothing()
                .exec_with_returning_keys(&txn)
                .await?
            {
                TryInsertResult::Inserted(ids) => ids.into_iter().collect(),
                TryInsertResult::Empty | TryInsertResult::Conflicted => HashSet::new(),
            };

            let not_inserted: Vec<&str> = first_index
                .keys()
                .copied()
                .filter(|id| !inserted.contains(*id))
                .collect();
            let existing: HashMap<String, String> = if not_inserted.is_empty() {
                HashMap::new()
            } else {
                events::Entity::find()
                    .select_only()
                    .column(events::Column::Id)
                    .column(events::Column::ContentHash)
                    .filter(events::Column::Id.is_in(not_inserted))
                    .into_tuple::<(String, String)>()
                    .all(&txn)
                    .await?
                    .into_iter()
                    .collect()
            };

            for (index, event) in batch.iter().enumerate() {
                let id = event.envelope.id.as_str();
                let first = first_index[id];
                let stored_hash = if first == index && inserted.contains(id) {
                    outcomes[index] = EventOutcome::Stored(sequences[index]);
                    stored.push(StoredEvent {
                        envelope: event.envelope.clone(),
                        ingress_sequence: sequences[index],
                        received_at: event.received_at,
                        schema_version: None,
                    });
                    continue;
                } else if first != index && inserted.contains(id) {
                    Some(&hashes[first])
                } else {
                    existing.get(id)
                };
                outcomes[index] = match stored_hash {
                    Some(hash) if *hash == hashes[index] => EventOutcome::Duplicate,
                    _ => EventOutcome::Conflict,
                };
                if outcomes[index] == EventOutcome::Conflict
                    && let Some(raw) = &event.raw_on_conflict
                {
                    dead_letters.push(NewDeadLetter::new(
                        ErrorCode::IdConflict,
                        format!(
                            "id {id} is already stored with a different type, source or payload"
                        ),
                        raw,
                        event.stream_id.clone(),
                        Some(event.envelope.source.to_string()),
                        Some(id.to_owned()),
                    ));
                }
            }
        }
        DeadLettersRepo::insert_in(&txn, dead_letters).await?;
        txn.commit().await?;
        Ok(PersistOutcome { outcomes, stored })
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
        row.map(from_model).transpose()
    }

    /// How many events are stored (benchmarks and tests use it to wait for completion).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn count(&self) -> Result<u64, StorageError> {
        use sea_orm::PaginatorTrait;
        Ok(events::Entity::find().count(self.read).await?)
    }
}

fn to_model(event: &NewEvent, sequence: i64, content_hash: String) -> events::Model {
    let e = &event.envelope;
    events::Model {
        id: e.id.to_string(),
        ingress_sequence: sequence,
        event_type: e.event_type.to_string(),
        source: e.source.to_string(),
        occurred_at: e.occurred_at,
        received_at: event.received_at,
        payload: e.payload.clone(),
        correlation_id: e.correlation_id.as_ref().map(ToString::to_string),
        causation_id: e.causation_id.as_ref().map(ToString::to_string),
        ttl_ms: e.ttl_ms,
        metadata: e.metadata.clone().map(Value::Object),
        schema_version: None,
        content_hash,
        stream_id: event.stream_id.clone(),
    }
}

fn from_model(m: events::Model) -> Result<StoredEvent, StorageError> {
    let corrupt =
        |e: crate::domain::ValidationError| StorageError::Corrupt(format!("event {}: {e}", m.id));
    let metadata = match m.metadata.clone() {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    };
    let envelope = Envelope {
        id: EventId::parse(m.id.clone()).map_err(corrupt)?,
        event_type: EventType::parse(m.event_type.clone()).map_err(corrupt)?,
        source: SourceName::parse(m.source.clone()).map_err(corrupt)?,
        occurred_at: m.occurred_at,
        payload: m.payload.clone(),
        correlation_id: m
            .correlation_id
            .clone()
            .map(CorrelationId::parse)
            .transpose()
            .map_err(corrupt)?,
        causation_id: m
            .causation_id
            .clone()
            .map(|c| CorrelationId::parse_field(c, "causationId"))
            .transpose()
            .map_err(corrupt)?,
        ttl_ms: m.ttl_ms,
        metadata,
    };
    Ok(StoredEvent {
        envelope,
        ingress_sequence: m.ingress_sequence,
        received_at: m.received_at,
        schema_version: m.schema_version,
    })
}
