//! [`derived_of`]: a typed view of the Apphub platform's own events (SPEC §6.1 `derived`).
//!
//! SPEC names the known types but not their fields; the shapes below follow what Apphub's services publish,
//! loosened so that a view appears whenever the fields that identify the object are there.
//!
//! # Known types
//! A field marked *required* must be present with the listed type (strings non-blank); `a | b` means at least
//! one of the two. Optional fields of another type, blank strings and `null`s are left out of the view.
//!
//! - `asset.produced`: requires `assetId` and `workflowDefinitionId` (strings). Optional: `workflowSlug`,
//!   `workflowRunId`, `workflowRunStepId`, `stepId`, `producedAt`, `partitionKey` (strings); `freshness`,
//!   `parameters` (objects); `payload` (any value).
//! - `asset.expired`: requires `assetId` (string). Optional: those of `asset.produced`, with
//!   `workflowDefinitionId` optional here, plus `expiresAt`, `requestedAt`, `reason` (strings).
//! - `metastore.record.created`, `metastore.record.updated`, `metastore.record.deleted`: require `namespace` and
//!   `key` (strings). Optional: `actor`, `mode` (strings); `version` (number); `record` (object).
//! - `timestore.partition.created`: requires `datasetId | datasetSlug` and `partitionId` (strings). Optional:
//!   `manifestId`, `partitionKey`, `storageTargetId`, `filePath`, `checksum`, `receivedAt` (strings); `rowCount`,
//!   `fileSizeBytes` (numbers); `partitionKeyFields`, `attributes` (objects).
//! - `timestore.partition.deleted`: requires `datasetId | datasetSlug` (strings) and `partitions` (array) `|`
//!   `partitionId` (string). Optional: `manifestId`, `partitionKey` (strings).
//! - `filestore.*` (any type whose first segment is `filestore`): requires `path` (string). Optional: `oldPath`,
//!   `sourcePath`, `kind`, `state`, `command`, `checksum`, `principal`, `observedAt` (strings); `backendMountId`,
//!   `nodeId`, `journalId`, `size`, `sizeBytes` (numbers); `node` (object).
//!
//! # Format
//! `{"type": "asset.produced", "payload": {"assetId": "a-1", "workflowDefinitionId": "wf-1"}}`: `type` is the
//! event's own type and `payload` holds only the recognised fields, with their JSON values unchanged.

use serde_json::{Map, Value};

use crate::domain::EventType;

/// The JSON type a field must have.
#[derive(Debug, Clone, Copy)]
enum Kind {
    String,
    Number,
    Object,
    Array,
    /// Any value but `null`.
    Any,
}

/// One type's view: the fields it keeps, and the fields it needs.
struct Shape {
    /// Every recognised field, in the order the view lists them.
    fields: &'static [(&'static str, Kind)],
    /// Each group needs at least one of its fields present with the right type.
    required: &'static [&'static [&'static str]],
}

use Kind::{Any, Array, Number, Object, String as Str};

const ASSET_PRODUCED: Shape = Shape {
    fields: &[
        ("assetId", Str),
        ("workflowDefinitionId", Str),
        ("workflowSlug", Str),
        ("workflowRunId", Str),
        ("workflowRunStepId", Str),
        ("stepId", Str),
        ("producedAt", Str),
        ("partitionKey", Str),
        ("freshness", Object),
        ("parameters", Object),
        ("payload", Any),
    ],
    required: &[&["assetId"], &["workflowDefinitionId"]],
};

const ASSET_EXPIRED: Shape = Shape {
    fields: &[
        ("assetId", Str),
        ("workflowDefinitionId", Str),
        ("workflowSlug", Str),
        ("workflowRunId", Str),
        ("workflowRunStepId", Str),
        ("stepId", Str),
        ("producedAt", Str),
        ("expiresAt", Str),
        ("requestedAt", Str),
        ("reason", Str),
        ("partitionKey", Str),
        ("freshness", Object),
        ("parameters", Object),
        ("payload", Any),
    ],
    required: &[&["assetId"]],
};

const METASTORE_RECORD: Shape = Shape {
    fields: &[
        ("namespace", Str),
        ("key", Str),
        ("actor", Str),
        ("mode", Str),
        ("version", Number),
        ("record", Object),
    ],
    required: &[&["namespace"], &["key"]],
};

