//! Herald's evaluator of SQL/JSON paths, with PostgreSQL's semantics (`jsonpath_exec.c`), numbers as doubles.
//!
//! Items flow through the path one by one: each step hands what it selects to the rest of the path (a [`Sink`]),
//! which may answer [`Flow::Stop`] once the caller has seen enough, as PostgreSQL stops a lax `@?` at the first item.
//! Lax mode, as PostgreSQL reads it:
//! - a member accessor, `.*`, a filter and the methods `.double()`, `.ceiling()`, `.floor()`, `.abs()` and
//!   `.keyvalue()` met with an array apply to its elements (one level);
//! - the operands of comparisons, arithmetic, `like_regex` and `starts with` are unwrapped one level;
//! - a subscript or `[*]` met with a non-array treats it as a one-element array;
//! - structural errors (a missing key, a subscript out of bounds, the wrong type for an accessor) select nothing.
//!
//! A comparison is existential over the pairs of items: in lax mode it is true as soon as one pair is, else unknown
//! if a pair was not comparable, else false; in strict mode it is unknown as soon as a pair is not comparable.
//! `.**` visits the item itself (level 0), then every member value and array element below it, depth first, and
//! evaluates the rest of the path on each with structural errors ignored, in both modes.
//!
//! Every step is charged to a budget; running out is [`Fault::OverBudget`], which no predicate swallows.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use super::ast::{Accessor, ArithOp, Body, Expr, Literal, Method, Path, Pred};
pub(super) use super::items::Truth;
use super::items::{
    as_number, child, compare, double, is_container, jsonb_key_order, number, ordered_keys,
    parse_double, size_of_value, type_name,
};

/// Why an evaluation stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// An evaluation error (PostgreSQL raises it; `@?`/`@@` make it NULL; a predicate makes it unknown).
    Error,
    /// The step budget ran out.
    OverBudget,
}

/// Whether the consumer of items wants more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

pub(super) type Item<'a> = Cow<'a, Value>;
pub(super) type Outcome<T> = Result<T, Fault>;
type Sink<'s, 'a> = &'s mut dyn FnMut(&mut Evaluator<'a>, Item<'a>) -> Outcome<Flow>;

/// One evaluation of a path over one value.
pub(super) struct Evaluator<'a> {
    root: &'a Value,
    current: Item<'a>,
    lax: bool,
    /// PostgreSQL's `ignoreStructuralErrors`: lax mode, and anything evaluated below `.**`.
    ignore_structural: bool,
    /// The size of the array whose subscript is being evaluated, for `last`.
    innermost_array: Option<usize>,
    steps_left: u64,
}

