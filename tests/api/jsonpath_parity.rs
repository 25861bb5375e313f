//! SQL/JSON path parity (SPEC §9): Herald's evaluator and PostgreSQL give the same answer on a table of expressions
//! over a fixed set of payloads, and a path Herald refuses is refused before either database sees it.
//!
//! PostgreSQL gets each path exactly as Herald would send it: through [`JsonPath::postgres_condition`], the path
//! bound as a parameter. A NULL answer (an error PostgreSQL's `@?`/`@@` suppressed, or unknown) counts as no match,
//! as it does in a `WHERE` clause.

use herald::jsonpath::{Evaluation, JsonPath, JsonPathError};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::helpers::pg_base_url;

/// The payloads every expression runs against: nested objects, arrays of numbers, strings and objects, nulls and
/// booleans, a mixed-type array, deep nesting, Unicode text, and a top-level array; then arrays at every position
/// of a path (root, middle, leaf, nested arrays, arrays of objects and of arrays of objects), for lax mode.
fn payloads() -> Vec<Value> {
    vec![
        json!({
            "version": 12, "name": "alpha", "enabled": true,
            "meta": {"owner": {"id": 7, "team": "core"}, "labels": {"env": "prod", "tier": "1"}}
        }),
        json!({"values": [1, 2, 3, 4.5, -2], "version": 3, "ratio": -0.75}),
        json!({"tags": ["alpha", "Beta", "gamma-ray", "Δelta", "42"], "name": "Beta"}),
        json!({"items": [
            {"sku": "A1", "qty": 2, "price": 9.5},
            {"sku": "b2", "qty": 0, "price": 100},
            {"sku": "C3", "qty": 7, "price": 0.25, "tags": ["sale"]}
        ]}),
        json!({"a": null, "flag": false, "on": true, "list": [null, true, false], "version": null}),
        json!({"mixed": [1, "1", true, null, {"k": 1}, [1, 2], 2.5], "version": "12"}),
        json!({
            "l1": {"l2": {"l3": {"l4": {"l5": {"value": 42, "name": "deep"}}}}},
            "path": [[1, [2, [3, [4]]]]]
        }),
        json!({
            "name": "Zoë Ångström", "city": "München", "greeting": "こんにちは", "emoji": "🎉 party",
            "multi": "line one\nline two", "version": 0, "ÉCOLE": "école"
        }),
        json!([1, {"a": 2}, "x", [3, 4]]),
        // Arrays at the root.
        json!([5, 12]),
        json!([{"version": 5}, {"version": [12, 3], "a": {"b": {"c": [12]}}}]),
        // An array in the middle of a path, and at its leaf.
        json!({"a": [{"b": {"c": 12}}, {"b": {"c": [5]}}, {"b": [{"c": 7}]}], "version": [5, 12]}),
        json!({"version": [5, 12], "same": [5, 5], "mixed": ["a", 12, null], "empty": [], "tags": ["alpha", 3]}),
        // Nested arrays.
        json!({"version": [[5, 12]], "m": [[[1]], 2], "same": [[5], 5]}),
        // Arrays of objects, and arrays of arrays of objects.
        json!({
            "items": [{"v": [1, 20], "sku": "a"}, {"v": 3, "sku": ["b2", "c"]}],
            "deep": {"x": [{"y": [{"z": 7}]}]},
            "grid": [[{"v": 1}], [{"v": 12}]],
            "version": 12
        }),
    ]
}