const TIMESTORE_PARTITION_CREATED: Shape = Shape {
    fields: &[
        ("datasetId", Str),
        ("datasetSlug", Str),
        ("manifestId", Str),
        ("partitionId", Str),
        ("partitionKey", Str),
        ("partitionKeyFields", Object),
        ("storageTargetId", Str),
        ("filePath", Str),
        ("rowCount", Number),
        ("fileSizeBytes", Number),
        ("checksum", Str),
        ("receivedAt", Str),
        ("attributes", Object),
    ],
    required: &[&["datasetId", "datasetSlug"], &["partitionId"]],
};

const TIMESTORE_PARTITION_DELETED: Shape = Shape {
    fields: &[
        ("datasetId", Str),
        ("datasetSlug", Str),
        ("manifestId", Str),
        ("partitionId", Str),
        ("partitionKey", Str),
        ("partitions", Array),
    ],
    required: &[
        &["datasetId", "datasetSlug"],
        &["partitions", "partitionId"],
    ],
};

const FILESTORE: Shape = Shape {
    fields: &[
        ("path", Str),
        ("oldPath", Str),
        ("sourcePath", Str),
        ("backendMountId", Number),
        ("nodeId", Number),
        ("kind", Str),
        ("state", Str),
        ("command", Str),
        ("journalId", Number),
        ("size", Number),
        ("sizeBytes", Number),
        ("checksum", Str),
        ("principal", Str),
        ("observedAt", Str),
        ("node", Object),
    ],
    required: &[&["path"]],
};

/// The typed view of a known event type, or `None` when the type is unknown, the payload is not an object or a
/// required field is missing or of the wrong type. The module documentation lists the types and their fields.
pub fn derived_of(event_type: &EventType, payload: &Value) -> Option<Value> {
    let shape = shape_of(event_type)?;
    let Value::Object(members) = payload else {
        return None;
    };
    let mut view = Map::new();
    for &(name, kind) in shape.fields {
        if let Some(value) = members.get(name).filter(|value| has_kind(value, kind)) {
            view.insert(name.to_owned(), value.clone());
        }
    }
    let complete = shape
        .required
        .iter()
        .all(|group| group.iter().any(|name| view.contains_key(*name)));
    if !complete {
        return None;
    }
    let mut derived = Map::new();
    derived.insert("type".to_owned(), Value::from(event_type.as_str()));
    derived.insert("payload".to_owned(), Value::Object(view));
    Some(Value::Object(derived))
}

fn shape_of(event_type: &EventType) -> Option<&'static Shape> {
    let shape = match event_type.as_str() {
        "asset.produced" => &ASSET_PRODUCED,
        "asset.expired" => &ASSET_EXPIRED,
        "metastore.record.created" | "metastore.record.updated" | "metastore.record.deleted" => {
            &METASTORE_RECORD
        }
        "timestore.partition.created" => &TIMESTORE_PARTITION_CREATED,
        "timestore.partition.deleted" => &TIMESTORE_PARTITION_DELETED,
        _ if event_type.segments().next() == Some("filestore") => &FILESTORE,
        _ => return None,
    };
    Some(shape)
}

