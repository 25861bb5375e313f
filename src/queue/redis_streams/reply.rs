//! Redis's answers as Herald's types, without Redis: `XREADGROUP` and `XAUTOCLAIM` replies as [`StreamEntry`]s,
//! `XINFO` records as maps, stream ids as milliseconds. Pure, so every odd reply has a unit test.

use std::collections::HashMap;
use std::sync::Arc;

use fred::types::Value as RedisValue;

use crate::domain::RawEntry;
use crate::ingest::StreamEntry;

/// One `XAUTOCLAIM` step's answer.
#[derive(Debug, Default)]
pub(super) struct Claimed {
    /// Where the next step starts; `0-0` once the whole pending list was scanned.
    pub next: String,
    /// The entries claimed, with a delivery count of 1 until the caller reads the real one.
    pub entries: Vec<StreamEntry>,
    /// Ids of entries deleted (trimmed) while pending: nothing is left to store, so they are only acknowledged.
    pub deleted: Vec<String>,
}

/// Parses an `XREADGROUP` reply (`[[key, [[id, [field, value, …]], …]]]`, or nil on timeout). An entry without
/// fields (deleted, which a read of new entries never meets) is skipped; the reclaimer acknowledges it later.
pub(super) fn parse_read(value: RedisValue, stream_key: &str) -> Vec<StreamEntry> {
    let mut deleted = Vec::new();
    value
        .into_array()
        .into_iter()
        .flat_map(|stream| {
            let mut parts = stream.into_array().into_iter();
            let _key = parts.next();
            parse_entries(
                parts.next().unwrap_or(RedisValue::Null),
                stream_key,
                &mut deleted,
            )
        })
        .collect()
}

/// Parses an `XAUTOCLAIM` reply: `[next, [[id, [field, value, …]], …], [deleted id, …]]` (the third element since
/// Redis 7; before, a deleted entry came back as nil or without fields). A reply that is not of this form reads as
/// nothing claimed and the scan done.
pub(super) fn parse_autoclaim(value: RedisValue, stream_key: &str) -> Claimed {
    let mut parts = value.into_array().into_iter();
    let next = parts
        .next()
        .and_then(|v| v.as_string())
        .unwrap_or_else(|| "0-0".into());
    let mut deleted = Vec::new();
    let entries = parse_entries(
        parts.next().unwrap_or(RedisValue::Null),
        stream_key,
        &mut deleted,
    );
    if let Some(ids) = parts.next() {
        deleted.extend(ids.into_array().iter().filter_map(|v| v.as_string()));
    }
    Claimed {
        next,
        entries,
        deleted,
    }
}

/// Parses `[[id, [field, value, …]], …]`. A nil entry is skipped; an entry whose fields are nil was deleted while
/// pending, and its id goes to `deleted`. An id that is not text is skipped (Redis never writes one).
fn parse_entries(
    value: RedisValue,
    stream_key: &str,
    deleted: &mut Vec<String>,
) -> Vec<StreamEntry> {
    let stream_key: Arc<str> = Arc::from(stream_key);
    value
        .into_array()
        .into_iter()
        .filter_map(|entry| {
            let mut parts = entry.into_array().into_iter();
            let entry_id = parts.next()?.as_string()?;
            let fields = match parts.next() {
                None | Some(RedisValue::Null) => {
                    deleted.push(entry_id);
                    return None;
                }
                Some(fields) => fields,
            };
            let fields = fields
                .into_array()
                .chunks(2)
                .filter_map(|pair| match pair {
                    [name, value] => Some((lossy(name), lossy(value))),
                    _ => None,
                })
                .collect();
            Some(StreamEntry {
                stream_key: stream_key.clone(),
                entry_id,
                fields: RawEntry::new(fields),
                deliveries: 1,
            })
        })
        .collect()
}

/// A field as text; bytes that are not UTF-8 are replaced, so the envelope then fails validation with a
/// readable reason instead of stalling the reader.
fn lossy(value: &RedisValue) -> String {
    match value.as_bytes() {
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => value.as_string().unwrap_or_default(),
    }
}

/// An `XINFO` record as `name → value`, whether Redis answered a flat RESP2 array or a RESP3 map.
pub(super) fn fields(value: RedisValue) -> HashMap<String, RedisValue> {
    match value {
        RedisValue::Map(map) => map
            .inner()
            .into_iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v)))
            .collect(),
        other => {
            let mut out = HashMap::new();
            let mut items = other.into_array().into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                if let Some(k) = k.as_string() {
                    out.insert(k, v);
                }
            }
            out
        }
    }
}

/// The milliseconds part of a stream entry id (`1700000000000-0`).
pub(super) fn entry_ms(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests;
