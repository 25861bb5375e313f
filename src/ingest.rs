//! The pure step of ingest: what each queue entry becomes before it is persisted (an event or a dead letter),
//! and what the caller is told afterwards. No actix, no I/O: the [`crate::actors::IngressRouter`] wires it to its
//! mailbox and to storage.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::{
    CloudEvent, Envelope, ErrorCode, EventId, EventOutcome, NewDeadLetter, NewEvent, ParseContext,
    PersistOutcome, RawEntry, SchemaCatalog, ValidationError,
};
use crate::insights::severity_of;

/// Field of a stream entry that carries the envelope JSON (SPEC §2.1).
pub const ENVELOPE_FIELD: &str = "envelope";

/// Field of a stream entry that carries a structured-mode CloudEvent instead (SPEC §1). An entry with both is
/// read by its `envelope`: entries may carry other fields, and `envelope` is the one SPEC §2.1 names.
pub const CLOUD_EVENT_FIELD: &str = "cloudevent";

/// An entry is dead-lettered as `poison` when it has been delivered more than this many times without an outcome.
pub const MAX_DELIVERIES: u64 = 5;

/// One entry handed to the ingress router.
#[derive(Debug, Clone)]
pub enum IngressEntry {
    /// A Redis stream entry, as read (not yet validated).
    Stream(StreamEntry),
    /// An envelope the HTTP ingress already validated (inline mode).
    Envelope(Envelope),
}

/// A Redis stream entry, as read.
#[derive(Debug, Clone)]
pub struct StreamEntry {
    /// The stream key; part of the id derived for envelopes without one. Shared by every entry of a read.
    pub stream_key: Arc<str>,
    /// The entry id (`1700000000000-0`).
    pub entry_id: String,
    /// Every field of the entry; the envelope is the one named [`ENVELOPE_FIELD`].
    pub fields: RawEntry,
    /// How many times the entry has been delivered; above [`MAX_DELIVERIES`] it is poison.
    pub deliveries: u64,
}

/// What became of one entry, once its outcome is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryOutcome {
    /// Newly stored with this `ingressSequence`.
    Stored(i64),
    /// Already stored with the same content.
    Duplicate,
    /// Already stored with different content (dead-lettered for stream entries).
    Conflict,
    /// Recorded in `event_ingress_failures` with this reason.
    DeadLettered(ErrorCode),
}

/// A batch split into what to store, what to dead-letter, and where each entry's outcome will come from.
#[derive(Debug, Default)]
pub struct PreparedBatch {
    /// Valid events, to insert.
    pub events: Vec<NewEvent>,
    /// Invalid entries.
    pub dead_letters: Vec<NewDeadLetter>,
    slots: Vec<Slot>,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Event(usize),
    Dead(ErrorCode),
}

impl PreparedBatch {
    /// Validates every entry of a batch received at `now`, payloads against `schemas` (SPEC §1 per-type schemas).
    ///
    /// An [`IngressEntry::Envelope`] was checked against the schemas by the HTTP ingress before it was queued;
    /// here it only records its type's active version (a lookup), so inline mode never validates twice. A schema
    /// registered in the instant between that check and this batch is therefore recorded without having been
    /// checked; stream entries are always checked here.
    pub fn prepare(
        entries: Vec<IngressEntry>,
        max_payload_bytes: usize,
        schemas: &SchemaCatalog,
        now: DateTime<Utc>,
    ) -> PreparedBatch {
        let ctx = ParseContext {
            max_payload_bytes,
            now,
        };
        let mut batch = PreparedBatch {
            events: Vec::with_capacity(entries.len()),
            dead_letters: Vec::new(),
            slots: Vec::with_capacity(entries.len()),
        };
        for entry in entries {
            match entry {
                IngressEntry::Envelope(envelope) => {
                    let version = schemas.active_version(&envelope.event_type);
                    batch.push_event(
                        accepted(envelope, now, None, None).with_schema_version(version),
                    );
                }
                IngressEntry::Stream(entry) => batch.push_stream_entry(entry, &ctx, schemas),
            }
        }
        batch
    }

