//! SQL/JSON path (SPEC §9): one path language, with the same meaning on PostgreSQL and SQLite.
//!
//! Herald parses every path itself ([`JsonPath::parse`]) before using it, on PostgreSQL too, so a path either
//! works on both databases or is the same 400 `invalid_json_path` on both. On PostgreSQL the database evaluates it
//! ([`JsonPath::postgres_condition`]: `@@` for a predicate, `@?` for a path expression, the path always a bound
//! parameter). Elsewhere (SQLite queries, live WebSocket filters, trigger predicates) Herald evaluates it itself
//! ([`JsonPath::matches`]), following PostgreSQL's executor step by step, lax mode included (`eval.rs`).
//! `tests/api/jsonpath_parity.rs` runs a table of expressions over a set of payloads on both and requires
//! identical answers.
//!
//! The `sql-json-path` crate parses the text; Herald reads the crate's syntax tree into its own (`ast.rs`) and
//! evaluates that, because the crate's evaluator reads lax mode differently from PostgreSQL: it does not unwrap
//! arrays met by a comparison (`$.version > 10` misses `{"version": [5, 12]}`), stops a lax comparison at the first
//! incomparable pair, and its `.**` descends through object members only.
//!
//! # What is refused, and why
//! `sql-json-path` accepts more than PostgreSQL 15 does or reads some things differently, so Herald refuses
//! (`invalid_json_path`, the message naming the construct):
//! - item methods other than `.type()`, `.size()`, `.double()`, `.ceiling()`, `.floor()`, `.abs()`,
//!   `.keyvalue()`: the string, conversion and datetime methods are missing from PostgreSQL 15/16 or depend on
//!   the session time zone;
//! - variables (`$name`): Herald passes none, and PostgreSQL fails the whole query on a missing variable;
//! - `nan`, `inf`, `infinity` (the crate reads them as numbers, PostgreSQL as a syntax error) and integral literals
//!   beyond ±2^53 (the crate stores them as saturating `i64`s);
//! - `pred is unknown` without parentheses around `pred` (PostgreSQL requires them);
//! - in `like_regex` patterns (unless `flag "q"`): `\d`/`\D` (Unicode digits in Rust, ASCII here in PostgreSQL),
//!   `\b \B \A \z \Z \< \>` and PostgreSQL's `\y \Y \m \M` (same letters, different meanings), `\p{..}`, `(?` groups
//!   other than `(?:` (inline flags, look-around), `[` nested in a bracket expression and the class set operators
//!   `&&`, `--`, `~~`. Flags `i`, `s`, `m`, `q` are supported; `x` is refused by the crate as by PostgreSQL.
//!   Patterns Rust's `regex` cannot compile are refused too (SPEC §9).
//! - paths longer than [`MAX_PATH_CHARS`] characters, nesting parentheses deeper than [`MAX_PARENTHESES`] or
//!   brackets deeper than [`MAX_NESTING`]: `sql-json-path`'s parser takes exponential time in the parenthesis
//!   depth, so these bound the time a hostile path can cost at parse time.
//!
//! # Known differences that remain
//! - Numbers: Herald compares and computes in double precision (SPEC §9), PostgreSQL in `numeric`. They differ only
//!   where doubles round: `$.a / 3 * 3 == 1` is true here, false on PostgreSQL. Payload numbers beyond the double
//!   range are clamped to ±`f64::MAX`; an arithmetic overflow to infinity is an evaluation error (no match).
//! - `.keyvalue()`'s `id` field is numbered differently (PostgreSQL derives it from storage offsets).
//! - `like_regex` with flag `i` uses Rust's Unicode simple case folding; PostgreSQL's follows the database locale
//!   and differs for a few characters (titlecase digraphs such as `ǅ`).
//!
//! # Evaluation budget
//! A path is bounded before evaluation by its length and nesting (which also bound parsing time), and during
//! evaluation by [`EVALUATION_BUDGET_STEPS`]: every step the evaluator takes through the payload (applying an
//! accessor, listing an array or object, comparing a pair, copying a node) is counted, and a path that runs past
//! the budget (nested filters and cross-products over large arrays) stops and is reported as
//! [`Evaluation::OverBudget`], which does not match. PostgreSQL's equivalent is the statement timeout
//! (`HERALD_QUERY_TIMEOUT_MS`). The payload itself is bounded by `HERALD_MAX_PAYLOAD_BYTES`.
//!
//! - `dialect.rs`: the text-level rules above.
//! - `ast.rs`: Herald's syntax tree, read from the crate's.
//! - `eval.rs`: the evaluator (PostgreSQL's semantics, the budget).
//! - `items.rs`: comparisons, numbers as doubles, `jsonb` key order.
//!
//! `sql-json-path` turns on `serde_json`'s `arbitrary_precision` feature, and Cargo unifies features, so every
//! `serde_json::Number` in Herald keeps its text as written (`1e2` stays `1e2`, not `100.0`).