fn has_kind(value: &Value, kind: Kind) -> bool {
    match (kind, value) {
        (Str, Value::String(text)) => !text.trim().is_empty(),
        (Number, Value::Number(_)) | (Object, Value::Object(_)) | (Array, Value::Array(_)) => true,
        (Any, value) => !value.is_null(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn derived(ty: &str, payload: Value) -> Option<Value> {
        derived_of(&EventType::parse(ty.to_owned()).unwrap(), &payload)
    }

    #[test]
    fn an_asset_produced_event_gets_a_view_of_its_recognised_fields() {
        let payload = json!({
            "assetId": "inventory.daily", "workflowDefinitionId": "wf-1", "workflowRunId": "run-1",
            "producedAt": "2026-11-22T10:00:00.000Z", "partitionKey": "2026-11-22", "payload": {"rows": 3},
            "freshness": {"ttlMs": 60000}, "unrelated": "dropped"
        });
        assert_eq!(
            derived("asset.produced", payload),
            Some(json!({"type": "asset.produced", "payload": {
                "assetId": "inventory.daily", "workflowDefinitionId": "wf-1", "workflowRunId": "run-1",
                "producedAt": "2026-11-22T10:00:00.000Z", "partitionKey": "2026-11-22", "payload": {"rows": 3},
                "freshness": {"ttlMs": 60000}
            }}))
        );
    }

    #[test]
    fn a_missing_blank_or_wrongly_typed_required_field_means_no_view() {
        assert_eq!(derived("asset.produced", json!({"assetId": "a"})), None);
        assert_eq!(
            derived(
                "asset.produced",
                json!({"assetId": "a", "workflowDefinitionId": 7})
            ),
            None
        );
        assert_eq!(
            derived(
                "asset.produced",
                json!({"assetId": " ", "workflowDefinitionId": "wf"})
            ),
            None
        );
        assert_eq!(
            derived("metastore.record.updated", json!({"namespace": "ns"})),
            None
        );
        assert_eq!(
            derived("filestore.node.created", json!({"path": null})),
            None
        );
        assert_eq!(derived("asset.produced", json!(["assetId"])), None);
    }

    #[test]
    fn wrongly_typed_or_null_optional_fields_are_left_out() {
        let payload =
            json!({"namespace": "ns", "key": "k", "version": "3", "actor": null, "mode": "soft"});
        assert_eq!(
            derived("metastore.record.created", payload),
            Some(
                json!({"type": "metastore.record.created", "payload": {"namespace": "ns", "key": "k", "mode": "soft"}})
            )
        );
    }

    #[test]
    fn an_asset_expired_event_needs_only_its_asset_id() {
        let view = derived(
            "asset.expired",
            json!({"assetId": "a", "reason": "ttl", "expiresAt": "soon"}),
        );
        assert_eq!(
            view,
            Some(
                json!({"type": "asset.expired", "payload": {"assetId": "a", "reason": "ttl", "expiresAt": "soon"}})
            )
        );
    }

    #[test]
    fn all_three_metastore_record_types_share_one_view() {
        for ty in [
            "metastore.record.created",
            "metastore.record.updated",
            "metastore.record.deleted",
        ] {
            let view = derived(ty, json!({"namespace": "ns", "key": "k", "version": 2})).unwrap();
            assert_eq!(view["type"], ty);
            assert_eq!(
                view["payload"],
                json!({"namespace": "ns", "key": "k", "version": 2})
            );
        }
    }

    #[test]
    fn a_timestore_partition_needs_a_dataset_id_or_slug() {
        let created = json!({"datasetSlug": "weather", "partitionId": "p-1", "rowCount": 100});
        assert_eq!(
            derived("timestore.partition.created", created).unwrap()["payload"],
            json!({"datasetSlug": "weather", "partitionId": "p-1", "rowCount": 100})
        );
        assert!(
            derived(
                "timestore.partition.created",
                json!({"datasetId": "ds-1", "partitionId": "p"})
            )
            .is_some()
        );
        assert_eq!(
            derived("timestore.partition.created", json!({"partitionId": "p-1"})),
            None
        );
        assert_eq!(
            derived(
                "timestore.partition.created",
                json!({"datasetSlug": "weather"})
            ),
            None
        );
    }

    #[test]
    fn a_deleted_timestore_partition_names_its_partitions_or_one_partition_id() {
        let listed = json!({"datasetId": "ds-1", "partitions": [{"id": "p-1"}]});
        assert!(derived("timestore.partition.deleted", listed).is_some());
        assert!(
            derived(
                "timestore.partition.deleted",
                json!({"datasetSlug": "w", "partitionId": "p-1"})
            )
            .is_some()
        );
        assert_eq!(
            derived("timestore.partition.deleted", json!({"datasetSlug": "w"})),
            None
        );
    }

    #[test]
    fn any_filestore_type_with_a_path_gets_a_view() {
        for ty in [
            "filestore.node.created",
            "filestore.command.completed",
            "filestore.anything",
        ] {
            let view = derived(
                ty,
                json!({"path": "/a/b.csv", "backendMountId": 42, "size": 10}),
            )
            .unwrap();
            assert_eq!(view["type"], ty);
            assert_eq!(
                view["payload"],
                json!({"path": "/a/b.csv", "backendMountId": 42, "size": 10})
            );
        }
        assert_eq!(derived("app.filestore.node", json!({"path": "/a"})), None);
    }

    #[test]
    fn unknown_types_have_no_view() {
        for ty in [
            "asset.deleted",
            "metastore.record.moved",
            "timestore.partition.updated",
            "order.created",
        ] {
            assert_eq!(
                derived(
                    ty,
                    json!({"assetId": "a", "namespace": "n", "key": "k", "path": "/"})
                ),
                None,
                "{ty}"
            );
        }
    }
}
