//! The matching index: which triggers an event's type and source select (SPEC §5.1 `eventType`, `eventSource`),
//! so the cost per event grows with the triggers that could match, not with all triggers.
//!
//! Exact types are a hash lookup. Patterns are grouped by their first segment when their literal prefix holds a
//! whole one (`metastore.record.*`, `metastore.**` under `metastore`); the few that start with a wildcard
//! (`*.record.updated`) are checked for every event. A candidate's source pattern is checked last.

use std::collections::HashMap;
use std::hash::Hash;

use crate::domain::NamePattern;

/// One trigger's selector.
#[derive(Debug, Clone)]
struct Entry<T> {
    id: T,
    event_type: NamePattern,
    event_source: Option<NamePattern>,
}

/// Which bucket a trigger's entry sits in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bucket {
    Exact(String),
    FirstSegment(String),
    LeadingWildcard,
}

/// Trigger ids by the event types and sources they select.
#[derive(Debug, Clone)]
pub struct MatchIndex<T> {
    exact: HashMap<String, Vec<Entry<T>>>,
    by_first_segment: HashMap<String, Vec<Entry<T>>>,
    leading_wildcard: Vec<Entry<T>>,
    /// Where each trigger is, so removing one touches one bucket.
    buckets: HashMap<T, Bucket>,
}

impl<T> Default for MatchIndex<T> {
    fn default() -> Self {
        MatchIndex {
            exact: HashMap::new(),
            by_first_segment: HashMap::new(),
            leading_wildcard: Vec::new(),
            buckets: HashMap::new(),
        }
    }
}

/// What a lookup found, and how many selectors it examined to find it (the index's cost).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matches<T> {
    /// The ids of the triggers whose type and source patterns both match.
    pub ids: Vec<T>,
    /// Selectors whose patterns were evaluated.
    pub examined: usize,
}

impl<T: Clone + Eq + Hash> MatchIndex<T> {
    /// An empty index.
    pub fn new() -> Self {
        MatchIndex::default()
    }

    /// Adds a trigger (replacing an earlier entry with the same id).
    pub fn insert(&mut self, id: T, event_type: NamePattern, event_source: Option<NamePattern>) {
        self.remove(&id);
        let bucket = match event_type.exact() {
            Some(exact) => Bucket::Exact(exact.to_owned()),
            None => match event_type.literal_prefix().split_once('.') {
                Some((first, _)) => Bucket::FirstSegment(first.to_owned()),
                None => Bucket::LeadingWildcard,
            },
        };
        let entry = Entry {
            id: id.clone(),
            event_type,
            event_source,
        };
        self.entries_mut(&bucket).push(entry);
        self.buckets.insert(id, bucket);
    }

    /// Removes a trigger; `false` when it was not indexed.
    pub fn remove(&mut self, id: &T) -> bool {
        let Some(bucket) = self.buckets.remove(id) else {
            return false;
        };
        let entries = self.entries_mut(&bucket);
        entries.retain(|entry| entry.id != *id);
        let empty = entries.is_empty();
        match bucket {
            Bucket::Exact(key) if empty => {
                self.exact.remove(&key);
            }
            Bucket::FirstSegment(key) if empty => {
                self.by_first_segment.remove(&key);
            }
            _ => {}
        }
        true
    }

