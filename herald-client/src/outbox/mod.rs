//! A transactional outbox for services on SeaORM (PostgreSQL or SQLite): publish in your own transaction.
//!
//! [`publish_in`] validates an event exactly as [`crate::EventPublisher::publish`] does (id assigned, workflow
//! context injected) and writes it to the `herald_outbox` table through the caller's connection, so it commits
//! or rolls back with the caller's own rows. An [`OutboxRelay`] (a task the service runs, or
//! `herald outbox relay --database-url …`) sends committed rows in order and deletes them once sent.
//!
//! Guarantees: a rolled-back transaction sends nothing; a committed event is sent even if the service or the
//! relay dies (the row stays until it is sent); a crash between the send and the delete sends the event again
//! with the same id, which Herald stores once. Order: rows go out in `seq` order; events of one transaction
//! keep their order, and events of concurrent transactions go out in the order their rows become visible. Run
//! one relay per outbox table: two relays would each send every row (still stored once, but out of order).
//!
//! ```no_run
//! # async fn run(db: sea_orm::DatabaseConnection) -> Result<(), herald_client::PublishError> {
//! use herald_client::outbox;
//! use sea_orm::TransactionTrait;
//! use serde_json::json;
//!
//! outbox::ensure_table(&db).await?;
//! let txn = db.begin().await?;
//! // … the service's own writes on `txn` …
//! outbox::publish_in(&txn, json!({"type": "orders.order.created", "source": "shop", "payload": {"id": 7}})).await?;
//! txn.commit().await?;
//! # Ok(()) }
//! ```

mod entity;
mod relay;

use chrono::Utc;
use herald_core::{DEFAULT_MAX_PAYLOAD_BYTES, Envelope};
use sea_orm::{ActiveValue::NotSet, ConnectionTrait, EntityTrait, Schema, Set};
use serde_json::Value;

use crate::context::ContextSources;
use crate::error::PublishError;

pub use entity::{Entity as OutboxEntity, Model as OutboxRow};
pub use relay::{DEFAULT_BATCH, OutboxRelay, RelayProgress, pending_count};

/// Creates the `herald_outbox` table when it does not exist. Call it at start-up, or copy its definition into
/// your migrations.
///
/// # Errors
/// [`PublishError::Outbox`] when the statement fails.
pub async fn ensure_table(db: &impl ConnectionTrait) -> Result<(), PublishError> {
    let backend = db.get_database_backend();
    let mut create = Schema::new(backend).create_table_from_entity(entity::Entity);
    create.if_not_exists();
    db.execute(&create).await?;
    Ok(())
}

/// Validates `envelope` and writes it to the outbox through `conn` (usually the caller's transaction), returning
/// the envelope with its id. Nothing is sent until the transaction commits and the relay reads the row.
///
/// # Errors
/// [`PublishError::Invalid`] for an envelope that breaks a rule (nothing is written);
/// [`PublishError::Outbox`] when the insert fails.
pub async fn publish_in(
    conn: &impl ConnectionTrait,
    envelope: Value,
) -> Result<Envelope, PublishError> {
    let envelope = crate::publisher::prepare(
        envelope,
        DEFAULT_MAX_PAYLOAD_BYTES,
        ContextSources::current(),
    )?;
    let row = entity::ActiveModel {
        seq: NotSet,
        event_id: Set(envelope.id.to_string()),
        // unwrap: the wire envelope is plain JSON; it always serializes.
        envelope: Set(serde_json::to_string(&envelope.wire()).expect("plain JSON")),
        created_at: Set(Utc::now()),
        attempts: Set(0),
        last_error: Set(None),
    };
    entity::Entity::insert(row).exec(conn).await?;
    Ok(envelope)
}
