//! [`EventPublisher`]: validate, then send with retries (SPEC §2.3).

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use herald_core::{DEFAULT_MAX_PAYLOAD_BYTES, Envelope, EventId, ParseContext};
use serde_json::Value;

use crate::context::{ContextSources, inject};
use crate::error::{PublishError, SendError};
use crate::transport::{DEFAULT_STREAM, HttpTransport, InlineSink, RedisTransport, Transport};

/// How many times a send is tried before a transient failure is returned.
pub const MAX_TRIES: u32 = 3;

/// The wait after the first failed try; it doubles after each further one (100 ms, then 200 ms).
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Publishes events to Herald.
///
/// ```no_run
/// # async fn run() -> Result<(), herald_client::PublishError> {
/// use herald_client::EventPublisher;
/// use serde_json::json;
///
/// let publisher = EventPublisher::redis("redis://127.0.0.1:6379").await?;
/// let event = publisher
///     .publish(json!({"type": "metastore.record.updated", "source": "metastore.api",
///                     "payload": {"key": "flags/x", "version": 3}}))
///     .await?;
/// println!("published {}", event.id);
/// # Ok(()) }
/// ```
///
/// Every publish:
/// 1. injects the current workflow context into `metadata.__workflow` ([`crate::with_workflow_context`]);
/// 2. validates the envelope with the server's own rules (the `herald-core` crate) and assigns its id when it has
///    none, before any I/O: an invalid envelope is a [`PublishError::Invalid`] and nothing is sent;
/// 3. sends it, trying up to [`MAX_TRIES`] times on transient failures with a doubling wait from
///    [`FIRST_RETRY_DELAY`]. The id is fixed before the first try, so a retry of an event that did arrive is
///    stored once by the server, never as a second event.
///
/// Cloning is cheap and shares the connection.
#[derive(Clone)]
pub struct EventPublisher {
    transport: Transport,
    max_payload_bytes: usize,
}

impl EventPublisher {
    /// Publishes by `XADD` to the stream `herald:events` of the Redis at `url`.
    ///
    /// # Errors
    /// [`PublishError::Transport`] when the URL is invalid or Redis cannot be reached.
    pub async fn redis(url: &str) -> Result<EventPublisher, PublishError> {
        EventPublisher::redis_stream(url, DEFAULT_STREAM).await
    }

    /// Publishes by `XADD` to `stream` (Herald's `HERALD_EVENT_STREAM`) of the Redis at `url`.
    ///
    /// # Errors
    /// As [`EventPublisher::redis`].
    pub async fn redis_stream(url: &str, stream: &str) -> Result<EventPublisher, PublishError> {
        let transport = RedisTransport::connect(url, stream).await?;
        Ok(EventPublisher::with_transport(Transport::Redis(transport)))
    }

    /// Publishes by `POST {base_url}/events`, with `token` as the bearer token when given. Nothing is sent yet.
    ///
    /// # Errors
    /// [`PublishError::Transport`] when `base_url` is not an http(s) URL.
    pub fn http(base_url: &str, token: Option<&str>) -> Result<EventPublisher, PublishError> {
        let transport = HttpTransport::new(base_url, token.map(str::to_owned))?;
        Ok(EventPublisher::with_transport(Transport::Http(transport)))
    }

    /// Publishes in-process, through a running Herald's queue (`herald::publisher::InlineHandle`).
    pub fn inline(sink: impl InlineSink + 'static) -> EventPublisher {
        EventPublisher::with_transport(Transport::Inline(Arc::new(sink)))
    }

    fn with_transport(transport: Transport) -> EventPublisher {
        EventPublisher {
            transport,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
        }
    }

    /// Sets the payload limit checked before sending; match the server's `HERALD_MAX_PAYLOAD_BYTES`.
    #[must_use]
    pub fn with_max_payload_bytes(mut self, max_payload_bytes: usize) -> EventPublisher {
        self.max_payload_bytes = max_payload_bytes;
        self
    }

    /// Validates `envelope` and publishes it, returning the accepted envelope with its id.
    ///
    /// # Errors
    /// [`PublishError::Invalid`] before any I/O for an envelope that breaks a rule; [`PublishError::Refused`] when
    /// the server refuses it; [`PublishError::Transport`] when every try failed.
    pub async fn publish(&self, envelope: Value) -> Result<Envelope, PublishError> {
        let envelope = self.prepare(envelope)?;
        self.send(&envelope).await?;
        Ok(envelope)
    }

    /// Steps 1 and 2 of a publish, without sending: the workflow context injected, the envelope validated and
    /// given its id. What the outbox stores.
    ///
    /// # Errors
    /// [`PublishError::Invalid`] naming the rule broken.
    pub fn prepare(&self, envelope: Value) -> Result<Envelope, PublishError> {
        prepare(envelope, self.max_payload_bytes, ContextSources::current())
    }