    fn push_event(&mut self, event: NewEvent) {
        self.slots.push(Slot::Event(self.events.len()));
        self.events.push(event);
    }

    fn push_dead(&mut self, reason: ErrorCode, message: String, entry: &StreamEntry) {
        let json = entry
            .fields
            .field(ENVELOPE_FIELD)
            .or_else(|| entry.fields.field(CLOUD_EVENT_FIELD));
        let (source, event_id) = best_effort_identity(json);
        self.slots.push(Slot::Dead(reason));
        self.dead_letters.push(NewDeadLetter::new(
            reason,
            message,
            &entry.fields.to_json_string(),
            Some(entry.entry_id.clone()),
            source,
            event_id,
        ));
    }

    fn push_stream_entry(
        &mut self,
        entry: StreamEntry,
        ctx: &ParseContext,
        schemas: &SchemaCatalog,
    ) {
        if entry.deliveries > MAX_DELIVERIES {
            let message = format!(
                "entry {} was delivered {} times without an outcome",
                entry.entry_id, entry.deliveries
            );
            return self.push_dead(ErrorCode::Poison, message, &entry);
        }
        let fallback = || EventId::from_stream_entry(&entry.stream_key, &entry.entry_id);
        match parse_fields(&entry.fields, ctx, fallback) {
            Ok(envelope) => match schemas.check(&envelope.event_type, &envelope.payload) {
                Ok(version) => self.push_event(
                    accepted(envelope, ctx.now, Some(entry.entry_id), Some(entry.fields))
                        .with_schema_version(version),
                ),
                Err(violation) => self.push_dead(violation.code(), violation.to_string(), &entry),
            },
            Err(e) => {
                let message = e.to_string();
                self.push_dead(e.code, message, &entry);
            }
        }
    }

    /// Moves the rows out for persistence, keeping what [`PreparedBatch::outcomes`] needs.
    pub fn take_rows(&mut self) -> (Vec<NewEvent>, Vec<NewDeadLetter>) {
        (
            std::mem::take(&mut self.events),
            std::mem::take(&mut self.dead_letters),
        )
    }

    /// Each entry's outcome, in entry order, once `persisted` (the result of persisting `self.events`) is durable.
    pub fn outcomes(&self, persisted: &PersistOutcome) -> Vec<EntryOutcome> {
        self.slots
            .iter()
            .map(|slot| match *slot {
                Slot::Dead(reason) => EntryOutcome::DeadLettered(reason),
                Slot::Event(index) => match persisted.outcomes.get(index) {
                    Some(EventOutcome::Stored(sequence)) => EntryOutcome::Stored(*sequence),
                    Some(EventOutcome::Duplicate) => EntryOutcome::Duplicate,
                    Some(EventOutcome::Conflict) | None => EntryOutcome::Conflict,
                },
            })
            .collect()
    }
}

/// The `source` and `id` of an envelope that failed validation, when they can still be read, so that operators
/// can filter dead letters by source.
fn best_effort_identity(json: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(serde_json::Value::Object(map)) = json.and_then(|j| serde_json::from_str(j).ok())
    else {
        return (None, None);
    };
    let text = |key: &str, max: usize| {
        map.get(key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty() && s.len() <= max)
            .map(str::to_owned)
    };
    (text("source", 200), text("id", 128))
}

