//! [`CallerView`]: who a token is, as `GET /admin/me` sends it.

use serde::Serialize;

use crate::auth::Principal;

/// `{subject, scopes}`: the token's subject (`anonymous` without tokens) and its scopes as configured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallerView<'a> {
    /// Scope names (`events:read`, `admin`, …).
    pub scopes: Vec<&'static str>,
    /// The subject.
    pub subject: &'a str,
}

impl<'a> CallerView<'a> {
    /// The view of `principal`.
    pub fn of(principal: &'a Principal) -> CallerView<'a> {
        CallerView {
            scopes: principal.scopes().iter().map(|s| s.as_str()).collect(),
            subject: &principal.subject,
        }
    }
}
