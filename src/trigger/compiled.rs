//! A stored trigger compiled for evaluation and delivery: what the directory matches events with and each
//! `TriggerActor` delivers with, shared (`Arc`) between them.

use serde_json::Value;

use super::definition::{Definition, DefinitionRules};
use super::evaluate::trigger_json;
use super::record::TriggerRecord;
use super::signature::WebhookSecret;
use crate::domain::ValidationError;

/// A trigger ready to evaluate and deliver.
#[derive(Debug)]
pub struct CompiledTrigger {
    /// The id.
    pub id: String,
    /// The version compiled.
    pub version: i32,
    /// The name.
    pub name: String,
    /// The definition.
    pub definition: Definition,
    /// The webhook secret.
    pub secret: Option<WebhookSecret>,
    /// `{id, name, version}`, for templates and webhook bodies.
    pub json: Value,
    /// When it was created: it evaluates the events stored from then on.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl CompiledTrigger {
    /// Compiles `record` under `rules`.
    ///
    /// # Errors
    /// The rule the stored definition breaks now.
    pub fn compile(
        record: &TriggerRecord,
        rules: &DefinitionRules,
    ) -> Result<CompiledTrigger, ValidationError> {
        let parsed = record.compile(rules)?;
        let name = record.name().to_owned();
        Ok(CompiledTrigger {
            json: trigger_json(&record.id, &name, record.version),
            id: record.id.clone(),
            version: record.version,
            name,
            definition: parsed.definition,
            secret: parsed.secret,
            created_at: crate::domain::truncate_to_millis(record.created_at),
        })
    }
}
