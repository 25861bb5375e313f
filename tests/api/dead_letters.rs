//! `GET /admin/dead-letters` and `GET /admin/dead-letters/{id}` (SPEC §6, §6.6). Dead letters come from stream
//! entries, so every test runs in redis mode, on SQLite and on PostgreSQL.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta};
use serde_json::{Value, json};

use crate::helpers::{Db, Mode, TestApp, TestEnv, eventually};

/// The databases dead letters are stored in.
const DATABASES: [Db; 2] = [Db::Sqlite, Db::Postgres];

/// A stream entry that cannot become an event, and what Herald should record about it.
struct Invalid {
    /// The entry's fields.
    fields: Vec<(&'static str, &'static str)>,
    /// The expected reason code.
    reason: &'static str,
    /// The expected `source` (read from the envelope when possible).
    source: Option<&'static str>,
}

/// One entry per reason, from several sources.
fn invalid_entries() -> Vec<Invalid> {
    let envelope = |json: &'static str, reason, source| Invalid {
        fields: vec![("envelope", json)],
        reason,
        source,
    };
    vec![
        envelope("{not json", "invalid_json", None),
        envelope(
            r#"{"id":"dl-type","type":"billing","source":"billing.api"}"#,
            "invalid_field",
            Some("billing.api"),
        ),
        envelope(
            r#"{"id":"dl-missing","source":"shipping.api"}"#,
            "missing_field",
            Some("shipping.api"),
        ),
        envelope(
            r#"{"type":"billing.invoice.paid","source":"billing.api","colour":"red"}"#,
            "unknown_field",
            Some("billing.api"),
        ),
        envelope(
            r#"{"type":"billing.invoice.paid","source":"shipping.api","ttl":0}"#,
            "invalid_field",
            Some("shipping.api"),
        ),
        envelope(
            r#"{"type":"reading","source":"/sensors/tn-1"}"#,
            "invalid_field",
            Some("/sensors/tn-1"),
        ),
        Invalid {
            fields: vec![("payload", r#"{"n":1}"#), ("type", "billing.invoice.paid")],
            reason: "missing_envelope",
            source: None,
        },
    ]
}

/// A fresh Herald in redis mode on `db`.
async fn spawn(db: Db) -> TestApp {
    TestEnv::new(db, Mode::Redis).await.spawn().await
}

/// XADDs every entry and returns their stream ids, in order.
async fn xadd_all(app: &TestApp, entries: &[Invalid]) -> Vec<String> {
    let mut ids = Vec::new();
    for entry in entries {
        let fields = entry
            .fields
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned()))
            .collect();
        ids.push(app.xadd_fields(fields).await);
    }
    ids
}

/// Waits until exactly `n` dead letters exist and returns them, newest first.
async fn exactly(app: &TestApp, n: usize) -> Vec<Value> {
    let letters = app.dead_letters_eventually(n).await;
    assert_eq!(letters.len(), n, "no more dead letters than entries sent");
    letters
}

