//! Row ↔ domain conversions, one place for every table a repository reads or writes, so repositories share them
//! without calling each other. A leaf: it imports the domain and the entities, nothing else of storage but the
//! error type.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use serde_json::Value;

use crate::domain::{
    ControlAction, CorrelationId, DeadLetter, Envelope, EventId, EventType, NewEvent, PauseKind,
    SchemaSummary, SchemaVersion, Severity, SourceControl, SourceCounters, SourceName, SourcePause,
    StoredEvent, UnknownSpelling, ValidationError, truncate_to_millis,
};
use crate::saved_view::{
    NewSavedView, SavedView, Slug, ViewDescription, ViewFilters, ViewName, Visibility,
};
use crate::storage::entity::{
    event_ingress_failures as failures, event_schemas as schemas, saved_views,
    source_controls as controls, source_pauses as pauses, source_stats as stats,
    workflow_events as events,
};
use crate::storage::{CorruptColumn, StorageError};

/// `cause` makes the row `key` of `table` corrupt in `column`.
pub(super) fn invalid(
    table: &'static str,
    key: &str,
    column: &'static str,
) -> impl FnOnce(ValidationError) -> StorageError {
    move |cause| StorageError::Corrupt {
        table,
        key: key.to_owned(),
        cause: Box::new(CorruptColumn::Invalid { column, cause }),
    }
}

/// `cause` makes the row `key` of `table` corrupt in `column`.
pub(super) fn unknown(
    table: &'static str,
    key: &str,
    column: &'static str,
) -> impl FnOnce(UnknownSpelling) -> StorageError {
    move |cause| StorageError::Corrupt {
        table,
        key: key.to_owned(),
        cause: Box::new(CorruptColumn::Unknown { column, cause }),
    }
}

/// A source name stored as the key of a `table` row (`source_stats`, `source_pauses`, `source_deferrals`).
///
/// # Errors
/// [`StorageError::Corrupt`] when it no longer parses.
pub(super) fn parse_source(
    table: &'static str,
    source: String,
) -> Result<SourceName, StorageError> {
    let key = source.clone();
    SourceName::parse(source).map_err(invalid(table, &key, "source"))
}

/// The `workflow_events` row of `event`, numbered `sequence`.
pub(super) fn event_row(event: &NewEvent, sequence: i64) -> events::Model {
    let e = &event.envelope;
    events::Model {
        id: e.id.to_string(),
        ingress_sequence: sequence,
        event_type: e.event_type.to_string(),
        source: e.source.to_string(),
        occurred_at: e.occurred_at,
        received_at: event.received_at,
        payload: e.payload.clone(),
        correlation_id: e.correlation_id.as_ref().map(ToString::to_string),
        causation_id: e.causation_id.as_ref().map(ToString::to_string),
        ttl_ms: e.ttl_ms,
        metadata: e.metadata.clone().map(Value::Object),
        schema_version: event.schema_version,
        content_hash: event.content_hash.clone(),
        stream_id: event.stream_id.clone(),
        severity: event.severity.as_str().to_owned(),
    }
}

/// The `severity` column of the `workflow_events` row `id`.
///
/// # Errors
/// [`StorageError::Corrupt`] when the spelling is not a severity.
pub(super) fn severity_from_column(id: &str, severity: &str) -> Result<Severity, StorageError> {
    severity
        .parse::<Severity>()
        .map_err(unknown("workflow_events", id, "severity"))
}

