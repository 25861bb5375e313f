//! Trigger predicates (SPEC §5.2): `{path, operator, value?, values?, caseSensitive?}`, compiled once at create
//! time, evaluated against the envelope JSON (`$.payload.x`, `$.metadata.y`, `$.source`) of every matching event.
//!
//! - `path` is a SQL/JSON path expression; what it selects is compared item by item, arrays not unwrapped
//!   (`$.payload.tags` is the array, `$.payload.tags[*]` its elements). A predicate holds when **any** selected
//!   item passes; `notEquals` and `notIn` hold when **no** item equals (so also when nothing is selected); every
//!   other operator fails when nothing is selected.
//! - No coercion: `"5"` is not `5`; numbers compare as doubles, as everywhere in Herald's SQL/JSON (§9).
//! - `gt`/`gte`/`lt`/`lte` take a number (anything else is refused at compile time) and pass only number items.
//! - `contains`: a string item contains `value` (a string) as a substring, or an array item has an element equal
//!   to `value`.
//! - `regex` (Rust `regex` syntax, at most 512 characters) passes string items it finds a match in.
//! - `matches`: `value` is a whole SQL/JSON predicate (`$.payload.size > 10 && $.payload.kind == "full"`),
//!   evaluated with each selected item as its `$` (`"path": "$"` for the envelope).
//! - `caseSensitive: false` folds case for `equals`, `notEquals`, `in`, `notIn`, `contains` (strings only) and
//!   `regex`.
//!
//! [`Predicate::check`] reports what was found and what was expected, so explain (§5.9) shows the same evaluation
//! the trigger ran.

use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

use crate::domain::{ErrorCode, ValidationError};
use crate::jsonpath::JsonPath;

/// The most predicates a trigger may have.
pub const MAX_PREDICATES: usize = 25;
/// The most values of an `in` or `notIn`.
pub const MAX_IN_VALUES: usize = 100;
/// The longest `regex`, in characters.
pub const MAX_REGEX_CHARS: usize = 512;

const KEYS: [&str; 5] = ["path", "operator", "value", "values", "caseSensitive"];

/// One compiled predicate.
#[derive(Debug, Clone)]
pub struct Predicate {
    path: JsonPath,
    test: Test,
    case_sensitive: bool,
    /// `value` or `values` as given, for explain.
    expected: Value,
}

