//! [`SchemaRegistry`]: keeps the [`SharedCatalog`] that HTTP ingest and stream ingest check payloads against in
//! step with `event_schemas`, on this instance and every other one (SPEC §6.7, §13).
//!
//! A change made on one instance holds on all within 1 s: every instance polls the table's watermark (row count
//! and highest id, one aggregate over the primary key) every [`REFRESH_INTERVAL`], and only when it moved reads
//! the active versions and compiles the ones it does not hold yet. This works the same in both deployments (no
//! Redis needed) and costs the ingest hot path nothing: it reads the catalog through one atomic load per batch,
//! never the database. The instance that registers a schema refreshes at once, so its own next request already
//! sees it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::domain::{EventSchema, SchemaCatalog, SharedCatalog};
use crate::storage::{SchemaWatermark, Storage, StorageError};

/// How often every instance looks for schema changes; well inside SPEC's 1 s.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(250);

/// The registry of per-type schemas: storage plus the compiled catalog.
pub struct SchemaRegistry {
    storage: Storage,
    catalog: SharedCatalog,
    require_schemas: bool,
    /// The watermark the catalog was built from; `None` before the first read. A tokio mutex: it is held across
    /// the reads, so two refreshes never interleave and an older read never replaces a newer catalog.
    seen: Mutex<Option<SchemaWatermark>>,
}

impl SchemaRegistry {
    /// A registry over `storage` with the catalog read once; with `require_schemas`, a type without a schema
    /// is refused (`HERALD_REQUIRE_SCHEMAS=true`).
    ///
    /// # Errors
    /// [`StorageError`] when the first read fails (start-up stops: ingest must not run without its schemas).
    pub async fn load(
        storage: Storage,
        require_schemas: bool,
    ) -> Result<Arc<SchemaRegistry>, StorageError> {
        let registry = Arc::new(SchemaRegistry {
            storage,
            catalog: SharedCatalog::new(SchemaCatalog::new(HashMap::new(), require_schemas)),
            require_schemas,
            seen: Mutex::new(None),
        });
        registry.refresh().await?;
        Ok(registry)
    }

    /// The catalog handle the ingest paths read.
    pub fn catalog(&self) -> &SharedCatalog {
        &self.catalog
    }

    /// Reads the watermark and, when it moved, rebuilds the catalog (compiling only versions not held yet).
    /// Answers whether the catalog changed.
    ///
    /// # Errors
    /// [`StorageError`] when a read fails; the catalog in force stays.
    pub async fn refresh(&self) -> Result<bool, StorageError> {
        let mut seen = self.seen.lock().await;
        let repo = self.storage.event_schemas();
        let mark = repo.watermark().await?;
        if *seen == Some(mark) {
            return Ok(false);
        }
        let current = self.catalog.load();
        let mut by_type = HashMap::new();
        for version in repo.active().await? {
            let event_type = version.event_type.to_string();
            let held = current
                .get(&event_type)
                .filter(|held| held.version() == version.version);
            let compiled = match held {
                Some(held) => held.clone(),
                None => match EventSchema::compile(&version.schema, version.version) {
                    Ok(compiled) => Arc::new(compiled),
                    Err(e) => {
                        // It compiled when it was registered; only a validator upgrade can get here. Keep what
                        // this instance held, if anything, and tell the operator.
                        tracing::error!(%event_type, version = version.version, error.message = %e,
                            "A stored schema no longer compiles; its type is checked against the last version that did, if any.");
                        match current.get(&event_type) {
                            Some(previous) => previous.clone(),
                            None => continue,
                        }
                    }
                },
            };
            by_type.insert(event_type, compiled);
        }
        tracing::debug!(types = by_type.len(), "Schema catalog refreshed.");
        self.catalog
            .store(SchemaCatalog::new(by_type, self.require_schemas));
        *seen = Some(mark);
        Ok(true)
    }

    /// Starts the poll that keeps this instance's catalog in step with the others'; it ends when `shutdown`
    /// turns true (or its sender is dropped).
    pub fn spawn_refresher(
        self: &Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let registry = self.clone();
        actix_rt::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(REFRESH_INTERVAL) => {}
                    _ = shutdown.wait_for(|stop| *stop) => break,
                }
                if let Err(e) = registry.refresh().await {
                    tracing::warn!(error.message = %e, error.cause_chain = ?e,
                        "Could not refresh the schema catalog; the one in force stays.");
                }
            }
            tracing::debug!("Schema refresher stopped.");
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::domain::EventType;

    #[actix_rt::test]
    async fn a_refresh_picks_up_a_version_stored_behind_its_back_and_keeps_unchanged_ones() {
        let (_dir, storage) = Storage::scratch().await;
        let registry = SchemaRegistry::load(storage.clone(), false).await.unwrap();
        assert!(registry.catalog().load().is_empty());
        assert!(!registry.refresh().await.unwrap(), "nothing changed");

        let order = EventType::parse("shop.order.placed".into()).unwrap();
        let repo = storage.event_schemas();
        repo.register(&order, json!({"required": ["id"]}), "alice", Utc::now())
            .await
            .unwrap();
        assert!(registry.refresh().await.unwrap());
        let first = registry.catalog().load();
        assert_eq!(first.active_version(&order), Some(1));
        assert!(first.check(&order, &json!({})).is_err());

        let other = EventType::parse("shop.order.other".into()).unwrap();
        repo.register(&other, json!(true), "alice", Utc::now())
            .await
            .unwrap();
        assert!(registry.refresh().await.unwrap());
        let second = registry.catalog().load();
        assert!(Arc::ptr_eq(
            first.get(order.as_str()).unwrap(),
            second.get(order.as_str()).unwrap()
        ));
        assert_eq!(second.active_version(&other), Some(1));
    }
}
