//! The actor system (see `actors.md` at the top of the repository for the map of who sends what to whom).
//!
//! Start order: storage and queue first (plain handles), then the supervised [`IngressRouter`] on an arbiter
//! (thread) of its own, then the supervised [`WsHub`] (subscribed to the router, with its Redis relay in redis
//! mode), then the supervised [`SourceDirectory`] (subscribed to the router; it starts one supervised
//! [`SourceRateLimiter`] per source on first sight, and those of sources with a durable backlog at once), then the
//! queue consumers that feed the router, then HTTP, whose `/ws` route starts one [`WsSession`] per client.

mod ingress_router;
mod live;
pub mod messages;
mod replays;
mod sources;
mod triggers;

pub use ingress_router::{IngressRouter, SubscribeStored};
pub use live::{
    AttachRelay, ClientFrame, CloseSessions, Connect, Deliver, Disconnect, EventFrames, FeedItem,
    FrameError, GoingAway, MAX_INBOUND_FRAME_BYTES, MAX_QUEUED_BYTES, MAX_QUEUED_FRAMES, PauseEnd,
    QueueGauge, Relay, RelaySettings, RelayedEvents, SINCE_MAX_EVENTS, SourceNotice, StopRelay,
    Subscribe, SubscribeRequest, TriggerNotice, WS_PROTOCOL, WsHub, WsHubLink, WsSession,
};
pub use messages::{EventSelection, EventsReleased, EventsStored};
pub use replays::{DrainReplays, ReplayAsked, ReplayRunner, RunDeps as ReplayDeps};
pub use sources::{
    ActorClock, AdmitEvents, AdoptBacklog, BACKLOG_SWEEP_INTERVAL, DiscardBacklog, DiscardDeferred,
    DrainSources, FlushDeferrals, LIMITER_IDLE_AFTER, LimiterIdle, LimiterLink,
    PAUSE_POLL_INTERVAL, PauseChanged, ReleasedCounts, ReloadPause, Retire, STATS_WRITE_INTERVAL,
    SourceDirectory, SourceError, SourceRateLimiter, SourcesLink,
};
pub use triggers::{
    Command, Control, ControlTrigger, DELIVERY_LEASE, Deliverer, DrainTriggers, Reload, SetOwner,
    StopTrigger, Tried, TriggerActor, TriggerChanged, TriggerDeps, TriggerDirectory, Wake,
    WakeTrigger, WallClock, WorkflowSink, webhook_body,
};
