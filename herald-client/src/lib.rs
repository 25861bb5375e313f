//! Publish events to Herald from a Rust service (SPEC §2.3), without depending on the server.
//!
//! - [`EventPublisher`]: `redis(url)` (XADD to Herald's stream), `http(base_url, token)` (`POST /events`) or
//!   `inline(handle)` (inside a Herald process). Validation runs before any I/O with the server's own rules
//!   (the `herald-core` crate, which the server uses too); transient failures are retried 3 times with a
//!   doubling wait from 100 ms; the event id is fixed before the first try.
//! - [`with_workflow_context`]: the workflow run that publishes, injected into `metadata.__workflow`
//!   (or from `HERALD_WORKFLOW_EVENT_CONTEXT`).
//! - [`outbox`]: publish inside your own SeaORM transaction; a relay sends after commit.
//! - [`PublishError`]: invalid, refused by the server, or the transport down.
//!
//! The main README's example, kept compiling here:
//!
//! ```no_run
//! use herald_client::{EventPublisher, WorkflowContext, with_workflow_context};
//! use serde_json::json;
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), herald_client::PublishError> {
//!     let publisher = EventPublisher::redis("redis://127.0.0.1:6379").await?;
//!     let event = publisher
//!         .publish(json!({"type": "billing.invoice.paid", "source": "billing.api", "payload": {"amount": 42}}))
//!         .await?;
//!     println!("published {}", event.id);
//!
//!     let context = WorkflowContext::parse(&json!({"workflowDefinitionId": "wf-billing", "workflowRunId": "run-7",
//!         "workflowRunStepId": "step-1", "jobRunId": "job-3", "jobSlug": "charge"}))?;
//!     with_workflow_context(context, async {
//!         publisher.publish(json!({"type": "billing.invoice.charged", "source": "billing.api"})).await
//!     })
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! Files: `publisher.rs` (the publisher and its retries), `context.rs` (workflow context), `error.rs`,
//! `transport/` (redis, http, inline), `outbox/` (table, `publish_in`, relay).

mod context;
mod error;
pub mod outbox;
mod publisher;
mod transport;

pub use context::{WORKFLOW_CONTEXT_ENV, current_workflow_context, with_workflow_context};
pub use error::PublishError;
pub use herald_core::{Envelope, ErrorCode, EventId, ValidationError, WorkflowContext};
pub use publisher::{BatchSent, EventPublisher, FIRST_RETRY_DELAY, HTTP_BATCH, MAX_TRIES};
pub use transport::{
    DEFAULT_STREAM, HTTP_REQUEST_TIMEOUT, InlineError, InlineSink, REDIS_COMMAND_TIMEOUT,
};
