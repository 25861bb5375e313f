//! Query strings of list endpoints (SPEC §6): known parameters only, `limit` 1–200 (default 100), opaque
//! versioned cursors bound to the filters they were issued with, and times as RFC 3339 or bare dates.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::domain::parse_time_bound;

/// Default page size.
pub const DEFAULT_LIMIT: u64 = 100;
/// Largest page size.
pub const MAX_LIMIT: u64 = 200;
const CURSOR_VERSION: u64 = 1;

/// Optional inclusive `from` and `to` bounds.
pub type TimeRange = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A parsed query string; refuses parameters the endpoint does not know, so a typo never silently widens a query.
#[derive(Debug)]
pub struct QueryParams(BTreeMap<String, String>);

impl QueryParams {
    /// Parses `query` and checks every name against `known`.
    ///
    /// # Errors
    /// 400 `invalid_parameter` for a malformed query, a repeated parameter or an unknown one.
    pub fn parse(query: &str, known: &[&str]) -> Result<QueryParams, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::parameter("query", format!("malformed query string: {e}")))?;
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            if !known.contains(&name.as_str()) {
                return Err(ApiError::parameter(
                    &name,
                    format!("unknown parameter {name:?}; known: {}", known.join(", ")),
                ));
            }
            if map.insert(name.clone(), value).is_some() {
                return Err(ApiError::parameter(
                    &name,
                    format!("parameter {name:?} is given more than once"),
                ));
            }
        }
        Ok(QueryParams(map))
    }

    /// A non-empty parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `limit`: 1–200, default 100.
    ///
    /// # Errors
    /// 400 `invalid_parameter` for a non-integer or out-of-range value.
    pub fn limit(&self) -> Result<u64, ApiError> {
        let Some(raw) = self.0.get("limit") else {
            return Ok(DEFAULT_LIMIT);
        };
        match raw.parse::<u64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::parameter(
                "limit",
                format!("limit must be an integer from 1 to {MAX_LIMIT}, got {raw:?}"),
            )),
        }
    }

    /// A time bound: RFC 3339 with offset, or a bare date meaning UTC midnight.
    ///
    /// # Errors
    /// 400 `invalid_parameter` naming the parameter.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        if let Some(t) = parse_time_bound(raw) {
            return Ok(Some(t));
        }
        Err(ApiError::parameter(
            name,
            format!("{name} must be RFC 3339 with an offset or a date (YYYY-MM-DD), got {raw:?}"),
        ))
    }

    /// `from` and `to`, checked to be in order.
    ///
    /// # Errors
    /// As [`QueryParams::time`], and 400 when `from` is after `to`.
    pub fn range(&self) -> Result<TimeRange, ApiError> {
        let (from, to) = (self.time("from")?, self.time("to")?);
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(ApiError::parameter("from", "from is after to"));
        }
        Ok((from, to))
    }

    /// A fingerprint of every parameter but `cursor` and `limit`, so a cursor cannot be replayed with other filters.
    pub fn filter_fingerprint(&self) -> String {
        let filters: Vec<_> = self
            .0
            .iter()
            .filter(|(k, _)| *k != "cursor" && *k != "limit")
            .collect();
        hex::encode(&Sha256::digest(serde_json::to_vec(&filters).unwrap_or_default())[..8])
    }

    /// Cuts `rows`, read with one extra row beyond `limit` (which tells whether more exist), to the page, and
    /// answers the cursor of the next page: the last row's `key`, bound to these filters. `None` on the last page.
    pub fn next_page<T, K: Serialize>(
        &self,
        rows: &mut Vec<T>,
        limit: u64,
        key: impl FnOnce(&T) -> K,
    ) -> Option<String> {
        if rows.len() as u64 <= limit {
            return None;
        }
        rows.truncate(limit as usize);
        rows.last()
            .map(|last| encode_cursor(&key(last), &self.filter_fingerprint()))
    }

    /// Decodes `cursor` if present.
    ///
    /// # Errors
    /// 400 `invalid_cursor` when it is malformed, tampered with, of another version, or issued for other filters.
    pub fn cursor<K: DeserializeOwned>(&self) -> Result<Option<K>, ApiError> {
        let Some(raw) = self.get("cursor") else {
            return Ok(None);
        };
        decode_cursor(raw, &self.filter_fingerprint()).map(Some)
    }
}

fn checksum(body: &[u8]) -> String {
    hex::encode(&Sha256::digest(body)[..8])
}