impl<'a> Evaluator<'a> {
    /// An evaluator for `path` over `root`, allowed `budget` steps.
    pub(super) fn new(path: &Path, root: &'a Value, budget: u64) -> Evaluator<'a> {
        Evaluator {
            root,
            current: Cow::Borrowed(root),
            lax: !path.strict,
            ignore_structural: !path.strict,
            innermost_array: None,
            steps_left: budget,
        }
    }

    /// PostgreSQL's `@?`: whether the path selects at least one item. A lax path stops at the first item (so a
    /// later error does not count); a strict path is evaluated completely.
    pub(super) fn exists(&mut self, expr: &Expr) -> Outcome<bool> {
        if self.lax {
            // A unary operator at the end of a lazily evaluated path skips non-numeric items instead of failing.
            if let Some(operand) = bare_unary(expr) {
                let items = self.collect_unwrapped(operand)?;
                return Ok(items.iter().any(|item| item.is_number()));
            }
            let mut found = false;
            self.expr(expr, &mut |_, _| {
                found = true;
                Ok(Flow::Stop)
            })?;
            Ok(found)
        } else {
            Ok(!self.collect(expr)?.is_empty())
        }
    }

    /// A predicate's truth; evaluation errors inside it are unknown, only running out of budget is a fault.
    pub(super) fn pred(&mut self, pred: &Pred) -> Outcome<Truth> {
        self.charge(1)?;
        match pred {
            Pred::Compare(op, left, right) => {
                self.over_pairs(left, Some(right), true, |l, r| compare(*op, l, r))
            }
            Pred::StartsWith(whole, prefix) => self.over_pairs(whole, None, false, |l, _| {
                l.as_str()
                    .map_or(Truth::Unknown, |s| s.starts_with(prefix.as_str()).into())
            }),
            Pred::LikeRegex(subject, regex) => self.over_pairs(subject, None, false, |l, _| {
                l.as_str()
                    .map_or(Truth::Unknown, |s| regex.is_match(s).into())
            }),
            Pred::Exists(expr) => {
                let found = if self.lax {
                    self.exists(expr)
                } else {
                    self.collect(expr).map(|items| !items.is_empty())
                };
                Ok(match soften(found)? {
                    Ok(found) => found.into(),
                    Err(unknown) => unknown,
                })
            }
            Pred::And(left, right) => {
                let left = self.pred(left)?;
                if left == Truth::False {
                    return Ok(Truth::False);
                }
                let right = self.pred(right)?;
                Ok(if right == Truth::True { left } else { right })
            }
            Pred::Or(left, right) => {
                let left = self.pred(left)?;
                if left == Truth::True {
                    return Ok(Truth::True);
                }
                let right = self.pred(right)?;
                Ok(if right == Truth::False { left } else { right })
            }
            Pred::Not(inner) => Ok(match self.pred(inner)? {
                Truth::True => Truth::False,
                Truth::False => Truth::True,
                Truth::Unknown => Truth::Unknown,
            }),
            Pred::IsUnknown(inner) => Ok((self.pred(inner)? == Truth::Unknown).into()),
        }
    }

    /// PostgreSQL's `executePredicate`: the left operand (and, for comparisons, the right one) evaluated and
    /// unwrapped, then `test` over every pair. `test`'s second argument is `Null` when there is no right operand.
    fn over_pairs(
        &mut self,
        left: &Expr,
        right: Option<&Expr>,
        unwrap_right: bool,
        test: impl Fn(&Value, &Value) -> Truth,
    ) -> Outcome<Truth> {
        let left = match soften(self.collect_unwrapped(left))? {
            Ok(items) => items,
            Err(unknown) => return Ok(unknown),
        };
        let right = match right {
            None => vec![Cow::Owned(Value::Null)],
            Some(right) => {
                let items = if unwrap_right {
                    self.collect_unwrapped(right)
                } else {
                    self.collect(right)
                };
                match soften(items)? {
                    Ok(items) => items,
                    Err(unknown) => return Ok(unknown),
                }
            }
        };
        let (mut found, mut error) = (false, false);
        for l in &left {
            for r in &right {
                self.charge(1)?;
                match test(l, r) {
                    Truth::Unknown if !self.lax => return Ok(Truth::Unknown),
                    Truth::Unknown => error = true,
                    Truth::True if self.lax => return Ok(Truth::True),
                    Truth::True => found = true,
                    Truth::False => {}
                }
            }
        }
        Ok(if found {
            Truth::True
        } else if error {
            Truth::Unknown
        } else {
            Truth::False
        })
    }

    /// Every item `expr` selects.
    pub(super) fn collect(&mut self, expr: &Expr) -> Outcome<Vec<Item<'a>>> {
        let mut items = Vec::new();
        self.expr(expr, &mut |_, item| {
            items.push(item);
            Ok(Flow::Continue)
        })?;
        Ok(items)
    }

