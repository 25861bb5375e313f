//! The JSON model Herald hands to `sql-json-path`: `serde_json` values behind a step meter.
//!
//! `sql-json-path` evaluates over any type implementing its `Json` traits but offers no way to stop an evaluation
//! early. Every trait call is a natural checkpoint, so this wrapper counts them against a per-evaluation budget
//! held in a thread-local (evaluation is synchronous and never crosses threads). Once the budget is spent, every
//! value that came from the payload goes quiet: it answers as an empty array *and* an empty object and as no scalar,
//! so lists come back empty, comparisons become unknown and the evaluation winds down in a few more steps, after
//! which the caller reports "over budget" and no match.
//!
//! Three rules keep that safe against the library's internal `unwrap`s and `unreachable!`s:
//! - a value never stops being an array or an object once it said it was one (a quiet value is both), so a type
//!   test followed by an unwrapping accessor, or a chain of type tests (`.type()`), always lands on a type;
//! - a real array keeps answering `len` and `get` truthfully (the library unwraps `get(0)` after `len() == 1`);
//! - literals and computed scalars (the path's own strings and numbers, arithmetic results) never change their
//!   answers (the library unwraps the `starts with` prefix as a string).
//!
//! The wrapper also presents every payload number as a double. SPEC §9 says numbers compare as double precision,
//! and it keeps the library's integer arithmetic (which overflows on large `i64`s) away from payload numbers.
//! Numbers beyond the double range are clamped to ±`f64::MAX` rather than failing.

use std::cell::Cell;
use std::fmt;
use std::sync::LazyLock;

use serde_json::{Map, Number, Value};
use sql_json_path::json::{ArrayRef, Json, JsonRef, ObjectRef};

thread_local! {
    /// Steps left in the evaluation running on this thread; `None` when no metered evaluation is running.
    static REMAINING: Cell<Option<u64>> = const { Cell::new(None) };
}

static NULL: Value = Value::Null;
static EMPTY_ARRAY: Vec<Value> = Vec::new();
static EMPTY_OBJECT: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

/// Runs `f` with a fresh budget of `steps`, and says whether the budget ran out.
///
/// Restores whatever budget was active before, so a nested call (there is none today) cannot corrupt its caller.
pub(super) fn with_budget<R>(steps: u64, f: impl FnOnce() -> R) -> (R, bool) {
    let previous = REMAINING.with(|cell| cell.replace(Some(steps)));
    let result = f();
    let left = REMAINING.with(|cell| cell.replace(previous));
    (result, left == Some(0))
}

/// Spends `steps`; `true` while the budget lasts. Outside a metered evaluation nothing is counted.
fn charge(steps: u64) -> bool {
    REMAINING.with(|cell| match cell.get() {
        None => true,
        Some(0) => false,
        Some(left) => {
            let rest = left.saturating_sub(steps);
            cell.set(Some(rest));
            rest > 0
        }
    })
}

/// A payload number as the double it compares as, clamped into the finite range.
fn as_double(number: &Number) -> Number {
    let value = match number.as_f64() {
        Some(value) => value,
        // `as_f64` is `None` only for text beyond the double range; keep its sign.
        None if number.to_string().starts_with('-') => f64::MIN,
        None => f64::MAX,
    };
    Number::from_f64(value).unwrap_or_else(|| Number::from(0))
}

/// An owned value produced during evaluation.
///
/// `payload` is true for copies of payload data and for objects the library assembles (`.keyvalue()`); those go
/// quiet when the budget is spent. Scalars the library creates (literals, arithmetic results) keep answering.
#[derive(Clone)]
pub(super) struct Owned {
    value: Value,
    payload: bool,
}

impl Owned {
    fn literal(value: Value) -> Owned {
        Owned {
            value,
            payload: false,
        }
    }
}

impl fmt::Debug for Owned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.value, f)
    }
}

/// A borrowed value: a node of the payload, or a view of an [`Owned`] value.
#[derive(Clone, Copy)]
pub(super) struct Node<'a> {
    value: &'a Value,
    payload: bool,
}

impl<'a> Node<'a> {
    /// A node of the payload being evaluated.
    pub(super) fn payload(value: &'a Value) -> Node<'a> {
        Node {
            value,
            payload: true,
        }
    }

    /// The JSON value behind this node, unmetered.
    pub(super) fn value(self) -> &'a Value {
        self.value
    }

    /// True when this node must play dead: it came from the payload and the budget is spent.
    fn quiet(self) -> bool {
        let within = charge(1);
        self.payload && !within
    }
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.value, f)
    }
}

/// Copies a payload subtree, one step per node; the copy is cut short (with nulls) once the budget is spent.
fn metered_clone(value: &Value) -> Value {
    if !charge(1) {
        return Value::Null;
    }
    match value {
        Value::Array(items) => Value::Array(items.iter().map(metered_clone).collect()),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(key, item)| (key.clone(), metered_clone(item)))
                .collect(),
        ),
        scalar => scalar.clone(),
    }
}

impl Json for Owned {
    type Borrowed<'a> = Node<'a>;

