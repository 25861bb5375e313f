//! Ingress dead letters: entries that could not become events, with the reason and the raw entry.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::sources::{StatsDelta, add_failures_postgres, add_stats_in};
use crate::domain::{ErrorCode, SourceName};
use crate::storage::StorageError;
use crate::storage::entity::event_ingress_failures as failures;

/// The raw entry is kept up to this many bytes (SPEC §3: truncated to 1 MiB).
pub const RAW_LIMIT_BYTES: usize = 1 << 20;

/// A dead letter about to be recorded.
#[derive(Debug, Clone)]
pub struct NewDeadLetter {
    id: String,
    reason: ErrorCode,
    message: String,
    raw: String,
    stream_id: Option<String>,
    source: Option<String>,
    event_id: Option<String>,
    received_at: DateTime<Utc>,
}

impl NewDeadLetter {
    /// A dead letter for `raw`, received now; `raw` is truncated to [`RAW_LIMIT_BYTES`] on a character boundary.
    pub fn new(
        reason: ErrorCode,
        message: String,
        raw: &str,
        stream_id: Option<String>,
        source: Option<String>,
        event_id: Option<String>,
    ) -> NewDeadLetter {
        NewDeadLetter {
            id: ulid::Ulid::generate().to_string(),
            reason,
            message,
            raw: truncate(raw, RAW_LIMIT_BYTES).to_owned(),
            stream_id,
            source,
            event_id,
            received_at: crate::domain::truncate_to_millis(Utc::now()),
        }
    }
}

fn truncate(s: &str, limit: usize) -> &str {
    if s.len() <= limit {
        return s;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A recorded dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// A ULID.
    pub id: String,
    /// The reason code.
    pub reason: String,
    /// What is wrong, as a sentence.
    pub message: String,
    /// The envelope's source, when readable.
    pub source: Option<String>,
    /// The envelope's id, when readable.
    pub event_id: Option<String>,
    /// The stream entry id, for stream entries.
    pub stream_id: Option<String>,
    /// The raw entry (at most 1 MiB).
    pub raw: String,
    /// When it was recorded.
    pub received_at: DateTime<Utc>,
    /// When an operator redrove it.
    pub redriven_at: Option<DateTime<Utc>>,
}

/// Filters of `GET /admin/dead-letters`.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    /// Exact reason code.
    pub reason: Option<String>,
    /// Exact source.
    pub source: Option<String>,
    /// Inclusive lower bound on `receivedAt`.
    pub from: Option<DateTime<Utc>>,
    /// Inclusive upper bound on `receivedAt`.
    pub to: Option<DateTime<Utc>>,
}

/// Repository of `event_ingress_failures`.
pub struct DeadLettersRepo<'a> {
    read: &'a DatabaseConnection,
}

impl<'a> DeadLettersRepo<'a> {
    pub(crate) fn new(_write: &'a DatabaseConnection, read: &'a DatabaseConnection) -> Self {
        DeadLettersRepo { read }
    }

