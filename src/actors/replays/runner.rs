//! `ReplayRunner`: one per process. Holds the `replays` lease (one instance at a time runs replays, so a replay's
//! pacing holds deployment-wide) and, while it does, runs every open replay as a future of its own
//! ([`run_replay`]). Every [`LOOK_INTERVAL`] it renews or takes the lease and starts the open replays it is not
//! running; `ReplayAsked` looks at once. A crashed holder's lease is taken at once by a restart on the same host
//! (its process is gone) and otherwise when it lapses; the replays resume at their recorded cursors.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;

use super::run::{RunDeps, RunEnd, run_replay};
use crate::redis::InstanceId;
use crate::storage::{LeaseError, Storage, StorageError};
use crate::trigger::Replay;

/// The lease whose holder runs replays.
pub const REPLAY_LEASE: &str = "replays";
/// How long the lease lasts unless renewed.
const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often the runner renews or takes the lease and looks for open replays.
pub const LOOK_INTERVAL: Duration = Duration::from_secs(2);

/// The replay runner.
pub struct ReplayRunner {
    deps: RunDeps,
    instance: String,
    owner: bool,
    looking: bool,
    draining: bool,
    running: HashMap<String, SpawnHandle>,
    /// Starts, restarts included.
    starts: u32,
}

/// A replay was asked for on this instance: look for open replays now rather than at the next tick.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct ReplayAsked;

/// Shutdown: stops every run (what each recorded stays; the next holder resumes it) and gives the lease up.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct DrainReplays;

/// A run ended (private).
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct RunEnded {
    id: String,
    end: Result<RunEnd, StorageError>,
}

/// What one look found: whether this instance holds the lease, and if so the open replays.
struct Looked {
    owner: bool,
    open: Result<Vec<Replay>, StorageError>,
}

impl ReplayRunner {
    /// A runner for this instance.
    pub fn new(deps: RunDeps, instance: &InstanceId) -> ReplayRunner {
        ReplayRunner {
            deps,
            instance: instance.to_string(),
            owner: false,
            looking: false,
            draining: false,
            running: HashMap::new(),
            starts: 0,
        }
    }

    fn look(&mut self, ctx: &mut Context<Self>) {
        if self.looking || self.draining {
            return;
        }
        self.looking = true;
        let storage = self.deps.storage.clone();
        let instance = self.instance.clone();
        let was_owner = self.owner;
        let look = async move {
            let owner = hold_lease(&storage, &instance, was_owner).await;
            let open = if owner {
                storage.replays().open().await
            } else {
                Ok(Vec::new())
            };
            Looked { owner, open }
        };
        ctx.spawn(look.into_actor(self).map(|looked, runner, ctx| {
            runner.looking = false;
            if runner.draining {
                return;
            }
            if runner.owner && !looked.owner {
                tracing::warn!("The replay lease was lost; another instance runs the replays.");
                for (_, handle) in runner.running.drain() {
                    ctx.cancel_future(handle);
                }
            }
            runner.owner = looked.owner;
            match looked.open {
                Ok(open) => {
                    for replay in open {
                        if !runner.running.contains_key(&replay.id) {
                            runner.start(replay.id, ctx);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Reading the open replays failed; the next look tries again.");
                }
            }
        }));
    }

    fn start(&mut self, id: String, ctx: &mut Context<Self>) {
        let run = run_replay(self.deps.clone(), id.clone());
        let key = id.clone();
        let handle = ctx.spawn(
            async move { RunEnded { id, end: run.await } }
                .into_actor(self)
                .map(|ended, _, ctx| ctx.notify(ended)),
        );
        self.running.insert(key, handle);
    }
}

impl Actor for ReplayRunner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.starts += 1;
        self.look(ctx);
        ctx.run_interval(LOOK_INTERVAL, |runner, ctx| runner.look(ctx));
    }
}

impl Supervised for ReplayRunner {
    /// The runs were futures of the old context: forget them, and the lease until the first look renews it
    /// (taking it again is allowed, the holder being this instance); that look starts the runs afresh.
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.running.clear();
        self.owner = false;
        self.looking = false;
    }
}

impl Handler<ReplayAsked> for ReplayRunner {
    type Result = ();

    fn handle(&mut self, _: ReplayAsked, ctx: &mut Context<Self>) {
        self.look(ctx);
    }
}

impl Handler<RunEnded> for ReplayRunner {
    type Result = ();