    fn as_ref(&self) -> Node<'_> {
        Node {
            value: &self.value,
            payload: self.payload,
        }
    }

    fn null() -> Self {
        Owned::literal(Value::Null)
    }

    fn bool(b: bool) -> Self {
        Owned::literal(Value::Bool(b))
    }

    fn from_u64(v: u64) -> Self {
        Owned::literal(Value::Number(Number::from(v)))
    }

    fn from_i64(v: i64) -> Self {
        Owned::literal(Value::Number(Number::from(v)))
    }

    fn from_f64(v: f64) -> Self {
        // The library unwraps here; a non-finite result (overflow) becomes null instead of a panic.
        Owned::literal(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn from_number(n: Number) -> Self {
        Owned::literal(Value::Number(n))
    }

    fn from_string(s: &str) -> Self {
        Owned::literal(Value::String(s.to_owned()))
    }

    fn object<'a, I: IntoIterator<Item = (&'a str, Self)>>(i: I) -> Self {
        let members: Map<String, Value> = i
            .into_iter()
            .map(|(key, item)| (key.to_owned(), item.value))
            .collect();
        Owned {
            value: Value::Object(members),
            payload: true,
        }
    }
}

/// An array seen through the meter.
#[derive(Clone, Copy)]
pub(super) struct Array<'a> {
    items: &'a [Value],
    payload: bool,
}

/// An object seen through the meter.
#[derive(Clone, Copy)]
pub(super) struct Object<'a> {
    members: &'a Map<String, Value>,
    payload: bool,
}

impl<'a> JsonRef<'a> for Node<'a> {
    type Owned = Owned;
    type Array = Array<'a>;
    type Object = Object<'a>;

    fn to_owned(self) -> Owned {
        if !self.payload {
            return Owned {
                value: self.value.clone(),
                payload: false,
            };
        }
        Owned {
            value: metered_clone(self.value),
            payload: true,
        }
    }

    fn null() -> Self {
        Node {
            value: &NULL,
            payload: false,
        }
    }

    fn as_bool(self) -> Option<bool> {
        if self.quiet() {
            return None;
        }
        self.value.as_bool()
    }

    fn as_number(self) -> Option<Number> {
        if self.quiet() {
            return None;
        }
        let number = self.value.as_number()?;
        Some(if self.payload {
            as_double(number)
        } else {
            number.clone()
        })
    }

    fn as_str(self) -> Option<&'a str> {
        if self.quiet() {
            return None;
        }
        self.value.as_str()
    }

    fn as_array(self) -> Option<Array<'a>> {
        if self.quiet() {
            return Some(Array {
                items: &EMPTY_ARRAY,
                payload: true,
            });
        }
        self.value.as_array().map(|items| Array {
            items,
            payload: self.payload,
        })
    }

    fn as_object(self) -> Option<Object<'a>> {
        if self.quiet() {
            return Some(Object {
                members: &EMPTY_OBJECT,
                payload: true,
            });
        }
        self.value.as_object().map(|members| Object {
            members,
            payload: self.payload,
        })
    }

    fn is_null(self) -> bool {
        !self.quiet() && self.value.is_null()
    }

    fn is_bool(self) -> bool {
        self.as_bool().is_some()
    }

    fn is_number(self) -> bool {
        !self.quiet() && self.value.is_number()
    }

    fn is_string(self) -> bool {
        self.as_str().is_some()
    }

    fn is_array(self) -> bool {
        self.as_array().is_some()
    }

    fn is_object(self) -> bool {
        self.as_object().is_some()
    }
}

impl<'a> ArrayRef<'a> for Array<'a> {
    type JsonRef = Node<'a>;

    fn len(self) -> usize {
        self.items.len()
    }

    fn get(self, index: usize) -> Option<Node<'a>> {
        charge(1);
        self.items.get(index).map(|value| Node {
            value,
            payload: self.payload,
        })
    }

    fn list(self) -> Vec<Node<'a>> {
        let len = u64::try_from(self.items.len()).unwrap_or(u64::MAX);
        if !charge(len) && self.payload {
            return Vec::new();
        }
        self.items
            .iter()
            .map(|value| Node {
                value,
                payload: self.payload,
            })
            .collect()
    }
}

impl<'a> ObjectRef<'a> for Object<'a> {
    type JsonRef = Node<'a>;

    fn len(self) -> usize {
        self.members.len()
    }

    fn get(self, key: &str) -> Option<Node<'a>> {
        charge(1);
        self.members.get(key).map(|value| Node {
            value,
            payload: self.payload,
        })
    }

    fn list(self) -> Vec<(&'a str, Node<'a>)> {
        let len = u64::try_from(self.members.len()).unwrap_or(u64::MAX);
        if !charge(len) && self.payload {
            return Vec::new();
        }
        self.members
            .iter()
            .map(|(key, value)| {
                (
                    key.as_str(),
                    Node {
                        value,
                        payload: self.payload,
                    },
                )
            })
            .collect()
    }

    fn list_value(self) -> Vec<Node<'a>> {
        let len = u64::try_from(self.members.len()).unwrap_or(u64::MAX);
        if !charge(len) && self.payload {
            return Vec::new();
        }
        self.members
            .values()
            .map(|value| Node {
                value,
                payload: self.payload,
            })
            .collect()
    }
}
