//! Per-type JSON Schemas (SPEC §1 "Per-type schemas", §6.7): compiling a registered schema ([`EventSchema`]), the
//! versions the registry keeps ([`SchemaVersion`]), and what a payload that fails its type's schema comes to
//! ([`SchemaViolation`]). The catalog every ingest path checks against is in `catalog.rs`.
//!
//! Compiled with the `jsonschema` crate, offline: a `$ref` to anything but the schema itself (and the drafts'
//! own meta-schemas, which the crate bundles) does not compile, so registering a schema can never make Herald
//! fetch a URL.

mod catalog;

use std::fmt;

use chrono::{DateTime, Utc};
use jsonschema::Draft;
use serde_json::Value;
use sha2::{Digest, Sha256};

use herald_core::ErrorCode;
use herald_core::EventType;
use herald_core::{canonical_json, compact_json_len};

pub use catalog::{SchemaCatalog, SharedCatalog};

/// The largest schema Herald registers, as compact JSON (SPEC's payload limit, 256 KiB): a schema is checked
/// against every payload of its type, so an unbounded one is an unbounded cost on the hot path.
pub const MAX_SCHEMA_BYTES: usize = 262_144;

/// The `$schema` URIs of the drafts Herald accepts; a schema without `$schema` is read as draft 2020-12.
const ACCEPTED_DRAFTS: &str = "draft 2020-12, 2019-09 or 7";

/// A registered schema, compiled: cheap to share (`Arc`) and to run against many payloads at once.
pub struct EventSchema {
    version: i32,
    validator: jsonschema::Validator,
}

impl fmt::Debug for EventSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSchema")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Why a schema cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The schema is larger than [`MAX_SCHEMA_BYTES`] as compact JSON (HTTP `413 body_too_large`).
    #[error("the schema is {size} bytes as compact JSON; the limit is {MAX_SCHEMA_BYTES}")]
    TooLarge {
        /// Its compact size.
        size: usize,
    },
    /// The schema does not compile (`400 invalid_schema`); `message` is the validator's.
    #[error("{message}")]
    Invalid {
        /// What is wrong, in the validator's words where it has them.
        message: String,
    },
}

impl EventSchema {
    /// Compiles `schema` as version `version` of its type.
    ///
    /// # Errors
    /// [`SchemaError::TooLarge`] over [`MAX_SCHEMA_BYTES`]; [`SchemaError::Invalid`] when `schema` is not an
    /// object or a boolean, names a draft other than 2020-12, 2019-09 or 7 in `$schema`, breaks its draft's
    /// meta-schema, or refers to anything outside itself.
    pub fn compile(schema: &Value, version: i32) -> Result<EventSchema, SchemaError> {
        let size = compact_json_len(schema);
        if size > MAX_SCHEMA_BYTES {
            return Err(SchemaError::TooLarge { size });
        }
        let draft = draft_of(schema)?;
        let validator = jsonschema::options()
            .with_draft(draft)
            .offline()
            .build(schema)
            .map_err(|e| SchemaError::Invalid {
                message: format!("the schema does not compile: {e}"),
            })?;
        Ok(EventSchema { version, validator })
    }

    /// The version this schema is of its type.
    pub fn version(&self) -> i32 {
        self.version
    }

    /// Checks `payload`; on failure, the first error the validator reports.
    ///
    /// # Errors
    /// [`SchemaViolation::Mismatch`] with the failing instance path (a JSON pointer, `""` for the payload
    /// itself) and keyword.
    pub fn check(&self, payload: &Value) -> Result<(), SchemaViolation> {
        // `is_valid` is the validator's fast path (no error values built); most payloads pass.
        if self.validator.is_valid(payload) {
            return Ok(());
        }
        let (instance_path, keyword, detail) = match self.validator.validate(payload) {
            Err(e) => (
                e.instance_path().as_str().to_owned(),
                e.kind().keyword().to_owned(),
                e.to_string(),
            ),
            // The two entry points disagree only on a validator bug; refusing is the safe side.
            Ok(()) => (String::new(), "schema".to_owned(), "invalid".to_owned()),
        };
        Err(SchemaViolation::Mismatch {
            instance_path,
            keyword,
            schema_version: self.version,
            detail,
        })
    }
}

/// The draft `schema` is written in: `$schema` when present (2020-12, 2019-09 or 7), else 2020-12.
fn draft_of(schema: &Value) -> Result<Draft, SchemaError> {
    let declared = match schema {
        Value::Object(map) => map.get("$schema"),
        Value::Bool(_) => None,
        other => {
            return Err(SchemaError::Invalid {
                message: format!(
                    "a JSON Schema is an object or a boolean, not {}",
                    json_kind(other)
                ),
            });
        }
    };
    match declared {
        None => Ok(Draft::Draft202012),
        Some(Value::String(uri)) => match Draft::from_schema_uri(uri) {
            draft @ (Draft::Draft202012 | Draft::Draft201909 | Draft::Draft7) => Ok(draft),
            _ => Err(SchemaError::Invalid {
                message: format!("`$schema` names {uri:?}; Herald accepts {ACCEPTED_DRAFTS}"),
            }),
        },
        Some(other) => Err(SchemaError::Invalid {
            message: format!("`$schema` must be a URI string, not {}", json_kind(other)),
        }),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The SHA-256 (hex) of `schema`'s canonical JSON: equal for schemas that differ only in key order or spacing.
pub fn schema_hash(schema: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(schema).as_bytes()))
}

/// A payload refused by the schema rules, with what SPEC's error table puts in `details`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaViolation {
    /// `schema_mismatch`: the payload fails its type's active schema.
    Mismatch {
        /// JSON pointer into the payload of the first failing value (`/items/0/sku`; `""` for the payload).
        instance_path: String,
        /// The schema keyword that failed (`required`, `type`, `minimum`, …).
        keyword: String,
        /// The active version the payload was checked against.
        schema_version: i32,
        /// The validator's sentence about the failure.
        detail: String,
    },
    /// `schema_required`: the type has no schema while `HERALD_REQUIRE_SCHEMAS=true`.
    Required {
        /// The event type.
        event_type: EventType,
    },
}

impl SchemaViolation {
    /// The SPEC code (also the dead-letter reason).
    pub fn code(&self) -> ErrorCode {
        match self {
            SchemaViolation::Mismatch { .. } => ErrorCode::SchemaMismatch,
            SchemaViolation::Required { .. } => ErrorCode::SchemaRequired,
        }
    }
}

impl fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaViolation::Mismatch {
                instance_path,
                keyword,
                schema_version,
                detail,
            } => {
                let at = if instance_path.is_empty() {
                    "the payload".to_owned()
                } else {
                    format!("`payload{instance_path}`")
                };
                write!(
                    f,
                    "{at} fails `{keyword}` of schema version {schema_version}: {detail}"
                )
            }
            SchemaViolation::Required { event_type } => write!(
                f,
                "type {event_type} has no registered schema, and HERALD_REQUIRE_SCHEMAS=true requires one"
            ),
        }
    }
}

/// One stored version of a type's schema.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaVersion {
    /// The event type it applies to.
    pub event_type: EventType,
    /// 1, 2, …; the highest is the active one.
    pub version: i32,
    /// The schema as registered.
    pub schema: Value,
    /// [`schema_hash`] of `schema`.
    pub hash: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// The registering token's subject.
    pub created_by: String,
}

/// A type with a schema, as `GET /admin/event-schemas` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaSummary {
    /// The event type.
    pub event_type: EventType,
    /// Its active (highest) version.
    pub active_version: i32,
    /// When the active version was registered.
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests;
