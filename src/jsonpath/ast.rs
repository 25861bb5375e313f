//! Herald's syntax tree of an SQL/JSON path, read from the tree `sql-json-path` parsed.
//!
//! `sql-json-path` parses the PostgreSQL dialect well, but its syntax tree is private and its evaluator reads lax
//! mode differently from PostgreSQL (module docs of `jsonpath`). The one public view of the tree is its derived
//! `Debug` text, a faithful and unambiguous rendering of every node; [`Path::from_parsed`] reads that text back
//! into the types below, which `eval.rs` evaluates. Any shape this reader does not know (a crate upgrade that
//! renames a node) is refused as [`JsonPathError::Unsupported`] rather than guessed at, and the unit tests pin
//! every node kind down.

use regex::{Regex, RegexBuilder};

use super::JsonPathError;

/// A parsed path: its mode and its top-level expression or predicate.
#[derive(Debug, Clone)]
pub(super) struct Path {
    /// `strict` (true) or `lax` (false, the default).
    pub(super) strict: bool,
    /// The body.
    pub(super) body: Body,
}

/// The body of a path, or of a parenthesised sub-expression: an expression or a predicate.
#[derive(Debug, Clone)]
pub(super) enum Body {
    /// A path expression: a sequence of items.
    Expr(Expr),
    /// A predicate: true, false or unknown.
    Pred(Pred),
}

/// An expression: yields a sequence of items.
#[derive(Debug, Clone)]
pub(super) enum Expr {
    /// `$`.
    Root,
    /// `@`.
    Current,
    /// `last` (inside a subscript).
    Last,
    /// A literal scalar.
    Literal(Literal),
    /// A parenthesised expression or predicate (a predicate yields one boolean, or null for unknown).
    Nested(Box<Body>),
    /// An accessor applied to every item of the base.
    Accessor(Box<Expr>, Accessor),
    /// Unary `-` (true) or `+` (false).
    Unary(bool, Box<Expr>),
    /// Binary arithmetic.
    Arith(ArithOp, Box<Expr>, Box<Expr>),
}

/// A literal scalar in a path.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
}

/// Binary arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// Comparison operators (`<>` is `!=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// An accessor: one step of a path.
#[derive(Debug, Clone)]
pub(super) enum Accessor {
    /// `.name`.
    Member(String),
    /// `.*`.
    MemberWildcard,
    /// `.**{first to last}`; `u32::MAX` stands for `last` (and for no bound), as in PostgreSQL.
    Descendants { first: u32, last: u32 },
    /// `[*]`.
    ElementWildcard,
    /// `[i, j to k, ..]`: each subscript with its optional upper bound.
    Elements(Vec<(Expr, Option<Expr>)>),
    /// `? (predicate)`.
    Filter(Box<Pred>),
    /// `.method()`.
    Method(Method),
}

/// The item methods Herald accepts (`dialect.rs` refuses the others before parsing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Type,
    Size,
    Double,
    Ceiling,
    Floor,
    Abs,
    KeyValue,
}

/// A predicate: true, false or unknown.
#[derive(Debug, Clone)]
pub(super) enum Pred {
    Compare(CompareOp, Box<Expr>, Box<Expr>),
    Exists(Box<Expr>),
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
    IsUnknown(Box<Pred>),
    StartsWith(Box<Expr>, String),
    LikeRegex(Box<Expr>, Regex),
}

impl Path {
    /// Reads the tree `sql-json-path` parsed (through its `Debug` text) into Herald's tree.
    ///
    /// # Errors
    ///
    /// [`JsonPathError::Unsupported`] naming the node when the tree holds a shape this reader does not know.
    pub(super) fn from_parsed(parsed: &sql_json_path::JsonPath) -> Result<Path, JsonPathError> {
        let text = format!("{parsed:?}");
        let tree = Reader::new(&text).read_all()?;
        let mode = tree.field("JsonPath", "mode")?;
        let strict = match mode.atom()? {
            "Lax" => false,
            "Strict" => true,
            other => return Err(unknown(other)),
        };
        Ok(Path {
            strict,
            body: body(tree.field("JsonPath", "expr")?)?,
        })
    }
}

fn unknown(what: &str) -> JsonPathError {
    JsonPathError::unsupported(
        what.to_owned(),
        "Herald cannot read this part of the parsed path (an unexpected sql-json-path syntax tree)",
    )
}