    /// Sends an envelope that is already prepared, as it is (no context is injected), with the retries of a
    /// publish. The outbox relay sends through this.
    ///
    /// # Errors
    /// As [`EventPublisher::publish`], but never [`PublishError::Invalid`].
    pub async fn send(&self, envelope: &Envelope) -> Result<(), PublishError> {
        let mut attempts = 0;
        let attempt = || {
            attempts += 1;
            self.transport.send(envelope)
        };
        let result = attempt
            .retry(retry_policy())
            .when(SendError::is_transient)
            .notify(|error, delay| {
                tracing::debug!(%envelope.id, ?delay, error = ?error, "publish failed; retrying");
            })
            .await;
        result.map_err(|e| e.into_publish_error(attempts))
    }

    /// Sends prepared envelopes in order, each as [`EventPublisher::send`] would, but over HTTP up to
    /// [`HTTP_BATCH`] per request (one commit on the server instead of one per event) and over Redis in one
    /// pipeline. Stops at the first envelope that is not accepted (over Redis a failed pipeline counts as none
    /// sent; the envelopes it did add are duplicates when sent again).
    ///
    /// Over HTTP, envelopes after a rejected one in the same request are accepted anyway (Herald takes a batch's
    /// valid items); they count as not sent here, so a caller that sends them again makes duplicates, which Herald
    /// stores once.
    pub async fn send_all(&self, envelopes: &[Envelope]) -> BatchSent {
        let http = match &self.transport {
            Transport::Http(http) => http,
            Transport::Redis(redis) => return self.send_pipelined(redis, envelopes).await,
            Transport::Inline(_) => return self.send_each(envelopes).await,
        };
        let mut sent = 0;
        for chunk in envelopes.chunks(HTTP_BATCH) {
            let wire: Vec<_> = chunk.iter().map(Envelope::wire).collect();
            // unwrap: wire envelopes are plain JSON; they always serialize.
            let body = serde_json::to_string(&wire).expect("plain JSON");
            let mut attempts = 0;
            let attempt = || {
                attempts += 1;
                http.send_batch(body.clone())
            };
            let result = attempt
                .retry(retry_policy())
                .when(SendError::is_transient)
                .await;
            match result {
                Ok(rejected) => match rejected.into_iter().min_by_key(|r| r.index) {
                    None => sent += chunk.len(),
                    Some(first) => {
                        return BatchSent {
                            sent: sent + first.index,
                            error: Some(PublishError::Refused {
                                status: 400,
                                code: first.code,
                                message: first.message,
                            }),
                        };
                    }
                },
                Err(error) => {
                    return BatchSent {
                        sent,
                        error: Some(error.into_publish_error(attempts)),
                    };
                }
            }
        }
        BatchSent { sent, error: None }
    }

    /// [`EventPublisher::send_all`] over Redis: every `XADD` in one pipeline, retried as a whole.
    async fn send_pipelined(&self, redis: &RedisTransport, envelopes: &[Envelope]) -> BatchSent {
        let jsons: Vec<String> = envelopes
            .iter()
            // unwrap: wire envelopes are plain JSON; they always serialize.
            .map(|e| serde_json::to_string(&e.wire()).expect("plain JSON"))
            .collect();
        let mut attempts = 0;
        let attempt = || {
            attempts += 1;
            redis.send_many(&jsons)
        };
        match attempt
            .retry(retry_policy())
            .when(SendError::is_transient)
            .await
        {
            Ok(()) => BatchSent {
                sent: envelopes.len(),
                error: None,
            },
            Err(error) => BatchSent {
                sent: 0,
                error: Some(error.into_publish_error(attempts)),
            },
        }
    }

    /// [`EventPublisher::send_all`] one envelope at a time.
    async fn send_each(&self, envelopes: &[Envelope]) -> BatchSent {
        for (sent, envelope) in envelopes.iter().enumerate() {
            if let Err(error) = self.send(envelope).await {
                return BatchSent {
                    sent,
                    error: Some(error),
                };
            }
        }
        BatchSent {
            sent: envelopes.len(),
            error: None,
        }
    }
}

/// What [`EventPublisher::send_all`] came to: the first `sent` envelopes are durable; `error` is why the next
/// one is not.
#[derive(Debug)]
pub struct BatchSent {
    /// How many envelopes, from the start, were accepted.
    pub sent: usize,
    /// Why `envelopes[sent]` was not, when `sent` is short of all of them.
    pub error: Option<PublishError>,
}

/// Envelopes per `POST /events` of [`EventPublisher::send_all`] (Herald's batch limit).
pub const HTTP_BATCH: usize = 500;

/// [`MAX_TRIES`] tries, waiting [`FIRST_RETRY_DELAY`] and doubling, without jitter: a publisher's retries are
/// few and short, so synchronised retries cost nothing worth randomness.
fn retry_policy() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(FIRST_RETRY_DELAY)
        .with_factor(2.0)
        .with_max_times(MAX_TRIES as usize - 1)
}

