//! The JSON shapes of the schema registry (SPEC §6.7): one version ([`EventSchemaView`]) and one type with its
//! active version ([`EventSchemaSummaryView`]).

use serde::Serialize;
use serde_json::Value;

use crate::domain::{SchemaSummary, SchemaVersion, format_timestamp};

/// One version of a type's schema: `{createdAt, createdBy, hash, schema, type, version}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSchemaView<'a> {
    /// When it was registered.
    pub created_at: String,
    /// The registering token's subject.
    pub created_by: &'a str,
    /// SHA-256 of the schema's canonical JSON (key order and spacing do not count).
    pub hash: &'a str,
    /// The schema as registered.
    pub schema: &'a Value,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// 1, 2, …; the highest is active.
    pub version: i32,
}

impl<'a> EventSchemaView<'a> {
    /// The view of `version`.
    pub fn of(version: &'a SchemaVersion) -> EventSchemaView<'a> {
        EventSchemaView {
            created_at: format_timestamp(version.created_at),
            created_by: &version.created_by,
            hash: &version.hash,
            schema: &version.schema,
            event_type: version.event_type.as_str(),
            version: version.version,
        }
    }
}

/// A type with a schema: `{activeVersion, type, updatedAt}` (`updatedAt`: when the active version was registered).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSchemaSummaryView<'a> {
    /// The active (highest) version.
    pub active_version: i32,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// When the active version was registered.
    pub updated_at: String,
}

impl<'a> EventSchemaSummaryView<'a> {
    /// The view of `summary`.
    pub fn of(summary: &'a SchemaSummary) -> EventSchemaSummaryView<'a> {
        EventSchemaSummaryView {
            active_version: summary.active_version,
            event_type: summary.event_type.as_str(),
            updated_at: format_timestamp(summary.updated_at),
        }
    }
}
