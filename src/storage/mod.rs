//! Storage: connecting to SQLite or PostgreSQL, running migrations, and the repositories that turn domain types
//! into rows and back.
//!
//! SQLite runs in WAL mode with a single writer: writes go through a pool of one connection, reads through their
//! own pool, so a long query never waits behind an ingest batch and two writers never meet SQLite's busy snapshot
//! errors. On PostgreSQL both handles share one pool.

pub mod entity;
mod nodelay;
mod repo;

use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};

pub use repo::backtest_pg::{FunnelCounts, FunnelQuery};
pub use repo::dead_letters::{DeadLetterFilter, DeadLettersRepo};
pub use repo::deliveries::{DeliveriesRepo, Pick};
pub use repo::delivery_history::{DeliveryFilter, DeliveryHistoryRepo};
pub use repo::delivery_stats::{DeliveryQueue, DeliveryStatsRepo, TriggerSummary};
pub use repo::encoded::EncodedEvents;
pub use repo::evaluation_marks::{EvaluationMark, EvaluationMarksRepo};
pub use repo::event_queries::{EventCounts, EventQuery};
pub use repo::event_schemas::{EventSchemasRepo, Registered, SchemaWatermark};
pub use repo::events::EventsRepo;
use repo::events::PgEventWriter;
pub use repo::leases::{LeaseError, LeasesRepo};
pub use repo::replays::ReplaysRepo;
pub use repo::saved_views::SavedViewsRepo;
pub use repo::sources::SourcesRepo;
pub use repo::triggers::{TriggerVersions, TriggersRepo};

use crate::domain::{UnknownSpelling, ValidationError};

/// A storage failure. Expected outcomes (a duplicate id, a missing row) are values, not errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database refused or failed a statement, or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// A statement on the PostgreSQL hot path (plain sqlx) failed.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A read query ran past `HERALD_QUERY_TIMEOUT_MS`.
    #[error("the query ran past its time limit")]
    QueryTimeout,
    /// A stored row no longer parses as the domain type it was written from; `cause` says which column and why.
    #[error("corrupt {table} row {key:?}")]
    Corrupt {
        /// The table the row is in.
        table: &'static str,
        /// The row's key (an event id, a source name, a control id).
        key: String,
        /// What no longer parses (boxed: a rare error should not make every `Result` of storage larger).
        #[source]
        cause: Box<CorruptColumn>,
    },
}

/// Why a stored column no longer parses: kept typed, so the cause chain names the rule the row breaks.
#[derive(Debug, thiserror::Error)]
pub enum CorruptColumn {
    /// A constrained string (id, type, source, correlation id) breaks its SPEC rule.
    #[error("column {column}")]
    Invalid {
        /// The column.
        column: &'static str,
        /// The rule it breaks.
        #[source]
        cause: ValidationError,
    },
    /// A closed-set name (pause kind, control action, severity) names no variant.
    #[error("column {column}")]
    Unknown {
        /// The column.
        column: &'static str,
        /// The spelling found.
        #[source]
        cause: UnknownSpelling,
    },
}

/// How long the PostgreSQL event writer's connection may sit idle before it is pinged on its next use (pooled
/// connections are pinged on every use).
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// Handles to the database, cheap to clone.
#[derive(Clone, Debug)]
pub struct Storage {
    write: DatabaseConnection,
    read: DatabaseConnection,
    /// Shared by every clone: the PostgreSQL event writer's own connection and state (see [`PgEventWriter`]).
    events_writer: Arc<PgEventWriter>,
}

impl Storage {
    /// Connects to `url` (`sqlite://…` or `postgres://…`).
    ///
    /// # Errors
    /// [`StorageError::Database`] when the database cannot be reached or opened.
    pub async fn connect(url: &str) -> Result<Storage, StorageError> {
        if url.starts_with("sqlite:") {
            let write = Database::connect(sqlite_options(url, 1)).await?;
            // The writer creates the file and switches it to WAL before the readers open it.
            write.execute_unprepared("PRAGMA journal_mode=WAL").await?;
            let read = Database::connect(sqlite_options(url, 4)).await?;
            Ok(Storage {
                write,
                read,
                events_writer: Arc::default(),
            })
        } else {
            let mut options = ConnectOptions::new(url.to_owned());
            options
                .max_connections(16)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .sqlx_logging(false)
                .map_sqlx_postgres_pool_opts(|pool| {
                    pool.after_connect(|_conn, _meta| {
                        Box::pin(async {
                            nodelay::enable_on_open_sockets();
                            Ok(())
                        })
                    })
                });
            let pool = Database::connect(options).await?;
            Ok(Storage {
                write: pool.clone(),
                read: pool,
                events_writer: Arc::default(),
            })
        }
    }

