//! The subset of the SQL/JSON path dialect Herald accepts, checked on the text before `sql-json-path` parses it.
//!
//! `sql-json-path` accepts a little more than PostgreSQL (15 and later) does, or gives it another meaning; its
//! syntax tree is private, so these rules work on tokens. Each rule names the construct and the reason, and every
//! rejection is `invalid_json_path` on both databases because Herald checks the path before using it anywhere.

use super::JsonPathError;

/// The longest path Herald accepts, in characters. Long enough for any hand-written filter; short enough that the
/// expression tree stays small and parsing stays fast (see [`MAX_PARENTHESES`]).
pub const MAX_PATH_CHARS: usize = 512;

/// How deep `(`, `[` and `{` may nest. The parser recurses once per level (several frames each); this keeps a
/// hostile path far from the stack limit of an actix worker thread.
pub const MAX_NESTING: usize = 16;

/// How deep parentheses (grouping, filters `? (..)`, `exists (..)`) may nest; a method's empty `()` does not
/// count. `sql-json-path`'s parser backtracks on every parenthesis, trying a predicate and then an expression, so
/// its time grows about fivefold per level: four levels parse in a few milliseconds, eight take most of a second.
/// Four levels hold a filter inside a filter with grouped conditions in both; together with [`MAX_PATH_CHARS`]
/// they keep the worst path to about a hundred milliseconds of parsing.
pub const MAX_PARENTHESES: usize = 4;

/// Integral literals beyond ±2^53 are refused: `sql-json-path` stores them as `i64` (saturating past ±2^63), and
/// beyond 2^53 a double cannot tell neighbours apart, so the two databases could disagree.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Item methods with the same meaning in `sql-json-path` and PostgreSQL 15+ (SPEC §9's list). The others are
/// either missing from PostgreSQL 15/16 (`.bigint()`, `.string()`, `.lower()`, …) or depend on the session time
/// zone (`.datetime()`).
const METHODS: [&str; 7] = [
    "type", "size", "double", "ceiling", "floor", "abs", "keyvalue",
];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A double-quoted string literal, unescaped.
    Str(String),
    /// A numeric literal as written.
    Num(String),
    /// A keyword, member name or method name.
    Ident(String),
    /// Any other character (`.`, `(`, `=`, …).
    Punct(char),
}

impl Token {
    /// Whether this token ends a value, so that a following `.` is an accessor rather than the start of `.5`.
    fn ends_value(&self) -> bool {
        match self {
            Token::Str(_) | Token::Num(_) | Token::Ident(_) => true,
            Token::Punct(c) => matches!(c, '$' | '@' | ')' | ']' | '*' | '}'),
        }
    }

    fn is_ident(&self, word: &str) -> bool {
        matches!(self, Token::Ident(ident) if ident.eq_ignore_ascii_case(word))
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()
}

/// Checks `text` against Herald's dialect rules. Syntax errors the tokenizer cannot see (most of them) are left
/// to `sql-json-path`.
///
/// # Errors
///
/// [`JsonPathError::Empty`], [`JsonPathError::TooLong`], [`JsonPathError::TooDeep`] or
/// [`JsonPathError::Unsupported`] naming the construct.
pub(super) fn check(text: &str) -> Result<(), JsonPathError> {
    if text.trim().is_empty() {
        return Err(JsonPathError::Empty);
    }
    if text.chars().count() > MAX_PATH_CHARS {
        return Err(JsonPathError::TooLong);
    }
    let tokens = tokenize(text)?;
    for (index, token) in tokens.iter().enumerate() {
        let previous = index.checked_sub(1).and_then(|i| tokens.get(i));
        let next = tokens.get(index + 1);
        match token {
            Token::Num(literal) => check_number(literal)?,
            Token::Ident(word) => {
                let after_dot = previous == Some(&Token::Punct('.'));
                let lower = word.to_ascii_lowercase();
                if after_dot && next == Some(&Token::Punct('(')) {
                    if !METHODS.contains(&lower.as_str()) {
                        return Err(JsonPathError::unsupported(
                            format!(".{word}()"),
                            "Herald supports the item methods .type(), .size(), .double(), .ceiling(), .floor(), \
                             .abs() and .keyvalue()",
                        ));
                    }
                } else if !after_dot && matches!(lower.as_str(), "nan" | "inf" | "infinity") {
                    return Err(JsonPathError::unsupported(
                        word.clone(),
                        "NaN and infinity are not SQL/JSON path literals",
                    ));
                } else if !after_dot
                    && lower == "is"
                    && next.is_some_and(|t| t.is_ident("unknown"))
                    && previous != Some(&Token::Punct(')'))
                {
                    return Err(JsonPathError::unsupported(
                        "is unknown",
                        "`is unknown` applies to a parenthesised predicate: `($.a == 1) is unknown`",
                    ));
                } else if !after_dot
                    && lower == "like_regex"
                    && let Some(Token::Str(pattern)) = next
                {
                    let flags = match (tokens.get(index + 2), tokens.get(index + 3)) {
                        (Some(flag), Some(Token::Str(flags))) if flag.is_ident("flag") => {
                            flags.as_str()
                        }
                        _ => "",
                    };
                    if !flags.contains('q') {
                        check_regex(pattern)?;
                    }
                }
            }
            Token::Str(_) | Token::Punct(_) => {}
        }
    }
    Ok(())
}

/// Splits `text` into tokens, refusing variables and over-deep nesting on the way.
fn tokenize(text: &str) -> Result<Vec<Token>, JsonPathError> {
    let mut tokens: Vec<Token> = Vec::new();
    let mut chars = text.chars().peekable();
    // For each open bracket: whether it counts as a parenthesis level.
    let mut open: Vec<bool> = Vec::new();
    while let Some(c) = chars.next() {
        let previous_ends_value = tokens.last().is_some_and(Token::ends_value);
        match c {
            c if c.is_whitespace() => {}
            '"' => {
                let mut literal = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('b') => literal.push('\u{0008}'),
                            Some('t') => literal.push('\t'),
                            Some('n') => literal.push('\n'),
                            Some('f') => literal.push('\u{000C}'),
                            Some('r') => literal.push('\r'),
                            Some(other) => literal.push(other),
                            None => {}
                        },
                        other => literal.push(other),
                    }
                }
                tokens.push(Token::Str(literal));
            }
            '$' if chars.peek().is_some_and(|&n| n == '"' || is_ident_char(n)) => {
                return Err(JsonPathError::unsupported(
                    "$variable",
                    "Herald passes no variables to a path; use literal values",
                ));
            }
            c if c.is_ascii_digit()
                || (c == '.'
                    && !previous_ends_value
                    && chars.peek().is_some_and(char::is_ascii_digit)) =>
            {
                let mut literal = String::from(c);
                let mut seen_dot = c == '.';
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_digit() || (n == '.' && !seen_dot) {
                        seen_dot |= n == '.';
                        literal.push(n);
                        chars.next();
                    } else if n == 'e' || n == 'E' {
                        literal.push(n);
                        chars.next();
                        if let Some(&sign) = chars.peek()
                            && (sign == '+' || sign == '-')
                        {
                            literal.push(sign);
                            chars.next();
                        }
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Num(literal));
            }
            c if is_ident_char(c) => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if !is_ident_char(n) {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                tokens.push(Token::Ident(word));
            }
            other => {
                if matches!(other, '(' | '[' | '{') {
                    let empty_call = other == '(' && {
                        let rest = chars.clone().find(|c| !c.is_whitespace());
                        rest == Some(')')
                    };
                    open.push(other == '(' && !empty_call);
                    let parentheses = open.iter().filter(|counts| **counts).count();
                    if open.len() > MAX_NESTING || parentheses > MAX_PARENTHESES {
                        return Err(JsonPathError::TooDeep);
                    }
                } else if matches!(other, ')' | ']' | '}') {
                    open.pop();
                }
                tokens.push(Token::Punct(other));
            }
        }
    }
    Ok(tokens)
}