/// The expressions, grouped by what they exercise. Every one parses in Herald.
const EXPRESSIONS: &[&str] = &[
    // Accessors and wildcards.
    "$",
    "$.version",
    "$.meta.owner.id",
    "$.meta.owner.missing",
    "$.\"ÉCOLE\"",
    "$.*",
    "$.meta.*",
    "$.values[*]",
    "$.items[*].sku",
    "$.nothing[*]",
    "$.l1.l2.l3.l4.l5.value == 42",
    "$.l1.*.*.*.* ? (@.name == \"deep\")",
    "$.items[*].* ? (@ == 7)",
    "$.*[*] ? (@ == \"sale\")",
    // Subscripts.
    "$.values[0]",
    "$.values[0 to 2] ? (@ > 2)",
    "$.values[last] == -2",
    "$.values[last - 1] == 4.5",
    "$.values[1, 3] ? (@ == 4.5)",
    "$.values[10]",
    "$[0] == 1",
    "$[1].a == 2",
    "$[last][0] == 3",
    "$.path[0][1][1][1][0] == 4",
    "strict $.values[10]",
    "strict $.values[last] == -2",
    // Comparisons.
    "$.version == 12",
    "$.version != 12",
    "$.version <> 3",
    "$.version < 12",
    "$.version <= 12",
    "$.version > 2",
    "$.version >= 3",
    "$.version == \"12\"",
    "$.name == \"Beta\"",
    "$.name > \"Alpha\"",
    "$.a == null",
    "$.flag == false",
    "$.on == true",
    "$.values[*] > 4",
    "$.values[*] == $.version",
    "$.ratio < 0",
    // Filters, boolean logic.
    "$.items[*] ? (@.qty > 1 && @.price < 50)",
    "$.items[*] ? (@.qty == 0 || @.price > 50).sku",
    "$.items[*] ? (!(@.qty > 1))",
    "$.items[*] ? (@.tags[*] == \"sale\")",
    "$.list[*] ? (@ == true)",
    "$.mixed[*] ? (@ == 1)",
    "$.mixed[*] ? (@ > 2)",
    "$.version > 10 && $.enabled == true",
    "$.version > 100 || $.name == \"alpha\"",
    "!($.version == 12)",
    "($.version > \"a\") is unknown",
    // like_regex, starts with, exists.
    "$.name like_regex \"^al\"",
    "$.name like_regex \"^AL\" flag \"i\"",
    "$.tags[*] ? (@ like_regex \"^[a-z]+-[a-z]+$\")",
    "$.tags[*] like_regex \"^delta\" flag \"i\"",
    "$.name like_regex \"^zoë\" flag \"i\"",
    "$.multi like_regex \"one.line\"",
    "$.multi like_regex \"one.line\" flag \"s\"",
    "$.multi like_regex \"^line two$\"",
    "$.multi like_regex \"^line two$\" flag \"m\"",
    "$.name like_regex \"a.p\" flag \"q\"",
    "$.tags[*] like_regex \"^[[:digit:]]+$\"",
    "$.tags[*] like_regex \"^\\\\w+$\"",
    "$.greeting like_regex \"にち\"",
    "$.name starts with \"al\"",
    "$.tags[*] starts with \"Δ\"",
    "$.emoji starts with \"🎉\"",
    "$.mixed[*] starts with \"1\"",
    "exists($.meta.owner)",
    "exists($.meta.nobody)",
    "$.items[*] ? (exists(@.tags))",
    "strict exists($.missing)",
    // Arithmetic.
    "$.version + 1 == 13",
    "$.version - 2 == 10",
    "$.version * 2 == 24",
    "$.version / 4 == 3",
    "$.version % 5 == 2",
    "-$.ratio == 0.75",
    "$.values[*] ? (@ * 2 > 5)",
    "$.items[*] ? (@.qty * @.price > 10).sku",
    "$.version / 0 == 1",
    "$.name + 1 == 2",
    "$.items[0].qty + $.items[2].qty == 9",
    // Methods.
    "$.version.type() == \"number\"",
    "$.name.type() == \"string\"",
    "$.a.type() == \"null\"",
    "$.meta.type() == \"object\"",
    "$.values.type() == \"array\"",
    "$.mixed[*].type() == \"boolean\"",
    "$.values.size() == 5",
    "$.name.size() == 1",
    "strict $.name.size() == 1",
    "$.version.double() == 12",
    "$.meta.labels.tier.double() == 1",
    "$.name.double() == 1",
    "$.ratio.ceiling() == 0",
    "$.ratio.floor() == -1",
    "$.ratio.abs() == 0.75",
    "$.values[*].abs() == 2",
    "$.meta.labels.keyvalue() ? (@.name == \"env\" && @.value == \"prod\")",
    "$.keyvalue().name",
    "$.version.keyvalue()",
    // Lax and strict.
    "lax $.name[0] == \"Beta\"",
    "strict $.name[0] == \"Beta\"",
    "lax $.values.version",
    "strict $.values.version",
    "strict $.meta.owner.id == 7",
    "strict $.items[*].tags[*] == \"sale\"",
    "lax $.items.sku == \"b2\"",
    "strict $.items.sku == \"b2\"",
    "strict $.values[*] ? (@ > 2)",
    "strict $.mixed[*] > 0",
    "lax $.mixed[*] > 0",
    "$.version[last]",
    "$.version[last] == 12",
    "strict $.version[last]",
    // Lax mode on arrays: comparisons are existential over the unwrapped items.
    "$.version > 10",
    "$.version < 6",
    "$.version != 12",
    "$.version <> 5",
    "$.version >= 12 && $.version <= 5",
    "$.version > 100 || $.version == 5",
    "$.version == 7 || $.version != 7",
    "!($.version > 10)",
    "!($.version != 5)",
    "($.version > 10) is unknown",
    "($.version != 12) is unknown",
    "$.same != 5",
    "$.same <> 5",
    "$.same == 5 && $.version > 10",
    "$.mixed > 10",
    "$.mixed < 10 || $.mixed == \"a\"",
    "$.mixed != null",
    "$.mixed == null",
    "$.mixed != \"a\"",
    "$.empty == 1",
    "$.empty != 1",
    "$.version == $.same",
    "$.version != $.same",
    "$.version < $.same",
    "10 < $.version",
    "-$.version < -10",
    "$.version + 1 > 10",
    "$.version.abs() > 10",
    "$.version.size() == 2",
    "$.version.type() == \"array\"",
    "$.version ? (@ > 10)",
    "$.version[*] ? (@ > 10)",
    "$.version[0 to last] ? (@ != 5)",
    "strict $.version > 10",
    "strict $.version != 5",
    "strict $.version[*] > 10",
    "strict $.mixed[*] != 12",
    "$ > 10",
    "$ == 12",
    "$[*] != 5",
    "$.version[*][*] == 12",
    "$.a.b.c == 12",
    "$.a.b.c > 10",
    "$.a.b.c < 6",
    "$.a[*].b.c == 7",
    "$.a.b ? (@.c == 7)",
    "strict $.a.b.c == 12",
    "strict $.a[*].b.c == 12",
    "$.items.v > 10",
    "$.items.v == 3",
    "$.items[*].v[*] > 10",
    "$.items.sku == \"c\"",
    "$.items.sku starts with \"b\"",
    "$.items ? (@.v > 10).sku",
    "$.deep.x.y.z == 7",
    "$.grid.v == 12",
    "$.grid[*].v == 12",
    "$.tags starts with \"al\"",
    "$.tags like_regex \"^gam\"",
    "$.version like_regex \"^1\"",
    "$.m == 2",
    "$.m[*][*] == 1",
    // Any descendant (`.**`), through objects and arrays alike.
    "$.**",
    "$.** ? (@ == 12)",
    "$.** ? (@ == 7)",
    "$.** == 42",
    "$.** == \"sale\"",
    "$.**.z == 7",
    "$.**.qty > 5",
    "strict $.**.z == 7",
    "strict $.** ? (@.c == 12)",
    "$.**{0} ? (@.version == 12)",
    "$.**{1} ? (@ == 12)",
    "$.**{2} ? (@ == 12)",
    "$.**{2 to 3} ? (@ == 12)",
    "$.**{3 to last} ? (@ == 7)",
    "$.**{last} ? (@ == 7)",
    "$.**{1 to last}.v > 10",
    "$.**.v",
    "$.** ? (@.type() == \"array\")",
    "$.a.** ? (@ == 5)",
    "$.items.** ? (@ == 7)",
    "$.items.**{1 to 3} ? (@ == 7)",
    "$.**[*] ? (@ == 12)",
    "$.**.sku[*] ? (@ == \"b2\")",
    "exists($.** ? (@ == \"deep\"))",
    "$.** like_regex \"^Δ\"",
];

