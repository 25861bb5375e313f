//! The actor system (see `actors.md` at the top of the repository for the map of who sends what to whom).
//!
//! Start order: storage and queue first (plain handles), then the supervised [`IngressRouter`], then the queue
//! consumers that feed it, then HTTP.

mod ingress_router;
pub mod messages;

pub use ingress_router::{IngestBatch, IngestError, IngressRouter, SubscribeStored};
pub use messages::EventsStored;