#[derive(Debug, Clone)]
enum Test {
    Exists,
    Equals(Value),
    NotEquals(Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Compare(Ordering, f64),
    Contains(Value),
    Regex(Regex),
    Matches(JsonPath),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ordering {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A predicate as a database runs it ([`Predicate::portable`]): it holds when some item `path` selects (in lax
/// mode, arrays not unwrapped after the last step) passes `test` — or, `negated`, when none does.
#[derive(Debug, Clone, PartialEq)]
pub struct PortablePredicate {
    /// The SQL/JSON path selecting the items.
    pub path: String,
    /// What an item must pass.
    pub test: ItemTest,
    /// Holds when no item passes.
    pub negated: bool,
}

/// What one selected item must pass.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemTest {
    /// Any item.
    Any,
    /// Equal (as JSON; numbers by value) to one of these scalars.
    EqualsAny(Vec<Value>),
    /// A number standing in this relation (`>`, `>=`, `<`, `<=`) to the bound.
    Number(&'static str, f64),
    /// This SQL/JSON predicate is true with the item as `$`.
    Matches(String),
}

/// What checking one predicate came to.
#[derive(Debug, Clone, PartialEq)]
pub struct PredicateOutcome {
    /// Whether it holds.
    pub passed: bool,
    /// The items the path selected (an empty array when none; `null` when the evaluation failed).
    pub found: Value,
    /// `value` or `values` as defined (`null` for `exists`).
    pub expected: Value,
}

impl Predicate {
    /// Compiles the predicate at `index` of a definition's `predicates`.
    ///
    /// # Errors
    /// Naming `predicates[index].<field>`: `unknown_field`; `missing_field` (`path`, `operator`, the `value` or
    /// `values` the operator needs); `invalid_json_path` (a bad `path`, or a bad `matches` value); `invalid_field`
    /// (an unknown operator, a non-number for a numeric operator, a bad or too long regex, `values` not an array
    /// of 1–100, `caseSensitive` not a boolean).
    pub fn compile(index: usize, spec: &Value) -> Result<Predicate, ValidationError> {
        let field = |name: &str| format!("predicates[{index}].{name}");
        let Value::Object(spec) = spec else {
            return Err(ValidationError::invalid(
                format!("predicates[{index}]"),
                "must be an object with `path` and `operator`",
            ));
        };
        if let Some(unknown) = spec.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(ValidationError::unknown(field(unknown)));
        }
        let path_text = string(spec, "path", &field)?;
        let path =
            JsonPath::parse(&path_text).map_err(|e| e.into_validation_error(field("path")))?;
        if path.is_predicate() {
            return Err(ValidationError::new(
                ErrorCode::InvalidJsonPath,
                Some(field("path")),
                format!(
                    "`{}` must select items (`$.payload.x`); a predicate expression goes in `value` with operator `matches`",
                    field("path")
                ),
            ));
        }
        let case_sensitive = match spec.get("caseSensitive") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ValidationError::invalid(
                    field("caseSensitive"),
                    "must be a boolean",
                ));
            }
        };
        let operator = string(spec, "operator", &field)?;
        let value = || {
            spec.get("value")
                .filter(|v| !v.is_null())
                .cloned()
                .ok_or_else(|| ValidationError::missing(field("value")))
        };
        let values = || -> Result<Vec<Value>, ValidationError> {
            match spec.get("values") {
                None | Some(Value::Null) => Err(ValidationError::missing(field("values"))),
                Some(Value::Array(items)) if (1..=MAX_IN_VALUES).contains(&items.len()) => {
                    Ok(items.clone())
                }
                Some(_) => Err(ValidationError::invalid(
                    field("values"),
                    format!("must be an array of 1 to {MAX_IN_VALUES} values"),
                )),
            }
        };
        let number = |ordering| -> Result<Test, ValidationError> {
            match value()? {
                Value::Number(n) => Ok(Test::Compare(ordering, n.as_f64().unwrap_or(f64::NAN))),
                _ => Err(ValidationError::invalid(
                    field("value"),
                    format!("must be a number for operator `{operator}`"),
                )),
            }
        };
        let (test, expected) = match operator.as_str() {
            "exists" => (Test::Exists, Value::Null),
            "equals" => (Test::Equals(value()?), value()?),
            "notEquals" => (Test::NotEquals(value()?), value()?),
            "in" => (Test::In(values()?), Value::Array(values()?)),
            "notIn" => (Test::NotIn(values()?), Value::Array(values()?)),
            "gt" => (number(Ordering::Gt)?, value()?),
            "gte" => (number(Ordering::Gte)?, value()?),
            "lt" => (number(Ordering::Lt)?, value()?),
            "lte" => (number(Ordering::Lte)?, value()?),
            "contains" => (Test::Contains(value()?), value()?),
            "regex" => {
                let Value::String(pattern) = value()? else {
                    return Err(ValidationError::invalid(
                        field("value"),
                        "must be a regex string",
                    ));
                };
                if pattern.chars().count() > MAX_REGEX_CHARS {
                    return Err(ValidationError::invalid(
                        field("value"),
                        format!("must be at most {MAX_REGEX_CHARS} characters"),
                    ));
                }
                let regex = RegexBuilder::new(&pattern)
                    .case_insensitive(!case_sensitive)
                    .build()
                    .map_err(|e| {
                        ValidationError::invalid(
                            field("value"),
                            format!("is not a valid regex: {e}"),
                        )
                    })?;
                (Test::Regex(regex), Value::String(pattern))
            }
            "matches" => {
                let Value::String(text) = value()? else {
                    return Err(ValidationError::invalid(
                        field("value"),
                        "must be a SQL/JSON predicate string",
                    ));
                };
                let predicate =
                    JsonPath::parse(&text).map_err(|e| e.into_validation_error(field("value")))?;
                if !predicate.is_predicate() {
                    return Err(ValidationError::new(
                        ErrorCode::InvalidJsonPath,
                        Some(field("value")),
                        format!(
                            "`{}` must be a predicate (`$.size > 10`), not a path",
                            field("value")
                        ),
                    ));
                }
                (Test::Matches(predicate), Value::String(text))
            }
            other => {
                return Err(ValidationError::invalid(
                    field("operator"),
                    format!(
                        "must be one of exists, equals, notEquals, in, notIn, gt, gte, lt, lte, contains, regex, matches (got `{other}`)"
                    ),
                ));
            }
        };
        Ok(Predicate {
            path,
            test,
            case_sensitive,
            expected,
        })
    }

