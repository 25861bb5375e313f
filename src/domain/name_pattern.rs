//! [`NamePattern`]: the `type` and `source` filters of SPEC §5.1, §6.1, §6.8 and §7 (an exact name or a pattern).

use std::fmt;

use super::{ErrorCode, EventType, SourceName, ValidationError};

/// Which name a pattern is written against: it decides the segment separators and the exact-name rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// Event types: segments split on `.`.
    Type,
    /// Sources: segments split on `.`, `/` and `:`.
    Source,
}

impl NameKind {
    const fn separators(self) -> &'static [char] {
        match self {
            NameKind::Type => &['.'],
            NameKind::Source => &['.', '/', ':'],
        }
    }

    /// The regex class of one segment's characters (anything but a separator).
    const fn segment_class(self) -> &'static str {
        match self {
            NameKind::Type => "[^.]+",
            NameKind::Source => "[^./:]+",
        }
    }
}

/// A `type` or `source` filter: an exact name, or a pattern where `*` stands for one whole segment and a trailing
/// `**` (after a separator) for one or more segments: `metastore.record.*`, `metastore.**`, `/sensors/*`,
/// `urn:svc:**`.
///
/// A pattern is written out as one anchored regular expression ([`NamePattern::regex`]) whose syntax means the
/// same to Rust's `regex` and to PostgreSQL's `~`, for database queries; in memory (live subscriptions, triggers)
/// it matches segment by segment with the same meaning, without a compiled automaton: a deployment with 10,000
/// trigger patterns keeps 10,000 short piece lists, not 10,000 regex engines and their caches.
#[derive(Debug, Clone)]
pub struct NamePattern {
    text: String,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact,
    Pattern {
        regex: String,
        literal_prefix: String,
        pieces: Vec<Piece>,
        separators: &'static [char],
    },
}

/// One piece of a pattern, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// This text, separators included.
    Literal(String),
    /// `*`: one or more characters that are not separators.
    Segment,
    /// A trailing `**`: one or more characters of any kind.
    Rest,
}

impl NamePattern {
    /// Parses `text` as a pattern of `kind` given for the filter `field`.
    ///
    /// # Errors
    /// `invalid_pattern` naming `field` when a `*` is part of a segment (`meta*`), `**` is not the last segment,
    /// or the literal parts break the name's character rules; an exact name that is not a valid type or source
    /// is refused too, since it could never match.
    pub fn parse(text: &str, kind: NameKind, field: &str) -> Result<NamePattern, ValidationError> {
        let invalid = |why: &str| {
            ValidationError::new(
                ErrorCode::InvalidPattern,
                Some(field.to_owned()),
                format!(
                    "{field} {text:?} is neither a valid name nor a pattern: {why}; use `*` for one whole \
                     segment and a trailing `**` for one or more (`metastore.record.*`, `metastore.**`)"
                ),
            )
        };
        if !text.contains('*') {
            let valid = match kind {
                NameKind::Type => EventType::parse(text.to_owned()).is_ok(),
                NameKind::Source => SourceName::parse(text.to_owned()).is_ok(),
            };
            if !valid {
                return Err(invalid("it breaks the naming rules of SPEC §1"));
            }
            return Ok(NamePattern {
                text: text.to_owned(),
                matcher: Matcher::Exact,
            });
        }
        if text.len() > 200 {
            return Err(invalid("it is longer than 200 characters"));
        }
        let separators = kind.separators();
        let segments: Vec<&str> = text.split(separators).collect();
        let last = segments.len() - 1;
        let mut regex = String::from("^");
        let mut pieces: Vec<Piece> = Vec::new();
        let push_literal = |pieces: &mut Vec<Piece>, text: &str| match pieces.last_mut() {
            Some(Piece::Literal(last)) => last.push_str(text),
            _ => pieces.push(Piece::Literal(text.to_owned())),
        };
        let mut literal_prefix = String::new();
        let mut literal = true;
        let mut rest = text;
        for (i, segment) in segments.iter().enumerate() {
            // `rest` starts at this segment; the separator after it (if any) follows its text.
            rest = &rest[segment.len()..];
            match *segment {
                "*" => {
                    regex.push_str(kind.segment_class());
                    pieces.push(Piece::Segment);
                    literal = false;
                }
                "**" if i == last && i > 0 => {
                    regex.push_str(".+");
                    pieces.push(Piece::Rest);
                    literal = false;
                }
                "**" => {
                    return Err(invalid(
                        "`**` may only be the last segment, after a separator",
                    ));
                }
                s if s.contains('*') => {
                    return Err(invalid("`*` must be a whole segment"));
                }
                s => {
                    if !s.chars().all(|c| is_name_char(kind, c)) {
                        return Err(invalid("it contains a character names cannot contain"));
                    }
                    regex.push_str(&regex::escape(s));
                    push_literal(&mut pieces, s);
                    if literal {
                        literal_prefix.push_str(s);
                    }
                }
            }
            if let Some(separator) = rest.chars().next() {
                let separator_text = separator.encode_utf8(&mut [0; 4]).to_owned();
                regex.push_str(&regex::escape(&separator_text));
                push_literal(&mut pieces, &separator_text);
                if literal {
                    literal_prefix.push(separator);
                }
                rest = &rest[separator.len_utf8()..];
            }
        }
        regex.push('$');
        Ok(NamePattern {
            text: text.to_owned(),
            matcher: Matcher::Pattern {
                regex,
                literal_prefix,
                pieces,
                separators,
            },
        })
    }

