//! `RawEntry`: the fields of a stream entry exactly as read, kept for dead letters.

use std::sync::Arc;

use serde_json::{Map, Value};

/// The fields of a Redis stream entry, as read (non-UTF-8 bytes replaced).
///
/// Kept as pairs and turned into JSON only when a dead letter needs it: most entries are valid, and building a
/// JSON object for each would be per-event work on the reader's hot path. Shared, not copied, when cloned: the
/// stream reader keeps a batch for a retry while the router validates it, and an event keeps its entry for an id
/// conflict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawEntry(Arc<[(String, String)]>);

impl RawEntry {
    /// Wraps the fields in their stream order.
    pub fn new(fields: Vec<(String, String)>) -> RawEntry {
        RawEntry(fields.into())
    }

    /// The first field named `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The fields as a JSON object (`{"envelope": "…", "other": "…"}`); a repeated name keeps its last value.
    pub fn to_json_string(&self) -> String {
        let map: Map<String, Value> = self
            .0
            .iter()
            .map(|(n, v)| (n.clone(), Value::String(v.clone())))
            .collect();
        Value::Object(map).to_string()
    }

    /// Reads back what [`RawEntry::to_json_string`] wrote: a JSON object whose values are all strings, in the
    /// object's order. `None` for anything else (a raw entry cut at the dead-letter size limit, for one).
    pub fn from_json_str(text: &str) -> Option<RawEntry> {
        let Value::Object(map) = serde_json::from_str::<Value>(text).ok()? else {
            return None;
        };
        map.into_iter()
            .map(|(name, value)| match value {
                Value::String(v) => Some((name, v)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(RawEntry::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_entry_finds_its_fields_and_renders_them_as_a_json_object() {
        let raw = RawEntry::new(vec![
            ("envelope".into(), "{}".into()),
            ("trace".into(), "x".into()),
        ]);
        assert_eq!(raw.field("envelope"), Some("{}"));
        assert_eq!(raw.field("missing"), None);
        assert_eq!(raw.to_json_string(), r#"{"envelope":"{}","trace":"x"}"#);
    }

    #[test]
    fn a_raw_entry_reads_back_what_it_wrote_and_nothing_else() {
        let raw = RawEntry::new(vec![("envelope".into(), r#"{"a":1}"#.into())]);
        assert_eq!(RawEntry::from_json_str(&raw.to_json_string()), Some(raw));
        assert_eq!(RawEntry::from_json_str(r#"{"envelope":{}}"#), None);
        assert_eq!(RawEntry::from_json_str(r#"{"envelope":"#), None);
        assert_eq!(RawEntry::from_json_str("[]"), None);
    }
}