/// Encodes a page key as an opaque cursor bound to `fingerprint`.
///
/// # Format
/// `base64url(json {"v": 1, "k": key, "f": fingerprint}) "." hex(sha256(json)[..8])`. The checksum catches edits
/// and truncation; it is not a secret, and needs none: a forged cursor only moves the caller within results its
/// token may read anyway.
pub fn encode_cursor<K: Serialize>(key: &K, fingerprint: &str) -> String {
    let body = serde_json::to_vec(&json!({ "v": CURSOR_VERSION, "k": key, "f": fingerprint }))
        .unwrap_or_default();
    format!("{}.{}", URL_SAFE_NO_PAD.encode(&body), checksum(&body))
}

fn decode_cursor<K: DeserializeOwned>(raw: &str, fingerprint: &str) -> Result<K, ApiError> {
    let invalid =
        || ApiError::cursor("the cursor is malformed or was altered; start again without it");
    let (body, sum) = raw.split_once('.').ok_or_else(invalid)?;
    let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| invalid())?;
    if checksum(&body) != sum {
        return Err(invalid());
    }
    let value: Value = serde_json::from_slice(&body).map_err(|_| invalid())?;
    if value["v"] != json!(CURSOR_VERSION) {
        return Err(ApiError::cursor(
            "the cursor is from another version of Herald; start again without it",
        ));
    }
    if value["f"] != json!(fingerprint) {
        return Err(ApiError::cursor(
            "the cursor was issued for other filters; start again without it",
        ));
    }
    serde_json::from_value(value["k"].clone()).map_err(|_| invalid())
}

/// The `page` object of a list answer.
pub fn page_json(next_cursor: Option<String>, limit: u64) -> Value {
    json!({ "nextCursor": next_cursor, "hasMore": next_cursor.is_some(), "limit": limit })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_only_with_the_same_filters_and_unaltered() {
        let params =
            QueryParams::parse("reason=poison&limit=5", &["reason", "limit", "cursor"]).unwrap();
        let cursor = encode_cursor(&(1i64, "abc"), &params.filter_fingerprint());
        let with = |q: &str| {
            QueryParams::parse(
                &format!("{q}&cursor={cursor}"),
                &["reason", "limit", "cursor"],
            )
            .unwrap()
        };
        let key: (i64, String) = with("reason=poison&limit=9").cursor().unwrap().unwrap();
        assert_eq!(key, (1, "abc".to_owned()));
        assert_eq!(
            with("reason=invalid_json")
                .cursor::<(i64, String)>()
                .unwrap_err()
                .code(),
            "invalid_cursor"
        );
        let mut tampered = cursor.clone();
        tampered.insert(3, 'A');
        let params = QueryParams::parse(
            &format!("reason=poison&cursor={tampered}"),
            &["reason", "cursor"],
        )
        .unwrap();
        assert_eq!(
            params.cursor::<(i64, String)>().unwrap_err().code(),
            "invalid_cursor"
        );
    }

    #[test]
    fn limits_outside_one_to_two_hundred_are_rejected() {
        for bad in ["0", "201", "-1", "1.5", "ten", ""] {
            let params = QueryParams::parse(&format!("limit={bad}"), &["limit"]).unwrap();
            assert_eq!(
                params.limit().unwrap_err().code(),
                "invalid_parameter",
                "{bad}"
            );
        }
        assert_eq!(
            QueryParams::parse("", &["limit"]).unwrap().limit().unwrap(),
            100
        );
        assert_eq!(
            QueryParams::parse("limit=200", &["limit"])
                .unwrap()
                .limit()
                .unwrap(),
            200
        );
    }

    #[test]
    fn times_accept_rfc3339_with_offset_or_a_bare_date_and_must_be_in_order() {
        let p = QueryParams::parse(
            "from=2026-11-22&to=2026-11-22T10:00:00%2B02:00",
            &["from", "to"],
        )
        .unwrap();
        let (from, to) = p.range().unwrap();
        assert_eq!(from.unwrap().to_rfc3339(), "2026-11-22T00:00:00+00:00");
        assert_eq!(to.unwrap().to_rfc3339(), "2026-11-22T08:00:00+00:00");
        let p = QueryParams::parse("from=2026-11-23&to=2026-11-22", &["from", "to"]).unwrap();
        assert!(p.range().is_err());
        let p = QueryParams::parse("from=yesterday", &["from"]).unwrap();
        assert!(p.range().is_err());
        assert!(QueryParams::parse("form=2026-11-22", &["from"]).is_err());
    }
}
