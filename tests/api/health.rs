//! Event and queue health (SPEC §6.9): what an operator reads to see what the pipeline is doing.

use serde_json::{Value, json};

use crate::helpers::{DEPLOYMENTS, Mode, TestEnv, eventually_some};

/// A valid envelope of `source`.
fn event(id: &str, source: &str) -> Value {
    json!({ "id": id, "type": "test.health.checked", "source": source })
}

/// Asserts the SPEC `Q` shape: `{mode, depth, pending, oldestPendingAgeMs, consumers}` with numbers.
fn assert_queue_shape(q: &Value, mode: &str, case: &str) {
    assert_eq!(q["mode"], mode, "{case}: {q}");
    for key in ["depth", "pending", "consumers"] {
        assert!(q[key].is_u64(), "{case}: {key} in {q}");
    }
    assert!(
        q["oldestPendingAgeMs"].is_null() || q["oldestPendingAgeMs"].is_u64(),
        "{case}: {q}"
    );
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn event_health_shows_queues_source_metrics_a_manual_pause_and_the_configured_rate_limits() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange
        let case = format!("{db:?}/{mode:?}");
        let mut env = TestEnv::new(db, mode).await;
        env.set(
            "EVENT_SOURCE_RATE_LIMITS",
            r#"[{"source":"metastore.api","limit":200,"intervalMs":60000},{"source":"*","limit":1000,"intervalMs":1000,"pauseMs":5000}]"#,
        );
        let app = env.spawn().await;
        app.publish_ok(&[event("h-1", "health.api"), event("h-2", "health.api")])
            .await;
        let pause = app
            .pause_source(&json!({ "source": "/sensors/tn-1", "reason": "noisy sensor", "durationMs": 60000 }))
            .await;
        assert_eq!(pause.status(), 200, "{case}");

        // Act
        let health = eventually_some("the source's counters in event health", || async {
            let health = app.event_health().await;
            let counted = health["sources"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|s| s["source"] == "health.api" && s["total"] == 2)
            });
            counted.then_some(health)
        })
        .await;

        // Assert
        let mode_name = if mode == Mode::Redis {
            "redis"
        } else {
            "inline"
        };
        assert_eq!(health["mode"], mode_name, "{case}");
        assert!(
            health["generatedAt"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{case}"
        );
        assert_queue_shape(&health["queues"]["ingress"], mode_name, &case);
        assert!(
            health["queues"]["ingress"]["consumers"].as_u64() >= Some(1),
            "{case}: {health}"
        );
        assert_eq!(
            health["queues"]["triggers"],
            json!({ "mode": mode_name, "depth": 0, "pending": 0, "oldestPendingAgeMs": null, "consumers": 1 }),
            "{case}: nothing to deliver, and this instance holds the delivery lease"
        );
        let source = health["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == "health.api")
            .unwrap()
            .clone();
        for key in [
            "total",
            "throttled",
            "failures",
            "dropped",
            "lagMs",
            "lastEventAt",
            "backlog",
        ] {
            assert!(source.get(key).is_some(), "{case}: {key} in {source}");
        }
        assert_eq!(
            (&source["throttled"], &source["backlog"]),
            (&json!(0), &json!(0)),
            "{case}"
        );
        assert!(source["lagMs"]["max"].is_i64(), "{case}: {source}");
        let paused = &health["pausedSources"];
        assert_eq!(paused.as_array().map(Vec::len), Some(1), "{case}: {paused}");
        assert_eq!(paused[0]["source"], "/sensors/tn-1", "{case}");
        assert_eq!(paused[0]["reason"], "noisy sensor", "{case}");
        assert_eq!(paused[0]["actor"], "anonymous", "{case}");
        assert!(paused[0]["until"].is_string(), "{case}: {paused}");
        assert_eq!(
            health["rateLimits"],
            json!([
                { "source": "metastore.api", "limit": 200, "intervalMs": 60000, "pauseMs": 60000 },
                { "source": "*", "limit": 1000, "intervalMs": 1000, "pauseMs": 5000 },
            ]),
            "{case}"
        );
        assert_eq!(health["triggers"], json!([]), "{case}");
        assert_eq!(health["pausedTriggers"], json!([]), "{case}");
        assert_eq!(
            health["retries"]["deliveries"],
            json!({ "total": 0, "overdue": 0, "nextAttemptAt": null }),
            "{case}"
        );
        assert_eq!(health["retries"]["ingress"]["total"], 0, "{case}");
        if mode == Mode::Redis {
            app.delete_stream().await;
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn queue_health_lists_the_ingress_queue_and_the_deferral_backlog_with_depth_and_latency() {
    for (db, mode) in DEPLOYMENTS {
        // Arrange: one evaluation a minute, so two of three events are deferred behind an automatic pause.
        let case = format!("{db:?}/{mode:?}");
        let mut env = TestEnv::new(db, mode).await;
        env.set(
            "EVENT_SOURCE_RATE_LIMITS",
            r#"[{"source":"noisy.api","limit":1,"intervalMs":60000}]"#,
        );
        let app = env.spawn().await;
        app.publish_ok(&[
            event("q-1", "noisy.api"),
            event("q-2", "noisy.api"),
            event("q-3", "noisy.api"),
        ])
        .await;

        // Act
        let queues = eventually_some("two deferred evaluations in queue health", || async {
            let health = app.queue_health().await;
            (health["queues"][1]["depth"] == 2).then_some(health)
        })
        .await;
        let health = app.event_health().await;

        // Assert
        let mode_name = if mode == Mode::Redis {
            "redis"
        } else {
            "inline"
        };
        assert_eq!(queues["mode"], mode_name, "{case}");
        let ingress = &queues["queues"][0];
        assert_eq!(ingress["name"], "ingress", "{case}: {queues}");
        assert_queue_shape(ingress, mode_name, &case);
        if mode == Mode::Redis {
            assert_eq!(ingress["kind"], "redis_stream", "{case}");
            assert_eq!(ingress["stream"], app.env.stream.as_str(), "{case}");
            assert_eq!(ingress["group"], app.env.group.as_str(), "{case}");
            assert!(ingress["length"].as_u64() >= Some(3), "{case}: {ingress}");
        } else {
            assert_eq!(ingress["kind"], "in_process", "{case}");
        }
        let deferrals = &queues["queues"][1];
        assert_eq!(deferrals["name"], "source_deferrals", "{case}");
        assert!(
            deferrals["oldestPendingAgeMs"].is_u64(),
            "{case}: {deferrals}"
        );
        let retries = &health["retries"]["ingress"];
        assert_eq!(retries["total"], 2, "{case}: {retries}");
        assert_eq!(
            retries["overdue"], 0,
            "{case}: the source is still paused: {retries}"
        );
        assert!(retries["nextAttemptAt"].is_string(), "{case}: {retries}");
        assert_eq!(health["pausedSources"][0]["actor"], "herald", "{case}");
        if mode == Mode::Redis {
            app.delete_stream().await;
        }
    }
}