    /// The `path` as written.
    pub fn path(&self) -> &str {
        self.path.as_str()
    }

    /// The `operator` as written.
    pub fn operator(&self) -> &'static str {
        match &self.test {
            Test::Exists => "exists",
            Test::Equals(_) => "equals",
            Test::NotEquals(_) => "notEquals",
            Test::In(_) => "in",
            Test::NotIn(_) => "notIn",
            Test::Compare(Ordering::Gt, _) => "gt",
            Test::Compare(Ordering::Gte, _) => "gte",
            Test::Compare(Ordering::Lt, _) => "lt",
            Test::Compare(Ordering::Lte, _) => "lte",
            Test::Contains(_) => "contains",
            Test::Regex(_) => "regex",
            Test::Matches(_) => "matches",
        }
    }

    /// The predicate in a form a database evaluating SQL/JSON paths (PostgreSQL) runs with exactly the meaning
    /// [`Predicate::check`] gives it, or `None` when there is none: case folding and `regex` (Rust's syntax and
    /// Unicode lower case are not the database's), `contains`, comparisons with arrays or objects, and the negated
    /// operators on a path that could fail to evaluate (a failed evaluation fails the predicate here, where the
    /// database would see no items and pass it).
    pub fn portable(&self) -> Option<PortablePredicate> {
        let scalar = |v: &Value| !matches!(v, Value::Array(_) | Value::Object(_));
        let plain_path = !self.path.as_str().contains(['?', '(']);
        let values = |values: &[Value]| {
            (values.iter().all(scalar)
                && (self.case_sensitive || !values.iter().any(Value::is_string)))
            .then(|| values.to_vec())
        };
        let (test, negated) = match &self.test {
            Test::Exists => (ItemTest::Any, false),
            Test::Equals(value) => (
                ItemTest::EqualsAny(values(std::slice::from_ref(value))?),
                false,
            ),
            Test::In(list) => (ItemTest::EqualsAny(values(list)?), false),
            Test::NotEquals(value) if plain_path => (
                ItemTest::EqualsAny(values(std::slice::from_ref(value))?),
                true,
            ),
            Test::NotIn(list) if plain_path => (ItemTest::EqualsAny(values(list)?), true),
            Test::Compare(ordering, bound) => {
                let operator = match ordering {
                    Ordering::Gt => ">",
                    Ordering::Gte => ">=",
                    Ordering::Lt => "<",
                    Ordering::Lte => "<=",
                };
                (ItemTest::Number(operator, *bound), false)
            }
            Test::Matches(predicate) => (ItemTest::Matches(predicate.as_str().to_owned()), false),
            Test::NotEquals(_) | Test::NotIn(_) | Test::Contains(_) | Test::Regex(_) => {
                return None;
            }
        };
        Some(PortablePredicate {
            path: self.path.as_str().to_owned(),
            test,
            negated,
        })
    }

    /// Checks the predicate against an envelope's JSON.
    pub fn check(&self, envelope: &Value) -> PredicateOutcome {
        let items = match self.path.select(envelope) {
            Ok(items) => items,
            Err(_) => {
                return PredicateOutcome {
                    passed: false,
                    found: Value::Null,
                    expected: self.expected.clone(),
                };
            }
        };
        let passed = match &self.test {
            Test::NotEquals(value) => !items.iter().any(|item| self.same(item, value)),
            Test::NotIn(values) => !items
                .iter()
                .any(|item| values.iter().any(|value| self.same(item, value))),
            _ => items.iter().any(|item| self.passes(item)),
        };
        PredicateOutcome {
            passed,
            found: Value::Array(items),
            expected: self.expected.clone(),
        }
    }

    /// Whether one selected item passes a positive test.
    fn passes(&self, item: &Value) -> bool {
        match &self.test {
            Test::Exists => true,
            Test::Equals(value) => self.same(item, value),
            Test::In(values) => values.iter().any(|value| self.same(item, value)),
            Test::Compare(ordering, bound) => item.as_f64().is_some_and(|n| match ordering {
                Ordering::Gt => n > *bound,
                Ordering::Gte => n >= *bound,
                Ordering::Lt => n < *bound,
                Ordering::Lte => n <= *bound,
            }),
            Test::Contains(value) => match (item, value) {
                (Value::String(haystack), Value::String(needle)) => {
                    if self.case_sensitive {
                        haystack.contains(needle.as_str())
                    } else {
                        haystack.to_lowercase().contains(&needle.to_lowercase())
                    }
                }
                (Value::Array(elements), _) => elements.iter().any(|e| self.same(e, value)),
                _ => false,
            },
            Test::Regex(regex) => item.as_str().is_some_and(|s| regex.is_match(s)),
            Test::Matches(predicate) => predicate.matches(item),
            Test::NotEquals(_) | Test::NotIn(_) => false,
        }
    }

    /// JSON equality without coercion (numbers by value: `1` equals `1.0`), strings folded when case-insensitive.
    fn same(&self, a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::String(a), Value::String(b)) if !self.case_sensitive => {
                a.to_lowercase() == b.to_lowercase()
            }
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            _ => a == b,
        }
    }
}

