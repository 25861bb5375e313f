//! How Herald measures and compares JSON: compact byte length (every SPEC size limit) and canonical text (content
//! hashes, "compared as canonical JSON" in SPEC §2.2).

use std::io;

use serde::Serialize;
use serde_json::Value;

/// The byte length of `value` serialised as compact JSON, measured without building the string.
///
/// This is how SPEC measures every size limit ("sizes are the compact serde_json byte count"). Serialising into a
/// counter cannot fail for JSON values (the counter accepts every write and object keys are strings); were it ever
/// to, the length is reported as `usize::MAX` so a limit check fails closed.
pub fn compact_json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    let mut counter = ByteCounter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// `value` as canonical JSON: compact, with object keys sorted by their UTF-8 bytes at every depth.
///
/// Equal JSON documents give equal text whatever their key order on the wire. Keys are sorted here rather than
/// relied on from `serde_json::Map`'s ordering, so the output stays canonical even if some dependency turns on
/// serde_json's `preserve_order` feature (which makes `Map` keep insertion order).
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    // unwrap: writing into a Vec cannot fail, and JSON values always serialize.
    write_canonical(value, &mut out).expect("a Vec accepts every write");
    // unwrap: serde_json writes UTF-8.
    String::from_utf8(out).expect("JSON text is UTF-8")
}

/// Writes `value` as canonical JSON into `out` (a hasher, a buffer), without building the text first: the content
/// hash of every ingested event goes through here. Strings and scalars are written by serde_json itself, so
/// escaping is serde_json's compact form; objects are written key by key in sorted order (serde_json's map is
/// already sorted, which is checked rather than assumed, since a dependency could turn on `preserve_order`).
///
/// # Errors
/// Only what `out` returns.
pub(super) fn write_canonical(value: &Value, out: &mut impl io::Write) -> io::Result<()> {
    match value {
        Value::Object(object) => {
            let sorted = object
                .keys()
                .zip(object.keys().skip(1))
                .all(|(a, b)| a <= b);
            let mut entries: Vec<(&String, &Value)> = object.iter().collect();
            if !sorted {
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            }
            out.write_all(b"{")?;
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, key)?;
                out.write_all(b":")?;
                write_canonical(item, out)?;
            }
            out.write_all(b"}")
        }
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.write_all(b",")?;
                }
                write_canonical(item, out)?;
            }
            out.write_all(b"]")
        }
        scalar => Ok(serde_json::to_writer(&mut *out, scalar)?),
    }
}

struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn compact_length_matches_the_serialised_string() {
        let value = json!({"a": [1, 2.5, "é", null], "b": {"c": true}});
        assert_eq!(
            compact_json_len(&value),
            serde_json::to_string(&value).expect("ok").len()
        );
        assert_eq!(compact_json_len(&json!({})), 2);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_is_compact() {
        let value = json!({"b": 1, "a": [{"z": null, "y": "x\"q"}], "A": 2.5});
        assert_eq!(
            canonical_json(&value),
            r#"{"A":2.5,"a":[{"y":"x\"q","z":null}],"b":1}"#
        );
    }

    #[test]
    fn canonical_json_keeps_array_order() {
        assert_eq!(canonical_json(&json!([3, 1, 2])), "[3,1,2]");
    }

    proptest! {
        #[test]
        fn canonical_json_is_what_a_sorted_map_serialises_to(
            entries in proptest::collection::btree_map(".{0,8}", any::<i64>(), 0..8),
        ) {
            let value = serde_json::to_value(&entries).expect("serialises");
            prop_assert_eq!(canonical_json(&value), serde_json::to_string(&entries).expect("serialises"));
        }
    }
}
