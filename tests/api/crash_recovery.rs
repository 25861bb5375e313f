//! Crash recovery with the real `herald serve` binary (SPEC §2.1, §2.4, §3): a kill -9 mid-ingest loses nothing,
//! events published while Herald is down are taken in, and the inline lease lets a restart in after a crash but
//! refuses a second instance.

use std::collections::BTreeSet;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::{
    Db, Mode, TestEnv, envelope, eventually, eventually_some, free_port, xadd_pipelined,
};

/// A running `herald serve`, killed and reaped when dropped so that a failing test leaves no process behind.
struct Running(Child);

impl Running {
    /// SIGKILL, then reap (so the pid is gone, as after a real crash).
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM: a graceful shutdown.
    fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "SIGTERM sent");
    }

    /// Waits for the process to exit; panics after `limit`.
    async fn exit_status(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "herald did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the process is still running.
    fn is_running(&mut self) -> bool {
        self.0.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `herald serve` on `env`'s resources and a port of its own, as `TestEnv::spawn_process` runs it.
fn serve_command(env: &TestEnv) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (name, value) in &env.vars {
        command.env(name, value);
    }
    command
        .env("HERALD_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("HERALD_LOG", "warn");
    command
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_herald_killed_mid_ingest_stores_every_event_exactly_once_after_it_restarts() {
    // Arrange
    let mut env = TestEnv::new(Db::Postgres, Mode::Redis).await;
    let (child, app) = env.spawn_process().await;
    let mut herald = Running(child);
    let ids: Vec<String> = (0..2000).map(|i| format!("crash-{i:04}")).collect();
    let envelopes: Vec<String> = ids.iter().map(|id| envelope(id).to_string()).collect();
    let redis = app.redis.clone().unwrap();
    let stream = env.stream.clone();
    let publisher = actix_rt::spawn(async move {
        for chunk in envelopes.chunks(100) {
            xadd_pipelined(&redis, &stream, chunk).await;
        }
    });

    // Act: kill -9 as soon as some events are stored, then restart with a short claim idle time.
    eventually("some events to be stored", || async {
        env.stored_count().await > 0
    })
    .await;
    herald.kill();
    let stored_at_kill = env.stored_count().await;
    publisher.await.unwrap();
    let pending_at_kill = app.pending_count().await;
    env.set("HERALD_CLAIM_IDLE_MS", "500");
    let (child, app) = env.spawn_process().await;
    let _herald = Running(child);

    // Assert
    assert!(
        stored_at_kill < 2000,
        "killed before everything was stored ({stored_at_kill} stored, {pending_at_kill} pending)"
    );
    eventually("all 2000 events to be stored", || async {
        env.stored_count().await == 2000
    })
    .await;
    let stored: BTreeSet<String> = env.stored_ids().await.into_iter().collect();
    assert_eq!(stored, ids.into_iter().collect::<BTreeSet<_>>());
    eventually("nothing to be pending", || async {
        app.pending_count().await == 0
    })
    .await;
    assert!(app.all_dead_letters("").await.is_empty());
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn events_published_while_herald_is_down_are_taken_in_when_it_starts_again() {
    for db in [Db::Postgres, Db::Sqlite] {
        // Arrange: a clean first run, then a graceful stop.
        let env = TestEnv::new(db, Mode::Redis).await;
        let (child, app) = env.spawn_process().await;
        let mut herald = Running(child);
        app.xadd_envelope(&envelope("before-the-stop").to_string())
            .await;
        app.stored_event("before-the-stop").await;
        herald.terminate();
        let status = herald.exit_status(Duration::from_secs(35)).await;
        assert!(
            status.success(),
            "{db:?}: a graceful stop exits 0: {status}"
        );
        let ids: Vec<String> = (0..10).map(|i| format!("while-down-{i}")).collect();
        let envelopes: Vec<String> = ids.iter().map(|id| envelope(id).to_string()).collect();
        xadd_pipelined(app.redis.as_ref().unwrap(), &env.stream, &envelopes).await;

        // Act
        let (child, app) = env.spawn_process().await;
        let _herald = Running(child);

        // Assert
        for id in &ids {
            app.stored_event(id).await;
        }
        eventually("nothing to be pending", || async {
            app.pending_count().await == 0
        })
        .await;
        assert_eq!(env.stored_count().await, 11, "{db:?}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn an_inline_herald_killed_with_sigkill_restarts_on_its_database_and_every_accepted_event_is_readable()
 {
    for db in [Db::Sqlite, Db::Postgres] {
        // Arrange: a publisher posts events one by one until the process dies under it.
        let env = TestEnv::new(db, Mode::Inline).await;
        let (child, app) = env.spawn_process().await;
        let mut herald = Running(child);
        let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
        let publisher = actix_rt::spawn({
            let client = app.client.clone();
            let url = format!("{}/events", app.address);
            let accepted = accepted.clone();
            async move {
                for i in 0..100_000 {
                    let id = format!("inline-{i:05}");
                    match client.post(&url).json(&envelope(&id)).send().await {
                        Ok(response) if response.status() == 202 => {
                            accepted.lock().unwrap().push(id)
                        }
                        _ => return,
                    }
                }
            }
        });
        eventually("50 events to be accepted", || async {
            accepted.lock().unwrap().len() >= 50
        })
        .await;

        // Act: kill -9 mid-publishing, then start again on the same database.
        herald.kill();
        publisher.await.unwrap();
        let accepted = accepted.lock().unwrap().clone();
        let (child, app) = env.spawn_process().await;
        let mut herald = Running(child);

        // Assert: the restart was not refused by the dead process's lease, and nothing accepted was lost.
        assert!(herald.is_running(), "{db:?}: the restart is running");
        for id in &accepted {
            let response = app.get_event(id).await;
            assert_eq!(
                response.status(),
                200,
                "{db:?}: accepted event {id} is readable"
            );
        }
        let stored = env.stored_count().await as usize;
        assert!(
            (accepted.len()..=accepted.len() + 1).contains(&stored),
            "{db:?}: {stored} stored for {} accepted: only the request in flight at the kill may be stored unanswered",
            accepted.len()
        );
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_second_inline_herald_on_the_same_database_is_refused_with_a_clear_message() {
    for db in [Db::Sqlite, Db::Postgres] {
        // Arrange
        let env = TestEnv::new(db, Mode::Inline).await;
        let (child, app) = env.spawn_process().await;
        let mut first = Running(child);

        // Act
        let mut second = Running(
            serve_command(&env)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn herald"),
        );
        let status = second.exit_status(Duration::from_secs(15)).await;

        // Assert
        assert!(!status.success(), "{db:?}: the second instance is refused");
        let mut stderr = String::new();
        second
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let lower = stderr.to_lowercase();
        assert!(
            lower.contains("another herald instance") && lower.contains("inline mode"),
            "{db:?}: {stderr}"
        );
        assert!(first.is_running(), "the first instance keeps running");
        let ready = eventually_some("the first instance to answer", || async {
            app.client
                .get(format!("{}/readyz", app.address))
                .send()
                .await
                .ok()
                .map(|r| r.status())
        })
        .await;
        assert_eq!(ready, 200);
    }
}
