//! The events query API (SPEC §6.1): `GET /admin/events` with every filter, cursor pagination, insights and the page
//! schema; stats; timeline. Every behaviour is checked in both deployments, so a filter means the same on SQLite
//! (Herald checks patterns and paths row by row) and PostgreSQL (the database does).

use serde_json::{Value, json};

use crate::helpers::{DEPLOYMENTS, Db, Mode, TestApp, TestEnv, eventually, eventually_some};

/// Publishes `events` in one batch and waits until all are stored.
async fn publish(app: &TestApp, events: Vec<Value>) {
    let n = events.len();
    let response = app.post_events(&Value::Array(events)).await;
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    eventually(&format!("{n} events stored"), || async {
        app.env.stored_count().await >= n as i64
    })
    .await;
}

async fn list(app: &TestApp, query: &str) -> (u16, Value) {
    let response = app.get(&format!("/admin/events?{query}")).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {body}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Ten events of assorted types, sources, severities and payloads; `e0` is the oldest.
fn corpus() -> Vec<Value> {
    vec![
        json!({"id": "e0", "type": "metastore.record.created", "source": "metastore.api",
               "occurredAt": "2026-11-20T10:00:00Z", "correlationId": "c-1",
               "payload": {"namespace": "flags", "key": "a", "version": 1}}),
        json!({"id": "e1", "type": "metastore.record.updated", "source": "metastore.api",
               "occurredAt": "2026-11-20T11:00:00Z", "correlationId": "c-1",
               "payload": {"namespace": "flags", "key": "a", "version": 12}}),
        json!({"id": "e2", "type": "metastore.record.updated.late", "source": "metastore.worker",
               "occurredAt": "2026-11-20T12:00:00Z", "payload": {"version": 30, "tags": ["x", "y"]}}),
        json!({"id": "e3", "type": "sensors.reading.taken", "source": "/sensors/tn-1",
               "occurredAt": "2026-11-21T09:00:00Z", "payload": {"celsius": 21.5, "level": "warn"}}),
        json!({"id": "e4", "type": "sensors.reading.taken", "source": "/sensors/tn-2/probe",
               "occurredAt": "2026-11-21T09:30:00Z", "payload": {"celsius": -3}}),
        json!({"id": "e5", "type": "billing.invoice.failed", "source": "urn:svc:billing",
               "occurredAt": "2026-11-22T08:00:00Z", "correlationId": "c-2",
               "payload": {"amount": 10, "customer": {"name": "Ada Lovelace"}}}),
        json!({"id": "e6", "type": "billing.invoice.paid", "source": "urn:svc:billing",
               "occurredAt": "2026-11-22T08:05:00Z", "correlationId": "c-2",
               "metadata": {"severity": "critical"}, "payload": {"amount": 10}}),
        json!({"id": "e7", "type": "asset.produced", "source": "core.workflows",
               "occurredAt": "2026-11-22T09:00:00Z",
               "payload": {"assetId": "weather.daily", "workflowDefinitionId": "wf-alpha",
                           "datasetSlug": "weather"}}),
        json!({"id": "e8", "type": "jobs.run.debug", "source": "jobs.runner",
               "occurredAt": "2026-11-23T00:00:00Z", "payload": {"items": [{"qty": 7}, {"qty": 2}]}}),
        json!({"id": "e9", "type": "jobs.run.finished", "source": "jobs.runner",
               "occurredAt": "2026-11-23T00:00:01Z", "payload": {"status": "succeeded", "n": "10"}}),
    ]
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn events_are_listed_newest_first_and_every_filter_means_the_same_on_both_databases() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = TestEnv::new(db, mode).await.spawn().await;
        publish(&app, corpus()).await;

        // Act / Assert: one row per filter, with the ids it must return, newest first.
        let cases: &[(&str, &[&str])] = &[
            (
                "",
                &["e9", "e8", "e7", "e6", "e5", "e4", "e3", "e2", "e1", "e0"],
            ),
            ("type=metastore.record.updated", &["e1"]),
            ("type=metastore.record.*", &["e1", "e0"]),
            ("type=metastore.**", &["e2", "e1", "e0"]),
            ("type=*.reading.taken", &["e4", "e3"]),
            ("source=metastore.*", &["e2", "e1", "e0"]),
            ("source=/sensors/*", &["e3"]),
            ("source=/sensors/**", &["e4", "e3"]),
            ("source=urn:svc:billing", &["e6", "e5"]),
            ("correlationId=c-2", &["e6", "e5"]),
            (
                "from=2026-11-22&to=2026-11-22T09:00:00Z",
                &["e7", "e6", "e5"],
            ),
            (
                "from=2026-11-22T09:00:00%2B01:00",
                &["e9", "e8", "e7", "e6", "e5"],
            ),
            ("severity=critical", &["e6"]),
            ("severity=error,critical", &["e6", "e5"]),
            ("severity=warning", &["e3"]),
            ("severity=debug", &["e8"]),
            ("jsonPath=%24.version%20%3E%2010", &["e2", "e1"]),
            (
                "jsonPath=%24.version%20%3F%20(%40%20%3E%2010)",
                &["e2", "e1"],
            ),
            (
                "jsonPath=%24.items%5B*%5D.qty%20%3F%20(%40%20%3D%3D%207)",
                &["e8"],
            ),
            (
                "jsonPath=%24.customer.name%20like_regex%20%22%5Eada%22%20flag%20%22i%22",
                &["e5"],
            ),
            ("jsonPath=%24.n%20starts%20with%20%221%22", &["e9"]),
            ("jsonPath=exists(%24.tags%5B1%5D)", &["e2"]),
            ("jsonPath=%24.celsius", &["e4", "e3"]),
            ("jsonPath=%24.nothing", &[]),
            // A comparison that errors on one event (a string compared with a number) is no match there.
            ("jsonPath=%24.n%20%3E%205", &[]),
            (
                "type=metastore.**&source=metastore.api&jsonPath=%24.version%20%3C%205",
                &["e0"],
            ),
        ];
        for (query, expected) in cases {
            let (status, body) = list(&app, query).await;
            assert_eq!(status, 200, "{db:?} {query}: {body}");
            assert_eq!(ids(&body), *expected, "{db:?} {query}");
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_lax_path_looks_inside_arrays_and_descendants_on_both_databases() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = TestEnv::new(db, mode).await.spawn().await;
        let event = |id: &str, payload: Value| json!({"id": id, "type": "app.released", "source": "ci", "payload": payload});
        publish(
            &app,
            vec![
                event("both", json!({"version": [5, 12]})),
                event("fives", json!({"version": [5, 5]})),
                event("three", json!({"version": 3})),
                event("nested", json!({"items": [{"qty": 7, "tags": [["sale"]]}]})),
            ],
        )
        .await;

        // Act / Assert
        let cases: &[(&str, &[&str])] = &[
            ("$.version > 10", &["both"]),
            ("$.version == 12", &["both"]),
            ("$.version != 5", &["three", "both"]),
            ("$.version <> 5", &["three", "both"]),
            ("$.version < 6", &["three", "fives", "both"]),
            ("$.version > 10 || $.version == 3", &["three", "both"]),
            ("strict $.version > 10", &[]),
            ("$.** ? (@ == 7)", &["nested"]),
            ("$.** == \"sale\"", &["nested"]),
            ("$.**{2 to 3} ? (@ == 7)", &["nested"]),
        ];
        for (path, expected) in cases {
            let encoded: String = path.bytes().map(|b| format!("%{b:02X}")).collect();
            let query = format!("jsonPath={encoded}");
            let (status, body) = list(&app, &query).await;
            assert_eq!(status, 200, "{db:?} {path}: {body}");
            assert_eq!(ids(&body), *expected, "{db:?} {path}");
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn pages_follow_each_other_through_the_cursor_without_gaps_or_overlap() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = TestEnv::new(db, mode).await.spawn().await;
        publish(&app, corpus()).await;

        // Act: pages of 3, under a pattern filter so SQLite's row-by-row scan is paged too.
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut query = "limit=3&type=*.*.*".to_owned();
        loop {
            let (status, body) = list(&app, &query).await;
            assert_eq!(status, 200, "{body}");
            pages += 1;
            seen.extend(ids(&body));
            let page = &body["data"]["page"];
            assert_eq!(page["limit"], 3);
            match page["nextCursor"].as_str() {
                Some(cursor) => {
                    assert_eq!(page["hasMore"], true);
                    query = format!("limit=3&type=*.*.*&cursor={cursor}");
                }
                None => {
                    assert_eq!(page["hasMore"], false);
                    break;
                }
            }
        }

        // Assert: e2 (four segments) and e7 (two) are filtered out; the other eight come in order.
        assert_eq!(
            seen,
            ["e9", "e8", "e6", "e5", "e4", "e3", "e1", "e0"],
            "{db:?}"
        );
        assert_eq!(pages, 3, "{db:?}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_listed_event_carries_severity_links_derived_and_the_page_its_field_schema() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = TestEnv::new(db, mode).await.spawn().await;
        publish(&app, corpus()).await;

        // Act
        let (_, body) = list(&app, "type=asset.produced").await;
        let (_, failed) = list(&app, "type=billing.invoice.failed").await;
        let (_, all) = list(&app, "").await;

        // Assert
        let event = &body["data"]["events"][0];
        assert_eq!(event["severity"], "info");
        assert!(event["ingressSequence"].as_str().is_some());
        assert_eq!(
            event["links"],
            json!({"workflowDefinitionIds": ["wf-alpha"], "datasetSlugs": ["weather"],
                   "assetIds": ["weather.daily"]})
        );
        assert_eq!(event["derived"]["type"], "asset.produced");
        assert_eq!(event["derived"]["payload"]["assetId"], "weather.daily");
        assert_eq!(failed["data"]["events"][0]["severity"], "error");
        assert_eq!(failed["data"]["events"][0]["links"], json!({}));
        assert_eq!(failed["data"]["events"][0]["derived"], Value::Null);
        let schema = &all["schema"];
        assert_eq!(schema["totalSamples"], 10, "{db:?}");
        let field = |path: &str| {
            schema["fields"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["path"] == path)
                .unwrap_or_else(|| panic!("{path} not in {schema}"))
                .clone()
        };
        let version = field("version");
        assert_eq!(version["jsonPath"], "$.version");
        assert_eq!(version["occurrences"], 3);
        assert_eq!(version["types"], json!(["number"]));
        assert_eq!(field("items[*].qty")["jsonPath"], "$.items[*].qty");
        assert_eq!(field("customer.name")["examples"], json!(["Ada Lovelace"]));
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn every_malformed_query_parameter_is_a_400_naming_it() {
    for (db, mode) in DEPLOYMENTS {
        let app = TestEnv::new(db, mode).await.spawn().await;
        publish(&app, corpus()).await;
        let (_, first) = list(&app, "limit=2").await;
        let cursor = first["data"]["page"]["nextCursor"]
            .as_str()
            .unwrap()
            .to_owned();
        let cases = [
            ("limit=0", "invalid_parameter", "limit"),
            ("limit=201", "invalid_parameter", "limit"),
            ("limit=ten", "invalid_parameter", "limit"),
            ("limit=1.5", "invalid_parameter", "limit"),
            ("colour=red", "invalid_parameter", "colour"),
            ("type=a.b&type=c.d", "invalid_parameter", "type"),
            ("from=yesterday", "invalid_parameter", "from"),
            ("to=2026-13-01", "invalid_parameter", "to"),
            ("from=2026-11-23&to=2026-11-22", "invalid_parameter", "from"),
            ("type=meta*", "invalid_pattern", "type"),
            ("type=metastore.**.updated", "invalid_pattern", "type"),
            ("source=/sensors/t*", "invalid_pattern", "source"),
            ("severity=loud", "invalid_parameter", "severity"),
            (
                "jsonPath=%24.a%20%3D%3D%3D%201",
                "invalid_json_path",
                "jsonPath",
            ),
            (
                "jsonPath=%24.a%20like_regex%20%22(%22",
                "invalid_json_path",
                "jsonPath",
            ),
            ("jsonPath=%24.a.datetime()", "invalid_json_path", "jsonPath"),
            ("cursor=garbage", "invalid_cursor", "cursor"),
        ];
        for (query, code, parameter) in cases {
            let (status, body) = list(&app, query).await;
            assert_eq!(status, 400, "{db:?} {query}: {body}");
            assert_eq!(body["error"]["code"], code, "{db:?} {query}: {body}");
            assert_eq!(
                body["error"]["details"]["parameter"], parameter,
                "{db:?} {query}: {body}"
            );
            assert!(body["error"]["message"].as_str().unwrap().len() > 10);
        }
        // A cursor is bound to its filters and cannot be edited.
        let (status, body) = list(&app, &format!("limit=2&type=a.b&cursor={cursor}")).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("invalid_cursor"))
        );
        let mut tampered = cursor.clone();
        tampered.replace_range(2..3, if &cursor[2..3] == "A" { "B" } else { "A" });
        let (status, body) = list(&app, &format!("limit=2&cursor={tampered}")).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("invalid_cursor"))
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn stats_count_by_bucket_type_and_source_and_fill_empty_buckets() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let app = TestEnv::new(db, mode).await.spawn().await;
        publish(&app, corpus()).await;

        // Act
        let response = app
            .get(
                "/admin/events/stats?from=2026-11-22T08:00:00Z&to=2026-11-22T10:59:59Z&bucket=hour",
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();

        // Assert
        let data = &body["data"];
        assert_eq!(data["total"], 3, "{db:?} {body}");
        assert_eq!(
            data["perBucket"],
            json!([
                {"at": "2026-11-22T08:00:00.000Z", "count": 2},
                {"at": "2026-11-22T09:00:00.000Z", "count": 1},
                {"at": "2026-11-22T10:00:00.000Z", "count": 0},
            ]),
            "{db:?}"
        );
        assert_eq!(
            data["byType"],
            json!({"billing.invoice.failed": 1, "billing.invoice.paid": 1, "asset.produced": 1})
        );
        assert_eq!(
            data["bySource"],
            json!({"urn:svc:billing": 2, "core.workflows": 1})
        );
        assert_eq!(data["eventsPerMinute"], json!(0.02));

        let minutes: Value = app
            .get("/admin/events/stats?from=2026-11-22T08:00:00Z&to=2026-11-22T08:09:00Z")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(minutes["data"]["bucket"], "minute");
        assert_eq!(minutes["data"]["perBucket"].as_array().unwrap().len(), 10);
        assert_eq!(minutes["data"]["perBucket"][5]["count"], 1);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_event_a_millisecond_before_the_hour_counts_in_the_bucket_it_happened_in() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange: one event at the last millisecond of 10:59, one at the first of 11:00.
        let app = TestEnv::new(db, mode).await.spawn().await;
        publish(
            &app,
            vec![
                json!({"id": "late", "type": "clock.tick", "source": "clock",
                       "occurredAt": "2026-11-22T10:59:59.999Z", "payload": {}}),
                json!({"id": "sharp", "type": "clock.tick", "source": "clock",
                       "occurredAt": "2026-11-22T11:00:00.000Z", "payload": {}}),
            ],
        )
        .await;

        for (query, expected) in [
            (
                "from=2026-11-22T10:00:00Z&to=2026-11-22T11:59:59Z&bucket=hour",
                json!([
                    {"at": "2026-11-22T10:00:00.000Z", "count": 1},
                    {"at": "2026-11-22T11:00:00.000Z", "count": 1},
                ]),
            ),
            (
                "from=2026-11-22T10:59:00Z&to=2026-11-22T11:00:59Z&bucket=minute",
                json!([
                    {"at": "2026-11-22T10:59:00.000Z", "count": 1},
                    {"at": "2026-11-22T11:00:00.000Z", "count": 1},
                ]),
            ),
        ] {
            // Act
            let response = app.get(&format!("/admin/events/stats?{query}")).await;
            assert_eq!(response.status(), 200, "{db:?} {query}");
            let body: Value = response.json().await.unwrap();

            // Assert
            assert_eq!(body["data"]["total"], 2, "{db:?} {query}: {body}");
            assert_eq!(body["data"]["perBucket"], expected, "{db:?} {query}");
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn stats_refuse_an_unknown_bucket_and_spans_over_seven_days() {
    let app = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;
    for (query, parameter) in [
        ("bucket=day", "bucket"),
        ("from=2026-11-01&to=2026-11-09", "from"),
        ("from=2026-11-09&to=2026-11-01", "from"),
        ("window=1h", "window"),
    ] {
        let response = app.get(&format!("/admin/events/stats?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["details"]["parameter"], parameter, "{query}");
    }
    // The default is the last hour, in minutes.
    let body: Value = app.get("/admin/events/stats").await.json().await.unwrap();
    assert_eq!(body["data"]["bucket"], "minute");
    assert!(body["data"]["perBucket"].as_array().unwrap().len() >= 60);
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_timeline_lists_a_correlation_ids_events_in_time_order() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange: published newest first, so time order differs from arrival order.
        let app = TestEnv::new(db, mode).await.spawn().await;
        let mut events = corpus();
        events.reverse();
        publish(&app, events).await;

        // Act
        let body: Value = app
            .get("/admin/events/timeline?correlationId=c-2")
            .await
            .json()
            .await
            .unwrap();

        // Assert
        let items = body["data"]["items"].as_array().unwrap();
        let order: Vec<_> = items.iter().map(|i| i["event"]["id"].clone()).collect();
        assert_eq!(order, [json!("e5"), json!("e6")], "{db:?}");
        assert_eq!(items[0]["kind"], "event");
        assert_eq!(items[0]["at"], "2026-11-22T08:00:00.000Z");
        assert_eq!(body["data"]["truncated"], false);
        assert_eq!(items[0]["parent"], Value::Null, "{db:?}: no cause named");

        // A caused event links to its cause when the cause is in the timeline; a cause elsewhere is no link.
        publish(
            &app,
            vec![
                json!({"id": "cause-2", "type": "t.caused", "source": "s", "correlationId": "c-cause",
                    "causationId": "cause-1", "occurredAt": "2026-11-22T08:00:01.000Z"}),
                json!({"id": "cause-1", "type": "t.root", "source": "s", "correlationId": "c-cause",
                    "occurredAt": "2026-11-22T08:00:00.000Z"}),
                json!({"id": "cause-3", "type": "t.caused", "source": "s", "correlationId": "c-cause",
                    "causationId": "elsewhere", "occurredAt": "2026-11-22T08:00:02.000Z"}),
            ],
        )
        .await;
        // `publish` waits for a count the corpus already passes: wait for these three themselves.
        let body = eventually_some("the three caused events in the timeline", || async {
            let body: Value = app
                .get("/admin/events/timeline?correlationId=c-cause")
                .await
                .json()
                .await
                .unwrap();
            (body["data"]["items"].as_array().map(Vec::len) == Some(3)).then_some(body)
        })
        .await;
        let items = body["data"]["items"].as_array().unwrap();
        let links: Vec<(Value, Value)> = items
            .iter()
            .map(|i| (i["event"]["id"].clone(), i["parent"].clone()))
            .collect();
        assert_eq!(
            links,
            [
                (json!("cause-1"), Value::Null),
                (json!("cause-2"), json!({"kind": "event", "id": "cause-1"})),
                (json!("cause-3"), Value::Null),
            ],
            "{db:?}: {body}"
        );
        let response = app.get("/admin/events/timeline").await;
        assert_eq!(response.status(), 400);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_query_that_runs_past_the_timeout_is_a_503_query_timeout() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange: many events with arrays to search, written straight into the table (volume, not ingest, is
        // what this test is about), and the smallest timeout.
        let mut env = TestEnv::new(db, mode).await;
        env.set("HERALD_QUERY_TIMEOUT_MS", "100");
        let app = env.spawn().await;
        env.seed_bulk_events(60_000).await;

        // Act
        let (status, body) = list(
            &app,
            "jsonPath=%24.items%5B*%5D%20%3F%20(%40.name%20like_regex%20%22a.*b.*c.*d.*z%22)",
        )
        .await;

        // Assert
        assert_eq!(status, 503, "{db:?}: {body}");
        assert_eq!(body["error"]["code"], "query_timeout");
        // Herald is still fine.
        let (status, _) = list(&app, "limit=1").await;
        assert_eq!(status, 200);
    }
}