/// A node of a `Debug` rendering: `Name`, `Name(args)`, `Name { field: value }`, `[items]`, a string or a number.
#[derive(Debug)]
enum Node {
    Atom(String),
    Str(String),
    Tuple(String, Vec<Node>),
    Struct(String, Vec<(String, Node)>),
    List(Vec<Node>),
}

impl Node {
    fn name(&self) -> &str {
        match self {
            Node::Atom(name) | Node::Tuple(name, _) | Node::Struct(name, _) => name,
            Node::Str(_) => "a string",
            Node::List(_) => "a list",
        }
    }

    fn atom(&self) -> Result<&str, JsonPathError> {
        match self {
            Node::Atom(atom) => Ok(atom),
            other => Err(unknown(other.name())),
        }
    }

    fn string(&self) -> Result<&str, JsonPathError> {
        match self {
            Node::Str(text) => Ok(text),
            other => Err(unknown(other.name())),
        }
    }

    /// The arguments of `Name(..)`, exactly `N` of them.
    fn args<const N: usize>(&self) -> Result<&[Node; N], JsonPathError> {
        match self {
            Node::Tuple(_, args) => args.as_slice().try_into().map_err(|_| unknown(self.name())),
            other => Err(unknown(other.name())),
        }
    }

    fn arg(&self) -> Result<&Node, JsonPathError> {
        let [arg] = self.args::<1>()?;
        Ok(arg)
    }

    fn field(&self, struct_name: &str, field: &str) -> Result<&Node, JsonPathError> {
        match self {
            Node::Struct(name, fields) if name == struct_name => fields
                .iter()
                .find_map(|(key, value)| (key == field).then_some(value))
                .ok_or_else(|| unknown(field)),
            other => Err(unknown(other.name())),
        }
    }
}

fn body(node: &Node) -> Result<Body, JsonPathError> {
    match node.name() {
        "Expr" => Ok(Body::Expr(expr(node.arg()?)?)),
        "Pred" => Ok(Body::Pred(pred(node.arg()?)?)),
        other => Err(unknown(other)),
    }
}

fn boxed_expr(node: &Node) -> Result<Box<Expr>, JsonPathError> {
    expr(node).map(Box::new)
}

fn boxed_pred(node: &Node) -> Result<Box<Pred>, JsonPathError> {
    pred(node).map(Box::new)
}

fn expr(node: &Node) -> Result<Expr, JsonPathError> {
    Ok(match node.name() {
        "PathPrimary" => primary(node.arg()?)?,
        "Accessor" => {
            let [base, op] = node.args()?;
            Expr::Accessor(boxed_expr(base)?, accessor(op)?)
        }
        "UnaryOp" => {
            let [op, operand] = node.args()?;
            let negate = match op.atom()? {
                "Minus" => true,
                "Plus" => false,
                other => return Err(unknown(other)),
            };
            Expr::Unary(negate, boxed_expr(operand)?)
        }
        "BinaryOp" => {
            let [op, left, right] = node.args()?;
            let op = match op.atom()? {
                "Add" => ArithOp::Add,
                "Sub" => ArithOp::Sub,
                "Mul" => ArithOp::Mul,
                "Div" => ArithOp::Div,
                "Rem" => ArithOp::Rem,
                other => return Err(unknown(other)),
            };
            Expr::Arith(op, boxed_expr(left)?, boxed_expr(right)?)
        }
        other => return Err(unknown(other)),
    })
}

fn primary(node: &Node) -> Result<Expr, JsonPathError> {
    Ok(match node.name() {
        "Root" => Expr::Root,
        "Current" => Expr::Current,
        "Last" => Expr::Last,
        "Value" => Expr::Literal(literal(node.arg()?)?),
        "ExprOrPred" => Expr::Nested(Box::new(body(node.arg()?)?)),
        other => return Err(unknown(other)),
    })
}

fn literal(node: &Node) -> Result<Literal, JsonPathError> {
    Ok(match node.name() {
        "Null" => Literal::Null,
        "Boolean" => match node.arg()?.atom()? {
            "true" => Literal::Bool(true),
            "false" => Literal::Bool(false),
            other => return Err(unknown(other)),
        },
        "Number" => {
            // `Number(Number(12))`: the AST variant around `serde_json::Number`'s own `Debug`.
            let text = node.arg()?.arg()?.atom()?;
            let value: f64 = text.parse().map_err(|_| unknown(text))?;
            Literal::Number(value)
        }
        "String" => Literal::String(node.arg()?.string()?.to_owned()),
        other => return Err(unknown(other)),
    })
}