/// Paths Herald refuses although PostgreSQL would run them, because the two would disagree or PostgreSQL would
/// fail the whole query (see `herald::jsonpath`'s module docs). Each is a 400 `invalid_json_path` on both databases.
const REFUSED_FOR_PARITY: &[&str] = &[
    "$.version.datetime()",
    "$.name ? (@ == $name)",
    "$.version == 1e20",
    "$.name like_regex \"^\\\\d+$\"",
    "$.name like_regex \"\\\\yalpha\\\\y\"",
    "$.name like_regex \"(?i)alpha\"",
    "$.name like_regex \"[[a]]\"",
];

/// Paths neither database accepts: syntax errors and patterns no regular-expression engine here compiles.
const INVALID: &[&str] = &[
    "$.",
    "$.version ==",
    "$.values[",
    "$.items ? (@.qty > 1",
    "@.version",
    "$.version == 'x'",
    "$.name like_regex \"(a\"",
    "$.name like_regex \"a\" flag \"x\"",
    "$.name like_regex \"a\" flag \"z\"",
    "lax strict $",
    "$.version == 12 is unknown",
];

async fn connect() -> PgConnection {
    PgConnection::connect(&format!("{}/postgres", pg_base_url()))
        .await
        .expect("PostgreSQL is not reachable; run the tests through scripts/test.sh")
}