mod ast;
mod dialect;
mod eval;
mod items;

#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::Value;

use self::ast::{Body, Path};
use self::eval::{Evaluator, Fault, Truth};

use crate::domain::{ErrorCode, ValidationError};

pub use dialect::{MAX_NESTING, MAX_PARENTHESES, MAX_PATH_CHARS};

/// How many steps one evaluation may take (see "Evaluation budget" above). Ordinary filters over ordinary payloads
/// take a few hundred; `$.items[*] ? (..)` over a 256 KiB payload takes tens of thousands. Two million steps is
/// tens of milliseconds of CPU in an optimised build.
pub const EVALUATION_BUDGET_STEPS: u64 = 2_000_000;

/// Why a path was refused. Every variant is SPEC's `invalid_json_path` ([`JsonPathError::code`]); `Display` is a
/// sentence for the `message` of the error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    /// The text is empty or only whitespace.
    #[error("the SQL/JSON path is empty")]
    Empty,
    /// The text is longer than [`MAX_PATH_CHARS`].
    #[error("the SQL/JSON path is longer than {MAX_PATH_CHARS} characters")]
    TooLong,
    /// Brackets nest deeper than [`MAX_NESTING`], or parentheses deeper than [`MAX_PARENTHESES`].
    #[error(
        "the SQL/JSON path nests parentheses deeper than {MAX_PARENTHESES} levels or brackets deeper than \
         {MAX_NESTING}"
    )]
    TooDeep,
    /// The text does not parse (`sql-json-path`'s message, with its position), or a `like_regex` pattern does not
    /// compile.
    #[error("the SQL/JSON path does not parse: {0}")]
    Syntax(String),
    /// The text parses, but uses a construct Herald refuses so that both databases agree (module docs).
    #[error("the SQL/JSON path uses {construct}, which Herald does not support: {reason}")]
    Unsupported {
        /// The construct as written, or a short name for it.
        construct: String,
        /// Why it is refused, and what to write instead when there is an alternative.
        reason: String,
    },
}

impl JsonPathError {
    fn unsupported(construct: impl Into<String>, reason: impl Into<String>) -> JsonPathError {
        JsonPathError::Unsupported {
            construct: construct.into(),
            reason: reason.into(),
        }
    }

    /// The SPEC error code: always `invalid_json_path`.
    pub const fn code(&self) -> ErrorCode {
        ErrorCode::InvalidJsonPath
    }

    /// This error as a [`ValidationError`] on `field` (`jsonPath` for event filters, `predicates[2].path` for a
    /// trigger), ready for the error response.
    pub fn into_validation_error(self, field: impl Into<String>) -> ValidationError {
        ValidationError::new(self.code(), Some(field.into()), self.to_string())
    }
}

/// What evaluating a path against one value came to. Only [`Evaluation::Matched`] matches (SPEC §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    /// The predicate is true, or the path expression selected at least one item.
    Matched,
    /// The predicate is false or unknown, or the path expression selected nothing.
    NotMatched,
    /// The evaluation failed (a strict-mode structural error, a type error, division by zero, …). PostgreSQL's
    /// `@?`/`@@` turn the same errors into NULL, which does not match either.
    Failed,
    /// The evaluation ran past [`EVALUATION_BUDGET_STEPS`] and was stopped.
    OverBudget,
}

/// A parsed SQL/JSON path that Herald can evaluate and that PostgreSQL reads the same way.
///
/// Keeps the text exactly as given ([`JsonPath::as_str`]): that is what PostgreSQL receives as a bound parameter,
/// so the two databases see the same path, and what is stored in saved views and trigger definitions.
#[derive(Clone)]
pub struct JsonPath {
    text: String,
    tree: Path,
}

