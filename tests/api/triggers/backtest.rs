//! Backtest (SPEC §5.9): over 10,000 seeded events, the counts of every definition (patterns, each operator
//! family, `matches`) equal a direct SQL count of the same condition on both databases; per-predicate
//! eliminations, samples, a saved trigger versus its draft, and the errors.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;

use super::{READER, WRITER, call, create_webhook, env, spawn_on};
use crate::helpers::{Db, Mode, TestApp, TestEnv};

const EVENTS: i64 = 10_000;
/// The range backtested: events 1,001 to 9,000 (one a second from 2026-11-20T00:00:00Z).
const FROM: &str = "2026-11-20T00:16:41Z";
const TO: &str = "2026-11-20T02:30:00Z";
const IN_RANGE: &str = "ingress_sequence BETWEEN 1001 AND 9000";

/// Seeds event `i` (1..=10,000) with sequence `i`, occurring `i` seconds after midnight: four types, three
/// sources, `total = i % 100`, five currencies (one in lower case), a `coupon` on every seventh.
async fn seed(env: &TestEnv) {
    let ty = "CASE i % 4 WHEN 0 THEN 'shop.order.placed' WHEN 1 THEN 'shop.order.paid' \
              WHEN 2 THEN 'shop.refund.issued' ELSE 'crm.user.created' END";
    let source = "CASE i % 3 WHEN 0 THEN 'shop.api' WHEN 1 THEN 'shop.web' ELSE 'crm/eu' END";
    let currency = "CASE i % 5 WHEN 0 THEN 'EUR' WHEN 1 THEN 'USD' WHEN 2 THEN 'GBP' WHEN 3 THEN 'eur' ELSE 'JPY' END";
    match env.db {
        Db::Postgres => {
            let sql = format!(
                "INSERT INTO workflow_events (id, ingress_sequence, type, source, occurred_at, received_at, \
                 payload, content_hash, severity) \
                 SELECT 'bt-' || lpad(i::text, 5, '0'), i, {ty}, {source}, \
                 '2026-11-20T00:00:00Z'::timestamptz + i * interval '1 second', \
                 '2026-11-20T00:00:00Z'::timestamptz + i * interval '1 second', \
                 jsonb_build_object('total', i % 100, 'currency', {currency}, 'n', i) \
                   || CASE WHEN i % 7 = 0 THEN jsonb_build_object('coupon', 'C' || i) ELSE '{{}}'::jsonb END, \
                 '', 'info' FROM generate_series(1, {EVENTS}) AS i"
            );
            let mut conn = sqlx::PgConnection::connect(&env.database_url)
                .await
                .expect("connect");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .expect("seed");
        }
        Db::Sqlite => {
            let at = "strftime('%Y-%m-%dT%H:%M:%S+00:00', '2026-11-20 00:00:00', '+' || i || ' seconds')";
            let sql = format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {EVENTS}) \
                 INSERT INTO workflow_events (id, ingress_sequence, type, source, occurred_at, received_at, \
                 payload, content_hash, severity) \
                 SELECT 'bt-' || printf('%05d', i), i, {ty}, {source}, {at}, {at}, \
                 CASE WHEN i % 7 = 0 \
                   THEN json_object('total', i % 100, 'currency', {currency}, 'n', i, 'coupon', 'C' || i) \
                   ELSE json_object('total', i % 100, 'currency', {currency}, 'n', i) END, \
                 '', 'info' FROM s"
            );
            let mut conn = sqlx::SqliteConnection::connect(&env.database_url)
                .await
                .expect("connect");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .expect("seed");
        }
    }
}

/// `SELECT <what> FROM workflow_events WHERE <range> AND <condition>`, run directly.
async fn direct(env: &TestEnv, what: &str, condition: &str, tail: &str) -> Vec<Value> {
    let sql = format!(
        "SELECT {what} AS x FROM workflow_events WHERE {IN_RANGE} AND ({condition}) {tail}"
    );
    match env.db {
        Db::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&env.database_url)
                .await
                .expect("connect");
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT x::text FROM ({sql}) AS q"
            )))
            .fetch_all(&mut conn)
            .await
            .expect("a direct count");
            rows.into_iter().map(|r| json!(r)).collect()
        }
        Db::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&env.database_url)
                .await
                .expect("connect");
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(x AS TEXT) FROM ({sql}) AS q"
            )))
            .fetch_all(&mut conn)
            .await
            .expect("a direct count");
            rows.into_iter().map(|r| json!(r)).collect()
        }
    }
}

