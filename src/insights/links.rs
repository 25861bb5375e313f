//! [`Links`]: the ids of other Apphub objects an event mentions (SPEC §6.1), so the explorer can link to them.

use std::ops::ControlFlow;

use serde_json::{Map, Value};

use super::walk::{walk_members, walk_object_members};

/// The most ids kept per kind. An event that names more is a bulk event (a batch of assets, a list of runs);
/// the first hundred are enough to link from, and the bound keeps every rendered event small.
pub const MAX_LINKS_PER_KIND: usize = 100;

/// The ids an event mentions, by kind, each list de-duplicated in first-seen order.
///
/// # Format
/// [`Links::to_json`] renders only the non-empty lists, under camelCase plural keys:
/// `{"workflowDefinitionIds": ["wf-alpha"], "datasetSlugs": ["weather"]}`; no links at all is `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// Values of `workflowDefinitionId` keys.
    pub workflow_definition_ids: Vec<String>,
    /// Values of `workflowRunId` keys.
    pub workflow_run_ids: Vec<String>,
    /// Values of `workflowId` keys.
    pub workflow_ids: Vec<String>,
    /// Values of `repositoryId` keys.
    pub repository_ids: Vec<String>,
    /// Values of `datasetId` keys.
    pub dataset_ids: Vec<String>,
    /// Values of `datasetSlug` keys.
    pub dataset_slugs: Vec<String>,
    /// Values of `assetId` keys.
    pub asset_ids: Vec<String>,
}

/// Collects the links of an event.
///
/// Every member of metadata, then of the payload, is considered down to
/// [`MAX_WALK_DEPTH`](super::MAX_WALK_DEPTH), inside arrays too; `metadata.__workflow` is an ordinary object here,
/// so the workflow context's `workflowDefinitionId` and `workflowRunId` are found like any other. A member counts
/// when its key is exactly (case-sensitive) `workflowDefinitionId`, `workflowRunId`, `workflowId`,
/// `repositoryId`, `datasetId`, `datasetSlug` or `assetId` and its value is a non-blank string (kept as written) or
/// a number (as its JSON text, `42`, every digit kept); other values (objects, arrays of ids, booleans, `null`)
/// are ignored. "First seen" follows the walk: metadata before payload, members in `serde_json`'s key order
/// (sorted, as Herald builds `serde_json` without `preserve_order`), pre-order. Each list keeps at most
/// [`MAX_LINKS_PER_KIND`] ids.
pub fn links_of(payload: &Value, metadata: Option<&Map<String, Value>>) -> Links {
    let mut links = Links::default();
    let mut visit = |key: &str, value: &Value| {
        if let Some(list) = links.list_for(key)
            && let Some(id) = id_text(value)
            && list.len() < MAX_LINKS_PER_KIND
            && !list.contains(&id)
        {
            list.push(id);
        }
        ControlFlow::Continue(())
    };
    if let Some(metadata) = metadata {
        let _ = walk_object_members(metadata, &mut visit);
    }
    let _ = walk_members(payload, &mut visit);
    links
}

/// A link's text: a non-blank string as written, or a number's JSON text.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