/// Injects the workflow context from `sources`, then validates with the server's rules, assigning a ULID id when
/// the envelope has none.
pub(crate) fn prepare(
    mut envelope: Value,
    max_payload_bytes: usize,
    sources: ContextSources,
) -> Result<Envelope, PublishError> {
    inject(&mut envelope, sources);
    let ctx = ParseContext {
        max_payload_bytes,
        now: Utc::now(),
    };
    Ok(Envelope::parse(envelope, &ctx, || {
        EventId::from_ulid(ulid::Ulid::generate())
    })?)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;
    use herald_core::ErrorCode;
    use serde_json::json;

    use super::*;
    use crate::transport::InlineError;

    /// A sink that fails its first `failures` calls with `failure`, then stores.
    struct Flaky {
        calls: AtomicU32,
        failures: u32,
        failure: fn() -> InlineError,
        seen: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl InlineSink for Arc<Flaky> {
        async fn publish(&self, envelope: Envelope) -> Result<(), InlineError> {
            self.seen.lock().unwrap().push(envelope.id.to_string());
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
                return Err((self.failure)());
            }
            Ok(())
        }
    }

    fn flaky(failures: u32, failure: fn() -> InlineError) -> Arc<Flaky> {
        Arc::new(Flaky {
            calls: AtomicU32::new(0),
            failures,
            failure,
            seen: Mutex::new(Vec::new()),
        })
    }

    fn unavailable() -> InlineError {
        InlineError::Unavailable("database down".into())
    }

    fn event() -> Value {
        json!({"type": "orders.order.created", "source": "shop", "payload": {"n": 1}})
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_failure_is_retried_with_the_same_id() {
        let sink = flaky(2, unavailable);
        let publisher = EventPublisher::inline(sink.clone());
        let started = tokio::time::Instant::now();
        let published = publisher
            .publish(event())
            .await
            .expect("third try succeeds");
        let seen = sink.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|id| *id == published.id.to_string()));
        // Paused time: the waits are the policy's, 100 ms then 200 ms (tokio's timer rounds each up to the next
        // millisecond, and backon computes in f32 seconds).
        let waited = started.elapsed();
        assert!(
            (Duration::from_millis(300)..=Duration::from_millis(302)).contains(&waited),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn three_transient_failures_give_a_transport_error() {
        let sink = flaky(5, unavailable);
        let error = EventPublisher::inline(sink.clone())
            .publish(event())
            .await
            .unwrap_err();
        assert!(
            matches!(error, PublishError::Transport { attempts: 3, .. }),
            "{error:?}"
        );
        assert_eq!(sink.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_not_retried() {
        let sink = flaky(5, || InlineError::Refused {
            status: 400,
            code: "schema_mismatch".into(),
            message: "no".into(),
        });
        let error = EventPublisher::inline(sink.clone())
            .publish(event())
            .await
            .unwrap_err();
        assert!(
            matches!(&error, PublishError::Refused { status: 400, code, .. } if code == "schema_mismatch"),
            "{error:?}"
        );
        assert_eq!(sink.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_invalid_envelope_is_a_typed_error_before_any_send() {
        let sink = flaky(0, unavailable);
        let publisher = EventPublisher::inline(sink.clone());
        let cases = [
            (
                json!({"type": "nodots", "source": "s"}),
                ErrorCode::InvalidField,
            ),
            (json!({"source": "s"}), ErrorCode::MissingField),
            (
                json!({"type": "a.b", "source": "s", "tpye": 1}),
                ErrorCode::UnknownField,
            ),
        ];
        for (envelope, code) in cases {
            match publisher.publish(envelope.clone()).await {
                Err(PublishError::Invalid(e)) => assert_eq!(e.code, code, "{envelope}"),
                other => panic!("{envelope}: {other:?}"),
            }
        }
        let big = json!({"type": "a.b", "source": "s", "payload": {"x": "y".repeat(100)}});
        let error = publisher
            .clone()
            .with_max_payload_bytes(64)
            .publish(big)
            .await
            .unwrap_err();
        assert!(error.is_invalid(), "{error:?}");
        assert_eq!(sink.calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_given_id_is_kept_and_a_missing_one_assigned() {
        let mut given = event();
        given["id"] = json!("order-1");
        let kept = prepare(given, DEFAULT_MAX_PAYLOAD_BYTES, ContextSources::default()).unwrap();
        assert_eq!(kept.id.as_ref(), "order-1");
        let a = prepare(
            event(),
            DEFAULT_MAX_PAYLOAD_BYTES,
            ContextSources::default(),
        )
        .unwrap();
        let b = prepare(
            event(),
            DEFAULT_MAX_PAYLOAD_BYTES,
            ContextSources::default(),
        )
        .unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.as_ref().len(), 26, "a ULID");
    }
}