    /// Every item `expr` selects, arrays among them unwrapped one level in lax mode.
    fn collect_unwrapped(&mut self, expr: &Expr) -> Outcome<Vec<Item<'a>>> {
        let items = self.collect(expr)?;
        if !self.lax {
            return Ok(items);
        }
        let mut unwrapped = Vec::with_capacity(items.len());
        for item in items {
            if item.is_array() {
                unwrapped.extend(self.children(&item)?);
            } else {
                unwrapped.push(item);
            }
        }
        Ok(unwrapped)
    }

    fn charge(&mut self, steps: u64) -> Outcome<()> {
        match self.steps_left.checked_sub(steps) {
            Some(left) if left > 0 => {
                self.steps_left = left;
                Ok(())
            }
            _ => {
                self.steps_left = 0;
                Err(Fault::OverBudget)
            }
        }
    }

    /// A structural error: nothing when they are ignored, else an error.
    fn structural(&self) -> Outcome<Flow> {
        if self.ignore_structural {
            Ok(Flow::Continue)
        } else {
            Err(Fault::Error)
        }
    }

    fn expr(&mut self, expr: &Expr, out: Sink<'_, 'a>) -> Outcome<Flow> {
        self.charge(1)?;
        match expr {
            Expr::Root => out(self, Cow::Borrowed(self.root)),
            Expr::Current => {
                let current = self.current.clone();
                out(self, current)
            }
            Expr::Last => match self.innermost_array {
                Some(size) => out(self, number(size as f64 - 1.0)?),
                None => Err(Fault::Error),
            },
            Expr::Literal(literal) => {
                let value = match literal {
                    Literal::Null => Value::Null,
                    Literal::Bool(b) => Value::Bool(*b),
                    Literal::Number(n) => return out(self, number(*n)?),
                    Literal::String(s) => Value::String(s.clone()),
                };
                out(self, Cow::Owned(value))
            }
            Expr::Nested(body) => match body.as_ref() {
                Body::Expr(inner) => self.expr(inner, out),
                Body::Pred(pred) => {
                    let value = match self.pred(pred)? {
                        Truth::True => Value::Bool(true),
                        Truth::False => Value::Bool(false),
                        Truth::Unknown => Value::Null,
                    };
                    out(self, Cow::Owned(value))
                }
            },
            Expr::Accessor(base, op) => self.expr(base, &mut |ev, item| {
                let unwrap = ev.lax;
                ev.apply(op, item, unwrap, out)
            }),
            Expr::Unary(negate, operand) => {
                for item in self.collect_unwrapped(operand)? {
                    let value = as_number(&item).ok_or(Fault::Error)?;
                    let value = if *negate { -value } else { value };
                    if out(self, number(value)?)? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
                Ok(Flow::Continue)
            }
            Expr::Arith(op, left, right) => {
                let left = self.collect_unwrapped(left)?;
                let right = self.collect_unwrapped(right)?;
                let (l, r) = match (left.as_slice(), right.as_slice()) {
                    ([l], [r]) => (
                        as_number(l).ok_or(Fault::Error)?,
                        as_number(r).ok_or(Fault::Error)?,
                    ),
                    _ => return Err(Fault::Error),
                };
                let value = match op {
                    ArithOp::Add => l + r,
                    ArithOp::Sub => l - r,
                    ArithOp::Mul => l * r,
                    ArithOp::Div if r == 0.0 => return Err(Fault::Error),
                    ArithOp::Div => l / r,
                    ArithOp::Rem if r == 0.0 => return Err(Fault::Error),
                    ArithOp::Rem => l % r,
                };
                out(self, number(value)?)
            }
        }
    }

    /// Applies one accessor to `item`. `unwrap` is false when `item` is already an element of an unwrapped array.
    fn apply(
        &mut self,
        op: &Accessor,
        item: Item<'a>,
        unwrap: bool,
        out: Sink<'_, 'a>,
    ) -> Outcome<Flow> {
        self.charge(1)?;
        let unwraps = match op {
            Accessor::Member(_) | Accessor::MemberWildcard | Accessor::Filter(_) => true,
            Accessor::Method(method) => !matches!(method, Method::Type | Method::Size),
            _ => false,
        };
        if unwraps && unwrap && item.is_array() {
            for element in self.children(&item)? {
                if self.apply(op, element, false, out)? == Flow::Stop {
                    return Ok(Flow::Stop);
                }
            }
            return Ok(Flow::Continue);
        }
        match op {
            Accessor::Member(name) => match child(&item, |v| v.as_object()?.get(name)) {
                Some(value) => out(self, value),
                None => self.structural(),
            },
            Accessor::MemberWildcard => {
                if !item.is_object() {
                    return self.structural();
                }
                let members = self.children(&item)?;
                self.each(members, out)
            }
            Accessor::ElementWildcard => {
                if item.is_array() {
                    let elements = self.children(&item)?;
                    self.each(elements, out)
                } else if self.lax {
                    out(self, item)
                } else {
                    self.structural()
                }
            }
            Accessor::Elements(subscripts) => {
                if !item.is_array() && !self.lax {
                    return self.structural();
                }
                let size = item.as_array().map_or(1, Vec::len);
                let saved = self.innermost_array.replace(size);
                let flow = self.subscripts(subscripts, &item, size, out);
                self.innermost_array = saved;
                flow
            }
            Accessor::Descendants { first, last } => self.descendants(&item, *first, *last, out),
            Accessor::Filter(pred) => {
                let saved = std::mem::replace(&mut self.current, item.clone());
                let truth = self.pred(pred);
                self.current = saved;
                if truth? == Truth::True {
                    out(self, item)
                } else {
                    Ok(Flow::Continue)
                }
            }
            Accessor::Method(method) => self.method(*method, item, out),
        }
    }

    fn each(&mut self, items: Vec<Item<'a>>, out: Sink<'_, 'a>) -> Outcome<Flow> {
        for item in items {
            if out(self, item)? == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    /// `[i, j to k]` over `item` (an array of `size` elements, or a scalar wrapped as one in lax mode).
    fn subscripts(
        &mut self,
        subscripts: &[(Expr, Option<Expr>)],
        item: &Item<'a>,
        size: usize,
        out: Sink<'_, 'a>,
    ) -> Outcome<Flow> {
        let size = i64::try_from(size).map_err(|_| Fault::Error)?;
        for (from, to) in subscripts {
            let from = self.index(from)?;
            let to = match to {
                Some(to) => self.index(to)?,
                None => from,
            };
            if !self.ignore_structural && (from < 0 || from > to || to >= size) {
                return Err(Fault::Error);
            }
            for index in from.max(0)..=to.min(size - 1) {
                let selected = if item.is_array() {
                    let index = usize::try_from(index).map_err(|_| Fault::Error)?;
                    child(item, |v| v.as_array()?.get(index))
                } else {
                    Some(item.clone())
                };
                if let Some(selected) = selected
                    && out(self, selected)? == Flow::Stop
                {
                    return Ok(Flow::Stop);
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// A subscript: a single number, truncated to a 32-bit integer as PostgreSQL does.
    fn index(&mut self, expr: &Expr) -> Outcome<i64> {
        let items = self.collect(expr)?;
        let [item] = items.as_slice() else {
            return Err(Fault::Error);
        };
        let value = as_number(item).ok_or(Fault::Error)?.trunc();
        if value < f64::from(i32::MIN) || value > f64::from(i32::MAX) {
            return Err(Fault::Error);
        }
        // The value is integral and within the i32 range, so the cast is exact.
        Ok(value as i64)
    }

    /// `.**{first to last}` (PostgreSQL's `jpiAny` and `executeAnyItem`).
    fn descendants(
        &mut self,
        item: &Item<'a>,
        first: u32,
        last: u32,
        out: Sink<'_, 'a>,
    ) -> Outcome<Flow> {
        if first == 0 && self.visit(item.clone(), out)? == Flow::Stop {
            return Ok(Flow::Stop);
        }
        if is_container(item) {
            return self.descend(item, 1, first, last, out);
        }
        Ok(Flow::Continue)
    }

    fn descend(
        &mut self,
        container: &Item<'a>,
        level: u32,
        first: u32,
        last: u32,
        out: Sink<'_, 'a>,
    ) -> Outcome<Flow> {
        for item in self.children(container)? {
            // `{last}` alone (both bounds `u32::MAX`) selects the leaves at any depth.
            let leaves_only = first == u32::MAX && last == u32::MAX;
            if (level >= first || (leaves_only && !is_container(&item)))
                && self.visit(item.clone(), out)? == Flow::Stop
            {
                return Ok(Flow::Stop);
            }
            if level < last
                && is_container(&item)
                && self.descend(&item, level + 1, first, last, out)? == Flow::Stop
            {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    /// Hands an item found by `.**` to the rest of the path, with structural errors ignored.
    fn visit(&mut self, item: Item<'a>, out: Sink<'_, 'a>) -> Outcome<Flow> {
        let saved = std::mem::replace(&mut self.ignore_structural, true);
        let flow = out(self, item);
        self.ignore_structural = saved;
        flow
    }

    fn method(&mut self, method: Method, item: Item<'a>, out: Sink<'_, 'a>) -> Outcome<Flow> {
        let value = match method {
            Method::Type => Value::String(type_name(&item).to_owned()),
            Method::Size => match item.as_array() {
                Some(items) => return out(self, number(items.len() as f64)?),
                None if self.lax => return out(self, number(1.0)?),
                None => return self.structural(),
            },
            Method::Double => {
                let value = match item.as_ref() {
                    Value::Number(n) => double(n),
                    Value::String(s) => parse_double(s).ok_or(Fault::Error)?,
                    _ => return Err(Fault::Error),
                };
                return out(self, number(value)?);
            }
            Method::Ceiling | Method::Floor | Method::Abs => {
                let value = as_number(&item).ok_or(Fault::Error)?;
                let value = match method {
                    Method::Ceiling => value.ceil(),
                    Method::Floor => value.floor(),
                    _ => value.abs(),
                };
                return out(self, number(value)?);
            }
            Method::KeyValue => {
                if !item.is_object() {
                    return Err(Fault::Error);
                }
                let keys = ordered_keys(&item);
                for (id, key) in keys.into_iter().enumerate() {
                    let value = item.get(&key).cloned().unwrap_or(Value::Null);
                    self.charge(size_of_value(&value))?;
                    let mut pair = Map::new();
                    pair.insert("key".to_owned(), Value::String(key));
                    pair.insert("value".to_owned(), value);
                    pair.insert("id".to_owned(), Value::Number(Number::from(id)));
                    if out(self, Cow::Owned(Value::Object(pair)))? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
                return Ok(Flow::Continue);
            }
        };
        out(self, Cow::Owned(value))
    }

    /// The elements of an array, or the member values of an object in PostgreSQL's `jsonb` key order.
    fn children(&mut self, container: &Item<'a>) -> Outcome<Vec<Item<'a>>> {
        match container {
            Cow::Borrowed(value) => {
                let value: &'a Value = value;
                match value {
                    Value::Array(items) => {
                        self.charge(items.len() as u64)?;
                        Ok(items.iter().map(Cow::Borrowed).collect())
                    }
                    Value::Object(members) => {
                        self.charge(members.len() as u64)?;
                        let mut values: Vec<(&String, &'a Value)> = members.iter().collect();
                        values.sort_by(|a, b| jsonb_key_order(a.0, b.0));
                        Ok(values.into_iter().map(|(_, v)| Cow::Borrowed(v)).collect())
                    }
                    _ => Ok(Vec::new()),
                }
            }
            Cow::Owned(value) => {
                self.charge(size_of_value(value))?;
                Ok(match value {
                    Value::Array(items) => items.iter().cloned().map(Cow::Owned).collect(),
                    Value::Object(_) => ordered_keys(value)
                        .into_iter()
                        .filter_map(|key| value.get(&key).cloned().map(Cow::Owned))
                        .collect(),
                    _ => Vec::new(),
                })
            }
        }
    }
}

/// A predicate's evaluation error becomes unknown; running out of budget stays a fault.
fn soften<T>(outcome: Outcome<T>) -> Outcome<Result<T, Truth>> {
    match outcome {
        Ok(value) => Ok(Ok(value)),
        Err(Fault::Error) => Ok(Err(Truth::Unknown)),
        Err(Fault::OverBudget) => Err(Fault::OverBudget),
    }
}

/// The operand of a unary operator that ends a path (`-$.a`, `(+$.a)`), if `expr` is one.
fn bare_unary(expr: &Expr) -> Option<&Expr> {
    match expr {
        Expr::Unary(_, operand) => Some(operand),
        Expr::Nested(body) => match body.as_ref() {
            Body::Expr(inner) => bare_unary(inner),
            Body::Pred(_) => None,
        },
        _ => None,
    }
}
