//! The webhook client (SPEC §5.5, §10): one POST attempt, its outcome classified, the address policy enforced
//! on the addresses actually connected to.
//!
//! - A host name is resolved by [`PolicyResolver`], which drops every address the [`AddressPolicy`] refuses, so a
//!   name that resolves (or re-resolves, DNS rebinding) to an internal address is never connected to. An IP-literal
//!   URL, which reqwest connects to without resolving, is checked before the request.
//! - Redirects are not followed; a `3xx` is a failure (a redirect would not change on a retry).
//! - `2xx` is delivered. `408`, `429`, `5xx`, timeouts and connection errors are retryable, with the receiver's
//!   `Retry-After` when it sent one; any other status fails at once.
//!
//! Header values and the body are never logged (they may carry secrets).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderName, HeaderValue};

use crate::trigger::{AddressPolicy, parse_retry_after};

/// How long an error body is kept for the attempt record.
const ERROR_SNIPPET_CHARS: usize = 300;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A `2xx`.
    Delivered {
        /// The status.
        status: u16,
        /// How long the attempt took.
        duration: Duration,
    },
    /// Worth another attempt: `408`, `429`, `5xx`, a timeout or a connection failure.
    Retryable {
        /// The status, when the receiver answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
        /// The receiver's `Retry-After`, when it sent one.
        retry_after: Option<TimeDelta>,
        /// How long the attempt took.
        duration: Duration,
    },
    /// Final: another status, a redirect, or an address the policy refuses.
    Failed {
        /// The status, when the receiver answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
        /// How long the attempt took.
        duration: Duration,
    },
}

/// The resolver's refusal, told apart from resolution failures (which are retryable) by its type.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

/// Resolves host names with the system resolver and keeps only the addresses the policy allows.
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusals = Vec::new();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match policy.check(addr.ip()) {
                    Ok(()) => true,
                    Err(refusal) => {
                        refusals.push(refusal.to_string());
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refusals
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "no address".to_owned());
                return Err(Box::new(Refused(format!("refused to connect to {host}: {why}"))) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Sends webhook attempts under one address policy.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

impl WebhookClient {
    /// A client enforcing `policy`, following no redirects.
    ///
    /// # Errors
    /// When the TLS backend cannot start.
    pub fn new(policy: AddressPolicy) -> Result<WebhookClient, reqwest::Error> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver {
                policy: policy.clone(),
            }))
            .build()?;
        Ok(WebhookClient { client, policy })
    }

    /// One POST of `body` to `url` with `headers`, within `timeout`; `now` reads an HTTP-date `Retry-After`.
    pub async fn post(
        &self,
        url: &reqwest::Url,
        headers: &[(String, String)],
        body: Vec<u8>,
        timeout: Duration,
        now: DateTime<Utc>,
    ) -> Attempt {
        let started = Instant::now();
        let failed = |error: String| Attempt::Failed {
            status: None,
            error,
            duration: started.elapsed(),
        };
        if let Some(ip) = literal_ip(url)
            && let Err(refusal) = self.policy.check(ip)
        {
            return failed(refusal.to_string());
        }
        let mut request = self
            .client
            .post(url.clone())
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            match (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                (Ok(name), Ok(value)) => request = request.header(name, value),
                _ => return failed(format!("header `{name}` is not a valid HTTP header")),
            }
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                let refused = causes(&e).any(|cause| cause.downcast_ref::<Refused>().is_some());
                let error = describe(&e);
                return if refused {
                    failed(error)
                } else {
                    Attempt::Retryable {
                        status: None,
                        error,
                        retry_after: None,
                        duration: started.elapsed(),
                    }
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now));
        if status.is_success() {
            return Attempt::Delivered {
                status: status.as_u16(),
                duration: started.elapsed(),
            };
        }
        let snippet: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(ERROR_SNIPPET_CHARS)
            .collect();
        let error = format!("HTTP {status}: {snippet}");
        let code = Some(status.as_u16());
        if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
            Attempt::Retryable {
                status: code,
                error,
                retry_after,
                duration: started.elapsed(),
            }
        } else {
            Attempt::Failed {
                status: code,
                error,
                duration: started.elapsed(),
            }
        }
    }
}

/// The host of an IP-literal URL (`http://10.0.0.1/`, `http://[::1]/`).
fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    url.host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// An error's causes, outermost first.
fn causes<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(error.source(), |cause| cause.source())
}

/// A transport error in words, with its causes (reqwest's own message alone says only "error sending request").
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    for cause in causes(error) {
        text.push_str(": ");
        text.push_str(&cause.to_string());
    }
    text
}

#[cfg(test)]
mod tests;