impl Links {
    /// The wire form of SPEC §6.1 (see the type's `# Format`): empty lists are omitted.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        for (key, list) in self.lists() {
            if !list.is_empty() {
                object.insert(key.to_owned(), Value::from(list.clone()));
            }
        }
        Value::Object(object)
    }

    /// Whether no link was found.
    pub fn is_empty(&self) -> bool {
        self.lists().iter().all(|(_, list)| list.is_empty())
    }

    /// Each list with its wire key.
    fn lists(&self) -> [(&'static str, &Vec<String>); 7] {
        [
            ("workflowDefinitionIds", &self.workflow_definition_ids),
            ("workflowRunIds", &self.workflow_run_ids),
            ("workflowIds", &self.workflow_ids),
            ("repositoryIds", &self.repository_ids),
            ("datasetIds", &self.dataset_ids),
            ("datasetSlugs", &self.dataset_slugs),
            ("assetIds", &self.asset_ids),
        ]
    }

    /// The list a payload key feeds, if any.
    fn list_for(&mut self, key: &str) -> Option<&mut Vec<String>> {
        let list = match key {
            "workflowDefinitionId" => &mut self.workflow_definition_ids,
            "workflowRunId" => &mut self.workflow_run_ids,
            "workflowId" => &mut self.workflow_ids,
            "repositoryId" => &mut self.repository_ids,
            "datasetId" => &mut self.dataset_ids,
            "datasetSlug" => &mut self.dataset_slugs,
            "assetId" => &mut self.asset_ids,
            _ => return None,
        };
        Some(list)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::insights::walk::{drop_flat, nested_arrays};

    fn metadata(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn every_kind_is_collected_under_its_plural_wire_key() {
        let payload = json!({
            "workflowDefinitionId": "wf-alpha", "workflowRunId": "run-1", "workflowId": "wf-1",
            "repositoryId": "repo-1", "datasetId": "ds-1", "datasetSlug": "weather", "assetId": "asset-1"
        });
        assert_eq!(
            links_of(&payload, None).to_json(),
            json!({
                "workflowDefinitionIds": ["wf-alpha"], "workflowRunIds": ["run-1"], "workflowIds": ["wf-1"],
                "repositoryIds": ["repo-1"], "datasetIds": ["ds-1"], "datasetSlugs": ["weather"],
                "assetIds": ["asset-1"]
            })
        );
    }

    #[test]
    fn no_links_render_as_an_empty_object() {
        let links = links_of(&json!({"order": {"id": 7}}), None);
        assert!(links.is_empty());
        assert_eq!(links.to_json(), json!({}));
    }

    #[test]
    fn empty_lists_are_omitted() {
        let links = links_of(&json!({"datasetSlug": "weather"}), None);
        assert_eq!(links.to_json(), json!({"datasetSlugs": ["weather"]}));
    }

    #[test]
    fn metadata_and_its_workflow_context_come_before_the_payload() {
        let metadata = metadata(json!({
            "__workflow": {"workflowDefinitionId": "wf-meta", "workflowRunId": "run-meta", "jobSlug": "ingest"}
        }));
        let payload = json!({"workflowDefinitionId": "wf-payload", "steps": [{"workflowRunId": "run-payload"}]});
        let links = links_of(&payload, Some(&metadata));
        assert_eq!(links.workflow_definition_ids, ["wf-meta", "wf-payload"]);
        assert_eq!(links.workflow_run_ids, ["run-meta", "run-payload"]);
    }

    #[test]
    fn ids_are_deduplicated_keeping_the_first_seen_order() {
        let metadata = metadata(json!({"assetId": "b"}));
        let payload = json!({"items": [{"assetId": "a"}, {"assetId": "b"}, {"assetId": "c"}, {"assetId": "a"}]});
        assert_eq!(
            links_of(&payload, Some(&metadata)).asset_ids,
            ["b", "a", "c"]
        );
    }

    #[test]
    fn numbers_become_their_text_and_other_values_are_ignored() {
        // Parsed from text so the big number keeps every digit, as an ingested payload does.
        let payload: Value = serde_json::from_str(
            r#"{"a": {"datasetId": 42}, "b": {"datasetId": 123456789012345678901234567890}, "c": {"datasetId": true},
                "d": {"datasetId": null}, "e": {"datasetId": ["x"]}, "f": {"datasetId": "  "},
                "g": {"datasetId": {"id": 1}}}"#,
        )
        .unwrap();
        assert_eq!(
            links_of(&payload, None).dataset_ids,
            ["42", "123456789012345678901234567890"]
        );
    }

    #[test]
    fn keys_match_exactly() {
        let payload = json!({"AssetId": "a", "assetid": "b", "asset_id": "c", "assetIds": ["d"]});
        assert!(links_of(&payload, None).is_empty());
    }

    #[test]
    fn each_list_is_capped() {
        let items: Vec<Value> = (0..MAX_LINKS_PER_KIND + 20)
            .map(|i| json!({"assetId": format!("a{i}")}))
            .collect();
        let links = links_of(&json!({ "items": items }), None);
        assert_eq!(links.asset_ids.len(), MAX_LINKS_PER_KIND);
        assert_eq!(links.asset_ids[0], "a0");
    }

    #[test]
    fn a_ten_thousand_deep_array_does_not_overflow_the_stack() {
        let deep = nested_arrays(10_000, json!({"assetId": "too-deep"}));
        let payload = json!({"assetId": "shallow"});
        let links = links_of(&deep, None);
        drop_flat(deep);
        assert!(links.is_empty());
        assert_eq!(links_of(&payload, None).asset_ids, ["shallow"]);
    }
}
