//! The HTTP side of the admin commands (`herald events`, `herald triggers`): where Herald is and how to
//! authenticate (`--url`, `--token`), one client bound to them, and the sentence a failed request becomes.

use std::borrow::Cow;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::Value;

use clap::Args;

/// The `--url` default, also what a suggested follow-up command leaves out.
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// Where Herald is and how to authenticate; shared by every admin subcommand.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Herald's base URL.
    #[arg(long, env = "HERALD_URL", default_value = DEFAULT_URL)]
    pub(crate) url: String,
    /// A token with the scope the command needs (`events:read`, `triggers:read`, `triggers:write`,
    /// `triggers:operate`).
    #[arg(long, env = "HERALD_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
}

/// How long to wait for a TCP connection before saying Herald is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What `Url::parse` fails with (the `url` crate's `ParseError`, which reqwest does not re-export).
type UrlParseError = <Url as std::str::FromStr>::Err;

/// Why a request to Herald failed. Its `Display` is the sentence printed after `herald events: `; the cause
/// stays attached as the source.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// `--url` is not a URL.
    #[error("--url {url:?} is not a valid URL: {source}")]
    InvalidUrl {
        url: String,
        #[source]
        source: UrlParseError,
    },
    /// `--url` is a URL that takes no path (`mailto:`, `data:`).
    #[error("--url {url:?} is not an http(s) URL")]
    NotHttp { url: String },
    /// The HTTP client could not be built.
    #[error("cannot build an HTTP client: {0}")]
    Build(#[source] reqwest::Error),
    /// No connection to Herald: most likely it is not running.
    #[error(
        "cannot reach Herald at {url}: {}; is it running? Start it with `herald serve`, or point --url \
         (or HERALD_URL) at it",
        root_cause(.source)
    )]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The request failed after connecting (timeout, reset).
    #[error("request to Herald at {url} failed: {}", root_cause(.source))]
    RequestFailed {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The answer's body could not be read.
    #[error("cannot read Herald's answer ({status}): {source}")]
    ReadAnswer {
        status: StatusCode,
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx answer that is not JSON: `--url` is likely not a Herald.
    #[error("unexpected answer from Herald ({status}): not JSON (is --url a Herald?)")]
    NotJson {
        status: StatusCode,
        #[source]
        source: serde_json::Error,
    },
    /// Herald (or a proxy) refused: the line [`error_message`] makes of its answer.
    #[error("{0}")]
    Refused(String),
}

/// An HTTP client bound to one Herald and token.
pub(crate) struct Client<'a> {
    server: &'a ServerArgs,
    base: Url,
    http: reqwest::Client,
}