/// A `workflow_events` row as the event it was written from.
///
/// # Errors
/// [`StorageError::Corrupt`] when a column no longer parses.
pub(super) fn event_from_model(m: events::Model) -> Result<StoredEvent, StorageError> {
    const TABLE: &str = "workflow_events";
    let key = m.id.as_str();
    let metadata = match m.metadata {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    };
    let envelope = Envelope {
        id: EventId::parse(m.id.clone()).map_err(invalid(TABLE, key, "id"))?,
        event_type: EventType::parse(m.event_type).map_err(invalid(TABLE, key, "type"))?,
        source: SourceName::parse(m.source).map_err(invalid(TABLE, key, "source"))?,
        occurred_at: m.occurred_at,
        payload: m.payload,
        correlation_id: m
            .correlation_id
            .map(CorrelationId::parse)
            .transpose()
            .map_err(invalid(TABLE, key, "correlation_id"))?,
        causation_id: m
            .causation_id
            .map(|c| CorrelationId::parse_field(c, "causationId"))
            .transpose()
            .map_err(invalid(TABLE, key, "causation_id"))?,
        ttl_ms: m.ttl_ms,
        metadata,
    };
    let severity = severity_from_column(key, &m.severity)?;
    Ok(StoredEvent {
        envelope,
        ingress_sequence: m.ingress_sequence,
        severity,
        received_at: m.received_at,
        schema_version: m.schema_version,
    })
}

/// A `source_pauses` row for `pause`.
pub(super) fn pause_row(pause: &SourcePause) -> pauses::ActiveModel {
    pauses::ActiveModel {
        source: Set(pause.source.as_str().to_owned()),
        kind: Set(pause.kind.as_str().to_owned()),
        reason: Set(pause.reason.clone()),
        actor: Set(pause.actor.clone()),
        paused_at: Set(truncate_to_millis(pause.paused_at)),
        paused_until: Set(pause.until.map(truncate_to_millis)),
    }
}

/// A `source_pauses` row as the pause it records.
///
/// # Errors
/// [`StorageError::Corrupt`] when the source or kind no longer parses.
pub(super) fn pause_from_model(m: pauses::Model) -> Result<SourcePause, StorageError> {
    const TABLE: &str = "source_pauses";
    let kind = m
        .kind
        .parse::<PauseKind>()
        .map_err(unknown(TABLE, &m.source, "kind"))?;
    Ok(SourcePause {
        source: parse_source(TABLE, m.source)?,
        kind,
        reason: m.reason,
        actor: m.actor,
        paused_at: m.paused_at,
        until: m.paused_until,
    })
}

/// A `source_controls` row for `control`.
pub(super) fn control_row(control: &SourceControl) -> controls::ActiveModel {
    controls::ActiveModel {
        id: Set(control.id.clone()),
        source: Set(control.source.as_str().to_owned()),
        action: Set(control.action.as_str().to_owned()),
        actor: Set(control.actor.clone()),
        reason: Set(control.reason.clone()),
        duration_ms: Set(control.duration_ms),
        ended_pause: Set(control.ended_pause),
        discarded: Set(control.discarded),
        at: Set(control.at),
    }
}

/// A `source_controls` row as the control it records.
///
/// # Errors
/// [`StorageError::Corrupt`] when the source or action no longer parses.
pub(super) fn control_from_model(row: controls::Model) -> Result<SourceControl, StorageError> {
    const TABLE: &str = "source_controls";
    let action = row
        .action
        .parse::<ControlAction>()
        .map_err(unknown(TABLE, &row.id, "action"))?;
    Ok(SourceControl {
        source: SourceName::parse(row.source).map_err(invalid(TABLE, &row.id, "source"))?,
        id: row.id,
        action,
        actor: row.actor,
        reason: row.reason,
        duration_ms: row.duration_ms,
        ended_pause: row.ended_pause,
        discarded: row.discarded,
        at: row.at,
    })
}

/// A `source_stats` row as the counters it holds.
pub(super) fn counters_from_model(row: stats::Model) -> SourceCounters {
    SourceCounters {
        total: row.total,
        throttled: row.throttled,
        failures: row.failures,
        dropped: row.dropped,
        lag_ms_sum: row.lag_ms_sum,
        lag_ms_latest: row.lag_ms_latest,
        lag_ms_max: row.lag_ms_max,
        last_event_at: row.last_event_at,
    }
}