    /// Inserts dead letters on `conn` (the ingest batch's transaction), one multi-row insert, and counts them
    /// against their sources' `failures` in the same transaction.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn insert_in(
        conn: &impl ConnectionTrait,
        letters: Vec<NewDeadLetter>,
    ) -> Result<(), StorageError> {
        if letters.is_empty() {
            return Ok(());
        }
        let mut by_source: HashMap<SourceName, StatsDelta> = HashMap::new();
        for source in letters.iter().filter_map(countable_source) {
            by_source
                .entry(source.clone())
                .or_insert_with(|| StatsDelta::zero(source))
                .counters
                .failures += 1;
        }
        let rows = letters.into_iter().map(|l| failures::ActiveModel {
            id: Set(l.id),
            reason: Set(l.reason.as_str().to_owned()),
            message: Set(l.message),
            source: Set(l.source),
            event_id: Set(l.event_id),
            stream_id: Set(l.stream_id),
            raw: Set(l.raw),
            received_at: Set(l.received_at),
            redriven_at: Set(None),
        });
        failures::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
        add_stats_in(conn, by_source.into_values().collect()).await?;
        Ok(())
    }

    /// Inserts dead letters inside a PostgreSQL batch transaction (the sqlx path of the ingest hot loop), and
    /// counts them against their sources' `failures` in the same transaction.
    ///
    /// # Errors
    /// [`StorageError::Sqlx`].
    pub async fn insert_postgres(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        letters: Vec<NewDeadLetter>,
    ) -> Result<(), StorageError> {
        if letters.is_empty() {
            return Ok(());
        }
        let counted: Vec<String> = letters
            .iter()
            .filter_map(countable_source)
            .map(|s| s.as_str().to_owned())
            .collect();
        let n = letters.len();
        let (mut ids, mut reasons, mut messages, mut raws) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut sources, mut event_ids, mut stream_ids, mut received) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for l in letters {
            ids.push(l.id);
            reasons.push(l.reason.as_str().to_owned());
            messages.push(l.message);
            sources.push(l.source);
            event_ids.push(l.event_id);
            stream_ids.push(l.stream_id);
            raws.push(l.raw);
            received.push(l.received_at);
        }
        sqlx::query(
            "INSERT INTO event_ingress_failures (id, reason, message, source, event_id, stream_id, raw, received_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::timestamptz[])",
        )
        .bind(ids)
        .bind(reasons)
        .bind(messages)
        .bind(sources)
        .bind(event_ids)
        .bind(stream_ids)
        .bind(raws)
        .bind(received)
        .execute(&mut **tx)
        .await?;
        add_failures_postgres(tx, counted).await?;
        Ok(())
    }

    /// One page, newest first with the id as tie-break, after the `(receivedAt, id)` key of the previous page.
    /// Returns up to `limit + 1` rows so the caller can tell whether there is more.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    #[tracing::instrument(name = "list_dead_letters", skip(self))]
    pub async fn list(
        &self,
        filter: &DeadLetterFilter,
        after: Option<(DateTime<Utc>, String)>,
        limit: u64,
    ) -> Result<Vec<DeadLetter>, StorageError> {
        let mut query = failures::Entity::find();
        if let Some(reason) = &filter.reason {
            query = query.filter(failures::Column::Reason.eq(reason.as_str()));
        }
        if let Some(source) = &filter.source {
            query = query.filter(failures::Column::Source.eq(source.as_str()));
        }
        if let Some(from) = filter.from {
            query = query.filter(failures::Column::ReceivedAt.gte(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(failures::Column::ReceivedAt.lte(to));
        }
        if let Some((at, id)) = after {
            query = query.filter(
                Condition::any()
                    .add(failures::Column::ReceivedAt.lt(at))
                    .add(
                        Condition::all()
                            .add(failures::Column::ReceivedAt.eq(at))
                            .add(failures::Column::Id.lt(id)),
                    ),
            );
        }
        let rows = query
            .order_by_desc(failures::Column::ReceivedAt)
            .order_by_desc(failures::Column::Id)
            .limit(limit + 1)
            .all(self.read)
            .await?;
        Ok(rows.into_iter().map(from_model).collect())
    }

    /// One dead letter by id.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    #[tracing::instrument(name = "get_dead_letter", skip(self))]
    pub async fn get(&self, id: &str) -> Result<Option<DeadLetter>, StorageError> {
        Ok(failures::Entity::find_by_id(id.to_owned())
            .one(self.read)
            .await?
            .map(from_model))
    }
}

/// The source a dead letter counts against in `source_stats.failures`: only a valid source name, so a garbage
/// `source` in an invalid envelope can neither create a bogus source nor break the counters.
fn countable_source(letter: &NewDeadLetter) -> Option<SourceName> {
    letter
        .source
        .as_ref()
        .and_then(|s| SourceName::parse(s.clone()).ok())
}

fn from_model(m: failures::Model) -> DeadLetter {
    DeadLetter {
        id: m.id,
        reason: m.reason,
        message: m.message,
        source: m.source,
        event_id: m.event_id,
        stream_id: m.stream_id,
        raw: m.raw,
        received_at: m.received_at,
        redriven_at: m.redriven_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_entries_are_truncated_to_one_mebibyte_on_a_character_boundary() {
        let raw = "é".repeat(RAW_LIMIT_BYTES); // two bytes each
        let letter = NewDeadLetter::new(ErrorCode::InvalidJson, "m".into(), &raw, None, None, None);
        assert!(letter.raw.len() <= RAW_LIMIT_BYTES);
        assert!(letter.raw.len() > RAW_LIMIT_BYTES - 2);
        assert!(letter.raw.chars().all(|c| c == 'é'));
    }
}