/// Makes `n` dead letters with reason `invalid_field` from `pager.api`, and returns them newest first.
async fn dead_letters(app: &TestApp, n: usize) -> Vec<Value> {
    for i in 0..n {
        app.xadd_envelope(&format!(r#"{{"type":"page{i}","source":"pager.api"}}"#))
            .await;
    }
    exactly(app, n).await
}

/// `GET /admin/dead-letters?{query}` answered 200; returns the body.
async fn list_ok(app: &TestApp, query: &str) -> Value {
    let response = app.list_dead_letters(query).await;
    assert_eq!(response.status(), 200, "?{query}");
    response.json().await.unwrap()
}

/// The stream ids of a list answer, in order.
fn stream_ids(body: &Value) -> Vec<String> {
    body["data"]["deadLetters"]
        .as_array()
        .unwrap_or_else(|| panic!("data.deadLetters in {body}"))
        .iter()
        .map(|l| l["streamId"].as_str().unwrap().to_owned())
        .collect()
}

/// The stream ids of `letters` that satisfy `keep`, in order.
fn stream_ids_where(letters: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    letters
        .iter()
        .filter(|l| keep(l))
        .map(|l| l["streamId"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts a 400 with `code` and `details.parameter`.
async fn assert_bad_request(app: &TestApp, query: &str, code: &str, parameter: &str) {
    let response = app.list_dead_letters(query).await;
    assert_eq!(response.status(), 400, "?{query}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "?{query}: {body}");
    assert_eq!(
        body["error"]["details"]["parameter"], parameter,
        "?{query}: {body}"
    );
}

/// `name=value`, percent-encoded.
fn param(name: &str, value: &str) -> String {
    serde_urlencoded::to_string([(name, value)]).unwrap()
}

fn received_at(letter: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(letter["receivedAt"].as_str().unwrap()).unwrap()
}

/// Waits until the clock is past the millisecond every one of `letters` was received in, so that a letter made
/// next is strictly newer (times are stored at millisecond precision; Herald runs on this machine's clock).
async fn clock_past(letters: &[Value]) {
    let latest = letters.iter().map(received_at).max().unwrap();
    eventually("the clock to pass the latest receivedAt", || async move {
        chrono::Utc::now() >= latest + TimeDelta::milliseconds(1)
    })
    .await;
}

#[actix_web::test]
async fn invalid_stream_entries_are_listed_newest_first_with_their_reason_source_and_raw_entry() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let entries = invalid_entries();
        let stream_ids = xadd_all(&app, &entries).await;
        app.xadd_envelope(
            r#"{"id":"dl-valid","type":"billing.invoice.paid","source":"billing.api"}"#,
        )
        .await;
        let first = exactly(&app, entries.len()).await;
        app.stored_event("dl-valid").await;
        clock_past(&first).await;
        let late = app
            .xadd_envelope(r#"{"type":"late","source":"late.api"}"#)
            .await;
        exactly(&app, entries.len() + 1).await;

        // Act
        let body = list_ok(&app, "").await;

        // Assert
        let letters = body["data"]["deadLetters"].as_array().unwrap();
        assert_eq!(
            letters.len(),
            entries.len() + 1,
            "{db:?}: the valid entry is stored, not dead-lettered"
        );
        assert_eq!(letters[0]["streamId"], late, "{db:?}: newest first");
        for pair in letters.windows(2) {
            let key = |l: &Value| (received_at(l), l["id"].as_str().unwrap().to_owned());
            assert!(
                key(&pair[0]) > key(&pair[1]),
                "{db:?}: newest first, id as tie-break: {pair:?}"
            );
        }
        assert_eq!(
            body["data"]["page"],
            json!({ "nextCursor": null, "hasMore": false, "limit": 100 })
        );
        for (entry, stream_id) in entries.iter().zip(&stream_ids) {
            let case = format!("{db:?}: {}", entry.reason);
            let letter = letters
                .iter()
                .find(|l| l["streamId"] == *stream_id)
                .unwrap_or_else(|| panic!("{case}: a dead letter for entry {stream_id}"));
            for key in [
                "id",
                "reason",
                "message",
                "source",
                "streamId",
                "raw",
                "receivedAt",
                "redrivenAt",
            ] {
                assert!(letter.get(key).is_some(), "{case}: {key} in {letter}");
            }
            assert_eq!(
                letter["id"].as_str().unwrap().len(),
                26,
                "{case}: a ULID id"
            );
            assert_eq!(letter["reason"], entry.reason, "{case}");
            assert_eq!(letter["source"], json!(entry.source), "{case}");
            assert!(
                !letter["message"].as_str().unwrap().is_empty(),
                "{case}: a message"
            );
            let raw: Value = serde_json::from_str(letter["raw"].as_str().unwrap()).unwrap();
            let fields: serde_json::Map<String, Value> = entry
                .fields
                .iter()
                .map(|(name, value)| ((*name).to_owned(), json!(value)))
                .collect();
            assert_eq!(raw, Value::Object(fields), "{case}: the raw entry");
            let at = letter["receivedAt"].as_str().unwrap();
            assert!(
                at.len() == 24 && at.ends_with('Z') && DateTime::parse_from_rfc3339(at).is_ok(),
                "{case}: receivedAt in UTC with milliseconds, got {at}"
            );
            assert!(letter["redrivenAt"].is_null(), "{case}: not redriven");
        }
    }
}

#[actix_web::test]
async fn dead_letters_can_be_filtered_by_reason_and_source() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let entries = invalid_entries();
        xadd_all(&app, &entries).await;
        let all = exactly(&app, entries.len()).await;
        let cases: Vec<(String, Vec<String>)> = vec![
            (
                param("reason", "invalid_field"),
                stream_ids_where(&all, |l| l["reason"] == "invalid_field"),
            ),
            (
                param("source", "billing.api"),
                stream_ids_where(&all, |l| l["source"] == "billing.api"),
            ),
            (
                param("source", "/sensors/tn-1"),
                stream_ids_where(&all, |l| l["source"] == "/sensors/tn-1"),
            ),
            (
                format!(
                    "{}&{}",
                    param("reason", "invalid_field"),
                    param("source", "shipping.api")
                ),
                stream_ids_where(&all, |l| {
                    l["reason"] == "invalid_field" && l["source"] == "shipping.api"
                }),
            ),
            (
                param("reason", "missing_envelope"),
                stream_ids_where(&all, |l| l["reason"] == "missing_envelope"),
            ),
            (param("reason", "poison"), vec![]),
            (param("source", "nobody.api"), vec![]),
        ];
        assert_eq!(
            cases[0].1.len(),
            3,
            "the fixture has three invalid_field letters"
        );
        assert_eq!(cases[3].1.len(), 1, "and one of them from shipping.api");

        for (query, expected) in cases {
            // Act
            let body = list_ok(&app, &query).await;

            // Assert
            assert_eq!(stream_ids(&body), expected, "{db:?}: ?{query}");
        }
    }
}

#[actix_web::test]
async fn dead_letters_can_be_filtered_by_received_time_as_a_date_or_an_rfc_3339_instant() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let first = dead_letters(&app, 3).await;
        clock_past(&first).await;
        app.xadd_envelope(r#"{"type":"late","source":"late.api"}"#)
            .await;
        let all = exactly(&app, 4).await;
        let every = stream_ids_where(&all, |_| true);
        let pivot = received_at(&all[0]);
        let pivot_z = all[0]["receivedAt"].as_str().unwrap().to_owned();
        let pivot_plus_two = pivot
            .with_timezone(&FixedOffset::east_opt(2 * 3600).unwrap())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
        assert!(pivot_plus_two.ends_with("+02:00"));
        let oldest_day: NaiveDate = received_at(&all[3]).date_naive();
        let newest_day: NaiveDate = pivot.date_naive();
        let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        let from_pivot = stream_ids_where(&all, |l| received_at(l) >= pivot);
        let to_pivot = stream_ids_where(&all, |l| received_at(l) <= pivot);
        assert!(
            !from_pivot.is_empty() && from_pivot.len() < every.len(),
            "the late letter was received after the others"
        );
        let cases: Vec<(String, Vec<String>)> = vec![
            (param("from", &day(oldest_day)), every.clone()),
            (
                param("to", &day(newest_day + TimeDelta::days(1))),
                every.clone(),
            ),
            (param("to", &day(oldest_day - TimeDelta::days(1))), vec![]),
            (param("from", &day(newest_day + TimeDelta::days(1))), vec![]),
            (param("from", &pivot_z), from_pivot.clone()),
            (param("from", &pivot_plus_two), from_pivot.clone()),
            (param("to", &pivot_plus_two), to_pivot),
            (
                format!(
                    "{}&{}",
                    param("from", &pivot_plus_two),
                    param("to", &pivot_z)
                ),
                stream_ids_where(&all, |l| received_at(l) == pivot),
            ),
        ];

        for (query, expected) in cases {
            // Act
            let body = list_ok(&app, &query).await;

            // Assert
            assert_eq!(stream_ids(&body), expected, "{db:?}: ?{query}");
        }
    }
}

#[actix_web::test]
async fn a_bad_time_or_from_after_to_is_rejected_naming_the_parameter() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        dead_letters(&app, 1).await;
        let cases = [
            (param("from", "yesterday"), "from"),
            (param("to", "2026-13-01"), "to"),
            (param("from", "2026-11-22T10:00:00"), "from"),
            (param("to", "22/11/2026"), "to"),
            (
                format!(
                    "{}&{}",
                    param("from", "2026-11-23"),
                    param("to", "2026-11-22")
                ),
                "from",
            ),
            (
                format!(
                    "{}&{}",
                    param("from", "2026-11-22T10:00:00.001Z"),
                    param("to", "2026-11-22T12:00:00+02:00")
                ),
                "from",
            ),
        ];

        for (query, parameter) in cases {
            // Act and Assert
            assert_bad_request(&app, &query, "invalid_parameter", parameter).await;
        }
        // Equal bounds are in order.
        list_ok(
            &app,
            &format!(
                "{}&{}",
                param("from", "2026-11-22"),
                param("to", "2026-11-22")
            ),
        )
        .await;
    }
}

