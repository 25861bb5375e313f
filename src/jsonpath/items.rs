//! Items as the evaluator sees them: PostgreSQL's comparison rules, numbers as doubles, `jsonb` key order.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::ast::CompareOp;
use super::eval::{Fault, Item, Outcome};

/// Three-valued logic of predicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Truth {
    True,
    False,
    Unknown,
}

impl From<bool> for Truth {
    fn from(value: bool) -> Truth {
        if value { Truth::True } else { Truth::False }
    }
}

/// A child of `item` chosen by `pick`, borrowed from the payload when `item` is.
pub(super) fn child<'a>(
    item: &Item<'a>,
    pick: impl for<'v> Fn(&'v Value) -> Option<&'v Value>,
) -> Option<Item<'a>> {
    match item {
        Cow::Borrowed(value) => pick(value).map(Cow::Borrowed),
        Cow::Owned(value) => pick(value).cloned().map(Cow::Owned),
    }
}

pub(super) fn is_container(value: &Value) -> bool {
    value.is_array() || value.is_object()
}

/// How many steps copying `value` costs.
pub(super) fn size_of_value(value: &Value) -> u64 {
    match value {
        Value::Array(items) => 1 + items.iter().map(size_of_value).sum::<u64>(),
        Value::Object(members) => 1 + members.values().map(size_of_value).sum::<u64>(),
        _ => 1,
    }
}

/// PostgreSQL's `jsonb` orders object keys by length, then bytes.
pub(super) fn jsonb_key_order(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

pub(super) fn ordered_keys(object: &Value) -> Vec<String> {
    let mut keys: Vec<String> = object
        .as_object()
        .map(|members| members.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort_by(|a, b| jsonb_key_order(a, b));
    keys
}

pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A payload number as the double it compares as, clamped into the finite range (SPEC §9).
pub(super) fn double(number: &Number) -> f64 {
    match number.as_f64() {
        Some(value) if value.is_finite() => value,
        // `as_f64` fails only for text beyond the double range; keep its sign.
        _ if number.to_string().starts_with('-') => f64::MIN,
        _ => f64::MAX,
    }
}

pub(super) fn as_number(value: &Value) -> Option<f64> {
    value.as_number().map(double)
}

/// A computed number as an item; a result beyond the double range is an evaluation error.
pub(super) fn number(value: f64) -> Outcome<Item<'static>> {
    Number::from_f64(value)
        .filter(|_| value.is_finite())
        .map(|n| Cow::Owned(Value::Number(n)))
        .ok_or(Fault::Error)
}

/// `.double()` of a string, as PostgreSQL's `float8in` reads it; NaN and infinities are errors.
pub(super) fn parse_double(text: &str) -> Option<f64> {
    let value: f64 = text
        .trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}')
        .parse()
        .ok()?;
    value.is_finite().then_some(value)
}

/// PostgreSQL's `compareItems`: values of different types are unknown, except that null equals only null (and
/// so differs from everything else); arrays and objects are not comparable; strings compare by code point.
pub(super) fn compare(op: CompareOp, left: &Value, right: &Value) -> Truth {
    let ordering = match (left, right) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) | (_, Value::Null) => return (op == CompareOp::Ne).into(),
        (Value::Bool(l), Value::Bool(r)) => l.cmp(r),
        (Value::Number(l), Value::Number(r)) => match double(l).partial_cmp(&double(r)) {
            Some(ordering) => ordering,
            None => return Truth::Unknown,
        },
        (Value::String(l), Value::String(r)) => l.as_str().cmp(r.as_str()),
        _ => return Truth::Unknown,
    };
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
    }
    .into()
}
