//! `GET /ws` (SPEC §7): authenticates the handshake, then hands the connection to a
//! [`WsSession`](crate::actors::WsSession).
//!
//! Browsers cannot set headers on a WebSocket, so besides `Authorization: Bearer <token>` the token may come as a
//! subprotocol: `Sec-WebSocket-Protocol: herald.v1, herald.bearer.<token>`; the server selects `herald.v1`. Tokens
//! never travel in the URL, so they never reach access logs. Refusals (401, 403, 503 while shutting down) are
//! answered as JSON before the upgrade.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::actors::WsSession;
use crate::auth::{AccessPolicy, Principal, Scope};
use crate::http::{ApiError, AppState, Caller};

/// The subprotocol prefix that carries a bearer token.
const BEARER_PROTOCOL_PREFIX: &str = "herald.bearer.";

/// `GET /ws`.
#[tracing::instrument(name = "ws_connect", skip_all, fields(subject))]
pub async fn connect(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let caller = Caller(authenticate(&state, &req)?);
    caller.require(Scope::EventsRead)?;
    tracing::Span::current().record("subject", caller.0.subject.as_str());
    if !state.is_ready() {
        return Err(ApiError::unavailable(
            "Herald is shutting down; connect to another instance",
            None,
        )
        .into());
    }
    WsSession::new(
        state.ws_hub.clone(),
        state.storage.clone(),
        state.query_timeout,
    )
    .serve(&req, payload)
}

/// The caller, from the `Authorization` header or, failing that, the `herald.bearer.<token>` subprotocol.
fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Principal, ApiError> {
    let registry = match &state.access {
        AccessPolicy::Anonymous => return Ok(Principal::anonymous()),
        AccessPolicy::Tokens(registry) => registry,
    };
    let token = match req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(value) => value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?,
        None => subprotocol_token(req).ok_or_else(|| {
            ApiError::unauthorized(
                "missing token: send `Authorization: Bearer <token>`, or the subprotocols \
                 `herald.v1, herald.bearer.<token>`",
            )
        })?,
    };
    registry
        .authenticate(token)
        .cloned()
        .ok_or_else(|| ApiError::unauthorized("unknown token"))
}

fn subprotocol_token(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| p.strip_prefix(BEARER_PROTOCOL_PREFIX))
        .filter(|token| !token.is_empty())
}
