//! SPEC §5.2, one rule per test: operators, any-item semantics, no coercion, case folding, compile-time refusals.

use serde_json::json;

use super::*;

fn event() -> Value {
    json!({
        "id": "e-1", "type": "metastore.record.updated", "source": "metastore.api",
        "payload": {"namespace": "feature-flags", "key": "Flags/Beta", "version": 12, "size": 40,
                    "tags": ["a", "b"], "owners": [{"name": "ann"}, {"name": "bob"}], "count": "5"},
        "metadata": {"region": "eu"}
    })
}

fn holds(spec: Value) -> bool {
    Predicate::compile(0, &spec)
        .expect("compiles")
        .check(&event())
        .passed
}

fn refused(spec: Value) -> ValidationError {
    Predicate::compile(3, &spec).expect_err("refused")
}

#[test]
fn exists_and_equals() {
    assert!(holds(
        json!({"path": "$.metadata.region", "operator": "exists"})
    ));
    assert!(!holds(
        json!({"path": "$.metadata.zone", "operator": "exists"})
    ));
    assert!(holds(
        json!({"path": "$.payload.namespace", "operator": "equals", "value": "feature-flags"})
    ));
    assert!(holds(
        json!({"path": "$.source", "operator": "equals", "value": "metastore.api"})
    ));
    assert!(
        holds(json!({"path": "$.payload.version", "operator": "equals", "value": 12.0})),
        "numbers by value"
    );
    assert!(
        !holds(json!({"path": "$.payload.count", "operator": "equals", "value": 5})),
        "no coercion"
    );
}

#[test]
fn not_equals_and_not_in_hold_when_no_item_equals_even_when_nothing_is_selected() {
    assert!(holds(
        json!({"path": "$.payload.namespace", "operator": "notEquals", "value": "other"})
    ));
    assert!(!holds(
        json!({"path": "$.payload.namespace", "operator": "notEquals", "value": "feature-flags"})
    ));
    assert!(holds(
        json!({"path": "$.payload.missing", "operator": "notEquals", "value": 1})
    ));
    assert!(holds(
        json!({"path": "$.payload.missing", "operator": "notIn", "values": [1]})
    ));
    assert!(!holds(
        json!({"path": "$.payload.tags[*]", "operator": "notIn", "values": ["b", "z"]})
    ));
    // Every other operator fails on nothing selected.
    assert!(!holds(
        json!({"path": "$.payload.missing", "operator": "in", "values": [1]})
    ));
    assert!(!holds(
        json!({"path": "$.payload.missing", "operator": "gt", "value": 0})
    ));
}

#[test]
fn a_path_selecting_several_items_holds_when_any_passes() {
    assert!(holds(
        json!({"path": "$.payload.owners[*].name", "operator": "equals", "value": "bob"})
    ));
    assert!(holds(
        json!({"path": "$.payload.tags[*]", "operator": "in", "values": ["x", "b"]})
    ));
    assert!(!holds(
        json!({"path": "$.payload.owners[*].name", "operator": "equals", "value": "cy"})
    ));
}

#[test]
fn numeric_operators_compare_numbers_only() {
    assert!(holds(
        json!({"path": "$.payload.version", "operator": "gt", "value": 10})
    ));
    assert!(holds(
        json!({"path": "$.payload.version", "operator": "gte", "value": 12})
    ));
    assert!(!holds(
        json!({"path": "$.payload.version", "operator": "lt", "value": 12})
    ));
    assert!(holds(
        json!({"path": "$.payload.version", "operator": "lte", "value": 12.5})
    ));
    assert!(
        !holds(json!({"path": "$.payload.count", "operator": "gt", "value": 1})),
        "\"5\" is not a number"
    );
}

#[test]
fn contains_is_a_substring_or_an_array_element() {
    assert!(holds(
        json!({"path": "$.payload.namespace", "operator": "contains", "value": "flag"})
    ));
    assert!(holds(
        json!({"path": "$.payload.tags", "operator": "contains", "value": "a"})
    ));
    assert!(!holds(
        json!({"path": "$.payload.tags", "operator": "contains", "value": "z"})
    ));
    assert!(!holds(
        json!({"path": "$.payload.version", "operator": "contains", "value": "1"})
    ));
}

