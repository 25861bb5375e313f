//! `GET /admin/dead-letters` (cursor-paginated, newest first) and `GET /admin/dead-letters/{id}`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::auth::Scope;
use crate::http::pagination::{QueryParams, page_json};
use crate::http::{ApiError, AppState, Caller};
use crate::storage::DeadLetterFilter;
use crate::views::DeadLetterView;

const PARAMETERS: &[&str] = &["reason", "source", "from", "to", "limit", "cursor"];

/// `GET /admin/dead-letters?reason&source&from&to&limit&cursor`.
#[tracing::instrument(name = "list_dead_letters", skip_all)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let params = QueryParams::parse(req.query_string(), PARAMETERS)?;
    let limit = params.limit()?;
    let (from, to) = params.range()?;
    let filter = DeadLetterFilter {
        reason: params.get("reason").map(str::to_owned),
        source: params.get("source").map(str::to_owned),
        from,
        to,
    };
    let after: Option<(i64, String)> = params.cursor()?;
    let after = match after {
        Some((millis, id)) => Some((
            DateTime::<Utc>::from_timestamp_millis(millis)
                .ok_or_else(|| ApiError::cursor("bad cursor time"))?,
            id,
        )),
        None => None,
    };
    let mut rows = state
        .storage
        .dead_letters()
        .list(&filter, after, limit)
        .await?;
    let next_cursor = params.next_page(&mut rows, limit, |last| {
        (last.received_at.timestamp_millis(), last.id.clone())
    });
    let letters: Vec<DeadLetterView<'_>> = rows.iter().map(DeadLetterView::of).collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "data": { "deadLetters": letters, "page": page_json(next_cursor, limit) } })))
}

/// `GET /admin/dead-letters/{id}`.
#[tracing::instrument(name = "get_dead_letter", skip(state, caller))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let letter = state
        .storage
        .dead_letters()
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no dead letter {id}")))?;
    Ok(HttpResponse::Ok().json(json!({ "data": DeadLetterView::of(&letter) })))
}