#[actix_web::test]
async fn limit_takes_an_integer_from_1_to_200() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let all = dead_letters(&app, 2).await;

        // Act and Assert
        for bad in ["0", "201", "x", "-1", "1.5", ""] {
            assert_bad_request(&app, &param("limit", bad), "invalid_parameter", "limit").await;
        }
        let one = list_ok(&app, "limit=1").await;
        assert_eq!(
            stream_ids(&one),
            stream_ids_where(&all[..1], |_| true),
            "{db:?}"
        );
        assert_eq!(one["data"]["page"]["limit"], 1);
        assert_eq!(one["data"]["page"]["hasMore"], true);
        let most = list_ok(&app, "limit=200").await;
        assert_eq!(
            stream_ids(&most),
            stream_ids_where(&all, |_| true),
            "{db:?}"
        );
        assert_eq!(most["data"]["page"]["limit"], 200);
        assert_eq!(most["data"]["page"]["hasMore"], false);
    }
}

#[actix_web::test]
async fn an_unknown_or_repeated_query_parameter_is_rejected_naming_it() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        dead_letters(&app, 1).await;

        // Act and Assert
        assert_bad_request(&app, "sauce=x", "invalid_parameter", "sauce").await;
        assert_bad_request(&app, "Reason=poison", "invalid_parameter", "Reason").await;
        assert_bad_request(&app, "limit=5&type=a.b", "invalid_parameter", "type").await;
        assert_bad_request(
            &app,
            "reason=poison&reason=invalid_json",
            "invalid_parameter",
            "reason",
        )
        .await;
    }
}