impl<'a> Client<'a> {
    /// A client for `server`.
    ///
    /// # Errors
    /// When `--url` is not an http(s) URL or no HTTP client can be built.
    pub(crate) fn new(server: &'a ServerArgs) -> Result<Client<'a>, ClientError> {
        let base = Url::parse(&server.url).map_err(|source| ClientError::InvalidUrl {
            url: server.url.clone(),
            source,
        })?;
        if base.cannot_be_a_base() {
            return Err(ClientError::NotHttp {
                url: server.url.clone(),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(ClientError::Build)?;
        Ok(Client { server, base, http })
    }

    /// The base URL plus `segments`, each percent-encoded as one path segment (an id with `/` or `?` stays one).
    ///
    /// # Errors
    /// When `--url` takes no path.
    pub(crate) fn url(&self, segments: &[&str]) -> Result<Url, ClientError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ClientError::NotHttp {
                url: self.server.url.clone(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// `GET url?query` → the JSON body of a 2xx answer. `missing` names what a 404 is about (`event 01J…`).
    ///
    /// # Errors
    /// Herald unreachable (suggesting `herald serve`), an auth failure (suggesting `--token`), no such thing, or
    /// the server's `code: message`.
    pub(crate) async fn get(
        &self,
        url: Url,
        query: &[(&str, String)],
        missing: Option<&str>,
    ) -> Result<Value, ClientError> {
        self.send(self.http.get(url).query(query), missing).await
    }

    /// `POST url` with a JSON `body` → the JSON body of a 2xx answer (`null` when empty).
    ///
    /// # Errors
    /// As [`Client::get`].
    pub(crate) async fn post(
        &self,
        url: Url,
        body: &Value,
        missing: Option<&str>,
    ) -> Result<Value, ClientError> {
        self.send(self.http.post(url).json(body), missing).await
    }

    /// `DELETE url` → the JSON body of a 2xx answer (`null` when empty).
    ///
    /// # Errors
    /// As [`Client::get`].
    pub(crate) async fn delete(
        &self,
        url: Url,
        missing: Option<&str>,
    ) -> Result<Value, ClientError> {
        self.send(self.http.delete(url), missing).await
    }

    async fn send(
        &self,
        mut request: reqwest::RequestBuilder,
        missing: Option<&str>,
    ) -> Result<Value, ClientError> {
        if let Some(token) = &self.server.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|source| {
            let url = self.server.url.clone();
            if source.is_connect() {
                ClientError::Unreachable { url, source }
            } else {
                ClientError::RequestFailed { url, source }
            }
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|source| ClientError::ReadAnswer { status, source })?;
        if status.is_success() {
            if text.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text)
                .map_err(|source| ClientError::NotJson { status, source });
        }
        let body: Option<Value> = serde_json::from_str(&text).ok();
        Err(ClientError::Refused(error_message(
            status,
            body.as_ref(),
            &text,
            missing,
            self.server.token.is_some(),
        )))
    }
}

/// The innermost cause of a request error ("Connection refused (os error 111)"), which says more than reqwest's
/// "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The line to print for a non-2xx answer.
fn error_message(
    status: StatusCode,
    body: Option<&Value>,
    text: &str,
    missing: Option<&str>,
    has_token: bool,
) -> String {
    let error = body.map(|b| &b["error"]);
    let code = error.and_then(|e| e["code"].as_str());
    let message = error.and_then(|e| e["message"].as_str());
    if let (StatusCode::NOT_FOUND, Some(what), Some("not_found")) = (status, missing, code) {
        return format!("no {what}");
    }
    let mut line = match (code, message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => format!("{code} ({status})"),
        _ => {
            let snippet = truncate(text.trim(), 200);
            if snippet.is_empty() {
                format!("Herald answered {status}")
            } else {
                format!("Herald answered {status}: {snippet}")
            }
        }
    };
    match status {
        StatusCode::UNAUTHORIZED if has_token => {
            line.push_str("; check the token given by --token or HERALD_TOKEN");
        }
        StatusCode::UNAUTHORIZED => {
            line.push_str("; pass a token with --token or HERALD_TOKEN");
        }
        StatusCode::FORBIDDEN => {
            let scope = error
                .and_then(|e| e["details"]["requiredScope"].as_str())
                .unwrap_or("events:read");
            line.push_str(&format!(
                "; use a token with the {scope} scope (--token or HERALD_TOKEN)"
            ));
        }
        _ => {}
    }
    line
}

/// `s` cut to at most `max` characters, the last of them `…` when anything was cut.
fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if s.chars().count() <= max {
        return Cow::Borrowed(s);
    }
    let kept: String = s.chars().take(max.saturating_sub(1)).collect();
    Cow::Owned(format!("{kept}…"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truncate_keeps_short_values_and_cuts_long_ones_with_an_ellipsis_within_the_width() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("ééééé", 4).chars().count(), 4);
        assert_eq!(truncate("", 0), "");
    }

    #[test]
    fn a_url_that_is_not_http_is_refused_with_the_flag_named() {
        let server = |url: &str| ServerArgs {
            url: url.to_owned(),
            token: None,
        };

        let garbage = Client::new(&server("not a url")).err().unwrap();
        let mailto = Client::new(&server("mailto:a@b")).err().unwrap();

        assert!(
            garbage
                .to_string()
                .starts_with(r#"--url "not a url" is not a valid URL: "#),
            "{garbage}"
        );
        assert!(std::error::Error::source(&garbage).is_some());
        assert_eq!(
            mailto.to_string(),
            r#"--url "mailto:a@b" is not an http(s) URL"#
        );
    }

    #[test]
    fn an_error_answer_becomes_code_and_message_with_a_hint_for_auth_failures() {
        let body =
            |code: &str, message: &str| json!({ "error": { "code": code, "message": message } });

        let bad = error_message(
            StatusCode::BAD_REQUEST,
            Some(&body("invalid_pattern", "type \"meta*\" is not a pattern")),
            "",
            None,
            false,
        );
        assert_eq!(bad, "invalid_pattern: type \"meta*\" is not a pattern");

        let missing = error_message(
            StatusCode::NOT_FOUND,
            Some(&body("not_found", "no event x")),
            "",
            Some("event x"),
            false,
        );
        assert_eq!(missing, "no event x");

        let unauthorized = error_message(
            StatusCode::UNAUTHORIZED,
            Some(&body("unauthorized", "a bearer token is required")),
            "",
            None,
            false,
        );
        assert!(
            unauthorized.contains("--token or HERALD_TOKEN"),
            "{unauthorized}"
        );

        let forbidden = error_message(
            StatusCode::FORBIDDEN,
            Some(
                &json!({ "error": { "code": "forbidden", "message": "m", "details": { "requiredScope": "events:read" } } }),
            ),
            "",
            None,
            true,
        );
        assert!(forbidden.contains("events:read scope"), "{forbidden}");

        let proxy = error_message(
            StatusCode::BAD_GATEWAY,
            None,
            "<html>oops</html>",
            None,
            false,
        );
        assert_eq!(proxy, "Herald answered 502 Bad Gateway: <html>oops</html>");
    }
}

/// A file (or stdin) a command was told to read could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub(crate) struct ReadInput {
    path: String,
    #[source]
    source: std::io::Error,
}

/// The text of `path` (`-` for stdin), for the commands that send a file's JSON.
///
/// # Errors
/// [`ReadInput`] naming the path.
pub(crate) fn read_input(path: &std::path::Path) -> Result<String, ReadInput> {
    let (path, text) = if path.as_os_str() == "-" {
        (
            "stdin".to_owned(),
            std::io::read_to_string(std::io::stdin()),
        )
    } else {
        (path.display().to_string(), std::fs::read_to_string(path))
    };
    text.map_err(|source| ReadInput { path, source })
}

/// Why an admin command (`herald triggers …`, `herald dead-letters …`) failed; its `Display` is printed after
/// `herald <command>: `.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Read(#[from] ReadInput),
    #[error("the {0} is not JSON: {1}")]
    NotJson(&'static str, #[source] serde_json::Error),
    #[error("unexpected answer from Herald: no {0} (is --url a Herald?)")]
    Unexpected(&'static str),
    #[error("cannot write the output: {0}")]
    Write(#[from] std::io::Error),
}

/// Runs an admin command's future on a current-thread runtime and turns its result into the exit code: a closed
/// stdout (`| head`) is success, any other failure one line on stderr and exit code 1.
pub(crate) fn run_admin(
    command: &str,
    future: impl std::future::Future<Output = Result<(), Failure>>,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let result = match super::block_on(command, future) {
        Ok(result) => result,
        Err(code) => return code,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("herald {command}: {failure}");
            ExitCode::FAILURE
        }
    }
}
