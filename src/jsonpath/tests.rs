use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn path(text: &str) -> JsonPath {
    JsonPath::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn refused(text: &str) -> JsonPathError {
    match JsonPath::parse(text) {
        Ok(_) => panic!("{text:?} should be refused"),
        Err(e) => e,
    }
}

fn assert_unsupported(text: &str, construct_part: &str) {
    match refused(text) {
        JsonPathError::Unsupported { construct, .. } => assert!(
            construct.contains(construct_part),
            "{text:?}: construct {construct:?} should mention {construct_part:?}"
        ),
        other => panic!("{text:?} should be Unsupported, got {other:?}"),
    }
}

#[test]
fn the_text_is_kept_exactly_as_given() {
    let p = path("  strict $.a[*] ? (@ > 1)  ");
    assert_eq!(p.as_str(), "  strict $.a[*] ? (@ > 1)  ");
    assert_eq!(p.to_string(), p.as_str());
    assert_eq!(AsRef::<str>::as_ref(&p), p.as_str());
}

#[test]
fn predicates_and_path_expressions_are_told_apart() {
    for text in [
        "$.a == 1",
        "strict $.a == 1",
        "($.a == 1)",
        "exists($.a)",
        "$.a > 1 && $.b < 2",
        "!($.a == 1)",
        "$.s like_regex \"^a\"",
        "$.s starts with \"a\"",
        "($.a == 1) is unknown",
    ] {
        assert!(path(text).is_predicate(), "{text} is a predicate");
    }
    for text in [
        "$",
        "$.a",
        "lax $.a ? (@ > 1)",
        "$.a[*] ? (@.b == \"x, expr: Pred(\")",
        "$.\"x, expr: Pred(\"",
        "$.a.type()",
        "$.a + 1",
    ] {
        assert!(!path(text).is_predicate(), "{text} is a path expression");
    }
}

#[test]
fn a_predicate_matches_only_when_true() {
    let payload = json!({"version": 11, "name": "alpha"});
    assert!(path("$.version > 10").matches(&payload));
    assert!(!path("$.version > 11").matches(&payload));
    // Unknown (comparing a string with a number) is not a match.
    assert_eq!(
        path("$.name > 10").evaluate(&payload),
        Evaluation::NotMatched
    );
}

#[test]
fn a_path_expression_matches_when_it_selects_anything() {
    let payload = json!({"version": 11, "flag": false, "items": []});
    assert!(path("$.version ? (@ > 10)").matches(&payload));
    assert!(!path("$.version ? (@ > 11)").matches(&payload));
    // A selected `false` is still an item.
    assert!(path("$.flag").matches(&payload));
    assert!(!path("$.missing").matches(&payload));
    assert!(!path("$.items[*]").matches(&payload));
}

#[test]
fn an_evaluation_error_is_no_match() {
    let payload = json!({"a": 1});
    assert_eq!(
        path("strict $.missing").evaluate(&payload),
        Evaluation::Failed
    );
    assert_eq!(path("$.a / 0").evaluate(&payload), Evaluation::Failed);
}

#[test]
fn payload_numbers_compare_and_compute_as_doubles() {
    let payload = json!({"big": 9_223_372_036_854_775_807_i64, "one": 1, "half": 0.5});
    // Integer arithmetic would overflow here; doubles do not.
    assert!(path("$.big + $.big > 0").matches(&payload));
    assert!(path("$.one == 1.0").matches(&payload));
    assert!(path("$.half * 2 == $.one").matches(&payload));
}

#[test]
fn last_on_a_scalar_and_an_overflow_are_read_as_postgresql_reads_them() {
    // Lax mode wraps the scalar in a one-element array, so `[last]` selects it (sql-json-path 0.2 panicked here).
    assert_eq!(
        path("$.a[last]").evaluate(&json!({"a": 5})),
        Evaluation::Matched
    );
    assert_eq!(
        path("strict $.a[last]").evaluate(&json!({"a": 5})),
        Evaluation::Failed
    );
    // An overflow to infinity is an evaluation error.
    let huge = serde_json::from_str::<Value>(r#"{"a": 1e300}"#).expect("valid JSON");
    assert_eq!(path("$.a * $.a").evaluate(&huge), Evaluation::Failed);
    assert!(path("$.a[last] == 3").matches(&json!({"a": [1, 2, 3]})));
}

#[test]
fn lax_comparisons_unwrap_arrays_and_hold_when_some_pair_does() {
    let payload = json!({"version": [5, 12], "same": [5, 5], "mixed": ["a", 12], "nested": [[12]]});
    for text in [
        "$.version > 10",
        "$.version == 12",
        "$.version != 5",
        "$.version <> 12",
        "$.version < 6",
        "$.version >= 12 && $.version <= 5",
        "$.version > 100 || $.version == 5",
        "$.version == $.version",
        "10 < $.version",
        "$.mixed > 10",
        "lax $.version[*] > 10",
    ] {
        assert_eq!(path(text).evaluate(&payload), Evaluation::Matched, "{text}");
    }
    for text in [
        "$.version > 100",
        "$.same != 5",
        "$.same <> 5",
        "$.version == 7 || $.version < 5",
        // One level only: the inner array is not comparable.
        "$.nested == 12",
        // Strict mode does not unwrap: an array is not comparable, so the comparison is unknown.
        "strict $.version > 10",
        "strict $.version != 5",
        // In strict mode any incomparable pair makes the comparison unknown.
        "strict $.mixed[*] > 10",
    ] {
        assert_ne!(path(text).evaluate(&payload), Evaluation::Matched, "{text}");
    }
}

#[test]
fn lax_accessors_unwrap_one_level_of_array() {
    let payload = json!({"items": [{"sku": "a", "qty": [1, 7]}, [{"sku": "hidden"}]], "n": [-2.5]});
    assert!(path("$.items.sku == \"a\"").matches(&payload));
    assert!(!path("$.items.sku == \"hidden\"").matches(&payload));
    assert!(path("$.items.qty ? (@ == 7)").matches(&payload));
    assert!(path("$.n.abs() == 2.5").matches(&payload));
    assert!(path("$.n + 1 == -1.5").matches(&payload));
    assert!(path("$.items ? (@.sku starts with \"a\")").matches(&payload));
    assert_eq!(
        path("strict $.items.sku").evaluate(&payload),
        Evaluation::Failed
    );
}

#[test]
fn descendants_go_through_objects_and_arrays() {
    let payload = json!({"items": [{"qty": 7, "tags": [["deep"]]}], "top": {"qty": 1}});
    assert!(path("$.** ? (@ == 7)").matches(&payload));
    assert!(path("$.** == \"deep\"").matches(&payload));
    assert!(path("$.**.qty == 7").matches(&payload));
    assert!(path("strict $.**.qty == 7").matches(&payload));
    assert!(path("$.items.** ? (@ == \"deep\")").matches(&payload));
    // Levels count array levels too: items (1) -> element (2) -> qty (3).
    assert!(path("$.**{3} ? (@ == 7)").matches(&payload));
    assert!(!path("$.**{2} ? (@ == 7)").matches(&payload));
    assert!(path("$.**{2 to 3} ? (@ == 7)").matches(&payload));
    assert!(path("$.**{2 to last} ? (@ == \"deep\")").matches(&payload));
    assert!(path("$.**{last} ? (@ == \"deep\")").matches(&payload));
    assert!(!path("$.**{last} ? (@.qty == 7)").matches(&payload));
    assert!(path("$.**{0} ? (@.top.qty == 1)").matches(&payload));
    assert!(!path("$.** ? (@ == 8)").matches(&payload));
}

#[test]
fn a_pathological_path_is_stopped_by_the_budget() {
    let items: Vec<Value> = (0..3_000)
        .map(|i| json!({"n": i, "tags": ["x", "y"]}))
        .collect();
    let payload = json!({ "items": items });
    // Strict mode compares the whole cross product: 3,000 × 3,000 pairs, past the step budget.
    let outcome = path("strict $.items[*] ? (@.n > $.items[*].n)").evaluate(&payload);
    assert_eq!(outcome, Evaluation::OverBudget);
    // An ordinary filter over the same payload fits easily.
    assert!(path("$.items[*] ? (@.n == 2999)").matches(&payload));
}

#[test]
fn empty_long_and_deep_paths_are_refused() {
    assert_eq!(refused(""), JsonPathError::Empty);
    assert_eq!(refused("   "), JsonPathError::Empty);
    let long = format!("$.{}", "a".repeat(MAX_PATH_CHARS));
    assert_eq!(refused(&long), JsonPathError::TooLong);
    let deep = format!(
        "{}${}",
        "(".repeat(MAX_PARENTHESES + 1),
        ")".repeat(MAX_PARENTHESES + 1)
    );
    assert_eq!(refused(&deep), JsonPathError::TooDeep);
    let deep_brackets = format!("${}", "[0".repeat(MAX_NESTING + 1));
    assert_eq!(refused(&deep_brackets), JsonPathError::TooDeep);
    // A method's empty parentheses do not count.
    let deep_enough = format!(
        "{}$.a.type() == \"number\"{}",
        "(".repeat(MAX_PARENTHESES),
        ")".repeat(MAX_PARENTHESES)
    );
    assert!(path(&deep_enough).is_predicate());
    let nested = path("$.a[*] ? (exists(@.b ? (@.c > 1 && (@.d == 1 || @.e == 2))))");
    assert!(nested.matches(&json!({"a": [{"b": {"c": 2, "d": 1}}]})));
}

#[test]
fn the_worst_path_within_the_limits_is_accepted() {
    // Parenthesis depth at the limit, repeated to the length limit: the parser's worst case. How long it takes
    // is a benchmark's question, not a test's; this one checks the limits admit it without overflowing a stack.
    let unit = "(((($.a))))";
    let mut text = unit.to_owned();
    while text.len() + 3 + unit.len() <= MAX_PATH_CHARS {
        text.push_str(" + ");
        text.push_str(unit);
    }
    assert!(JsonPath::parse(&text).is_ok());
}

#[test]
fn syntax_errors_are_refused() {
    for text in [
        "$.",
        "$.a ==",
        "$[",
        "$.a ? (@ > 1",
        "@.a",
        "last",
        "$.a $.b",
        "$.a == 'x'",
    ] {
        assert!(
            matches!(refused(text), JsonPathError::Syntax(_)),
            "{text:?} should be a syntax error"
        );
    }
}

#[test]
fn a_regex_rust_cannot_compile_is_refused() {
    for text in [
        r#"$.s like_regex "(?<=a)b""#.to_owned(),
        r#"$.s like_regex "(a)\\1""#.to_owned(),
        r#"$.s like_regex "[a-""#.to_owned(),
        r#"$.s like_regex "a" flag "x""#.to_owned(),
        r#"$.s like_regex "a" flag "z""#.to_owned(),
    ] {
        assert!(
            JsonPath::parse(&text).is_err(),
            "{text:?} should be refused"
        );
    }
}

#[test]
fn regex_syntax_read_differently_by_postgresql_is_refused() {
    assert_unsupported(r#"$.s like_regex "^\\d+$""#, "\\d");
    assert_unsupported(r#"$.s like_regex "\\bword""#, "\\b");
    assert_unsupported(r#"$.s like_regex "\\p{L}""#, "\\p");
    assert_unsupported(r#"$.s like_regex "(?i)abc""#, "(?");
    assert_unsupported(r#"$.s like_regex "[a[^x]]""#, "[[");
    assert_unsupported(r#"$.s like_regex "[a-z&&b]""#, "&&");
    // The same text is fine when it is quoted literally, or is a POSIX class or a non-capturing group.
    assert!(JsonPath::parse(r#"$.s like_regex "\\d" flag "q""#).is_ok());
    assert!(JsonPath::parse(r#"$.s like_regex "^[[:alpha:]]+$""#).is_ok());
    assert!(JsonPath::parse(r#"$.s like_regex "(?:ab)+" flag "i""#).is_ok());
}

#[test]
fn constructs_outside_herald_s_dialect_are_refused() {
    assert_unsupported("$.a.datetime()", ".datetime()");
    assert_unsupported("$.a.string()", ".string()");
    assert_unsupported("$.a.bigint() > 1", ".bigint()");
    assert_unsupported("$.a ? (@ == $x)", "variable");
    assert_unsupported("$.a starts with $\"p\"", "variable");
    assert_unsupported("$.a == nan", "nan");
    assert_unsupported("$.a > -Infinity", "Infinity");
    assert_unsupported("$.a == 1e20", "1e20");
    assert_unsupported("$.a == 1.5e300", "1.5e300");
    assert_unsupported("$.a == 9007199254740993", "9007199254740993");
    assert_unsupported("$.a == 1 is unknown", "is unknown");
    // Member names that look like refused words are fine.
    assert!(JsonPath::parse("$.nan.string == $.inf").is_ok());
    assert!(JsonPath::parse("$.a == 9007199254740992").is_ok());
    assert!(JsonPath::parse("$.a == 2.5e-3").is_ok());
}

#[test]
fn the_postgres_condition_binds_the_path() {
    assert_eq!(
        path("$.a == 1").postgres_condition("payload", 3),
        "payload @@ $3::jsonpath"
    );
    assert_eq!(
        path("$.a ? (@ == 1)").postgres_condition("e.payload", 1),
        "e.payload @? $1::jsonpath"
    );
}

#[test]
fn every_refusal_is_invalid_json_path() {
    let error = refused("$.a ==").into_validation_error("jsonPath");
    assert_eq!(error.code, ErrorCode::InvalidJsonPath);
    assert_eq!(error.field.as_deref(), Some("jsonPath"));
    assert!(
        error
            .message
            .starts_with("the SQL/JSON path does not parse"),
        "{}",
        error.message
    );
}

proptest! {
    #[test]
    fn member_paths_and_comparisons_parse(
        names in proptest::collection::vec("[a-z_][a-z0-9_]{0,8}", 1..5),
        n in -1_000_000i64..1_000_000,
    ) {
        let member = format!("$.\"{}\"", names.join("\".\""));
        let selected = JsonPath::parse(&member).expect("a member path parses");
        prop_assert!(!selected.is_predicate());
        let compared = JsonPath::parse(&format!("{member} == {n}")).expect("a comparison parses");
        prop_assert!(compared.is_predicate());
        let mut payload = json!(n);
        for name in names.iter().rev() {
            payload = json!({ name.as_str(): payload });
        }
        prop_assert!(selected.matches(&payload));
        prop_assert!(compared.matches(&payload));
    }
}

#[test]
fn the_longest_chains_and_deepest_payloads_evaluate_without_exhausting_the_stack() {
    // The longest member chain the length limit allows, over a payload nested as deep as serde_json parses.
    let depth = 127;
    let mut payload = json!(1);
    for _ in 0..depth {
        payload = json!({ "a": payload });
    }
    let chain = format!("${} == 1", ".a".repeat(depth));
    assert!(path(&chain).matches(&payload));
    let longest = format!("${}", ".a".repeat((MAX_PATH_CHARS - 1) / 2));
    assert!(!path(&longest).matches(&payload));
    assert!(path("$.** ? (@ == 1)").matches(&payload));
    assert!(path("$.**.a.** == 1").matches(&payload));
    // Nested descendants multiply: every chain of four ancestors is visited, far past the budget.
    assert_eq!(
        path("$.**.**.**.** ? (@ == -1)").evaluate(&payload),
        Evaluation::OverBudget
    );
}
