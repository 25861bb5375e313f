//! Apply counts and analytics over the last 15 minutes of matching events.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use super::{ALICE, BOB, call, create, publish, spawn};
use crate::helpers::DEPLOYMENTS;

fn ago(minutes: i64) -> String {
    (Utc::now() - TimeDelta::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn event(id: &str, event_type: &str, occurred_at: &str, payload: Value) -> Value {
    json!({"id": id, "type": event_type, "source": "billing.api", "occurredAt": occurred_at, "payload": payload})
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("a timestamp"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn analytics_count_matching_events_of_the_last_15_minutes_and_their_errors() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn(db, mode).await;
        publish(
            &app,
            vec![
                // In the window and matching: error, info, critical, info.
                event("in-1", "billing.invoice.failed", &ago(1), json!({})),
                event("in-2", "billing.invoice.paid", &ago(2), json!({})),
                event(
                    "in-3",
                    "billing.invoice.paid",
                    &ago(5),
                    json!({"severity": "critical"}),
                ),
                event("in-4", "billing.invoice.paid", &ago(14), json!({})),
                // Matching, outside the window.
                event("old-1", "billing.invoice.failed", &ago(30), json!({})),
                event("old-2", "billing.invoice.failed", &ago(24 * 60), json!({})),
                // In the window, not matching.
                event("other-1", "shipping.parcel.failed", &ago(1), json!({})),
            ],
        )
        .await;
        let view = create(
            &app,
            ALICE,
            json!({"name": "Invoices", "filters": {"type": "billing.invoice.*"}}),
        )
        .await;
        assert_eq!(
            view["analytics"],
            json!({"windowSeconds": 900, "eventsPerMinute": 0.27, "errorRatio": 0.5, "totalEvents": 4,
                   "sampledCount": 4, "sampleLimit": 2000, "truncated": false}),
            "{db:?}/{mode:?}"
        );
        let (_, got) = call(
            &app,
            Method::GET,
            "/admin/saved-views/invoices",
            ALICE,
            None,
        )
        .await;
        assert_eq!(got["data"]["analytics"], view["analytics"]);

        let critical = create(
            &app,
            ALICE,
            json!({"name": "Critical", "filters": {"type": "billing.**", "severity": "critical"}}),
        )
        .await;
        assert_eq!(critical["analytics"]["totalEvents"], 1, "{db:?}/{mode:?}");
        assert_eq!(critical["analytics"]["errorRatio"], 1.0);

        let paid = create(
            &app,
            ALICE,
            json!({"name": "Paid", "filters": {"type": "billing.invoice.paid", "jsonPath": "$.severity == \"critical\""}}),
        )
        .await;
        assert_eq!(
            paid["analytics"]["totalEvents"], 1,
            "{db:?}/{mode:?}: {paid}"
        );

        // A view whose own time range ended before the window counts nothing.
        let past = create(
            &app,
            ALICE,
            json!({"name": "Yesterday", "filters": {"to": ago(24 * 60 - 1)}}),
        )
        .await;
        assert_eq!(
            (
                past["analytics"]["totalEvents"].clone(),
                past["analytics"]["errorRatio"].clone()
            ),
            (json!(0), json!(0.0))
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn apply_counts_every_use_and_answers_the_view_with_its_analytics() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn(db, mode).await;
        publish(
            &app,
            vec![event("e-1", "billing.invoice.failed", &ago(1), json!({}))],
        )
        .await;
        create(
            &app,
            ALICE,
            json!({"name": "Failures", "filters": {"type": "billing.invoice.failed"}}),
        )
        .await;

        let before = Utc::now() - TimeDelta::milliseconds(1);
        let (status, first) = call(
            &app,
            Method::POST,
            "/admin/saved-views/failures/apply",
            ALICE,
            None,
        )
        .await;
        assert_eq!(status, 200, "{db:?}/{mode:?}: {first}");
        assert_eq!(first["data"]["appliedCount"], 1);
        let first_at = time(&first["data"]["lastAppliedAt"]);
        assert!(first_at >= before && first_at <= Utc::now(), "{first_at}");
        assert_eq!(first["data"]["analytics"]["totalEvents"], 1);
        assert_eq!(first["data"]["analytics"]["errorRatio"], 1.0);

        let (_, second) = call(
            &app,
            Method::POST,
            "/admin/saved-views/failures/apply",
            ALICE,
            None,
        )
        .await;
        assert_eq!(second["data"]["appliedCount"], 2);
        assert!(time(&second["data"]["lastAppliedAt"]) >= first_at);
        assert_eq!(
            second["data"]["updatedAt"], first["data"]["updatedAt"],
            "applying is not a change of the view"
        );

        // Anyone who can see it may apply it once it is shared; the count is the view's.
        let (status, _) = call(
            &app,
            Method::POST,
            "/admin/saved-views/failures/apply",
            BOB,
            None,
        )
        .await;
        assert_eq!(status, 404);
        call(
            &app,
            Method::POST,
            "/admin/saved-views/failures/share",
            ALICE,
            None,
        )
        .await;
        let (status, bobs) = call(
            &app,
            Method::POST,
            "/admin/saved-views/failures/apply",
            BOB,
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(bobs["data"]["appliedCount"], 3);
        let (_, got) = call(
            &app,
            Method::GET,
            "/admin/saved-views/failures",
            ALICE,
            None,
        )
        .await;
        assert_eq!(got["data"]["appliedCount"], 3);
        assert_eq!(got["data"]["lastAppliedAt"], bobs["data"]["lastAppliedAt"]);
    }
}
