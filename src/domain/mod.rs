//! Herald's domain types: pure values, parsed once at the edge, trusted everywhere after.
//!
//! "Parse, don't validate" (STYLE §3): every constrained string is a newtype whose only constructor checks SPEC's
//! rule, and every failure is a [`ValidationError`] carrying SPEC's error code and the offending field. Nothing here
//! does I/O or knows about actix, SeaORM or Redis; the clock is passed in ([`ParseContext::now`]).
//!
//! - from the `herald-core` crate, re-exported here: the envelope and its rules ([`Envelope`], [`ParseContext`],
//!   [`EventId`], [`EventType`], [`SourceName`], [`CorrelationId`], [`WorkflowContext`]), [`ErrorCode`] and
//!   [`ValidationError`], canonical JSON and the timestamp format. They live there so the publisher SDK
//!   (`herald-client`) validates with the server's own code.
//! - `dead_letter.rs`: [`NewDeadLetter`] (what ingest decides) and [`DeadLetter`] (what operators read back).
//! - `cloud_event.rs`: [`CloudEvent`], a CloudEvents 1.0 event (structured or binary mode) mapped to an
//!   [`Envelope`] by the envelope's own rules (SPEC §1).
//! - `event_schema/`: per-type JSON Schemas ([`EventSchema`], compiled), their stored versions
//!   ([`SchemaVersion`]), the [`SchemaCatalog`] every ingest path checks payloads against, shared through a
//!   [`SharedCatalog`], and what a refused payload comes to ([`SchemaViolation`]).
//! - `name_pattern.rs`: [`NamePattern`], the `type`/`source` filters (exact or `*`/`**` patterns, SPEC §5.1).
//! - `new_event.rs`: [`NewEvent`], an event ready to be stored, and what storing a batch came to
//!   ([`EventOutcome`], [`PersistOutcome`]).
//! - `rate_limit/`: SPEC §4 for one source ([`SourceWindow`], [`LocalWindow`], [`RateLimit`]) with an injected
//!   [`Clock`].
//! - `raw_entry.rs`: [`RawEntry`], a stream entry's fields as read, for dead letters.
//! - `severity.rs`: [`Severity`] (SPEC §6.1), stored with each event.
//! - `source_control.rs`: [`SourceControl`], one on-call control of a source ([`ControlAction`], SPEC §6.5).
//! - `source_counters.rs`: [`SourceCounters`] (SPEC §4 metrics) and [`StatsDelta`], an amount to add to them.
//! - `source_overview.rs`: [`SourceOverview`], one source's counters, backlog, pause and latest control.
//! - `source_pause.rs`: [`SourcePause`] and its [`PauseKind`] (manual or rate limit), one kind for the window,
//!   the stored row and the wire.
//! - `stored_event.rs`: [`StoredEvent`], an event as persisted, what every reader works with.
//!
//! The files are private: callers import from here (`crate::domain::Envelope`), never the file path (STYLE §1.2).

mod cloud_event;
mod dead_letter;
mod event_schema;
mod name_pattern;
mod new_event;
mod rate_limit;
mod raw_entry;
mod severity;
mod source_control;
mod source_counters;
mod source_overview;
mod source_pause;
mod stored_event;

// The envelope and its rules live in `herald-core`, shared with the publisher SDK; re-exported so that the server
// names them `crate::domain::…` like every other domain type.
pub use cloud_event::{
    BINARY_HEADER_PREFIX, CLOUD_EVENTS_METADATA_KEY, CLOUD_EVENTS_SPEC_VERSION, CloudEvent,
    CloudEventMode, DATA_BASE64_MARKER,
};
pub use dead_letter::{DeadLetter, NewDeadLetter, RAW_LIMIT_BYTES};
pub use event_schema::{
    EventSchema, MAX_SCHEMA_BYTES, SchemaCatalog, SchemaError, SchemaSummary, SchemaVersion,
    SchemaViolation, SharedCatalog, schema_hash,
};
pub use herald_core::{
    CORRELATION_ID_MAX_CHARS, CorrelationId, DEFAULT_MAX_PAYLOAD_BYTES, ENVELOPE_FIELDS,
    EVENT_ID_MAX_CHARS, EVENT_TYPE_MAX_CHARS, Envelope, ErrorCode, EventId, EventType,
    MAX_METADATA_BYTES, MAX_OCCURRED_AT_AHEAD, ParseContext, SOURCE_NAME_MAX_CHARS, SourceName,
    UnknownSpelling, ValidationError, WORKFLOW_CONTEXT_MAX_BYTES, WORKFLOW_FIELD_MAX_CHARS,
    WORKFLOW_METADATA_KEY, WireEnvelope, WorkflowContext, canonical_json, compact_json_len,
    format_timestamp, normalize_workflow_metadata, parse_rfc3339_with_offset, parse_time_bound,
    truncate_to_millis,
};
pub use name_pattern::{LikePattern, NameKind, NamePattern};
pub use new_event::{EventOutcome, NewEvent, PersistOutcome};
pub use rate_limit::{
    Admission, Clock, FakeClock, Grant, LocalWindow, MAX_RELEASE_STEP, MAX_SOURCE_DURATION_MS,
    Pause, RateLimit, SourceWindow, SystemClock,
};
pub use raw_entry::RawEntry;
pub use severity::Severity;
pub use source_control::{ControlAction, SourceControl};
pub use source_counters::{SourceCounters, StatsDelta};
pub use source_overview::SourceOverview;
pub use source_pause::{HERALD_ACTOR, PauseKind, SourcePause};
pub use stored_event::StoredEvent;
