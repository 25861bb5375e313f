//! The [`Caller`] extractor: authenticates the bearer token (401) and checks scopes (403 naming the scope).

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};

use super::AppState;
use super::error::ApiError;
use crate::auth::{AccessPolicy, Principal, Scope};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    /// Succeeds when the caller holds `scope` (or `admin`).
    ///
    /// # Errors
    /// 403 `forbidden` with `details.requiredScope`.
    pub fn require(&self, scope: Scope) -> Result<&Principal, ApiError> {
        if self.0.has(scope) {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(scope.as_str()))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::unexpected("application state missing"));
    };
    let registry = match &state.access {
        AccessPolicy::Anonymous => return Ok(Caller(Principal::anonymous())),
        AccessPolicy::Tokens(registry) => registry,
    };
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(token) = header.and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    }) else {
        return Err(ApiError::unauthorized(
            "missing `Authorization: Bearer <token>` header",
        ));
    };
    registry
        .authenticate(token.trim())
        .map(|principal| Caller(principal.clone()))
        .ok_or_else(|| ApiError::unauthorized("unknown token"))
}