/// The envelope of a stream entry's fields (`envelope`, else `cloudEvent`), validated with the envelope's rules;
/// `fallback` gives the id of an envelope without one. Redriving a dead letter reads its raw entry through here too,
/// so a redriven entry meets exactly the rules it first failed.
///
/// # Errors
/// The first rule broken, or [`ErrorCode::MissingEnvelope`] when neither field is there.
pub fn parse_fields(
    fields: &RawEntry,
    ctx: &ParseContext,
    fallback: impl FnOnce() -> EventId,
) -> Result<Envelope, ValidationError> {
    if let Some(json) = fields.field(ENVELOPE_FIELD) {
        Envelope::parse_slice(json.as_bytes(), ctx, fallback)
    } else if let Some(json) = fields.field(CLOUD_EVENT_FIELD) {
        CloudEvent::parse_slice(json.as_bytes(), ctx, fallback)
    } else {
        Err(ValidationError::new(
            ErrorCode::MissingEnvelope,
            None,
            format!("stream entry has no `{ENVELOPE_FIELD}` (or `{CLOUD_EVENT_FIELD}`) field"),
        ))
    }
}

/// `envelope`, accepted at `received_at`, with its severity read from its type, metadata and payload (SPEC §6.1).
fn accepted(
    envelope: Envelope,
    received_at: DateTime<Utc>,
    stream_id: Option<String>,
    raw_on_conflict: Option<RawEntry>,
) -> NewEvent {
    let severity = severity_of(
        &envelope.event_type,
        &envelope.payload,
        envelope.metadata.as_ref(),
    );
    NewEvent::new(envelope, severity, received_at, stream_id, raw_on_conflict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_entry(envelope: Option<&str>, deliveries: u64) -> IngressEntry {
        IngressEntry::Stream(StreamEntry {
            stream_key: "herald:events".into(),
            entry_id: "1700000000000-0".into(),
            fields: RawEntry::new(
                envelope
                    .map(|e| vec![(ENVELOPE_FIELD.to_owned(), e.to_owned())])
                    .unwrap_or_default(),
            ),
            deliveries,
        })
    }

    #[test]
    fn each_entry_becomes_an_event_or_a_dead_letter_with_its_reason() {
        let entries = vec![
            stream_entry(Some(r#"{"type":"a.b","source":"svc"}"#), 1),
            stream_entry(None, 1),
            stream_entry(Some("{not json"), 1),
            stream_entry(Some(r#"{"type":"a.b","source":"svc","extra":1}"#), 1),
            stream_entry(Some(r#"{"type":"a.b","source":"svc"}"#), MAX_DELIVERIES + 1),
        ];
        let batch = PreparedBatch::prepare(entries, 262_144, &SchemaCatalog::default(), Utc::now());
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.dead_letters.len(), 4);
        let persisted = PersistOutcome {
            outcomes: vec![EventOutcome::Stored(7)],
            stored: vec![],
        };
        assert_eq!(
            batch.outcomes(&persisted),
            vec![
                EntryOutcome::Stored(7),
                EntryOutcome::DeadLettered(ErrorCode::MissingEnvelope),
                EntryOutcome::DeadLettered(ErrorCode::InvalidJson),
                EntryOutcome::DeadLettered(ErrorCode::UnknownField),
                EntryOutcome::DeadLettered(ErrorCode::Poison),
            ]
        );
    }

    fn cloud_event_entry(cloud_event: &str) -> IngressEntry {
        IngressEntry::Stream(StreamEntry {
            stream_key: "herald:events".into(),
            entry_id: "1700000000000-1".into(),
            fields: RawEntry::new(vec![(CLOUD_EVENT_FIELD.to_owned(), cloud_event.to_owned())]),
            deliveries: 1,
        })
    }

    #[test]
    fn a_cloudevent_field_is_mapped_and_a_bad_one_dead_lettered_with_the_envelope_codes() {
        let entries = vec![
            cloud_event_entry(
                r#"{"specversion":"1.0","id":"ce-1","type":"a.b","source":"/svc","subject":"s"}"#,
            ),
            cloud_event_entry(r#"{"specversion":"0.3","id":"ce-2","type":"a.b","source":"/svc"}"#),
            cloud_event_entry(r#"{"specversion":"1.0","type":"a.b","source":"/svc"}"#),
            cloud_event_entry(
                r#"{"specversion":"1.0","id":"ce-4","type":"nodots","source":"/svc"}"#,
            ),
            cloud_event_entry("[]"),
        ];
        let batch = PreparedBatch::prepare(entries, 262_144, &SchemaCatalog::default(), Utc::now());
        assert_eq!(batch.events.len(), 1);
        let event = &batch.events[0].envelope;
        assert_eq!(event.id.as_str(), "ce-1");
        assert_eq!(
            event.metadata.as_ref().unwrap()["cloudEvents"]["subject"],
            serde_json::json!("s")
        );
        let reasons: Vec<_> = batch.dead_letters.iter().map(|d| d.reason).collect();
        assert_eq!(
            reasons,
            vec![
                ErrorCode::InvalidField,
                ErrorCode::MissingField,
                ErrorCode::InvalidField,
                ErrorCode::InvalidJson
            ]
        );
        assert!(batch.dead_letters[0].message.contains("`specversion`"));
        assert!(batch.dead_letters[1].message.contains("`id` is required"));
        assert_eq!(batch.dead_letters[2].source.as_deref(), Some("/svc"));
    }

    #[test]
    fn stream_payloads_are_checked_against_their_types_schema_and_record_its_version() {
        use crate::domain::EventSchema;
        use std::sync::Arc;
        let schema = EventSchema::compile(&serde_json::json!({"required": ["id"]}), 4).unwrap();
        let catalog = SchemaCatalog::new(
            std::collections::HashMap::from([("a.b".to_owned(), Arc::new(schema))]),
            true,
        );
        let entries = vec![
            stream_entry(
                Some(r#"{"type":"a.b","source":"svc","payload":{"id":1}}"#),
                1,
            ),
            stream_entry(Some(r#"{"type":"a.b","source":"svc","payload":{}}"#), 1),
            stream_entry(Some(r#"{"type":"a.c","source":"svc"}"#), 1),
            IngressEntry::Envelope(
                Envelope::parse(
                    serde_json::json!({"type":"a.b","source":"svc","payload":{"id":2}}),
                    &ParseContext::new(Utc::now()),
                    || EventId::from_ulid(ulid::Ulid::generate()),
                )
                .unwrap(),
            ),
        ];
        let batch = PreparedBatch::prepare(entries, 262_144, &catalog, Utc::now());
        assert_eq!(batch.events.len(), 2);
        assert!(batch.events.iter().all(|e| e.schema_version == Some(4)));
        let reasons: Vec<_> = batch.dead_letters.iter().map(|d| d.reason).collect();
        assert_eq!(
            reasons,
            vec![ErrorCode::SchemaMismatch, ErrorCode::SchemaRequired]
        );
        assert!(batch.dead_letters[0].message.contains("`required`"));
        assert!(batch.dead_letters[1].message.contains("a.c"));
    }

    #[test]
    fn an_envelope_without_id_gets_the_same_id_on_every_delivery() {
        let json = r#"{"type":"a.b","source":"svc"}"#;
        let first = PreparedBatch::prepare(
            vec![stream_entry(Some(json), 1)],
            262_144,
            &SchemaCatalog::default(),
            Utc::now(),
        );
        let again = PreparedBatch::prepare(
            vec![stream_entry(Some(json), 2)],
            262_144,
            &SchemaCatalog::default(),
            Utc::now(),
        );
        assert_eq!(first.events[0].envelope.id, again.events[0].envelope.id);
    }

    #[test]
    fn dead_letters_keep_the_source_when_it_can_be_read() {
        let entries = vec![stream_entry(
            Some(r#"{"type":"nodots","source":"billing.api","id":"e-1"}"#),
            1,
        )];
        let batch = PreparedBatch::prepare(entries, 262_144, &SchemaCatalog::default(), Utc::now());
        assert_eq!(batch.dead_letters.len(), 1);
        assert_eq!(
            best_effort_identity(Some(r#"{"source":"billing.api","id":"e-1"}"#))
                .0
                .as_deref(),
            Some("billing.api")
        );
    }
}
