//! [`SchemaCatalog`]: the compiled active schema of every type that has one, as of one read of the registry; and
//! [`SharedCatalog`], the handle through which HTTP ingest and stream ingest both see the latest catalog.
//!
//! The catalog is immutable; a refresh builds a new one and swaps it in, so a batch checks all its entries
//! against one consistent set and the hot path takes no lock (one atomic load per batch or request).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;

use super::{EventSchema, SchemaViolation};
use crate::domain::EventType;

/// The active schema per type, and whether a type without one is refused.
#[derive(Debug, Default)]
pub struct SchemaCatalog {
    by_type: HashMap<String, Arc<EventSchema>>,
    require_schemas: bool,
}

impl SchemaCatalog {
    /// A catalog of `schemas` (type → compiled active version). With `require_schemas`, a type without a
    /// schema is refused (`HERALD_REQUIRE_SCHEMAS=true`).
    pub fn new(by_type: HashMap<String, Arc<EventSchema>>, require_schemas: bool) -> SchemaCatalog {
        SchemaCatalog {
            by_type,
            require_schemas,
        }
    }

    /// Checks `payload` against the active schema of `event_type`, answering the version it passed (`None` when
    /// the type has no schema). A type without a schema costs one hash-map lookup.
    ///
    /// # Errors
    /// [`SchemaViolation::Mismatch`] when the payload fails; [`SchemaViolation::Required`] when the type has no
    /// schema and schemas are required.
    pub fn check(
        &self,
        event_type: &EventType,
        payload: &Value,
    ) -> Result<Option<i32>, SchemaViolation> {
        match self.by_type.get(event_type.as_str()) {
            Some(schema) => schema.check(payload).map(|()| Some(schema.version())),
            None if self.require_schemas => Err(SchemaViolation::Required {
                event_type: event_type.clone(),
            }),
            None => Ok(None),
        }
    }

    /// The active version of `event_type`, when it has a schema.
    pub fn active_version(&self, event_type: &EventType) -> Option<i32> {
        self.by_type.get(event_type.as_str()).map(|s| s.version())
    }

    /// The compiled active schema of `event_type`, so a refresh can keep what did not change.
    pub fn get(&self, event_type: &str) -> Option<&Arc<EventSchema>> {
        self.by_type.get(event_type)
    }

    /// Whether a type without a schema is refused.
    pub fn requires_schemas(&self) -> bool {
        self.require_schemas
    }

    /// How many types have a schema.
    pub fn len(&self) -> usize {
        self.by_type.len()
    }

    /// True when no type has a schema.
    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }
}

/// The latest [`SchemaCatalog`], shared by every reader; cheap to clone.
#[derive(Debug, Clone)]
pub struct SharedCatalog(Arc<ArcSwap<SchemaCatalog>>);

impl SharedCatalog {
    /// A handle starting with `catalog`.
    pub fn new(catalog: SchemaCatalog) -> SharedCatalog {
        SharedCatalog(Arc::new(ArcSwap::from_pointee(catalog)))
    }

    /// An empty catalog that requires nothing: what a component gets when no registry is wired (unit tests).
    pub fn empty() -> SharedCatalog {
        SharedCatalog::new(SchemaCatalog::default())
    }

    /// The catalog in force now; hold it for a whole batch so every entry sees the same versions.
    pub fn load(&self) -> Arc<SchemaCatalog> {
        self.0.load_full()
    }

    /// Puts `catalog` in force for every later [`SharedCatalog::load`].
    pub fn store(&self, catalog: SchemaCatalog) {
        self.0.store(Arc::new(catalog));
    }
}