#[test]
fn case_sensitivity_is_on_unless_turned_off() {
    let spec = |cs: Option<bool>| {
        let mut s = json!({"path": "$.payload.key", "operator": "equals", "value": "flags/beta"});
        if let Some(cs) = cs {
            s["caseSensitive"] = json!(cs);
        }
        s
    };
    assert!(!holds(spec(None)));
    assert!(holds(spec(Some(false))));
    assert!(holds(
        json!({"path": "$.payload.key", "operator": "contains", "value": "BETA", "caseSensitive": false})
    ));
    assert!(holds(
        json!({"path": "$.payload.key", "operator": "regex", "value": "^flags/", "caseSensitive": false})
    ));
    assert!(!holds(
        json!({"path": "$.payload.key", "operator": "regex", "value": "^flags/"})
    ));
}

#[test]
fn regex_and_matches() {
    assert!(holds(
        json!({"path": "$.payload.key", "operator": "regex", "value": "Beta$"})
    ));
    assert!(holds(json!({"path": "$", "operator": "matches",
                         "value": "$.payload.size > 10 && $.payload.namespace == \"feature-flags\""})));
    assert!(!holds(
        json!({"path": "$", "operator": "matches", "value": "$.payload.size > 100"})
    ));
    assert!(holds(
        json!({"path": "$.payload", "operator": "matches", "value": "$.size == 40"})
    ));
}

#[test]
fn check_reports_what_was_found_and_expected() {
    let predicate = Predicate::compile(
        0,
        &json!({"path": "$.payload.version", "operator": "in", "values": [1, 2]}),
    )
    .unwrap();
    let outcome = predicate.check(&event());
    assert_eq!(
        outcome,
        PredicateOutcome {
            passed: false,
            found: json!([12]),
            expected: json!([1, 2])
        }
    );
    let all = compile_all(Some(&json!([
        {"path": "$.payload.namespace", "operator": "equals", "value": "feature-flags"},
        {"path": "$.payload.version", "operator": "lt", "value": 5}
    ])))
    .unwrap();
    let (index, failed) = first_failure(&all, &event()).expect("the second fails");
    assert_eq!(index, 1);
    assert_eq!(failed.found, json!([12]));
    assert!(first_failure(&all[..1], &event()).is_none());
}

#[test]
fn definitions_that_cannot_work_are_refused_naming_the_field() {
    let cases = [
        (
            json!({"path": "$.a", "operator": "gt", "value": "10"}),
            ErrorCode::InvalidField,
            "predicates[3].value",
        ),
        (
            json!({"path": "$.a", "operator": "regex", "value": "("}),
            ErrorCode::InvalidField,
            "predicates[3].value",
        ),
        (
            json!({"path": "$.a", "operator": "regex", "value": "a".repeat(513)}),
            ErrorCode::InvalidField,
            "predicates[3].value",
        ),
        (
            json!({"path": "$.a[", "operator": "exists"}),
            ErrorCode::InvalidJsonPath,
            "predicates[3].path",
        ),
        (
            json!({"path": "$.a > 1", "operator": "exists"}),
            ErrorCode::InvalidJsonPath,
            "predicates[3].path",
        ),
        (
            json!({"path": "$", "operator": "matches", "value": "$.a"}),
            ErrorCode::InvalidJsonPath,
            "predicates[3].value",
        ),
        (
            json!({"path": "$.a", "operator": "like"}),
            ErrorCode::InvalidField,
            "predicates[3].operator",
        ),
        (
            json!({"path": "$.a", "operator": "equals"}),
            ErrorCode::MissingField,
            "predicates[3].value",
        ),
        (
            json!({"path": "$.a", "operator": "in", "values": []}),
            ErrorCode::InvalidField,
            "predicates[3].values",
        ),
        (
            json!({"path": "$.a", "operator": "in", "values": (0..101).collect::<Vec<_>>()}),
            ErrorCode::InvalidField,
            "predicates[3].values",
        ),
        (
            json!({"operator": "exists"}),
            ErrorCode::MissingField,
            "predicates[3].path",
        ),
        (
            json!({"path": "$.a", "operator": "exists", "op": 1}),
            ErrorCode::UnknownField,
            "predicates[3].op",
        ),
        (
            json!({"path": "$.a", "operator": "exists", "caseSensitive": "no"}),
            ErrorCode::InvalidField,
            "predicates[3].caseSensitive",
        ),
    ];
    for (spec, code, field) in cases {
        let error = refused(spec.clone());
        assert_eq!(
            (error.code, error.field.as_deref()),
            (code, Some(field)),
            "{spec}"
        );
    }
    let too_many = Value::Array(vec![json!({"path": "$.a", "operator": "exists"}); 26]);
    assert_eq!(
        compile_all(Some(&too_many)).unwrap_err().field.as_deref(),
        Some("predicates")
    );
    assert!(
        compile_all(None).unwrap().is_empty(),
        "none: every event of the type matches"
    );
}
