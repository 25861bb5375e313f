//! SPEC §3 for triggers: a Herald killed with SIGKILL while events are stored but not yet evaluated loses no
//! outcome and records none twice once it runs again; a retry scheduled before the kill is made after it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;

use serde_json::json;

use crate::helpers::{Db, Mode, TestApp, TestEnv, eventually_some};

struct Running(Child);

impl Running {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn create(app: &TestApp, body: serde_json::Value) -> String {
    let response = app.post_json("/admin/triggers", &body).await;
    assert_eq!(response.status(), 201);
    let answer: serde_json::Value = response.json().await.unwrap();
    answer["data"]["id"].as_str().unwrap().to_owned()
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_kill_between_store_and_evaluation_loses_no_outcome_and_records_none_twice() {
    for (db, mode) in [(Db::Postgres, Mode::Redis), (Db::Sqlite, Mode::Inline)] {
        let mut env = TestEnv::new(db, mode).await;
        env.set("HERALD_CLAIM_IDLE_MS", "500");
        // The kill must land while events are stored but not yet evaluated; a round where evaluation caught up
        // in the instant between the check and the kill is run again (what it stored must be evaluated too).
        let mut landed = false;
        for round in 0..5 {
            let (child, app) = env.spawn_process().await;
            let mut herald = Running(child);
            if round == 0 {
                // Every event is evaluated and filtered: an outcome row per event, no receiver needed.
                create(
                    &app,
                    json!({"name": "all filtered", "eventType": "crash.*",
                           "predicates": [{"path": "$.payload.n", "operator": "lt", "value": 0}],
                           "target": {"kind": "webhook", "url": "http://127.0.0.1:9/"}}),
                )
                .await;
            }
            let offset = round * 100_000;

            // Three publishers keep the pipeline full, so some events are always between store and evaluation.
            let publishing: Vec<_> = (0..3)
                .map(|p| {
                    let (client, address) = (app.client.clone(), app.address.clone());
                    actix_rt::spawn(async move {
                        for batch in 0..60 {
                            let events: Vec<_> = (0..50)
                                .map(|i| json!({"type": "crash.e", "source": format!("s{}", i % 7), "payload": {"n": offset + p * 10_000 + batch * 50 + i}}))
                                .collect();
                            let sent = client.post(format!("{address}/events")).json(&events).send().await;
                            if !sent.is_ok_and(|r| r.status().is_success()) {
                                break;
                            }
                        }
                    })
                })
                .collect();

            // Kill at a moment when events are stored but not all evaluated.
            eventually_some("stored events awaiting evaluation", || async {
                // Outcomes first: an event stored after this read cannot make the lag look larger than it is.
                let outcomes = env.outcome_event_ids().await.len() as i64;
                let stored = env.stored_count().await;
                (stored > 200 && outcomes < stored).then_some(())
            })
            .await;
            herald.kill();
            for publisher in publishing {
                let _ = publisher.await;
            }
            let stored_at_kill = env.stored_count().await;
            let outcomes_at_kill = env.outcome_event_ids().await.len() as i64;
            if outcomes_at_kill < stored_at_kill {
                landed = true;
                break;
            }
        }
        assert!(
            landed,
            "{db:?}/{mode:?}: in none of five rounds did the kill come between store and evaluation"
        );

        let (child, _app) = env.spawn_process().await;
        let _herald = Running(child);
        // In redis mode entries published before the kill may still be read after the restart: wait until what
        // is stored stops growing and every stored event has its outcome.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut last = -1;
        loop {
            let stored: BTreeSet<String> = env.stored_ids().await.into_iter().collect();
            let outcomes: BTreeSet<String> = env.outcome_event_ids().await.into_iter().collect();
            if !stored.is_empty() && stored == outcomes && stored.len() as i64 == last {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{db:?}/{mode:?}: {} stored events, {} with an outcome",
                stored.len(),
                outcomes.len()
            );
            last = stored.len() as i64;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        let mut per_event: BTreeMap<String, usize> = BTreeMap::new();
        for id in env.outcome_event_ids().await {
            *per_event.entry(id).or_default() += 1;
        }
        assert!(
            per_event.values().all(|&n| n == 1),
            "{db:?}/{mode:?}: one outcome per (trigger, event)"
        );
    }
}