#[actix_web::test]
async fn cursor_pagination_visits_every_dead_letter_exactly_once() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let all = dead_letters(&app, 7).await;
        let mut pages = Vec::new();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;

        // Act
        loop {
            let query = match &cursor {
                Some(c) => format!("limit=3&{}", param("cursor", c)),
                None => "limit=3".to_owned(),
            };
            let body = list_ok(&app, &query).await;
            let page = &body["data"]["page"];
            pages.push((
                stream_ids(&body).len(),
                page["hasMore"].as_bool().unwrap(),
                page["nextCursor"].is_string(),
                page["limit"].clone(),
            ));
            seen.extend(stream_ids(&body));
            cursor = page["nextCursor"].as_str().map(str::to_owned);
            if cursor.is_none() || pages.len() > 5 {
                break;
            }
        }

        // Assert
        assert_eq!(
            pages,
            vec![
                (3, true, true, json!(3)),
                (3, true, true, json!(3)),
                (1, false, false, json!(3))
            ],
            "{db:?}: (letters, hasMore, nextCursor set, limit) per page"
        );
        assert_eq!(
            seen,
            stream_ids_where(&all, |_| true),
            "{db:?}: every letter once, in order"
        );
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);
    }
}

#[actix_web::test]
async fn a_cursor_keeps_its_filters_when_paging_a_filtered_list() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let entries = invalid_entries();
        xadd_all(&app, &entries).await;
        let all = exactly(&app, entries.len()).await;
        let filter = param("reason", "invalid_field");
        let first = list_ok(&app, &format!("{filter}&limit=2")).await;
        let cursor = first["data"]["page"]["nextCursor"]
            .as_str()
            .unwrap()
            .to_owned();

        // Act
        let second = list_ok(
            &app,
            &format!("{filter}&limit=2&{}", param("cursor", &cursor)),
        )
        .await;

        // Assert
        let mut seen = stream_ids(&first);
        seen.extend(stream_ids(&second));
        assert_eq!(
            seen,
            stream_ids_where(&all, |l| l["reason"] == "invalid_field"),
            "{db:?}"
        );
        assert_eq!(second["data"]["page"]["hasMore"], false);
        assert!(second["data"]["page"]["nextCursor"].is_null());
    }
}