/// An `event_ingress_failures` row as the dead letter it records.
pub(super) fn dead_letter_from_model(m: failures::Model) -> DeadLetter {
    DeadLetter {
        id: m.id,
        reason: m.reason,
        message: m.message,
        source: m.source,
        event_id: m.event_id,
        stream_id: m.stream_id,
        raw: m.raw,
        received_at: m.received_at,
        redriven_at: m.redriven_at,
    }
}

/// An `event_schemas` row as the version it stores.
///
/// # Errors
/// [`StorageError::Corrupt`] when the type no longer parses.
pub(super) fn schema_version_from_model(m: schemas::Model) -> Result<SchemaVersion, StorageError> {
    let key = m.id.to_string();
    Ok(SchemaVersion {
        event_type: EventType::parse(m.event_type).map_err(invalid(
            "event_schemas",
            &key,
            "event_type",
        ))?,
        version: m.version,
        schema: m.schema,
        hash: m.schema_hash,
        created_at: m.created_at,
        created_by: m.created_by,
    })
}

/// An active `event_schemas` row as its type's summary.
///
/// # Errors
/// [`StorageError::Corrupt`] when the type no longer parses.
pub(super) fn schema_summary_from_model(m: schemas::Model) -> Result<SchemaSummary, StorageError> {
    let key = m.id.to_string();
    Ok(SchemaSummary {
        event_type: EventType::parse(m.event_type).map_err(invalid(
            "event_schemas",
            &key,
            "event_type",
        ))?,
        active_version: m.version,
        updated_at: m.created_at,
    })
}

/// The `saved_views` row of a new view.
pub(super) fn saved_view_row(
    id: &str,
    slug: &Slug,
    view: &NewSavedView,
    now: DateTime<Utc>,
) -> saved_views::ActiveModel {
    let now = truncate_to_millis(now);
    saved_views::ActiveModel {
        id: Set(id.to_owned()),
        slug: Set(slug.as_str().to_owned()),
        name: Set(view.name.as_str().to_owned()),
        description: Set(view.description.as_ref().map(|d| d.as_str().to_owned())),
        filters: Set(view.filters.to_json().to_string()),
        visibility: Set(view.visibility.as_str().to_owned()),
        owner_subject: Set(view.owner.clone()),
        applied_count: Set(0),
        shared_count: Set(0),
        last_applied_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// A saved view read back; every column is parsed again, so a row no longer valid is reported, never answered.
///
/// # Errors
/// [`StorageError::Corrupt`] naming the column that no longer parses.
pub(super) fn saved_view_from_model(m: saved_views::Model) -> Result<SavedView, StorageError> {
    const TABLE: &str = "saved_views";
    let key = m.id.clone();
    let slug = Slug::parse(&m.slug).map_err(invalid(TABLE, &key, "slug"))?;
    let name = ViewName::parse(&m.name).map_err(invalid(TABLE, &key, "name"))?;
    let description = m
        .description
        .as_deref()
        .map(ViewDescription::parse)
        .transpose()
        .map_err(invalid(TABLE, &key, "description"))?
        .flatten();
    let filters = match serde_json::from_str::<Value>(&m.filters) {
        Ok(Value::Object(map)) => ViewFilters::from_json(&map),
        _ => Err(ValidationError::invalid_json(
            "filters is not a JSON object",
        )),
    }
    .map_err(invalid(TABLE, &key, "filters"))?;
    let visibility =
        Visibility::parse(&m.visibility).map_err(unknown(TABLE, &key, "visibility"))?;
    Ok(SavedView {
        id: m.id,
        slug,
        name,
        description,
        filters,
        visibility,
        owner: m.owner_subject,
        applied_count: u64::try_from(m.applied_count).unwrap_or(0),
        shared_count: u64::try_from(m.shared_count).unwrap_or(0),
        last_applied_at: m.last_applied_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}
