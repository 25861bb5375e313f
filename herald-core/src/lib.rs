//! Herald's event envelope and its rules (SPEC §1), in a crate of their own so that the server and the publisher
//! SDK (`herald-client`) validate with the same code: an envelope the SDK accepts is one the server accepts.
//!
//! "Parse, don't validate": every constrained string is a newtype whose only constructor checks SPEC's rule, and
//! every failure is a [`ValidationError`] carrying SPEC's error code and the offending field. Nothing here does
//! I/O; the clock is passed in ([`ParseContext::now`]). The server re-exports all of it from `herald::domain`.
//!
//! - `canonical_json.rs`: [`compact_json_len`] (how every size limit is measured) and [`canonical_json`].
//! - `error.rs`: [`ErrorCode`] (every SPEC code and dead-letter reason), [`ValidationError`] and
//!   [`UnknownSpelling`] (a stored name of a closed set that no longer reads).
//! - `envelope.rs`: [`Envelope`], its parser, wire form and content hash.
//! - `event_id.rs`, `event_type.rs`, `source_name.rs`, `correlation_id.rs`: the envelope's constrained strings
//!   ([`EventId`], [`EventType`], [`SourceName`], [`CorrelationId`]).
//! - `timestamp.rs`: the one wire format for time (`2026-11-22T10:00:00.000Z`), see [`format_timestamp`].
//! - `workflow_context.rs`: the reserved `metadata.__workflow` object ([`WorkflowContext`]).

mod canonical_json;
mod correlation_id;
mod envelope;
mod error;
mod event_id;
mod event_type;
mod source_name;
mod timestamp;
mod workflow_context;

pub use canonical_json::{canonical_json, compact_json_len};
pub use correlation_id::{CORRELATION_ID_MAX_CHARS, CorrelationId};
pub use envelope::{
    DEFAULT_MAX_PAYLOAD_BYTES, ENVELOPE_FIELDS, Envelope, MAX_METADATA_BYTES,
    MAX_OCCURRED_AT_AHEAD, ParseContext, WireEnvelope,
};
pub use error::{ErrorCode, UnknownSpelling, ValidationError};
pub use event_id::{EVENT_ID_MAX_CHARS, EventId};
pub use event_type::{EVENT_TYPE_MAX_CHARS, EventType};
pub use source_name::{SOURCE_NAME_MAX_CHARS, SourceName};
pub use timestamp::{
    format_timestamp, parse_rfc3339_with_offset, parse_time_bound, truncate_to_millis,
};
pub use workflow_context::{
    WORKFLOW_CONTEXT_MAX_BYTES, WORKFLOW_FIELD_MAX_CHARS, WORKFLOW_METADATA_KEY, WorkflowContext,
    normalize_workflow_metadata,
};
