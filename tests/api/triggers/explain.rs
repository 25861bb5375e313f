//! Explain (SPEC §5.9): each step with what it found and expected, the failing predicate named by index and path
//! for every operator family, the outcome the event got, the state steps (pause, throttle, idempotency key), a
//! draft event, and the errors. Explain never delivers and never changes state.

use reqwest::Method;
use serde_json::{Value, json};

use super::{OPERATOR, READER, call, create_webhook, deliveries, env, publish, spawn_on, wait_for};
use crate::helpers::{DEPLOYMENTS, Db, Mode, Receiver, TestApp};

async fn explain(app: &TestApp, trigger_id: &str, body: Value) -> (u16, Value) {
    call(
        app,
        Method::POST,
        &format!("/admin/triggers/{trigger_id}/explain"),
        READER,
        Some(body),
    )
    .await
}

fn step<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["data"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no {name} step in {answer}"))
}

fn predicate(answer: &Value, index: usize) -> &Value {
    answer["data"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step"] == "predicate" && s["index"] == index)
        .unwrap_or_else(|| panic!("no predicate {index} in {answer}"))
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn the_failing_predicate_is_named_with_what_it_found_and_expected_for_each_operator_family() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn_on(&env(db, mode).await).await;
        let receiver = Receiver::start().await;
        // One predicate per family; each event below fails exactly one of them.
        let (trigger, _) = create_webhook(
            &app,
            "shop.order.*",
            &receiver.url,
            json!({"predicates": [
                {"path": "$.payload.total", "operator": "gte", "value": 10},
                {"path": "$.payload.currency", "operator": "in", "values": ["EUR", "USD"]},
                {"path": "$.payload.sku", "operator": "regex", "value": "^SKU-[0-9]+$"},
                {"path": "$.payload.customer", "operator": "exists"},
                {"path": "$.payload.note", "operator": "contains", "value": "gift", "caseSensitive": false},
                {"path": "$", "operator": "matches", "value": "$.payload.priority >= 2 || $.payload.vip == true"},
                {"path": "$.payload.channel", "operator": "equals", "value": "web"}]}),
        )
        .await;
        let id = trigger["id"].as_str().unwrap();
        let good = json!({"total": 50, "currency": "EUR", "sku": "SKU-1", "customer": "c1",
            "note": "A GIFT for you", "priority": 3, "channel": "web"});
        let with = |key: &str, value: Value| {
            let mut payload = good.clone();
            if value.is_null() {
                payload.as_object_mut().unwrap().remove(key);
            } else {
                payload[key] = value;
            }
            json!({"type": "shop.order.placed", "source": "shop", "payload": payload})
        };
        let cases: Vec<(usize, Value, Value, Value)> = vec![
            (0, with("total", json!(5)), json!([5]), json!(10)),
            (
                1,
                with("currency", json!("GBP")),
                json!(["GBP"]),
                json!(["EUR", "USD"]),
            ),
            (
                2,
                with("sku", json!("X-1")),
                json!(["X-1"]),
                json!("^SKU-[0-9]+$"),
            ),
            (3, with("customer", Value::Null), json!([]), Value::Null),
            (
                4,
                with("note", json!("none")),
                json!(["none"]),
                json!("gift"),
            ),
            (
                5,
                with("priority", json!(1)),
                Value::Null,
                json!("$.payload.priority >= 2 || $.payload.vip == true"),
            ),
            (
                6,
                with("channel", json!("app")),
                json!(["app"]),
                json!("web"),
            ),
        ];
        let ids = publish(&app, cases.iter().map(|c| c.1.clone()).collect()).await;
        wait_for(&app, id, "filtered", cases.len()).await;
        for ((index, _, found, expected), event_id) in cases.iter().zip(&ids) {
            let (status, answer) = explain(&app, id, json!({"eventId": event_id})).await;
            assert_eq!(status, 200, "{answer}");
            let data = &answer["data"];
            assert_eq!(data["wouldDeliver"], false, "{db:?}/{mode:?}: {answer}");
            assert_eq!(data["failedStep"]["step"], "predicate");
            assert_eq!(data["failedStep"]["index"], *index, "{answer}");
            let failed = predicate(&answer, *index);
            assert_eq!(failed["passed"], false);
            assert_eq!(failed["expected"], *expected, "predicate {index}: {answer}");
            if !found.is_null() {
                assert_eq!(failed["found"], *found, "predicate {index}: {answer}");
            }
            assert!(failed["path"].is_string() && failed["operator"].is_string());
            // Only that one failed; type and source passed.
            let failures: Vec<&Value> = data["steps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["passed"] == false)
                .collect();
            assert_eq!(failures.len(), 1, "{answer}");
            assert_eq!(step(&answer, "type")["found"], "shop.order.placed");
            // The outcome the event actually got: filtered by the same predicate.
            assert_eq!(data["outcome"]["status"], "filtered");
            assert_eq!(data["outcome"]["filteredPredicate"], *index);
            assert_eq!(data["outcome"]["eventId"], json!(event_id));
        }
        assert!(receiver.received().is_empty(), "explain never delivers");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_event_of_another_type_is_an_answer_whose_type_step_failed_and_explain_changes_nothing()
{
    for (db, mode) in [(Db::Sqlite, Mode::Inline), (Db::Postgres, Mode::Redis)] {
        let app = spawn_on(&env(db, mode).await).await;
        let receiver = Receiver::start().await;
        let (trigger, _) = create_webhook(
            &app,
            "shop.order.*",
            &receiver.url,
            json!({"eventSource": "shop"}),
        )
        .await;
        let id = trigger["id"].as_str().unwrap();
        let other = publish(
            &app,
            vec![json!({"type": "crm.user.created", "source": "crm", "payload": {}})],
        )
        .await;
        let matching = publish(
            &app,
            vec![json!({"type": "shop.order.paid", "source": "shop", "payload": {"n": 1}})],
        )
        .await;
        wait_for(&app, id, "delivered", 1).await;

        let (status, answer) = explain(&app, id, json!({"eventId": other[0]})).await;
        assert_eq!(status, 200, "{answer}");
        let ty = step(&answer, "type");
        assert_eq!(
            (&ty["passed"], &ty["found"], &ty["expected"]),
            (
                &json!(false),
                &json!("crm.user.created"),
                &json!("shop.order.*")
            )
        );
        assert_eq!(step(&answer, "source")["passed"], false);
        assert_eq!(answer["data"]["failedStep"]["step"], "type");
        assert_eq!(
            answer["data"]["outcome"],
            Value::Null,
            "no outcome is recorded for another type"
        );

        // A delivered event: every step passes and its outcome is the delivery.
        let (_, answer) = explain(&app, id, json!({"eventId": matching[0]})).await;
        assert_eq!(answer["data"]["wouldDeliver"], true, "{answer}");
        assert_eq!(answer["data"]["outcome"]["status"], "delivered");
        assert_eq!(answer["data"]["trigger"]["id"], id);

        // A draft that matches is explained, not delivered and not stored.
        let before = deliveries(&app, id, "").await.len();
        let (status, answer) = explain(
            &app,
            id,
            json!({"event": {"type": "shop.order.paid", "source": "shop", "payload": {"n": 2}}}),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["data"]["wouldDeliver"], true);
        assert_eq!(answer["data"]["outcome"], Value::Null);
        assert_eq!(deliveries(&app, id, "").await.len(), before);
        assert_eq!(
            receiver.received().len(),
            1,
            "only the published event was delivered"
        );
        let draft_id = answer["data"]["eventId"].as_str().unwrap();
        let (status, _) = call(
            &app,
            Method::GET,
            &format!("/admin/events/{draft_id}"),
            super::WRITER,
            None,
        )
        .await;
        assert_eq!(status, 404, "a draft is never stored");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn pause_throttle_ttl_and_a_used_idempotency_key_each_fail_their_step() {
    let app = spawn_on(&env(Db::Postgres, Mode::Inline).await).await;
    let receiver = Receiver::start().await;
    let (trigger, _) = create_webhook(
        &app,
        "shop.order.paid",
        &receiver.url,
        json!({"throttle": {"windowMs": 3_600_000, "count": 1},
               "idempotencyKey": "{{ event.payload.order }}"}),
    )
    .await;
    let id = trigger["id"].as_str().unwrap();
    let first = publish(
        &app,
        vec![json!({"type": "shop.order.paid", "source": "shop", "payload": {"order": 7}})],
    )
    .await;
    wait_for(&app, id, "delivered", 1).await;

    // Same key, another event: the key step fails naming the event that used it; the throttle window (1 per
    // hour) is full after that delivery.
    let draft =
        json!({"event": {"type": "shop.order.paid", "source": "shop", "payload": {"order": 7}}});
    let (status, answer) = explain(&app, id, draft.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let key = step(&answer, "idempotency");
    assert_eq!(
        (&key["passed"], &key["found"]),
        (&json!(false), &json!("7")),
        "{answer}"
    );
    assert!(
        key["detail"].as_str().unwrap().contains(first[0].as_str()),
        "{answer}"
    );
    let throttle = step(&answer, "throttle");
    assert_eq!(throttle["passed"], false, "{answer}");
    assert_eq!(throttle["found"]["startedInWindow"], 1);
    assert_eq!(
        throttle["expected"],
        json!({"windowMs": 3_600_000, "count": 1})
    );
    assert_eq!(step(&answer, "pause")["passed"], true);

    // The delivered event itself: its own key is not "used by another".
    let (_, answer) = explain(&app, id, json!({"eventId": first[0]})).await;
    assert_eq!(step(&answer, "idempotency")["passed"], true, "{answer}");

    // An expired draft fails the ttl step.
    let (_, answer) = explain(
        &app,
        id,
        json!({"event": {"type": "shop.order.paid", "source": "shop", "payload": {"order": 8},
                          "occurredAt": "2020-01-01T00:00:00Z", "ttl": 1000}}),
    )
    .await;
    assert_eq!(step(&answer, "ttl")["passed"], false, "{answer}");

    // On-call pause: the pause step fails with the reason.
    let (status, paused) = call(
        &app,
        Method::POST,
        &format!("/admin/triggers/{id}/pause"),
        OPERATOR,
        Some(json!({"reason": "receiver deploy"})),
    )
    .await;
    assert_eq!(status, 200, "{paused}");
    let (_, answer) = explain(&app, id, draft).await;
    let pause = step(&answer, "pause");
    assert_eq!(
        (&pause["passed"], &pause["found"]),
        (&json!(false), &json!("paused")),
        "{answer}"
    );
    assert!(
        pause["detail"]
            .as_str()
            .unwrap()
            .contains("receiver deploy")
    );
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn bad_requests_are_refused_naming_what_is_wrong() {
    let app = spawn_on(&env(Db::Sqlite, Mode::Inline).await).await;
    let (trigger, _) = create_webhook(&app, "a.b", "http://127.0.0.1:9/", json!({})).await;
    let id = trigger["id"].as_str().unwrap();
    let cases = [
        (json!({}), 400, "eventId"),
        (json!({"eventId": "x", "event": {}}), 400, "event"),
        (json!({"event": {"source": "s"}}), 400, "event.type"),
        (json!({"eventId": 5}), 400, "eventId"),
        (json!({"eventID": "x"}), 400, "eventID"),
    ];
    for (body, status, field) in cases {
        let (got, answer) = explain(&app, id, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(
            answer["error"]["details"]["field"], field,
            "{body}: {answer}"
        );
    }
    let (status, answer) = explain(&app, id, json!({"eventId": "01JDOESNOTEXIST0000000000"})).await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = explain(&app, "no-such-trigger", json!({"eventId": "x"})).await;
    assert_eq!(status, 404, "{answer}");
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/admin/triggers/{id}/explain"),
        "not-a-token",
        Some(json!({"eventId": "x"})),
    )
    .await;
    assert_eq!(status, 401);
}
