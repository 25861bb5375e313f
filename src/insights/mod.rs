//! What Herald reads out of an event beyond its envelope (SPEC §6.1): its [`Severity`](crate::domain::Severity),
//! the ids it [links](Links) to, a typed [derived view](derived_of) for the platform's own event types, and the
//! field [schema](page_schema) of a page of events.
//!
//! Everything here is a pure function of JSON values: no I/O, no actix, no database. Severity is computed once at
//! ingest and stored; links and derived views are cheap enough to compute whenever an event is rendered; the
//! schema is computed over the payloads of each returned page.
//!
//! # Bounded walks
//! Payloads and metadata are walked with an explicit stack, never by recursion, so a hostile 10,000-deep array
//! cannot overflow a worker's stack. Each walk also stops descending at a fixed depth
//! ([`MAX_WALK_DEPTH`] for severity and links, [`MAX_SCHEMA_DEPTH`] for the schema): what lies deeper is ignored.
//!
//! - `severity.rs`: [`severity_of`].
//! - `links.rs`: [`Links`] and [`links_of`].
//! - `derived.rs`: [`derived_of`], with the table of known types and their required fields.
//! - `schema.rs`: [`page_schema`].
//! - `walk.rs`: the bounded walk over object members that severity and links share.

mod derived;
mod links;
mod schema;
mod severity;
mod walk;

pub use derived::derived_of;
pub use links::{Links, MAX_LINKS_PER_KIND, links_of};
pub use schema::{
    MAX_SCHEMA_DEPTH, MAX_SCHEMA_EXAMPLE_CHARS, MAX_SCHEMA_EXAMPLES, MAX_SCHEMA_FIELDS, page_schema,
};
pub use severity::severity_of;
pub use walk::MAX_WALK_DEPTH;
