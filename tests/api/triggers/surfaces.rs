//! Where operators see triggers at work: the WebSocket frames (`trigger.paused`, `trigger.resumed`,
//! `delivery.failed`, `workflow.run.requested`), the event detail and timeline, and event health; and the
//! workflow target's run request on its Redis stream.

use fred::interfaces::{KeysInterface, StreamsInterface};
use reqwest::Method;
use serde_json::{Value, json};

use super::{OPERATOR, WRITER, call, create_webhook, env, publish, spawn_on, wait_for};
use crate::helpers::{Db, Mode, Receiver, Reply};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn operators_see_trigger_frames_the_events_deliveries_and_trigger_health() {
    for (db, mode) in [(Db::Sqlite, Mode::Inline), (Db::Postgres, Mode::Redis)] {
        let mut app = spawn_on(&env(db, mode).await).await;
        app.token = Some(WRITER.into());
        let mut ws = app.ws_connect().await;
        let receiver = Receiver::start().await;
        receiver.script([Reply::Status(404, None)]);
        let (trigger, _) = create_webhook(&app, "surf.e", &receiver.url, json!({})).await;
        let id = trigger["id"].as_str().unwrap();
        let ids = publish(
            &app,
            vec![json!({"type": "surf.e", "source": "s", "correlationId": "corr-1"})],
        )
        .await;
        let failed = ws.next_of_type("delivery.failed").await;
        assert_eq!(failed["data"]["triggerId"], json!(id), "{db:?}/{mode:?}");
        assert_eq!(failed["data"]["delivery"]["status"], "failed");
        assert_eq!(failed["data"]["delivery"]["lastStatusCode"], 404);

        let (status, detail) = call(
            &app,
            Method::GET,
            &format!("/admin/events/{}", ids[0]),
            WRITER,
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            detail["data"]["deliveries"].as_array().unwrap().len(),
            1,
            "{detail}"
        );
        assert_eq!(detail["data"]["deliveries"][0]["status"], "failed");

        let (_, timeline) = call(
            &app,
            Method::GET,
            "/admin/events/timeline?correlationId=corr-1",
            WRITER,
            None,
        )
        .await;
        let kinds: Vec<Value> = timeline["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["kind"].clone())
            .collect();
        assert_eq!(
            kinds,
            vec![json!("event"), json!("delivery"), json!("attempt")],
            "{timeline}"
        );
        assert_eq!(timeline["data"]["items"][2]["attempt"]["statusCode"], 404);
        let items = &timeline["data"]["items"];
        assert_eq!(
            items[0]["parent"],
            Value::Null,
            "the root event: {timeline}"
        );
        assert_eq!(
            items[1]["parent"],
            json!({"kind": "event", "id": ids[0]}),
            "a delivery links to its event"
        );
        assert_eq!(
            items[2]["parent"],
            json!({"kind": "delivery", "id": items[1]["delivery"]["id"]}),
            "an attempt links to its delivery"
        );

        let (_, paused) = call(
            &app,
            Method::POST,
            &format!("/admin/triggers/{id}/pause"),
            OPERATOR,
            Some(json!({"reason": "receiver down", "durationMs": 600000})),
        )
        .await;
        assert_eq!(paused["data"]["state"], "paused");
        let frame = ws.next_of_type("trigger.paused").await;
        assert_eq!(frame["data"]["change"]["reason"], "receiver down");
        assert_eq!(frame["data"]["change"]["actor"], "oncall");

        let (status, health) = call(&app, Method::GET, "/admin/event-health", WRITER, None).await;
        assert_eq!(status, 200, "{health}");
        let data = &health["data"];
        assert_eq!(data["triggers"][0]["id"], json!(id));
        assert_eq!(data["triggers"][0]["state"], "paused");
        assert_eq!(data["triggers"][0]["counts"]["failed"], 1);
        assert!(
            data["triggers"][0]["lastError"]
                .as_str()
                .unwrap()
                .contains("404"),
            "{data}"
        );
        assert_eq!(data["pausedTriggers"][0]["id"], json!(id));
        assert_eq!(data["pausedTriggers"][0]["reason"], "receiver down");
        assert_eq!(data["pausedTriggers"][0]["failures"], 1);
        assert!(data["pausedTriggers"][0]["until"].is_string());
        assert_eq!(
            data["queues"]["triggers"]["consumers"], 1,
            "this instance holds the delivery lease"
        );
        assert_eq!(data["retries"]["deliveries"]["total"], 0);

        call(
            &app,
            Method::POST,
            &format!("/admin/triggers/{id}/resume"),
            OPERATOR,
            Some(json!({})),
        )
        .await;
        let resumed = ws.next_of_type("trigger.resumed").await;
        assert_eq!(resumed["data"]["change"]["to"], "running");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_workflow_target_records_a_run_request_on_its_stream_or_as_a_frame() {
    for (db, mode) in [(Db::Sqlite, Mode::Inline), (Db::Postgres, Mode::Redis)] {
        let mut app = spawn_on(&env(db, mode).await).await;
        app.token = Some(WRITER.into());
        let mut ws = app.ws_connect().await;
        let stream = format!("herald:workflow:test:{}", ulid::Ulid::generate());
        let (status, created) = call(
            &app,
            Method::POST,
            "/admin/triggers",
            WRITER,
            Some(json!({"name": "reindex", "eventType": "wf.e",
                        "target": {"kind": "workflow", "workflowSlug": "reindex", "stream": stream},
                        "parameterTemplate": {"key": "{{ event.payload.key }}"}})),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        assert!(
            created.get("secret").is_none(),
            "a workflow target has no secret"
        );
        let id = created["data"]["id"].as_str().unwrap().to_owned();
        let ids = publish(
            &app,
            vec![json!({"type": "wf.e", "source": "s", "payload": {"key": "k1"}})],
        )
        .await;
        let delivered = wait_for(&app, &id, "delivered", 1).await;
        let run_key = format!("{id}-{}", ids[0]);
        match mode {
            Mode::Inline => {
                let frame = ws.next_of_type("workflow.run.requested").await;
                assert_eq!(frame["data"]["runKey"], json!(run_key));
                assert_eq!(frame["data"]["workflowSlug"], "reindex");
                assert_eq!(frame["data"]["parameters"], json!({"key": "k1"}));
                assert_eq!(frame["data"]["trigger"]["deliveryId"], delivered[0]["id"]);
            }
            Mode::Redis => {
                let redis = app.redis.clone().unwrap();
                let entries: Vec<(String, std::collections::HashMap<String, String>)> =
                    redis.xrange(&stream, "-", "+", None).await.expect("XRANGE");
                assert_eq!(entries.len(), 1, "{db:?}/{mode:?}");
                let fields = &entries[0].1;
                assert_eq!(fields["runKey"], run_key);
                assert_eq!(fields["workflowSlug"], "reindex");
                let parameters: Value = serde_json::from_str(&fields["parameters"]).unwrap();
                assert_eq!(parameters, json!({"key": "k1"}));
                let trigger: Value = serde_json::from_str(&fields["trigger"]).unwrap();
                assert_eq!(trigger["id"], json!(id));
                assert_eq!(trigger["eventId"], json!(ids[0]));
                assert_eq!(trigger["deliveryId"], delivered[0]["id"]);
                let _: i64 = redis.del(&stream).await.unwrap_or(0);
            }
        }
    }
}
