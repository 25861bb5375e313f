//! `GET /admin/me`: who the token is (its subject and scopes), for clients such as the Explorer that show what the
//! caller may do and which saved views are theirs. Any valid token may ask; it needs no scope.

use actix_web::HttpResponse;
use serde_json::json;

use crate::http::Caller;
use crate::views::CallerView;

/// `GET /admin/me` → `{"data": {subject, scopes}}`.
pub async fn me(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "data": CallerView::of(&caller.0) }))
}
