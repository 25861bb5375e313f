//! The live side (SPEC §7): the [`WsHub`] that fans stored events out to one [`WsSession`] per WebSocket client,
//! and the pure parts they share.
//!
//! - `ws_hub.rs`: [`WsHub`], the session registry and fan-out (the only place frames are handed to sessions).
//! - `ws_session.rs`: [`WsSession`], one per client (heartbeat, filters, `since`, `lagged`); the only file that
//!   imports actix-web-actors.
//! - `frames.rs`: the wire form of every server frame and the parsing of client frames, serialized once.
//! - `feed.rs`: a session's queue accounting and the `since` merge, without actix.
//! - `guard.rs`: refuses an oversized inbound frame at its header.
//! - `notice.rs`: [`SourceNotice`] and [`TriggerNotice`], the operator notices the source directory and the
//!   trigger actors send the hub.
//! - `relay.rs`: [`Relay`], the hub's end of the live relay between instances (the transport is `crate::redis`).

mod feed;
mod frames;
mod guard;
mod notice;
mod relay;
mod ws_hub;
mod ws_session;

pub use feed::{FeedItem, MAX_QUEUED_BYTES, MAX_QUEUED_FRAMES, QueueGauge};
pub use frames::{
    ClientFrame, EventFrames, FrameError, MAX_INBOUND_FRAME_BYTES, SINCE_MAX_EVENTS,
    SubscribeRequest,
};
pub use notice::{PauseEnd, SourceNotice, TriggerNotice};
pub use relay::{Relay, RelaySettings};
pub use ws_hub::{
    AttachRelay, CloseSessions, Connect, Disconnect, RelayedEvents, StopRelay, Subscribe, WsHub,
    WsHubLink,
};
pub use ws_session::{Deliver, GoingAway, PROTOCOL as WS_PROTOCOL, WsSession};
