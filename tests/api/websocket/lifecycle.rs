//! How sessions end or fall behind: a client that stops reading is lagged, shutdown closes with 1001.

use serde_json::{Value, json};

use crate::helpers::{Db, Mode, WsEnd, spawn_app};

use super::{event, ids_until, sequence_of, stored_sequences};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_client_that_stops_reading_gets_a_lagged_frame_and_the_server_stays_healthy() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut stuck = app.ws_connect().await;
    let mut watcher = app.ws_connect().await;
    const EVENTS: u64 = 400;
    // A second client reads along, counting what it is sent or told it missed: once that is every event, the
    // hub has handed out (or skipped) all of them to `stuck` too, since it serves every session per event.
    let watched = actix_rt::spawn(async move {
        let mut seen = 0;
        while seen < EVENTS {
            let frame = watcher.next_json().await;
            match frame["type"].as_str() {
                Some("workflow.event.received") => seen += 1,
                Some("lagged") => seen += frame["data"]["missed"].as_u64().expect("missed"),
                _ => {}
            }
        }
    });
    let big = "x".repeat(60 * 1024);

    // `stuck` reads nothing while ~24 MiB of events go out: far more than the socket buffers and the session's
    // 4 MiB allowance hold.
    for batch in 0..EVENTS / 20 {
        let events: Vec<Value> = (0..20)
            .map(|i| {
                event(
                    &format!("big-{batch}-{i}"),
                    "tests.lag.big",
                    "tests",
                    json!({"blob": big}),
                )
            })
            .collect();
        app.publish_ok(&events).await;
    }
    watched.await.expect("the watcher saw every event");

    // Read everything it was sent: events, and a `lagged` notice after each run of skipped ones, whose
    // resumeFrom is the last sequence sent before the skip.
    let mut received: Vec<i64> = Vec::new();
    let mut missed = 0;
    let mut first_resume_from = None;
    while received.len() as u64 + missed < EVENTS {
        let frame = stuck.next_json().await;
        match frame["type"].as_str() {
            Some("workflow.event.received") => received.push(sequence_of(&frame["data"]["event"])),
            Some("lagged") => {
                let n = frame["data"]["missed"].as_u64().expect("missed");
                let resume_from: i64 = frame["data"]["resumeFrom"]
                    .as_str()
                    .expect("resumeFrom is a string")
                    .parse()
                    .expect("a sequence");
                assert!(n > 0, "{frame}");
                assert_eq!(Some(&resume_from), received.last(), "{frame}");
                first_resume_from.get_or_insert(resume_from);
                missed += n;
            }
            _ => {}
        }
    }
    assert!(missed > 0, "the client was never lagged");

    // The session is still open and the server healthy.
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.publish_ok(&[event("after-lag", "tests.lag.after", "tests", json!({}))])
        .await;
    assert_eq!(stuck.events(1).await[0]["id"], "after-lag");
    // And it can fetch what it missed.
    let resume_from = first_resume_from.expect("a lagged frame");
    stuck
        .send_json(&json!({"type": "subscribe", "since": resume_from.to_string()}))
        .await;
    stuck.next_of_type("subscribed").await;
    let expected: Vec<String> = stored_sequences(&app)
        .await
        .into_iter()
        .filter(|(seq, _)| *seq > resume_from)
        .map(|(_, id)| id)
        .collect();
    assert_eq!(ids_until(&mut stuck, "after-lag").await, expected);
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn shutdown_closes_sessions_with_1001() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    let mut client = app.ws_connect().await;

    app.shutdown();

    match client.next_frame().await {
        Err(WsEnd::Closed(code, _)) => assert_eq!(code, 1001),
        other => panic!("expected a 1001 close, got {other:?}"),
    }
}
