//! The HTTP transport: `POST {base}/events` with a bearer token (SPEC §2.2).

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::error::{PublishError, SendError};

/// Deadline of one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP client bound to one Herald.
#[derive(Clone)]
pub(crate) struct HttpTransport {
    client: reqwest::Client,
    events_url: Url,
    token: Option<String>,
}

impl HttpTransport {
    /// A transport to the Herald at `base_url` (`http://herald:8080`); `token` when Herald requires one.
    pub(crate) fn new(
        base_url: &str,
        token: Option<String>,
    ) -> Result<HttpTransport, PublishError> {
        let fatal = |message: String| PublishError::Transport {
            attempts: 0,
            message,
        };
        let mut base = Url::parse(base_url)
            .map_err(|e| fatal(format!("invalid Herald URL `{base_url}`: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(fatal(format!(
                "invalid Herald URL `{base_url}`: the scheme must be http or https"
            )));
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let events_url = base
            .join("events")
            .map_err(|e| fatal(format!("invalid Herald URL `{base_url}`: {e}")))?;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| fatal(e.to_string()))?;
        Ok(HttpTransport {
            client,
            events_url,
            token,
        })
    }

    /// One `POST /events` of an envelope's JSON.
    pub(crate) async fn send(&self, json: &str) -> Result<(), SendError> {
        self.post(json.to_owned()).await.map(drop)
    }

    /// One `POST /events` of a JSON array of envelopes: on `202`, the index, code and message of every item
    /// Herald rejected (the others are accepted). A batch of which none is valid is a refusal of the first.
    pub(crate) async fn send_batch(&self, json: String) -> Result<Vec<Rejected>, SendError> {
        let body = self.post(json).await?;
        let rejected = body["data"]["rejected"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(rejected
            .iter()
            .map(|item| Rejected {
                index: item["index"].as_u64().unwrap_or(0) as usize,
                code: text(&item["error"], "code"),
                message: text(&item["error"], "message"),
            })
            .collect())
    }

    /// `POST /events`; the JSON answer of a `2xx`.
    async fn post(&self, body: String) -> Result<Value, SendError> {
        let mut request = self
            .client
            .post(self.events_url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("HTTP: {e}")))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(serde_json::from_str(&body).unwrap_or(Value::Null));
        }
        let (code, message) = match serde_json::from_str::<Value>(&body) {
            Ok(parsed) if parsed["error"]["code"] == "batch_rejected" => {
                // Every item was invalid: report the first item's own error.
                let first = &parsed["error"]["details"]["rejected"][0]["error"];
                (text(first, "code"), text(first, "message"))
            }
            _ => error_of(&body),
        };
        if status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
        {
            return Err(SendError::Transient(format!(
                "HTTP {status}: {code}: {message}"
            )));
        }
        Err(SendError::Refused {
            status: status.as_u16(),
            code,
            message,
        })
    }
}

/// An item of a batch that Herald rejected.
#[derive(Debug)]
pub(crate) struct Rejected {
    /// Its index in the batch.
    pub index: usize,
    /// SPEC's error code.
    pub code: String,
    /// What is wrong.
    pub message: String,
}

fn text(error: &Value, key: &str) -> String {
    error[key].as_str().unwrap_or_default().to_owned()
}

/// The code and message of Herald's error body (`{"error": {"code", "message"}}`), or a description of a body
/// that is not one.
fn error_of(body: &str) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let text = |key: &str| {
        error
            .and_then(|e| e.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match (text("code"), text("message")) {
        (Some(code), Some(message)) => (code, message),
        _ => {
            let snippet: String = body.chars().take(200).collect();
            ("unexpected_response".to_owned(), snippet)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_url_keeps_a_base_path() {
        for (base, expected) in [
            ("http://h:8080", "http://h:8080/events"),
            ("http://h:8080/", "http://h:8080/events"),
            ("https://h/herald", "https://h/herald/events"),
            ("https://h/herald/", "https://h/herald/events"),
        ] {
            let t = HttpTransport::new(base, None).unwrap();
            assert_eq!(t.events_url.as_str(), expected, "base {base}");
        }
    }

    #[test]
    fn a_base_that_is_not_http_is_refused_before_any_io() {
        for base in ["redis://h:6379", "not a url", "ftp://h/"] {
            let error = HttpTransport::new(base, None).err().expect(base);
            assert!(
                matches!(error, PublishError::Transport { attempts: 0, .. }),
                "{base}: {error}"
            );
        }
    }

    #[test]
    fn error_bodies_are_read_or_described() {
        assert_eq!(
            error_of(r#"{"error": {"code": "schema_mismatch", "message": "no"}}"#),
            ("schema_mismatch".to_owned(), "no".to_owned())
        );
        assert_eq!(error_of("<html>").0, "unexpected_response");
    }
}