impl JsonPath {
    /// Parses `text`, applying Herald's dialect rules (module docs) before `sql-json-path`'s parser.
    ///
    /// # Errors
    ///
    /// A [`JsonPathError`] (SPEC `invalid_json_path`) when the path is empty, too long, nested too deeply, does not
    /// parse, has a `like_regex` pattern Rust's `regex` rejects, or uses a construct Herald refuses.
    pub fn parse(text: &str) -> Result<JsonPath, JsonPathError> {
        dialect::check(text)?;
        let parsed = sql_json_path::JsonPath::new(text)
            .map_err(|error| JsonPathError::Syntax(error.to_string()))?;
        Ok(JsonPath {
            text: text.to_owned(),
            tree: Path::from_parsed(&parsed)?,
        })
    }

    /// The path exactly as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path is a predicate expression (`$.a == 1`, `exists($.a)`), whose boolean result decides the
    /// match, rather than a path expression (`$.a ? (@ > 1)`), which matches when it selects anything.
    ///
    /// The distinction matters: tested for existence, a predicate always "exists" (its `false` is an item), which
    /// is why PostgreSQL gets `@@` for one and `@?` for the other.
    pub fn is_predicate(&self) -> bool {
        matches!(self.tree.body, Body::Pred(_))
    }

    /// Whether `value` matches (SPEC §6.1): a predicate is true, or a path expression selects at least one item.
    /// Errors and budget overruns do not match; [`JsonPath::evaluate`] tells them apart.
    pub fn matches(&self, value: &Value) -> bool {
        self.evaluate(value) == Evaluation::Matched
    }

    /// Evaluates the path against `value` within [`EVALUATION_BUDGET_STEPS`], as PostgreSQL's `@@` (a predicate)
    /// or `@?` (a path expression) would.
    pub fn evaluate(&self, value: &Value) -> Evaluation {
        let mut evaluator = Evaluator::new(&self.tree, value, EVALUATION_BUDGET_STEPS);
        let outcome = match &self.tree.body {
            Body::Pred(pred) => evaluator.pred(pred).map(|truth| truth == Truth::True),
            Body::Expr(expr) => evaluator.exists(expr),
        };
        match outcome {
            Ok(true) => Evaluation::Matched,
            Ok(false) => Evaluation::NotMatched,
            Err(Fault::Error) => Evaluation::Failed,
            Err(Fault::OverBudget) => Evaluation::OverBudget,
        }
    }

    /// The items a path expression selects from `value`, in order, arrays not unwrapped (`$.tags` selects the
    /// array; `$.tags[*]` its elements): what trigger predicates compare (SPEC §5.2). A predicate expression
    /// (`$.a > 1`) selects nothing here; an evaluation error or a budget overrun is returned as its
    /// [`Evaluation`].
    pub fn select(&self, value: &Value) -> Result<Vec<Value>, Evaluation> {
        let Body::Expr(expr) = &self.tree.body else {
            return Ok(Vec::new());
        };
        let mut evaluator = Evaluator::new(&self.tree, value, EVALUATION_BUDGET_STEPS);
        match evaluator.collect(expr) {
            Ok(items) => Ok(items
                .into_iter()
                .map(std::borrow::Cow::into_owned)
                .collect()),
            Err(Fault::Error) => Err(Evaluation::Failed),
            Err(Fault::OverBudget) => Err(Evaluation::OverBudget),
        }
    }

    /// The condition that applies this path to the `jsonb` column `column` on PostgreSQL, with the path bound as
    /// parameter `$param_index`: `column @@ $n::jsonpath` for a predicate, `column @? $n::jsonpath` for a path
    /// expression. Bind [`JsonPath::as_str`] to that parameter; the path is never spliced into SQL.
    ///
    /// `column` is spliced as written, so it must be an identifier from Herald's code (`payload`,
    /// `workflow_events.payload`), never input.
    pub fn postgres_condition(&self, column: &str, param_index: usize) -> String {
        let operator = if self.is_predicate() { "@@" } else { "@?" };
        format!("{column} {operator} ${param_index}::jsonpath")
    }
}

impl fmt::Debug for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JsonPath").field(&self.text).finish()
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AsRef<str> for JsonPath {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl PartialEq for JsonPath {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for JsonPath {}
