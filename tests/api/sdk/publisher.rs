//! `EventPublisher` end to end: published events are stored as sent, a resend is a duplicate, refusals and a
//! transport that is down are typed errors, and the workflow context reaches the stored metadata.

use herald::auth::AccessPolicy;
use herald::publisher::{EventPublisher, PublishError, WorkflowContext, with_workflow_context};
use serde_json::json;

use super::{order, publishers};
use crate::helpers::{
    DEPLOYMENTS, Db, Mode, TestEnv, eventually, free_port, spawn_app, token_registry,
};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn every_transport_publishes_an_event_that_is_stored_once_even_when_sent_again() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_app(db, mode).await;
        for (n, (name, publisher)) in publishers(&app).await.into_iter().enumerate() {
            let case = format!("{db:?}/{mode:?} via {name}");
            let event = publisher.publish(order(n as u64)).await.expect(&case);
            let stored = app.stored_event(event.id.as_ref()).await;
            assert_eq!(stored["type"], "shop.order.created", "{case}");
            assert_eq!(stored["payload"], json!({"order": n}), "{case}");
            // A retry after a lost answer: the same envelope, the same id, stored once.
            publisher.send(&event).await.expect(&case);
        }
        let mut expected = publishers(&app).await.len() as i64;
        if mode == Mode::Redis {
            // The resends went onto the stream too: once a later entry is stored and nothing is pending, Herald
            // has read (and acked) every entry before it.
            let marker = publishers(&app).await.pop().unwrap().1;
            let marker = marker.publish(order(99)).await.unwrap();
            app.stored_event(marker.id.as_ref()).await;
            eventually("every stream entry to be acked", || async {
                app.pending_count().await == 0
            })
            .await;
            expected += 1;
        }
        assert_eq!(app.env.stored_count().await, expected, "{db:?}/{mode:?}");
        assert!(app.all_dead_letters("").await.is_empty(), "{db:?}/{mode:?}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_invalid_envelope_is_a_typed_error_before_any_io() {
    // Nothing listens on this port: a validation error proves no request was tried.
    let publisher =
        EventPublisher::http(&format!("http://127.0.0.1:{}", free_port()), None).unwrap();
    let error = publisher
        .publish(json!({"type": "notnamespaced", "source": "shop.api"}))
        .await
        .unwrap_err();
    match error {
        PublishError::Invalid(e) => assert_eq!(e.field.as_deref(), Some("type")),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_server_that_cannot_be_reached_is_a_transport_error_after_three_tries() {
    let publisher =
        EventPublisher::http(&format!("http://127.0.0.1:{}", free_port()), None).unwrap();
    match publisher.publish(order(1)).await.unwrap_err() {
        PublishError::Transport { attempts, .. } => assert_eq!(attempts, 3),
        other => panic!("expected a transport error, got {other:?}"),
    }
    let redis = EventPublisher::redis(&format!("redis://127.0.0.1:{}", free_port())).await;
    assert!(
        matches!(redis, Err(PublishError::Transport { .. })),
        "Redis down at start: {:?}",
        redis.err()
    );
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn refusals_are_typed_and_not_retried() {
    for (db, mode) in [(Db::Sqlite, Mode::Inline), (Db::Postgres, Mode::Redis)] {
        let env = TestEnv::new(db, mode).await;
        let app = env
            .spawn_with(
                AccessPolicy::Tokens(token_registry()),
                Some("t-admin".to_owned()),
            )
            .await;
        let put = app
            .client
            .put(format!(
                "{}/admin/event-schemas/shop.order.created",
                app.address
            ))
            .bearer_auth("t-admin")
            .json(&json!({"type": "object", "required": ["order"],
                          "properties": {"order": {"type": "integer"}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201);
        let mismatch = json!({"type": "shop.order.created", "source": "shop.api",
                              "payload": {"order": "seven"}});
        for (name, publisher) in [
            ("inline", app.publisher.clone().unwrap()),
            (
                "http",
                EventPublisher::http(&app.address, Some("t-events:publish")).unwrap(),
            ),
        ] {
            match publisher.publish(mismatch.clone()).await.unwrap_err() {
                PublishError::Refused { status, code, .. } => {
                    assert_eq!((status, code.as_str()), (400, "schema_mismatch"), "{name}")
                }
                other => panic!("{name}: expected a refusal, got {other:?}"),
            }
        }
        // The same id with other content: 409 id_conflict.
        let http = EventPublisher::http(&app.address, Some("t-events:publish")).unwrap();
        let first = http.publish(order(1)).await.unwrap();
        // Stored first: in redis mode a conflict with an event still on the stream shows only at persistence.
        app.stored_event(first.id.as_ref()).await;
        let mut other = order(2);
        other["id"] = json!(first.id.as_ref());
        match http.publish(other).await.unwrap_err() {
            PublishError::Refused { status, code, .. } => {
                assert_eq!((status, code.as_str()), (409, "id_conflict"))
            }
            other => panic!("expected id_conflict, got {other:?}"),
        }
        // A token without events:publish.
        let reader = EventPublisher::http(&app.address, Some("t-events:read")).unwrap();
        match reader.publish(order(3)).await.unwrap_err() {
            PublishError::Refused { status, code, .. } => {
                assert_eq!((status, code.as_str()), (403, "forbidden"))
            }
            other => panic!("expected forbidden, got {other:?}"),
        }
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn the_workflow_context_of_the_task_reaches_the_stored_event() {
    for (db, mode) in [(Db::Sqlite, Mode::Inline), (Db::Postgres, Mode::Redis)] {
        let app = spawn_app(db, mode).await;
        let context = WorkflowContext::parse(&json!({
            "workflowDefinitionId": "wf-orders", "workflowRunId": "run-9", "workflowRunStepId": "step-2",
            "jobRunId": "job-4", "jobSlug": "checkout", "ignored": "extra"
        }))
        .unwrap();
        for (name, publisher) in publishers(&app).await {
            let case = format!("{db:?}/{mode:?} via {name}");
            let event = with_workflow_context(context.clone(), publisher.publish(order(1)))
                .await
                .expect(&case);
            let stored = app.stored_event(event.id.as_ref()).await;
            assert_eq!(
                stored["metadata"]["__workflow"],
                context.to_json(),
                "{case}"
            );
            assert_eq!(
                stored["links"]["workflowDefinitionIds"],
                json!(["wf-orders"]),
                "{case}"
            );
            let outside = publisher.publish(order(2)).await.expect(&case);
            let stored = app.stored_event(outside.id.as_ref()).await;
            assert!(stored["metadata"].is_null(), "{case}: {stored}");
        }
    }
}