fn accessor(node: &Node) -> Result<Accessor, JsonPathError> {
    Ok(match node.name() {
        "Member" => Accessor::Member(node.arg()?.string()?.to_owned()),
        "MemberWildcard" => Accessor::MemberWildcard,
        "ElementWildcard" => Accessor::ElementWildcard,
        "DescendantMemberWildcard" => {
            let levels = node.arg()?;
            let (first, last) = match levels.name() {
                "All" => (0, u32::MAX),
                "One" => {
                    let level = level(levels.arg()?)?;
                    (level, level)
                }
                "Range" => {
                    let [first, last] = levels.args()?;
                    (level(first)?, level(last)?)
                }
                other => return Err(unknown(other)),
            };
            Accessor::Descendants { first, last }
        }
        "Element" => {
            let Node::List(items) = node.arg()? else {
                return Err(unknown("Element"));
            };
            let subscripts = items
                .iter()
                .map(|item| match item.name() {
                    "Index" => Ok((expr(item.arg()?)?, None)),
                    "Slice" => {
                        let [from, to] = item.args()?;
                        Ok((expr(from)?, Some(expr(to)?)))
                    }
                    other => Err(unknown(other)),
                })
                .collect::<Result<_, _>>()?;
            Accessor::Elements(subscripts)
        }
        "FilterExpr" => Accessor::Filter(boxed_pred(node.arg()?)?),
        "Method" => Accessor::Method(match node.arg()?.atom()? {
            "Type" => Method::Type,
            "Size" => Method::Size,
            "Double" => Method::Double,
            "Ceiling" => Method::Ceiling,
            "Floor" => Method::Floor,
            "Abs" => Method::Abs,
            "Keyvalue" => Method::KeyValue,
            other => return Err(unknown(other)),
        }),
        other => return Err(unknown(other)),
    })
}

fn level(node: &Node) -> Result<u32, JsonPathError> {
    match node.name() {
        "Last" => Ok(u32::MAX),
        "N" => {
            let text = node.arg()?.atom()?;
            text.parse().map_err(|_| unknown(text))
        }
        other => Err(unknown(other)),
    }
}

fn pred(node: &Node) -> Result<Pred, JsonPathError> {
    Ok(match node.name() {
        "Compare" => {
            let [op, left, right] = node.args()?;
            let op = match op.atom()? {
                "Eq" => CompareOp::Eq,
                "Ne" => CompareOp::Ne,
                "Lt" => CompareOp::Lt,
                "Le" => CompareOp::Le,
                "Gt" => CompareOp::Gt,
                "Ge" => CompareOp::Ge,
                other => return Err(unknown(other)),
            };
            Pred::Compare(op, boxed_expr(left)?, boxed_expr(right)?)
        }
        "Exists" => Pred::Exists(boxed_expr(node.arg()?)?),
        "And" => {
            let [left, right] = node.args()?;
            Pred::And(boxed_pred(left)?, boxed_pred(right)?)
        }
        "Or" => {
            let [left, right] = node.args()?;
            Pred::Or(boxed_pred(left)?, boxed_pred(right)?)
        }
        "Not" => Pred::Not(boxed_pred(node.arg()?)?),
        "IsUnknown" => Pred::IsUnknown(boxed_pred(node.arg()?)?),
        "StartsWith" => {
            let [whole, prefix] = node.args()?;
            let Literal::String(prefix) = literal(prefix)? else {
                return Err(unknown("starts with"));
            };
            Pred::StartsWith(boxed_expr(whole)?, prefix)
        }
        "LikeRegex" => {
            let [subject, regex] = node.args()?;
            Pred::LikeRegex(boxed_expr(subject)?, like_regex(regex)?)
        }
        other => return Err(unknown(other)),
    })
}