    fn handle(&mut self, ended: RunEnded, _: &mut Context<Self>) {
        self.running.remove(&ended.id);
        if let Err(e) = ended.end {
            tracing::warn!(replay_id = %ended.id, error = %e, "A replay step failed; the next look resumes it from its recorded cursor.");
        }
    }
}

impl Handler<DrainReplays> for ReplayRunner {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: DrainReplays, ctx: &mut Context<Self>) -> Self::Result {
        self.draining = true;
        for (_, handle) in self.running.drain() {
            ctx.cancel_future(handle);
        }
        let release = self
            .owner
            .then(|| (self.deps.storage.clone(), self.instance.clone()));
        self.owner = false;
        Box::pin(
            async move {
                if let Some((storage, instance)) = release
                    && let Err(e) = storage.leases().release(REPLAY_LEASE, &instance).await
                {
                    tracing::warn!(error = %e, "Releasing the replay lease failed; it lapses by itself.");
                }
            }
            .into_actor(self)
            .map(|_, _, ctx| ctx.stop()),
        )
    }
}

/// Renews the lease when this instance holds it, otherwise takes it if it is free, lapsed, or held by a dead
/// process on this host. Returns whether this instance holds it now.
async fn hold_lease(storage: &Storage, instance: &str, owner: bool) -> bool {
    let ttl = chrono::Duration::from_std(LEASE_TTL).unwrap_or_default();
    let leases = storage.leases();
    if owner {
        return match leases.renew(REPLAY_LEASE, instance, ttl).await {
            Ok(()) => true,
            Err(LeaseError::Lost { .. }) => false,
            // A failed write is not a lost lease: it lasts LEASE_TTL, and the next look renews it.
            Err(e) => {
                tracing::warn!(error = %e, "Renewing the replay lease failed; retrying at the next look.");
                true
            }
        };
    }
    match leases
        .acquire(
            REPLAY_LEASE,
            instance,
            ttl,
            InstanceId::is_dead_process_here,
        )
        .await
    {
        Ok(()) => true,
        Err(LeaseError::Held { .. }) => false,
        Err(e) => {
            tracing::warn!(error = %e, "Taking the replay lease failed; retrying at the next look.");
            false
        }
    }
}

#[cfg(test)]
crate::actors::messages::stops_on_crash!(ReplayRunner);

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Utc};

    use super::*;
    use crate::actors::messages::Crash;
    use crate::trigger::{DefinitionRules, ReplayRequest, ReplayStatus};

    #[derive(Message)]
    #[rtype(result = "u32")]
    struct Starts;

    impl Handler<Starts> for ReplayRunner {
        type Result = u32;
        fn handle(&mut self, _msg: Starts, _ctx: &mut Self::Context) -> u32 {
            self.starts
        }
    }

    #[actix_rt::test]
    async fn the_supervisor_restarts_a_stopped_runner_which_takes_its_lease_again_and_runs_open_replays()
     {
        // Arrange
        let (_dir, storage) = Storage::scratch().await;
        let deps = RunDeps {
            storage: storage.clone(),
            rules: DefinitionRules {
                workflow_stream: "herald:workflow-runs".into(),
                workflow_stream_prefix: "herald:".into(),
                ingress_stream: "herald:events".into(),
            },
            wake: None,
            query_timeout: Duration::from_secs(5),
        };
        let instance = InstanceId::generate();
        let runner = Supervisor::start(move |_| ReplayRunner::new(deps, &instance));
        let now = Utc::now();
        let request = ReplayRequest::new(
            (now - TimeDelta::hours(1), now),
            (None, None),
            Some(vec!["01JZZZZZZZZZZZZZZZZZZZZZZZ".into()]),
            false,
            None,
        )
        .unwrap();

        // Act: stop it twice, then ask for a replay.
        runner.send(Crash).await.unwrap();
        runner.send(Crash).await.unwrap();
        storage
            .replays()
            .create("r-1", &request, 0, "tests", now)
            .await
            .unwrap();
        runner.send(ReplayAsked).await.unwrap();

        // Assert
        assert_eq!(
            runner.send(Starts).await.unwrap(),
            3,
            "one start and two restarts"
        );
        let mut status = None;
        for _ in 0..200 {
            status = storage
                .replays()
                .find("r-1")
                .await
                .unwrap()
                .map(|r| r.status);
            if status == Some(ReplayStatus::Completed) {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            status,
            Some(ReplayStatus::Completed),
            "the restarted runner ran it"
        );
        let holder = storage
            .leases()
            .holder(REPLAY_LEASE, Utc::now())
            .await
            .unwrap();
        assert!(holder.is_some(), "and holds the replay lease");
    }
}