    /// How many triggers are indexed.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no trigger is indexed.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    fn entries_mut(&mut self, bucket: &Bucket) -> &mut Vec<Entry<T>> {
        match bucket {
            Bucket::Exact(key) => self.exact.entry(key.clone()).or_default(),
            Bucket::FirstSegment(key) => self.by_first_segment.entry(key.clone()).or_default(),
            Bucket::LeadingWildcard => &mut self.leading_wildcard,
        }
    }

    /// The triggers selecting an event of `event_type` from `source`, in no particular order.
    pub fn lookup(&self, event_type: &str, source: &str) -> Matches<T> {
        let first = event_type.split('.').next().unwrap_or_default();
        let candidates = self
            .exact
            .get(event_type)
            .into_iter()
            .flatten()
            .chain(self.by_first_segment.get(first).into_iter().flatten())
            .chain(&self.leading_wildcard);
        let mut matches = Matches {
            ids: Vec::new(),
            examined: 0,
        };
        for entry in candidates {
            matches.examined += 1;
            let type_matches =
                entry.event_type.exact().is_some() || entry.event_type.matches(event_type);
            let source_matches = entry
                .event_source
                .as_ref()
                .is_none_or(|pattern| pattern.matches(source));
            if type_matches && source_matches {
                matches.ids.push(entry.id.clone());
            }
        }
        matches
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NameKind;

    fn ty(text: &str) -> NamePattern {
        NamePattern::parse(text, NameKind::Type, "eventType").unwrap()
    }

    fn src(text: &str) -> Option<NamePattern> {
        Some(NamePattern::parse(text, NameKind::Source, "eventSource").unwrap())
    }

    fn sorted(mut ids: Vec<u32>) -> Vec<u32> {
        ids.sort_unstable();
        ids
    }

    #[test]
    fn exact_patterns_and_sources_select_the_right_triggers() {
        let mut index = MatchIndex::new();
        index.insert(1, ty("metastore.record.updated"), None);
        index.insert(2, ty("metastore.record.*"), None);
        index.insert(3, ty("metastore.**"), src("metastore.api"));
        index.insert(4, ty("*.record.updated"), src("/sensors/*"));
        index.insert(5, ty("billing.invoice.paid"), None);
        let found = |t: &str, s: &str| sorted(index.lookup(t, s).ids);
        assert_eq!(
            found("metastore.record.updated", "metastore.api"),
            vec![1, 2, 3]
        );
        assert_eq!(
            found("metastore.record.updated", "/sensors/tn-1"),
            vec![1, 2, 4]
        );
        assert_eq!(
            found("metastore.dataset.created", "other"),
            Vec::<u32>::new()
        );
        assert_eq!(found("billing.invoice.paid", "x"), vec![5]);
    }

    #[test]
    fn removing_and_replacing_a_trigger() {
        let mut index = MatchIndex::new();
        index.insert(1, ty("a.b"), None);
        index.insert(1, ty("c.d"), None);
        assert!(index.lookup("a.b", "s").ids.is_empty(), "replaced");
        assert_eq!(index.lookup("c.d", "s").ids, vec![1]);
        assert_eq!(index.len(), 1);
        assert!(index.remove(&1));
        assert!(!index.remove(&1));
        assert!(index.is_empty());
        assert!(index.lookup("c.d", "s").ids.is_empty());
    }

    #[test]
    fn a_lookup_among_ten_thousand_triggers_examines_only_candidates() {
        let mut index = MatchIndex::new();
        // 9,990 triggers on other services' types: mostly exact, some patterns (each pattern compiles a regex,
        // slow in a debug build, so fewer of them).
        for i in 0..9_990u32 {
            let pattern = match i % 100 {
                0 => format!("service{i}.thing.*"),
                1 => format!("service{i}.**"),
                _ => format!("service{i}.thing.happened"),
            };
            index.insert(i, ty(&pattern), None);
        }
        // 10 that match the event: exact, pattern and catch-all by source.
        for i in 0..4 {
            index.insert(10_000 + i, ty("metastore.record.updated"), None);
        }
        for i in 4..8 {
            index.insert(10_000 + i, ty("metastore.record.*"), None);
        }
        for i in 8..10 {
            index.insert(10_000 + i, ty("metastore.**"), src("metastore.api"));
        }
        let matches = index.lookup("metastore.record.updated", "metastore.api");
        assert_eq!(matches.ids.len(), 10);
        assert_eq!(
            matches.examined, 10,
            "no trigger of another service was examined"
        );
    }
}