/// Compiles a definition's `predicates` array.
///
/// # Errors
/// `invalid_field` on `predicates` when it is not an array of at most [`MAX_PREDICATES`]; otherwise as
/// [`Predicate::compile`].
pub fn compile_all(predicates: Option<&Value>) -> Result<Vec<Predicate>, ValidationError> {
    match predicates {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= MAX_PREDICATES => items
            .iter()
            .enumerate()
            .map(|(index, spec)| Predicate::compile(index, spec))
            .collect(),
        Some(_) => Err(ValidationError::invalid(
            "predicates",
            format!("must be an array of at most {MAX_PREDICATES} predicates"),
        )),
    }
}

/// The first predicate that fails for `envelope` (its index and outcome), or `None` when all hold (SPEC §5.3
/// `filtered` stores which one failed).
pub fn first_failure(
    predicates: &[Predicate],
    envelope: &Value,
) -> Option<(usize, PredicateOutcome)> {
    predicates
        .iter()
        .enumerate()
        .find_map(|(index, predicate)| {
            let outcome = predicate.check(envelope);
            (!outcome.passed).then_some((index, outcome))
        })
}

fn string(
    spec: &Map<String, Value>,
    key: &str,
    field: &impl Fn(&str) -> String,
) -> Result<String, ValidationError> {
    match spec.get(key) {
        None | Some(Value::Null) => Err(ValidationError::missing(field(key))),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(ValidationError::invalid(
            field(key),
            "must be a non-empty string",
        )),
    }
}

#[cfg(test)]
mod tests;
