//! Ingress dead letters (`event_ingress_failures`): entries that could not become events, with the reason and the
//! raw entry. The inserts are free functions run inside the ingest batch's transaction ([`insert_in`],
//! [`insert_postgres`]); they count failures through the `stats` leaf, never through another repository.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::rows::dead_letter_from_model;
use super::stats::{add_failures_postgres, add_stats_in};
use crate::domain::{DeadLetter, ErrorCode, NewDeadLetter, SourceName, StatsDelta};
use crate::storage::StorageError;
use crate::storage::entity::event_ingress_failures as failures;

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
    write: &'a DatabaseConnection,
    read: &'a DatabaseConnection,
}

impl<'a> DeadLettersRepo<'a> {
    pub(crate) fn new(write: &'a DatabaseConnection, read: &'a DatabaseConnection) -> Self {
        DeadLettersRepo { write, read }
    }

    /// Marks a dead letter redriven at `at`, unless it already is: `false` when it was (or is gone), so two
    /// redrives of one dead letter never both go on.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    #[tracing::instrument(name = "claim_dead_letter_redrive", skip(self))]
    pub async fn mark_redriven(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StorageError> {
        let result = failures::Entity::update_many()
            .col_expr(failures::Column::RedrivenAt, Expr::value(at))
            .filter(failures::Column::Id.eq(id))
            .filter(failures::Column::RedrivenAt.is_null())
            .exec(self.write)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Records why a redrive was refused: the dead letter stays, with the new reason and message. A dead letter
    /// another request redrove meanwhile is left as it is.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    #[tracing::instrument(name = "record_dead_letter_failure", skip(self, message))]
    pub async fn failed_again(
        &self,
        id: &str,
        reason: ErrorCode,
        message: &str,
    ) -> Result<(), StorageError> {
        failures::Entity::update_many()
            .col_expr(failures::Column::Reason, Expr::value(reason.as_str()))
            .col_expr(failures::Column::Message, Expr::value(message))
            .filter(failures::Column::Id.eq(id))
            .filter(failures::Column::RedrivenAt.is_null())
            .exec(self.write)
            .await?;
        Ok(())
    }

    /// Undoes [`DeadLettersRepo::mark_redriven`] when the redriven event could not be made durable: nothing about
    /// the entry was learnt, so its reason and message stay.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn clear_redriven(&self, id: &str) -> Result<(), StorageError> {
        failures::Entity::update_many()
            .col_expr(
                failures::Column::RedrivenAt,
                Expr::value(None::<DateTime<Utc>>),
            )
            .filter(failures::Column::Id.eq(id))
            .exec(self.write)
            .await?;
        Ok(())
    }

    /// Deletes a dead letter; `false` when there was none.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    #[tracing::instrument(name = "delete_dead_letter", skip(self))]
    pub async fn delete(&self, id: &str) -> Result<bool, StorageError> {
        let result = failures::Entity::delete_by_id(id.to_owned())
            .exec(self.write)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// One dead letter by id, read on the primary (right after a write of this request).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn get_written(&self, id: &str) -> Result<Option<DeadLetter>, StorageError> {
        Ok(failures::Entity::find_by_id(id.to_owned())
            .one(self.write)
            .await?
            .map(dead_letter_from_model))
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
        Ok(rows.into_iter().map(dead_letter_from_model).collect())
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
            .map(dead_letter_from_model))
    }
}

/// Inserts dead letters on `conn` (the ingest batch's transaction), one multi-row insert, and counts them
/// against their sources' `failures` in the same transaction.
///
/// # Errors
/// [`StorageError::Database`].
pub(super) async fn insert_in(
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
pub(super) async fn insert_postgres(
    tx: &mut sqlx::PgConnection,
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
    .execute(&mut *tx)
    .await?;
    add_failures_postgres(tx, counted).await?;
    Ok(())
}

/// The source a dead letter counts against in `source_stats.failures`: only a valid source name, so a garbage
/// `source` in an invalid envelope can neither create a bogus source nor break the counters.
fn countable_source(letter: &NewDeadLetter) -> Option<SourceName> {
    letter
        .source
        .as_ref()
        .and_then(|s| SourceName::parse(s.clone()).ok())
}
