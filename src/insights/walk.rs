//! A bounded, stack-safe walk over every object member of a JSON value, in document order.

use std::ops::ControlFlow;

use serde_json::{Map, Value};

/// How deep [`severity_of`](super::severity_of) and [`links_of`](super::links_of) look: members of the top-level
/// object are at depth 1, and nothing below depth 64 is visited.
///
/// Real events keep their severity and ids within a few levels; the bound keeps the cost of a pathological
/// payload proportional to its size rather than its nesting (the walk uses an explicit stack, so depth alone
/// cannot overflow the thread's stack either).
pub const MAX_WALK_DEPTH: usize = 64;

/// A value waiting to be visited: the key it sits under (`None` for array elements), the value and its depth.
type Pending<'a> = (Option<&'a str>, &'a Value, usize);

/// Calls `visit(key, value)` for every member of every object in `root` down to [`MAX_WALK_DEPTH`], arrays
/// included, in document order (pre-order; keys in `serde_json`'s sorted map order). Stops as soon as `visit`
/// returns [`ControlFlow::Break`], and returns that.
pub(super) fn walk_members<'a>(
    root: &'a Value,
    visit: &mut impl FnMut(&'a str, &'a Value) -> ControlFlow<()>,
) -> ControlFlow<()> {
    drain(vec![(None, root, 0)], visit)
}

/// Like [`walk_members`], for a top-level object held as a map (event metadata): its members are at depth 1.
pub(super) fn walk_object_members<'a>(
    root: &'a Map<String, Value>,
    visit: &mut impl FnMut(&'a str, &'a Value) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let mut stack = Vec::with_capacity(root.len());
    push_members(&mut stack, root, 1);
    drain(stack, visit)
}

fn drain<'a>(
    mut stack: Vec<Pending<'a>>,
    visit: &mut impl FnMut(&'a str, &'a Value) -> ControlFlow<()>,
) -> ControlFlow<()> {
    while let Some((key, value, depth)) = stack.pop() {
        if let Some(key) = key {
            visit(key, value)?;
        }
        if depth >= MAX_WALK_DEPTH {
            continue;
        }
        match value {
            Value::Object(members) => push_members(&mut stack, members, depth + 1),
            // Reversed, so that the first element is popped (visited) first.
            Value::Array(items) => {
                stack.extend(items.iter().rev().map(|item| (None, item, depth + 1)))
            }
            _ => {}
        }
    }
    ControlFlow::Continue(())
}

fn push_members<'a>(stack: &mut Vec<Pending<'a>>, members: &'a Map<String, Value>, depth: usize) {
    stack.extend(
        members
            .iter()
            .rev()
            .map(|(key, value)| (Some(key.as_str()), value, depth)),
    );
}

/// Builds `depth` nested one-element arrays around `leaf`, without recursion.
#[cfg(test)]
pub(super) fn nested_arrays(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |inner, _| Value::Array(vec![inner]))
}

/// Drops a deeply nested value one level at a time: `serde_json`'s drop glue recurses once per level.
#[cfg(test)]
pub(super) fn drop_flat(value: Value) {
    let mut stack = vec![value];
    while let Some(mut value) = stack.pop() {
        match &mut value {
            Value::Array(items) => stack.append(items),
            Value::Object(members) => {
                let members = std::mem::take(members);
                stack.extend(members.into_iter().map(|(_, value)| value));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys_of(root: &Value) -> Vec<String> {
        let mut keys = Vec::new();
        let _ = walk_members(root, &mut |key, _| {
            keys.push(key.to_owned());
            ControlFlow::Continue(())
        });
        keys
    }

    #[test]
    fn members_are_visited_in_document_order_including_inside_arrays() {
        let root = json!({"a": {"b": 1}, "c": [{"d": 2}, {"e": 3}], "f": 4});
        assert_eq!(keys_of(&root), ["a", "b", "c", "d", "e", "f"]);
    }

    #[test]
    fn members_below_the_maximum_depth_are_not_visited() {
        let at_limit = nested_arrays(MAX_WALK_DEPTH - 1, json!({"found": 1}));
        assert_eq!(keys_of(&at_limit), ["found"]);
        let too_deep = nested_arrays(MAX_WALK_DEPTH, json!({"found": 1}));
        assert!(keys_of(&too_deep).is_empty());
    }

    #[test]
    fn a_break_stops_the_walk() {
        let root = json!({"a": 1, "b": 2});
        let mut seen = 0;
        let flow = walk_members(&root, &mut |_, _| {
            seen += 1;
            ControlFlow::Break(())
        });
        assert_eq!((flow, seen), (ControlFlow::Break(()), 1));
    }
}