    /// The filter as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The exact name, when this is not a pattern.
    pub fn exact(&self) -> Option<&str> {
        match self.matcher {
            Matcher::Exact => Some(&self.text),
            Matcher::Pattern { .. } => None,
        }
    }

    /// The anchored regular expression of a pattern (`None` for an exact name). Its syntax (anchors, escaped
    /// literals, one negated class, `.+`) reads the same in Rust's `regex` and PostgreSQL's `~`.
    pub fn regex(&self) -> Option<&str> {
        match &self.matcher {
            Matcher::Exact => None,
            Matcher::Pattern { regex, .. } => Some(regex),
        }
    }

    /// The literal text every match starts with (up to the first wildcard); empty for `*.x`. Lets a database
    /// narrow a pattern with an index-friendly prefix condition before the exact check.
    pub fn literal_prefix(&self) -> &str {
        match &self.matcher {
            Matcher::Exact => &self.text,
            Matcher::Pattern { literal_prefix, .. } => literal_prefix,
        }
    }

    /// A pattern as SQL `LIKE` (backslash escapes) plus a count of separators, which together match exactly the
    /// names the pattern does (names have no empty segments): `*` and a trailing `**` become `_%`, and a name
    /// must have as many separators as the pattern (at least as many with `**`), so a `*` cannot run across one.
    /// Cheaper for a database than the regex; `None` for an exact name.
    pub fn like(&self) -> Option<LikePattern> {
        let Matcher::Pattern { separators, .. } = &self.matcher else {
            return None;
        };
        let mut pattern = String::with_capacity(self.text.len() + 4);
        let mut count = 0;
        let mut chars = self.text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if chars.peek() == Some(&'*') {
                        chars.next();
                    }
                    pattern.push_str("_%");
                }
                '%' | '_' | '\\' => {
                    pattern.push('\\');
                    pattern.push(c);
                }
                c => {
                    if separators.contains(&c) {
                        count += 1;
                    }
                    pattern.push(c);
                }
            }
        }
        Some(LikePattern {
            pattern,
            separators: count,
            at_least: self.text.ends_with("**"),
            separator_chars: separators.iter().collect(),
        })
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match &self.matcher {
            Matcher::Exact => self.text == name,
            Matcher::Pattern {
                pieces, separators, ..
            } => matches_pieces(pieces, separators, name),
        }
    }
}

/// A pattern as SQL `LIKE` and a separator count ([`NamePattern::like`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikePattern {
    /// The `LIKE` pattern (backslash escapes).
    pub pattern: String,
    /// How many separators a name has (at least, when `at_least`).
    pub separators: usize,
    /// The pattern ends in `**`.
    pub at_least: bool,
    /// The characters that separate segments.
    pub separator_chars: String,
}

