//! Webhook deliveries against a real receiver: the body and its signature, every §5.3 outcome, attempts kept,
//! retry and redrive by hand.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{
    OPERATOR, assert_signed, call, create_webhook, deliveries, delivery, env, publish, spawn_on,
    wait_for,
};
use crate::helpers::{DEPLOYMENTS, Receiver, Reply, eventually};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_matching_event_is_posted_signed_and_recorded_delivered_and_others_filtered() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_on(&env(db, mode).await).await;
        let receiver = Receiver::start().await;
        let (trigger, secret) = create_webhook(
            &app,
            "shop.order.*",
            &receiver.url,
            json!({"eventSource": "shop.api",
                   "predicates": [{"path": "$.payload.total", "operator": "gt", "value": 10}],
                   "parameterTemplate": {"order": "{{ event.payload.order }}", "who": "{{ event.payload.by | upcase }}"}}),
        )
        .await;
        let id = trigger["id"].as_str().unwrap();
        let ids = publish(
            &app,
            vec![
                json!({"type": "shop.order.placed", "source": "shop.api", "payload": {"order": 7, "total": 99, "by": "ann"}}),
                json!({"type": "shop.order.placed", "source": "shop.api", "payload": {"order": 8, "total": 5, "by": "bob"}}),
                json!({"type": "shop.order.placed", "source": "other.api", "payload": {"order": 9, "total": 99}}),
                json!({"type": "shop.refund", "source": "shop.api", "payload": {"order": 7, "total": 99}}),
            ],
        )
        .await;
        let delivered = wait_for(&app, id, "delivered", 1).await;
        let filtered = wait_for(&app, id, "filtered", 1).await;
        assert_eq!(delivered[0]["eventId"], json!(ids[0]), "{db:?}/{mode:?}");
        assert_eq!(filtered[0]["eventId"], json!(ids[1]));
        assert_eq!(filtered[0]["filteredPredicate"], 0);
        assert_eq!(
            deliveries(&app, id, "").await.len(),
            2,
            "another source and another type get no outcome at all"
        );

        let requests = receiver.received();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_signed(request, &secret);
        assert_eq!(request.header("webhook-id"), delivered[0]["id"].as_str());
        let body = request.json();
        assert_eq!(body["event"]["id"], json!(ids[0]));
        assert_eq!(body["event"]["payload"]["order"], 7);
        assert!(body["event"]["ingressSequence"].is_string(), "{body}");
        assert_eq!(
            body["trigger"],
            json!({"id": id, "name": trigger["name"], "version": 1})
        );
        assert_eq!(body["deliveryId"], delivered[0]["id"]);
        assert_eq!(body["attempt"], 1);
        assert_eq!(body["parameters"], json!({"order": 7, "who": "ANN"}));

        let detail = delivery(&app, delivered[0]["id"].as_str().unwrap()).await;
        assert_eq!(detail["attempts"], 1);
        assert_eq!(detail["attemptLog"][0]["statusCode"], 200);
        assert_eq!(detail["attemptLog"][0]["outcome"], "delivered");
        assert!(detail["deliveredAt"].is_string());
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_failing_receiver_is_retried_until_it_answers_and_each_attempt_is_kept() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_on(&env(db, mode).await).await;
        let receiver = Receiver::start().await;
        receiver.script([Reply::Status(503, None), Reply::Status(429, Some(1))]);
        let (trigger, _) = create_webhook(&app, "job.done", &receiver.url, json!({})).await;
        let id = trigger["id"].as_str().unwrap();
        publish(&app, vec![json!({"type": "job.done", "source": "runner"})]).await;
        let delivered = wait_for(&app, id, "delivered", 1).await;
        let detail = delivery(&app, delivered[0]["id"].as_str().unwrap()).await;
        let log = detail["attemptLog"].as_array().unwrap();
        assert_eq!(log.len(), 3, "{detail}");
        assert_eq!(
            log.iter()
                .map(|a| a["statusCode"].clone())
                .collect::<Vec<_>>(),
            vec![json!(503), json!(429), json!(200)],
            "{db:?}/{mode:?}"
        );
        assert_eq!(log[0]["outcome"], "retryable");
        let after_429 = chrono::DateTime::parse_from_rfc3339(log[2]["startedAt"].as_str().unwrap())
            .unwrap()
            - chrono::DateTime::parse_from_rfc3339(log[1]["finishedAt"].as_str().unwrap()).unwrap();
        assert!(
            after_429 >= chrono::TimeDelta::milliseconds(950),
            "Retry-After: 1 is honoured over the 100 ms schedule: {after_429}"
        );
        let received = receiver.received();
        assert_eq!(received.len(), 3);
        assert!(
            received
                .iter()
                .all(|r| r.header("webhook-id") == delivered[0]["id"].as_str()),
            "every attempt carries the delivery id, so the receiver can dedupe"
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn refusals_redirects_timeouts_and_exhausted_retries_fail_and_can_be_retried_by_hand() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_on(&env(db, mode).await).await;
        let receiver = Receiver::start().await;
        receiver.script([
            Reply::Status(404, None),
            Reply::Redirect("http://127.0.0.1:9/elsewhere".into()),
        ]);
        let (trigger, _) = create_webhook(&app, "a.refused", &receiver.url, json!({})).await;
        let id = trigger["id"].as_str().unwrap();
        publish(&app, vec![json!({"type": "a.refused", "source": "s"})]).await;
        let first = wait_for(&app, id, "failed", 1).await;
        publish(&app, vec![json!({"type": "a.refused", "source": "s"})]).await;
        let both = wait_for(&app, id, "failed", 2).await;
        assert_eq!(
            receiver.received().len(),
            2,
            "a 4xx and a 3xx are not retried ({db:?}/{mode:?})"
        );
        let codes: Vec<_> = both.iter().map(|d| d["lastStatusCode"].clone()).collect();
        assert!(
            codes.contains(&json!(404)) && codes.contains(&json!(302)),
            "{codes:?}"
        );

        // A receiver that hangs past the 1 s timeout, three times: retried, then failed.
        receiver.script([
            Reply::Hang(Duration::from_millis(1500)),
            Reply::Hang(Duration::from_millis(1500)),
            Reply::Hang(Duration::from_millis(1500)),
        ]);
        let (slow, _) = create_webhook(&app, "a.slow", &receiver.url, json!({})).await;
        let slow_id = slow["id"].as_str().unwrap();
        publish(&app, vec![json!({"type": "a.slow", "source": "s"})]).await;
        let timed_out = wait_for(&app, slow_id, "failed", 1).await;
        let detail = delivery(&app, timed_out[0]["id"].as_str().unwrap()).await;
        assert_eq!(
            detail["attemptLog"].as_array().unwrap().len(),
            3,
            "{detail}"
        );
        assert_eq!(
            detail["attemptLog"][0]["statusCode"],
            serde_json::Value::Null
        );
        assert_eq!(detail["attemptLog"][0]["outcome"], "retryable");

        // Retry by hand: the receiver now answers 200.
        let failed_id = first[0]["id"].as_str().unwrap();
        let (status, retried) = call(
            &app,
            Method::POST,
            &format!("/admin/deliveries/{failed_id}/retry"),
            OPERATOR,
            None,
        )
        .await;
        assert_eq!(status, 200, "{retried}");
        eventually("the retried delivery to be delivered", || async {
            delivery(&app, failed_id).await["status"] == "delivered"
        })
        .await;
        let (status, again) = call(
            &app,
            Method::POST,
            &format!("/admin/deliveries/{failed_id}/retry"),
            OPERATOR,
            None,
        )
        .await;
        assert_eq!(status, 409, "{again}");
        assert_eq!(again["error"]["code"], "invalid_state");
        assert_eq!(again["error"]["details"]["status"], "delivered");

        // Bulk redrive of what is left failed: exactly once each.
        let (status, redriven) = call(
            &app,
            Method::POST,
            "/admin/deliveries/redrive",
            OPERATOR,
            Some(json!({"triggerId": id, "status": "failed"})),
        )
        .await;
        assert_eq!(status, 200, "{redriven}");
        assert_eq!(redriven["data"]["count"], 1);
        wait_for(&app, id, "delivered", 2).await;
        let hook_requests = receiver
            .accepted()
            .into_iter()
            .filter(|r| r.json()["trigger"]["id"] == json!(id))
            .count();
        assert_eq!(
            hook_requests, 2,
            "each failed delivery delivered once after the fix"
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn duplicate_keys_are_skipped_expired_events_are_not_delivered_and_cancel_stops_a_retry() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_on(&env(db, mode).await).await;
        let receiver = Receiver::start().await;
        let (trigger, _) = create_webhook(
            &app,
            "k.v",
            &receiver.url,
            json!({"idempotencyKey": "{{ event.payload.key }}"}),
        )
        .await;
        let id = trigger["id"].as_str().unwrap();
        let old = (chrono::Utc::now() - chrono::TimeDelta::seconds(10)).to_rfc3339();
        publish(
            &app,
            vec![
                json!({"type": "k.v", "source": "s", "payload": {"key": "a"}}),
                json!({"type": "k.v", "source": "s", "payload": {"key": "a"}}),
                json!({"type": "k.v", "source": "s", "payload": {"key": "b"}, "occurredAt": old, "ttl": 1000}),
            ],
        )
        .await;
        wait_for(&app, id, "delivered", 1).await;
        let skipped = wait_for(&app, id, "skipped", 1).await;
        assert_eq!(skipped[0]["idempotencyKey"], "a", "{db:?}/{mode:?}");
        wait_for(&app, id, "expired", 1).await;
        assert_eq!(receiver.received().len(), 1);

        // A delivery waiting for its next attempt can be cancelled.
        receiver.script([Reply::Status(500, None)]);
        let (slow, _) = create_webhook(
            &app,
            "k.slow",
            &receiver.url,
            json!({"retry": {"maxAttempts": 5, "initialDelayMs": 60000, "multiplier": 1, "maxDelayMs": 60000}}),
        )
        .await;
        let slow_id = slow["id"].as_str().unwrap();
        publish(&app, vec![json!({"type": "k.slow", "source": "s"})]).await;
        let retrying = wait_for(&app, slow_id, "retrying", 1).await;
        let delivery_id = retrying[0]["id"].as_str().unwrap();
        let (status, cancelled) = call(
            &app,
            Method::POST,
            &format!("/admin/deliveries/{delivery_id}/cancel"),
            OPERATOR,
            None,
        )
        .await;
        assert_eq!(status, 200, "{cancelled}");
        assert_eq!(cancelled["data"]["status"], "cancelled");
        assert_eq!(cancelled["data"]["attemptLog"][0]["statusCode"], 500);
    }
}
