//! The actor system (see `actors.md` at the top of the repository for the map of who sends what to whom).
//!
//! Start order: storage and queue first (plain handles), then the supervised [`IngressRouter`] on an arbiter
//! (thread) of its own, then the supervised [`WsHub`] (subscribed to the router, with its Redis relay in redis
//! mode), then the supervised [`SourceDirectory`] (subscribed to the router; it starts one supervised
//! [`SourceRateLimiter`] per source on first sight, and those of sources with a durable backlog at once), then the
//! queue consumers that feed the router, then HTTP, whose `/ws` route starts one [`WsSession`] per client.

mod ingress_router;
pub mod messages;
mod sources;
mod ws_feed;
mod ws_frames;
mod ws_guard;
mod ws_hub;
mod ws_notice;
mod ws_relay;
mod ws_session;

pub use ingress_router::{IngressRouter, SubscribeStored};
pub use messages::{EventSelection, EventsReleased, EventsStored};
pub use sources::{
    ActorClock, AdmitEvents, AdoptBacklog, BACKLOG_SWEEP_INTERVAL, DiscardBacklog, DiscardDeferred,
    DrainSources, FlushDeferrals, LIMITER_IDLE_AFTER, LimiterIdle, LimiterLink,
    PAUSE_POLL_INTERVAL, PauseChanged, ReleasedCounts, ReloadPause, Retire, STATS_WRITE_INTERVAL,
    SourceDirectory, SourceError, SourceRateLimiter, SourcesLink,
};
pub use ws_feed::{FeedItem, MAX_QUEUED_BYTES, MAX_QUEUED_FRAMES, QueueGauge};
pub use ws_frames::{
    ClientFrame, EventFrames, FrameError, MAX_INBOUND_FRAME_BYTES, SINCE_MAX_EVENTS,
    SubscribeRequest,
};
pub use ws_hub::{
    AttachRelay, CloseSessions, Connect, Disconnect, RelayedEvents, StopRelay, Subscribe, WsHub,
    WsHubLink,
};
pub use ws_notice::{PauseEnd, SourceNotice};
pub use ws_relay::{Relay, RelaySettings};
pub use ws_session::{Deliver, GoingAway, PROTOCOL as WS_PROTOCOL, WsSession};
