//! [`PublishError`]: every way a publish can fail, typed so a caller can tell "fix the event" from "try later".

use herald_core::ValidationError;

/// Why an event was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The envelope breaks a SPEC §1 rule. Found before any I/O, by the server's own rules; never retried.
    #[error("invalid envelope: {0}")]
    Invalid(#[from] ValidationError),
    /// The server refused the event (an HTTP 4xx other than 408 and 429: a schema mismatch, an id already used
    /// with other content, a missing scope). Never retried: the same request would be refused again.
    #[error("Herald refused the event ({status} {code}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// SPEC's error code (`schema_mismatch`, `id_conflict`, `forbidden`, …).
        code: String,
        /// The server's message.
        message: String,
    },
    /// The transport failed on every try (Redis or Herald unreachable, a timeout, an HTTP 408/429/5xx), or the
    /// failure was not one a retry can fix (a malformed URL). The event may or may not have arrived: publishing
    /// it again with the same id is safe, the server stores an id once.
    #[error("could not publish after {attempts} attempt(s): {message}")]
    Transport {
        /// How many tries were made.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// The outbox table could not be written or read.
    #[error("outbox: {0}")]
    Outbox(#[from] sea_orm::DbErr),
}

impl PublishError {
    /// Whether this is a validation error found before any I/O.
    pub fn is_invalid(&self) -> bool {
        matches!(self, PublishError::Invalid(_))
    }
}

/// One failed try of a transport: whether trying again may help.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Worth another try (connection refused or reset, timeout, 408, 429, 5xx).
    Transient(String),
    /// Final: a refusal by the server.
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// Final: a failure no retry fixes (a malformed URL, a response that is not Herald's).
    Fatal(String),
}

impl SendError {
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }

    pub(crate) fn into_publish_error(self, attempts: u32) -> PublishError {
        match self {
            SendError::Transient(message) | SendError::Fatal(message) => {
                PublishError::Transport { attempts, message }
            }
            SendError::Refused {
                status,
                code,
                message,
            } => PublishError::Refused {
                status,
                code,
                message,
            },
        }
    }
}