async fn direct_count(env: &TestEnv, condition: &str) -> u64 {
    direct(env, "count(*)", condition, "").await[0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn backtest(app: &TestApp, body: Value) -> (u16, Value) {
    call(
        app,
        Method::POST,
        "/admin/triggers/backtest",
        READER,
        Some(body),
    )
    .await
}

fn draft(event_type: &str, extra: Value) -> Value {
    let mut d = json!({"name": "draft", "eventType": event_type,
        "target": {"kind": "webhook", "url": "http://127.0.0.1:9/"}});
    for (k, v) in extra.as_object().unwrap() {
        d[k] = v.clone();
    }
    d
}

/// A definition and the same condition in SQL, for PostgreSQL and for SQLite.
struct Case {
    event_type: &'static str,
    extra: Value,
    pg: &'static str,
    sqlite: &'static str,
}

fn cases() -> Vec<Case> {
    let c = |event_type, extra, pg, sqlite| Case {
        event_type,
        extra,
        pg,
        sqlite,
    };
    let pay = |op: &str, rest: Value| {
        let mut p = json!({"operator": op});
        for (k, v) in rest.as_object().unwrap() {
            p[k] = v.clone();
        }
        json!({"predicates": [p]})
    };
    vec![
        c(
            "shop.order.paid",
            json!({}),
            "type = 'shop.order.paid'",
            "type = 'shop.order.paid'",
        ),
        c(
            "shop.order.*",
            json!({"eventSource": "shop.api"}),
            "type LIKE 'shop.order.%' AND source = 'shop.api'",
            "type GLOB 'shop.order.*' AND source = 'shop.api'",
        ),
        c(
            "shop.**",
            json!({}),
            "type LIKE 'shop.%'",
            "type GLOB 'shop.*'",
        ),
        c(
            "shop.*.*",
            json!({"eventSource": "crm/*"}),
            "type LIKE 'shop.%' AND source LIKE 'crm/%'",
            "type GLOB 'shop.*' AND source GLOB 'crm/*'",
        ),
        c(
            "shop.order.*",
            pay("gt", json!({"path": "$.payload.total", "value": 50})),
            "type LIKE 'shop.order.%' AND (payload->>'total')::int > 50",
            "type GLOB 'shop.order.*' AND json_extract(payload, '$.total') > 50",
        ),
        c(
            "shop.**",
            pay(
                "in",
                json!({"path": "$.payload.currency", "values": ["EUR", "GBP"]}),
            ),
            "type LIKE 'shop.%' AND payload->>'currency' IN ('EUR', 'GBP')",
            "type GLOB 'shop.*' AND json_extract(payload, '$.currency') IN ('EUR', 'GBP')",
        ),
        c(
            "shop.order.placed",
            pay(
                "equals",
                json!({"path": "$.payload.currency", "value": "eur", "caseSensitive": false}),
            ),
            "type = 'shop.order.placed' AND lower(payload->>'currency') = 'eur'",
            "type = 'shop.order.placed' AND lower(json_extract(payload, '$.currency')) = 'eur'",
        ),
        c(
            "crm.user.created",
            pay(
                "notEquals",
                json!({"path": "$.payload.currency", "value": "USD"}),
            ),
            "type = 'crm.user.created' AND payload->>'currency' <> 'USD'",
            "type = 'crm.user.created' AND json_extract(payload, '$.currency') <> 'USD'",
        ),
        c(
            "shop.order.*",
            pay(
                "matches",
                json!({"path": "$", "value": "$.payload.total > 20 && $.payload.total < 30"}),
            ),
            "type LIKE 'shop.order.%' AND (payload->>'total')::int > 20 AND (payload->>'total')::int < 30",
            "type GLOB 'shop.order.*' AND json_extract(payload, '$.total') > 20 \
             AND json_extract(payload, '$.total') < 30",
        ),
        c(
            "shop.**",
            pay("exists", json!({"path": "$.payload.coupon"})),
            "type LIKE 'shop.%' AND payload ? 'coupon'",
            "type GLOB 'shop.*' AND json_extract(payload, '$.coupon') IS NOT NULL",
        ),
        c(
            "shop.order.*",
            pay(
                "regex",
                json!({"path": "$.payload.currency", "value": "^[A-Z]+$"}),
            ),
            "type LIKE 'shop.order.%' AND payload->>'currency' ~ '^[A-Z]+$'",
            "type GLOB 'shop.order.*' AND json_extract(payload, '$.currency') <> 'eur'",
        ),
        c(
            "shop.refund.issued",
            pay(
                "contains",
                json!({"path": "$.payload.currency", "value": "U"}),
            ),
            "type = 'shop.refund.issued' AND strpos(payload->>'currency', 'U') > 0",
            "type = 'shop.refund.issued' AND instr(json_extract(payload, '$.currency'), 'U') > 0",
        ),
    ]
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn counts_equal_a_direct_sql_count_of_the_same_condition_for_every_definition() {
    for db in [Db::Sqlite, Db::Postgres] {
        let env = env(db, Mode::Inline).await;
        let app = spawn_on(&env).await;
        seed(&env).await;
        for case in cases() {
            let (status, answer) = backtest(
                &app,
                json!({"definition": draft(case.event_type, case.extra.clone()), "from": FROM, "to": TO, "limit": 5}),
            )
            .await;
            assert_eq!(status, 200, "{answer}");
            let condition = match db {
                Db::Postgres => case.pg,
                Db::Sqlite => case.sqlite,
            };
            let expected = direct_count(&env, condition).await;
            let data = &answer["data"];
            assert_eq!(data["matched"], expected, "{db:?} {}: {answer}", case.extra);
            assert!(
                expected > 0,
                "a case that matches nothing proves little: {condition}"
            );
            let samples = direct(&env, "id", condition, "ORDER BY ingress_sequence LIMIT 5").await;
            assert_eq!(
                data["sampleIds"],
                Value::Array(samples),
                "{db:?} {condition}"
            );
            assert_eq!(data["deliveries"], expected, "no key, no duplicates");
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn each_predicate_is_charged_with_the_events_it_removed_and_a_saved_trigger_counts_as_its_draft()
 {
    for db in [Db::Sqlite, Db::Postgres] {
        let env = env(db, Mode::Inline).await;
        let app = spawn_on(&env).await;
        seed(&env).await;
        let extra = json!({"predicates": [
            {"path": "$.payload.total", "operator": "gte", "value": 50},
            {"path": "$.payload.currency", "operator": "equals", "value": "EUR"}],
            "throttle": {"windowMs": 600_000, "count": 10}});
        let (status, by_draft) = backtest(
            &app,
            json!({"definition": draft("shop.order.*", extra.clone()), "from": FROM, "to": TO}),
        )
        .await;
        assert_eq!(status, 200, "{by_draft}");
        let (trigger, _) = create_webhook(&app, "shop.order.*", "http://127.0.0.1:9/", extra).await;
        let (status, by_id) = backtest(
            &app,
            json!({"triggerId": trigger["id"], "from": FROM, "to": TO}),
        )
        .await;
        assert_eq!(status, 200, "{by_id}");
        let orders = match db {
            Db::Postgres => "type LIKE 'shop.order.%'",
            Db::Sqlite => "type GLOB 'shop.order.*'",
        };
        let (total, currency) = match db {
            Db::Postgres => ("(payload->>'total')::int", "payload->>'currency'"),
            Db::Sqlite => (
                "json_extract(payload, '$.total')",
                "json_extract(payload, '$.currency')",
            ),
        };
        let scanned = direct_count(&env, orders).await;
        let first = direct_count(&env, &format!("{orders} AND {total} < 50")).await;
        let second = direct_count(
            &env,
            &format!("{orders} AND {total} >= 50 AND {currency} <> 'EUR'"),
        )
        .await;
        for answer in [&by_draft, &by_id] {
            let data = &answer["data"];
            assert_eq!(data["scanned"], scanned, "{db:?}: {answer}");
            assert_eq!(data["eliminated"][0]["eliminated"], first);
            assert_eq!(data["eliminated"][1]["eliminated"], second);
            assert_eq!(data["eliminated"][1]["path"], "$.payload.currency");
            assert_eq!(data["matched"], scanned - first - second);
            let play = &data["throttle"];
            assert_eq!(
                play["immediate"].as_u64().unwrap() + play["delayed"].as_u64().unwrap(),
                data["deliveries"].as_u64().unwrap(),
                "{answer}"
            );
            assert!(
                play["delayed"].as_u64().unwrap() > 0,
                "10 per 10 minutes cannot keep up with ~24: {answer}"
            );
        }
        assert_eq!(by_id["data"]["triggerId"], trigger["id"]);
        assert_eq!(by_draft["data"]["triggerId"], Value::Null);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_bad_backtest_is_refused_like_a_bad_create() {
    let app = spawn_on(&env(Db::Sqlite, Mode::Inline).await).await;
    let bad_definition = draft(
        "a.b",
        json!({"predicates": [{"path": "$.payload.n", "operator": "gt", "value": "ten"}]}),
    );
    let (create_status, create) = call(
        &app,
        Method::POST,
        "/admin/triggers",
        WRITER,
        Some(bad_definition.clone()),
    )
    .await;
    let (status, answer) = backtest(
        &app,
        json!({"definition": bad_definition, "from": FROM, "to": TO}),
    )
    .await;
    assert_eq!((status, create_status), (400, 400), "{answer}");
    assert_eq!(answer["error"], create["error"], "the same 400 as create");
    let good = || draft("a.b", json!({}));
    let cases = [
        (json!({"definition": good(), "to": TO}), 400, "from"),
        (
            json!({"definition": good(), "from": TO, "to": FROM}),
            400,
            "from",
        ),
        (
            json!({"definition": good(), "from": "yesterday", "to": TO}),
            400,
            "from",
        ),
        (
            json!({"definition": good(), "from": FROM, "to": TO, "limit": 0}),
            400,
            "limit",
        ),
        (json!({"from": FROM, "to": TO}), 400, "triggerId"),
        (
            json!({"definition": good(), "triggerId": "x", "from": FROM, "to": TO}),
            400,
            "definition",
        ),
        (
            json!({"definition": good(), "from": FROM, "to": TO, "dryRun": true}),
            400,
            "dryRun",
        ),
    ];
    for (body, status, field) in cases {
        let (got, answer) = backtest(&app, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(
            answer["error"]["details"]["field"], field,
            "{body}: {answer}"
        );
    }
    let (status, _) = backtest(&app, json!({"triggerId": "nope", "from": FROM, "to": TO})).await;
    assert_eq!(status, 404);
}