    /// Brings the schema up to date; `herald serve` and `herald migrate` both call this.
    ///
    /// # Errors
    /// [`StorageError::Database`] when a migration fails.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        Migrator::up(&self.write, None).await?;
        Ok(())
    }

    /// Checks that the database answers (`/readyz`).
    ///
    /// # Errors
    /// [`StorageError::Database`] when it does not.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.read.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    /// Events: batch persistence and look-ups.
    pub fn events(&self) -> EventsRepo<'_> {
        EventsRepo::new(&self.write, &self.read, &self.events_writer)
    }

    /// Ingress dead letters.
    pub fn dead_letters(&self) -> DeadLettersRepo<'_> {
        DeadLettersRepo::new(&self.write, &self.read)
    }

    /// Per-type JSON Schemas.
    pub fn event_schemas(&self) -> EventSchemasRepo<'_> {
        EventSchemasRepo::new(&self.write, &self.read)
    }

    /// Named leases.
    pub fn leases(&self) -> LeasesRepo<'_> {
        LeasesRepo::new(&self.write)
    }

    /// Sources: deferred evaluations, pauses and per-source counters.
    pub fn sources(&self) -> SourcesRepo<'_> {
        SourcesRepo::new(&self.write, &self.read)
    }

    /// Saved views (SPEC §6.8).
    pub fn saved_views(&self) -> SavedViewsRepo<'_> {
        SavedViewsRepo::new(&self.write, &self.read)
    }

    /// Triggers, their changes and their pause state (SPEC §5.1, §5.7).
    pub fn triggers(&self) -> TriggersRepo<'_> {
        TriggersRepo::new(&self.write, &self.read)
    }

    /// Deliveries and attempts as the API shows them (SPEC §6.1, §6.3).
    pub fn delivery_history(&self) -> DeliveryHistoryRepo<'_> {
        DeliveryHistoryRepo::new(&self.write, &self.read)
    }

    /// Delivery counts for health (SPEC §6.9).
    pub fn delivery_stats(&self) -> DeliveryStatsRepo<'_> {
        DeliveryStatsRepo::new(&self.read)
    }

    /// Each instance's trigger evaluation mark (SPEC §3).
    pub fn evaluation_marks(&self) -> EvaluationMarksRepo<'_> {
        EvaluationMarksRepo::new(&self.write)
    }

    /// Deliveries and attempts (SPEC §5.3).
    pub fn deliveries(&self) -> DeliveriesRepo<'_> {
        DeliveriesRepo::new(&self.write)
    }

    /// Replays and their deliveries (SPEC §6.2).
    pub fn replays(&self) -> ReplaysRepo<'_> {
        ReplaysRepo::new(&self.write)
    }

    /// The writer connection, for benchmarks that compare against a plain bulk insert.
    pub fn write_connection(&self) -> &DatabaseConnection {
        &self.write
    }
}

impl Storage {
    /// A migrated SQLite database in a fresh temporary directory, for unit tests; the directory lives as long as
    /// the returned guard.
    #[cfg(test)]
    pub(crate) async fn scratch() -> (tempfile::TempDir, Storage) {
        // unwrap: tests only; a test without a temporary directory or SQLite cannot run anyway.
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("h.db").display());
        let storage = Storage::connect(&url).await.unwrap();
        storage.migrate().await.unwrap();
        (dir, storage)
    }
}

fn sqlite_options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        // A file has no server to drop the connection: no ping before use.
        .test_before_acquire(false)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                // FULL: a committed batch survives power loss, which is what "accepted" promises in inline mode.
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
        });
    options
}