#[actix_web::test]
async fn a_tampered_malformed_or_reused_cursor_is_rejected_as_invalid_cursor() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        dead_letters(&app, 4).await;
        let first = list_ok(&app, "limit=2").await;
        let cursor = first["data"]["page"]["nextCursor"]
            .as_str()
            .unwrap()
            .to_owned();
        let tampered: String = cursor
            .char_indices()
            .map(|(i, c)| match (i, c) {
                (3, 'A') => 'B',
                (3, _) => 'A',
                _ => c,
            })
            .collect();
        assert_ne!(tampered, cursor);
        let cases = [
            (
                "a tampered cursor",
                format!("limit=2&{}", param("cursor", &tampered)),
            ),
            (
                "a truncated cursor",
                format!("limit=2&{}", param("cursor", &cursor[..cursor.len() - 1])),
            ),
            (
                "a cursor without its checksum",
                format!(
                    "limit=2&{}",
                    param("cursor", cursor.split('.').next().unwrap())
                ),
            ),
            (
                "not a cursor",
                format!("limit=2&{}", param("cursor", "not-a-cursor")),
            ),
            (
                "a cursor with another reason",
                format!("limit=2&reason=invalid_field&{}", param("cursor", &cursor)),
            ),
            (
                "a cursor with another source",
                format!("limit=2&source=pager.api&{}", param("cursor", &cursor)),
            ),
            (
                "a cursor with a time bound",
                format!("limit=2&from=2020-01-01&{}", param("cursor", &cursor)),
            ),
        ];

        for (case, query) in cases {
            // Act
            let response = app.list_dead_letters(&query).await;

            // Assert
            assert_eq!(response.status(), 400, "{db:?}: {case}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                body["error"]["code"], "invalid_cursor",
                "{db:?}: {case}: {body}"
            );
        }
        // The untouched cursor with the same filters still works.
        let second = list_ok(&app, &format!("limit=2&{}", param("cursor", &cursor))).await;
        assert_eq!(stream_ids(&second).len(), 2, "{db:?}");
    }
}

#[actix_web::test]
async fn a_dead_letter_is_read_by_id_as_listed_and_an_unknown_id_is_not_found() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let entries = invalid_entries();
        xadd_all(&app, &entries).await;
        let all = exactly(&app, entries.len()).await;

        for listed in &all {
            let id = listed["id"].as_str().unwrap();

            // Act
            let response = app.get_dead_letter(id).await;

            // Assert
            assert_eq!(response.status(), 200, "{db:?}: {id}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(&body["data"], listed, "{db:?}: the same record as listed");
        }
        let unknown = app.get_dead_letter("01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
        assert_eq!(unknown.status(), 404, "{db:?}");
        let body: Value = unknown.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{db:?}");
    }
}
