//! The three ways an [`crate::EventPublisher`] sends: Redis Streams, HTTP and in-process (SPEC §2.3).

mod http;
mod inline;
mod redis;

use std::sync::Arc;

use herald_core::Envelope;

use crate::error::SendError;

pub(crate) use self::http::HttpTransport;
pub use self::http::REQUEST_TIMEOUT as HTTP_REQUEST_TIMEOUT;
pub use self::inline::{InlineError, InlineSink};
pub(crate) use self::redis::RedisTransport;
pub use self::redis::{COMMAND_TIMEOUT as REDIS_COMMAND_TIMEOUT, DEFAULT_STREAM};

/// The configured transport.
#[derive(Clone)]
pub(crate) enum Transport {
    Redis(RedisTransport),
    Http(HttpTransport),
    Inline(Arc<dyn InlineSink>),
}

impl Transport {
    /// One try.
    pub(crate) async fn send(&self, envelope: &Envelope) -> Result<(), SendError> {
        match self {
            Transport::Redis(t) => t.send(&wire_json(envelope)).await,
            Transport::Http(t) => t.send(&wire_json(envelope)).await,
            Transport::Inline(sink) => sink.publish(envelope.clone()).await.map_err(|e| match e {
                InlineError::Unavailable(message) => SendError::Transient(message),
                InlineError::Refused {
                    status,
                    code,
                    message,
                } => SendError::Refused {
                    status,
                    code,
                    message,
                },
            }),
        }
    }
}

fn wire_json(envelope: &Envelope) -> String {
    // unwrap: the wire envelope is strings, numbers and JSON values with string keys; it always serializes.
    serde_json::to_string(&envelope.wire()).expect("the wire envelope is plain JSON")
}