/// PostgreSQL's answer for `path` over `payload`, through the condition Herald itself builds.
async fn postgres_matches(conn: &mut PgConnection, path: &JsonPath, payload: &Value) -> bool {
    let condition = path.postgres_condition("($1::text)::jsonb", 2);
    let sql = sqlx::AssertSqlSafe(format!("SELECT {condition}"));
    let answer: Option<bool> = sqlx::query_scalar(sql)
        .bind(payload.to_string())
        .bind(path.as_str())
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL failed on {:?}: {e}", path.as_str()));
    answer.unwrap_or(false)
}

/// Whether PostgreSQL accepts `text` as a `jsonpath` at all.
async fn postgres_parses(conn: &mut PgConnection, text: &str) -> bool {
    sqlx::query_scalar::<_, String>("SELECT ($1::text)::jsonpath::text")
        .bind(text)
        .fetch_one(conn)
        .await
        .is_ok()
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn herald_and_postgresql_agree_on_every_expression_over_every_payload() {
    // Arrange
    assert!(
        EXPRESSIONS.len() >= 60,
        "the table must hold at least 60 expressions"
    );
    let payloads = payloads();
    let mut conn = connect().await;
    let mut mismatches = Vec::new();
    let mut matched = 0usize;

    // Act
    for text in EXPRESSIONS {
        let path = JsonPath::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"));
        for (index, payload) in payloads.iter().enumerate() {
            let herald = path.evaluate(payload);
            let postgres = postgres_matches(&mut conn, &path, payload).await;
            matched += usize::from(postgres);
            if (herald == Evaluation::Matched) != postgres {
                mismatches.push(format!(
                    "{text:<60} payload #{index}: herald {herald:?}, postgres {postgres}"
                ));
            }
        }
    }

    // Assert
    assert!(
        mismatches.is_empty(),
        "{} of {} evaluations differ:\n{}",
        mismatches.len(),
        EXPRESSIONS.len() * payloads.len(),
        mismatches.join("\n")
    );
    // The table is only worth something if it has both answers in quantity.
    let total = EXPRESSIONS.len() * payloads.len();
    assert!(
        matched > total / 10 && matched < total * 9 / 10,
        "{matched} of {total} match"
    );
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn paths_postgresql_would_read_differently_are_refused_before_either_database_sees_them() {
    let mut conn = connect().await;
    for text in REFUSED_FOR_PARITY {
        // PostgreSQL alone would take them ...
        assert!(
            postgres_parses(&mut conn, text).await,
            "{text:?} is valid PostgreSQL"
        );
        // ... but Herald parses every path first, on both databases, and refuses them.
        let error = JsonPath::parse(text).expect_err(text);
        assert!(
            matches!(error, JsonPathError::Unsupported { .. }),
            "{text:?}: {error:?}"
        );
        let error = error.into_validation_error("jsonPath");
        assert_eq!(error.code.as_str(), "invalid_json_path");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn invalid_paths_are_refused_by_herald_and_by_postgresql() {
    let mut conn = connect().await;
    for text in INVALID {
        assert!(JsonPath::parse(text).is_err(), "Herald accepts {text:?}");
        assert!(
            !postgres_parses(&mut conn, text).await,
            "PostgreSQL accepts {text:?}"
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn the_known_differences_are_still_what_the_module_documents() {
    let mut conn = connect().await;

    // Herald computes in double precision (SPEC §9), PostgreSQL in numeric.
    let rounding = JsonPath::parse("$.one / 3 * 3 == 1").expect("parses");
    let payload = json!({"one": 1});
    assert!(!postgres_matches(&mut conn, &rounding, &payload).await);
    assert!(rounding.matches(&payload));
}