/// Refuses numeric literals that `sql-json-path` would store differently from their value.
fn check_number(literal: &str) -> Result<(), JsonPathError> {
    // A malformed literal (`1e`) is left to the parser, which reports it with a position.
    let Ok(value) = literal.parse::<f64>() else {
        return Ok(());
    };
    if !value.is_finite() {
        return Err(JsonPathError::unsupported(
            literal,
            "the number is beyond the double-precision range",
        ));
    }
    let digits_only = literal.bytes().all(|b| b.is_ascii_digit());
    let beyond_exact = if digits_only {
        literal
            .parse::<u128>()
            .map_or(true, |n| n > 9_007_199_254_740_992)
    } else {
        value.fract() == 0.0 && value.abs() > MAX_EXACT_INTEGER
    };
    if beyond_exact {
        return Err(JsonPathError::unsupported(
            literal,
            "integral literals must lie within ±2^53 (9007199254740992), where doubles are exact",
        ));
    }
    Ok(())
}

/// Refuses `like_regex` syntax that Rust's `regex` and PostgreSQL's regular expressions read differently.
///
/// Patterns Rust's `regex` cannot compile at all (back-references, look-around) are refused by the parser.
fn check_regex(pattern: &str) -> Result<(), JsonPathError> {
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(escaped) = chars.next() else {
                    break;
                };
                let reason = match escaped {
                    'd' | 'D' => {
                        Some("`\\d` is Unicode-aware in Rust but not in PostgreSQL; write [0-9]")
                    }
                    'b' | 'B' | '<' | '>' | 'A' | 'z' | 'Z' | 'y' | 'Y' | 'm' | 'M' => Some(
                        "anchors and word boundaries are spelled differently in PostgreSQL and Rust; use ^ and $",
                    ),
                    'p' | 'P' => Some("Unicode classes (\\p{..}) are not supported by PostgreSQL"),
                    _ => None,
                };
                if let Some(reason) = reason {
                    return Err(JsonPathError::unsupported(
                        format!("like_regex \\{escaped}"),
                        reason,
                    ));
                }
            }
            '[' if !in_class => {
                in_class = true;
                // A leading `]` or `^]` is a literal bracket, not the end of the class.
                if chars.peek() == Some(&'^') {
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                }
            }
            '[' if in_class && chars.peek() != Some(&':') => {
                return Err(JsonPathError::unsupported(
                    "like_regex [[",
                    "a `[` inside a bracket expression nests a class in Rust but is a literal in PostgreSQL; \
                     escape it as \\[",
                ));
            }
            '[' if in_class => {
                // A POSIX class such as `[:alpha:]`: skip to its closing `:]`.
                while let Some(n) = chars.next() {
                    if n == ':' && chars.peek() == Some(&']') {
                        chars.next();
                        break;
                    }
                }
            }
            ']' if in_class => in_class = false,
            '(' if !in_class && chars.peek() == Some(&'?') => {
                chars.next();
                if chars.peek() != Some(&':') {
                    return Err(JsonPathError::unsupported(
                        "like_regex (?",
                        "inline flags and look-around groups differ between PostgreSQL and Rust; use `flag`",
                    ));
                }
            }
            '&' | '~' | '-' if in_class && chars.peek() == Some(&c) => {
                return Err(JsonPathError::unsupported(
                    format!("like_regex [{c}{c}]"),
                    "character-class set operations exist only in Rust's regex syntax",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}