/// `Regex { regex: Regex("pattern"), flags: "iq" }`: the pattern as the crate compiled it (already escaped for
/// flag `q`), rebuilt with the same flags.
fn like_regex(node: &Node) -> Result<Regex, JsonPathError> {
    let pattern = node.field("Regex", "regex")?.arg()?.string()?;
    let flags = node.field("Regex", "flags")?.string()?;
    RegexBuilder::new(pattern)
        .case_insensitive(flags.contains('i'))
        .multi_line(flags.contains('m'))
        .dot_matches_new_line(flags.contains('s'))
        .build()
        .map_err(|error| JsonPathError::Syntax(error.to_string()))
}

/// Reads a `Debug` rendering into [`Node`]s.
struct Reader<'t> {
    chars: std::iter::Peekable<std::str::Chars<'t>>,
}

impl<'t> Reader<'t> {
    fn new(text: &'t str) -> Reader<'t> {
        Reader {
            chars: text.chars().peekable(),
        }
    }

    fn read_all(mut self) -> Result<Node, JsonPathError> {
        let node = self.node()?;
        self.skip_spaces();
        match self.chars.next() {
            None => Ok(node),
            Some(c) => Err(unknown(&c.to_string())),
        }
    }

    fn skip_spaces(&mut self) {
        while self.chars.next_if(|c| c.is_whitespace()).is_some() {}
    }

    fn expect(&mut self, expected: char) -> Result<(), JsonPathError> {
        self.skip_spaces();
        match self.chars.next() {
            Some(c) if c == expected => Ok(()),
            Some(c) => Err(unknown(&c.to_string())),
            None => Err(unknown("the end of the tree")),
        }
    }

    /// Whether the next non-space character is `c`; consumes it if so.
    fn eat(&mut self, c: char) -> bool {
        self.skip_spaces();
        self.chars.next_if_eq(&c).is_some()
    }

    fn node(&mut self) -> Result<Node, JsonPathError> {
        self.skip_spaces();
        match self.chars.peek().copied() {
            Some('"') => {
                self.chars.next();
                self.string().map(Node::Str)
            }
            Some('[') => {
                self.chars.next();
                self.sequence(']').map(Node::List)
            }
            Some(c) if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' => {
                let atom = self.atom();
                if self.eat('(') {
                    return self.sequence(')').map(|args| Node::Tuple(atom, args));
                }
                if self.eat('{') {
                    let mut fields = Vec::new();
                    while !self.eat('}') {
                        self.skip_spaces();
                        let key = self.atom();
                        self.expect(':')?;
                        fields.push((key, self.node()?));
                        if !self.eat(',') {
                            self.expect('}')?;
                            break;
                        }
                    }
                    return Ok(Node::Struct(atom, fields));
                }
                Ok(Node::Atom(atom))
            }
            Some(c) => Err(unknown(&c.to_string())),
            None => Err(unknown("the end of the tree")),
        }
    }

    /// Comma-separated nodes up to `close`.
    fn sequence(&mut self, close: char) -> Result<Vec<Node>, JsonPathError> {
        let mut nodes = Vec::new();
        while !self.eat(close) {
            nodes.push(self.node()?);
            if !self.eat(',') {
                self.expect(close)?;
                break;
            }
        }
        Ok(nodes)
    }

    /// An identifier or a number (`Root`, `12`, `-0.5`, `1e-7`).
    fn atom(&mut self) -> String {
        let mut atom = String::new();
        while let Some(c) = self
            .chars
            .next_if(|&c| c.is_alphanumeric() || matches!(c, '_' | '-' | '+' | '.'))
        {
            atom.push(c);
        }
        atom
    }

    /// A string after its opening quote, with Rust's `Debug` escapes undone.
    fn string(&mut self) -> Result<String, JsonPathError> {
        let mut text = String::new();
        loop {
            match self.chars.next() {
                None => return Err(unknown("an unterminated string")),
                Some('"') => return Ok(text),
                Some('\\') => match self.chars.next() {
                    Some('n') => text.push('\n'),
                    Some('r') => text.push('\r'),
                    Some('t') => text.push('\t'),
                    Some('0') => text.push('\0'),
                    Some('u') => {
                        self.expect('{')?;
                        let mut hex = String::new();
                        while let Some(c) = self.chars.next_if(char::is_ascii_hexdigit) {
                            hex.push(c);
                        }
                        self.expect('}')?;
                        let c = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| unknown("a \\u escape"))?;
                        text.push(c);
                    }
                    Some(c) => text.push(c),
                    None => return Err(unknown("an unterminated string")),
                },
                Some(c) => text.push(c),
            }
        }
    }
}
