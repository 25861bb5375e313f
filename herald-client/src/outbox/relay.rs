//! [`OutboxRelay`]: sends the outbox's committed rows in order and deletes what was sent.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use herald_core::{Envelope, EventId, ParseContext};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::entity::{self, Column, Entity};
use crate::EventPublisher;
use crate::error::PublishError;

/// Rows read per round.
pub const DEFAULT_BATCH: u64 = 100;

/// How long an idle relay waits before looking again.
pub const DEFAULT_IDLE: Duration = Duration::from_millis(200);

/// The longest wait after failed rounds (the wait doubles from [`DEFAULT_IDLE`] up to this).
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a relay has done so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RelayProgress {
    /// Events sent and deleted from the outbox.
    pub sent: u64,
    /// Rounds that stopped at a failed send.
    pub failures: u64,
}

/// Drains one outbox table to Herald through an [`EventPublisher`].
pub struct OutboxRelay {
    db: DatabaseConnection,
    publisher: EventPublisher,
    batch: u64,
    idle: Duration,
}

impl OutboxRelay {
    /// A relay from the outbox in `db` to `publisher`.
    pub fn new(db: DatabaseConnection, publisher: EventPublisher) -> OutboxRelay {
        OutboxRelay {
            db,
            publisher,
            batch: DEFAULT_BATCH,
            idle: DEFAULT_IDLE,
        }
    }

    /// Sets how many rows one round reads (at least 1).
    #[must_use]
    pub fn with_batch(mut self, batch: u64) -> OutboxRelay {
        self.batch = Ord::max(batch, 1);
        self
    }

    /// Sends up to one batch of rows in `seq` order with the publisher's retries ([`EventPublisher::send_all`]:
    /// one request per batch over HTTP), and deletes the rows sent. Stops at the first row that cannot be sent (so nothing overtakes it), records the failure on that
    /// row (`attempts`, `last_error`) and returns the error after deleting what went out before it.
    ///
    /// # Errors
    /// The first send's failure, or [`PublishError::Outbox`] when the table cannot be read or written.
    pub async fn drain_once(&self) -> Result<u64, PublishError> {
        let rows = Entity::find()
            .order_by_asc(Column::Seq)
            .limit(self.batch)
            .all(&self.db)
            .await?;
        // A row that no longer reads as an envelope stops the round before it, like a failed send.
        let mut envelopes = Vec::with_capacity(rows.len());
        let mut failure = None;
        for row in &rows {
            match stored_envelope(row) {
                Ok(envelope) => envelopes.push(envelope),
                Err(error) => {
                    failure = Some((row.seq, error));
                    break;
                }
            }
        }
        let outcome = self.publisher.send_all(&envelopes).await;
        let sent: Vec<i64> = rows[..outcome.sent].iter().map(|row| row.seq).collect();
        if let Some(error) = outcome.error {
            failure = Some((rows[outcome.sent].seq, error));
        }
        if !sent.is_empty() {
            Entity::delete_many()
                .filter(Column::Seq.is_in(sent.iter().copied()))
                .exec(&self.db)
                .await?;
        }
        match failure {
            None => Ok(sent.len() as u64),
            Some((seq, error)) => {
                self.record_failure(seq, &error).await?;
                Err(error)
            }
        }
    }

    /// Drains until `shutdown` completes: a round after each full batch at once, after an empty one once
    /// [`DEFAULT_IDLE`] has passed, after a failure once a doubling wait (up to [`MAX_BACKOFF`]) has passed.
    /// `on_progress` is called after every round that sent something or failed.
    pub async fn run(
        &self,
        shutdown: impl Future<Output = ()>,
        mut on_progress: impl FnMut(RelayProgress),
    ) -> RelayProgress {
        tokio::pin!(shutdown);
        let mut progress = RelayProgress::default();
        let mut backoff = self.idle;
        loop {
            let wait = match self.drain_once().await {
                Ok(n) => {
                    progress.sent += n;
                    backoff = self.idle;
                    if n > 0 {
                        on_progress(progress);
                    }
                    if n == self.batch {
                        Duration::ZERO
                    } else {
                        self.idle
                    }
                }
                Err(error) => {
                    progress.failures += 1;
                    on_progress(progress);
                    tracing::warn!(error = %error, retry_in = ?backoff, "outbox relay: send failed; the row stays first in line");
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
            };
            tokio::select! {
                () = &mut shutdown => return progress,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn record_failure(&self, seq: i64, error: &PublishError) -> Result<(), PublishError> {
        Entity::update_many()
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .col_expr(Column::LastError, Expr::value(error.to_string()))
            .filter(Column::Seq.eq(seq))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// The envelope a row holds. It was validated when written; it is read back with the same rules (the payload
/// limit aside, already checked then), so a row edited by hand into something invalid stops the relay with a
/// [`PublishError::Invalid`] recorded on the row, rather than going out.
fn stored_envelope(row: &entity::Model) -> Result<Envelope, PublishError> {
    let ctx = ParseContext {
        max_payload_bytes: usize::MAX,
        now: Utc::now(),
    };
    let fallback = || EventId::from_ulid(ulid::Ulid::generate());
    Ok(Envelope::parse_slice(
        row.envelope.as_bytes(),
        &ctx,
        fallback,
    )?)
}

/// How many events wait in the outbox.
///
/// # Errors
/// [`PublishError::Outbox`] when the table cannot be read.
pub async fn pending_count(db: &impl ConnectionTrait) -> Result<u64, PublishError> {
    Ok(Entity::find().count(db).await?)
}