/// Whether `name` is `pieces` in order: a literal where it stands, a segment as the longest run of
/// non-separators (the piece after a segment is a separator or the end, so the longest run is the only one that
/// can match), the rest as anything non-empty.
fn matches_pieces(pieces: &[Piece], separators: &[char], name: &str) -> bool {
    let mut rest = name;
    for piece in pieces {
        match piece {
            Piece::Literal(text) => match rest.strip_prefix(text.as_str()) {
                Some(after) => rest = after,
                None => return false,
            },
            Piece::Segment => {
                let end = rest.find(separators).unwrap_or(rest.len());
                if end == 0 {
                    return false;
                }
                rest = &rest[end..];
            }
            Piece::Rest => return !rest.is_empty(),
        }
    }
    rest.is_empty()
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_name_char(kind: NameKind, c: char) -> bool {
    match kind {
        NameKind::Type => c.is_ascii_alphanumeric() || c == '_' || c == '-',
        NameKind::Source => c.is_ascii_alphanumeric() || "._:/@+~-".contains(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(p: &str) -> NamePattern {
        NamePattern::parse(p, NameKind::Type, "type").unwrap()
    }

    fn sources(p: &str) -> NamePattern {
        NamePattern::parse(p, NameKind::Source, "source").unwrap()
    }

    #[test]
    fn a_pattern_as_like_keeps_its_separators_and_counts_them() {
        let like = types("bench.*.happened").like().unwrap();
        assert_eq!(
            (like.pattern.as_str(), like.separators, like.at_least),
            ("bench._%.happened", 2, false)
        );
        let like = types("my_app.**").like().unwrap();
        assert_eq!(
            (like.pattern.as_str(), like.separators, like.at_least),
            ("my\\_app._%", 1, true)
        );
        let like = sources("urn:svc/*").like().unwrap();
        assert_eq!((like.pattern.as_str(), like.separators), ("urn:svc/_%", 2));
        assert_eq!(like.separator_chars, "./:");
        assert_eq!(types("a.b").like(), None);
    }

    #[test]
    fn an_exact_type_matches_only_itself_case_sensitively() {
        let p = types("metastore.record.updated");
        assert_eq!(p.exact(), Some("metastore.record.updated"));
        assert!(p.matches("metastore.record.updated"));
        assert!(!p.matches("metastore.record.Updated"));
        assert!(!p.matches("metastore.record.updated.x"));
    }

    #[test]
    fn a_star_stands_for_exactly_one_whole_type_segment() {
        let p = types("metastore.record.*");
        assert_eq!(p.literal_prefix(), "metastore.record.");
        assert!(p.matches("metastore.record.updated"));
        assert!(!p.matches("metastore.record.updated.late"));
        assert!(!p.matches("metastore.record"));
        assert!(!p.matches("metastorexrecord.updated"));
        let p = types("*.record.updated");
        assert_eq!(p.literal_prefix(), "");
        assert!(p.matches("metastore.record.updated"));
        assert!(!p.matches("a.b.record.updated"));
    }

    #[test]
    fn a_trailing_double_star_stands_for_one_or_more_segments() {
        let p = types("metastore.**");
        assert!(p.matches("metastore.record"));
        assert!(p.matches("metastore.record.updated"));
        assert!(!p.matches("metastore"));
        assert!(!p.matches("metastores.record"));
    }

    #[test]
    fn source_segments_split_on_dots_slashes_and_colons() {
        let p = sources("/sensors/*");
        assert!(p.matches("/sensors/tn-1"));
        assert!(!p.matches("/sensors/tn-1/temp"));
        assert!(!p.matches("/sensors/a.b"));
        let p = sources("urn:svc:**");
        assert!(p.matches("urn:svc:x"));
        assert!(p.matches("urn:svc:x/y.z"));
        assert!(!p.matches("urn:svc"));
        let p = sources("metastore.*");
        assert!(p.matches("metastore.api"));
        assert!(!p.matches("metastore.api/v1"));
        let p = sources("a+b.*");
        assert!(p.matches("a+b.c"));
        assert!(!p.matches("aab.c"));
    }

    #[test]
    fn partial_wildcards_inner_double_stars_and_bad_names_are_invalid_patterns() {
        for bad in [
            "meta*",
            "metastore.rec*",
            "**",
            "metastore.**.updated",
            "a.***",
            "single",
            "a..b",
            "a.b c",
            "",
        ] {
            let err = NamePattern::parse(bad, NameKind::Type, "type").unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidPattern, "{bad}");
            assert_eq!(err.field.as_deref(), Some("type"), "{bad}");
        }
        for bad in ["/sensors/t*", "**/x", "a b", ""] {
            let err = NamePattern::parse(bad, NameKind::Source, "source").unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidPattern, "{bad}");
        }
    }

    #[test]
    fn the_regex_uses_only_syntax_postgresql_reads_the_same_way() {
        assert_eq!(types("a.*.c").regex(), Some(r"^a\.[^.]+\.c$"));
        assert_eq!(sources("urn:svc:**").regex(), Some("^urn:svc:.+$"));
        assert_eq!(types("a.b").regex(), None);
    }

    proptest::proptest! {
        /// The in-memory matcher and the regex written for the database agree on every name.
        #[test]
        fn the_piece_matcher_agrees_with_the_regex_the_database_runs(
            name in "[ab./:]{0,12}",
            pattern in proptest::sample::select(vec![
                "a.*", "*.b", "a.**", "*.*", "a.*.b", "*.**", "a/*", "*:b", "a/**", "/*", "a:*/b",
            ]),
        ) {
            for kind in [NameKind::Type, NameKind::Source] {
                if let Ok(p) = NamePattern::parse(pattern, kind, "f") {
                    let regex = regex::Regex::new(p.regex().unwrap()).unwrap();
                    proptest::prop_assert_eq!(p.matches(&name), regex.is_match(&name), "{} {:?} {}", pattern, kind, name);
                }
            }
        }
    }
}
