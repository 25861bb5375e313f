//! Saved views (SPEC §6.8): `GET/POST /admin/saved-views`, `GET/PATCH/DELETE /admin/saved-views/{slug}`,
//! `POST /admin/saved-views/{slug}/apply` and `POST /admin/saved-views/{slug}/share`. Every route needs
//! `events:read`; the owner is the token's subject.
//!
//! Access ([`SavedView::access_for`]): a private view does not exist for anyone but its owner (404 on every
//! route, exactly as for an unknown slug, so its existence does not leak); a shared view may be read and applied
//! by all, but changed, deleted or shared only by its owner (403 otherwise). `analytics` is computed on a single
//! view (`GET`, `POST`, `PATCH`, apply, share), not on the list, where it is `null`: one bounded read per view
//! of a 200-view page would make the list cost up to 400,000 rows.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::saved_view_bodies::{CreateRequest, SavedViewBody};
use crate::auth::Scope;
use crate::domain::ValidationError;
use crate::http::pagination::{QueryParams, page_json};
use crate::http::wire::{WireBody, parse_body};
use crate::http::{ApiError, AppState, Caller};
use crate::saved_view::{
    Access, NewSavedView, SAMPLE_LIMIT, SavedView, Slug, ViewAnalytics, ViewChanges,
    analytics_window,
};
use crate::storage::EventQuery;
use crate::views::SavedViewView;

const LIST_PARAMETERS: &[&str] = &["limit", "cursor"];

/// `GET /admin/saved-views?limit&cursor`: the caller's own views and every shared one, newest first.
#[tracing::instrument(name = "list_saved_views", skip_all, fields(subject = %caller.0.subject))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let subject = &caller.require(Scope::EventsRead)?.subject;
    let params = QueryParams::parse(req.query_string(), LIST_PARAMETERS)?;
    let limit = params.limit()?;
    let before: Option<String> = params.cursor()?;
    let mut views = state
        .storage
        .saved_views()
        .list_visible(subject, before.as_deref(), limit)
        .await?;
    let next_cursor = params.next_page(&mut views, limit, |last| last.id.clone());
    let views: Vec<SavedViewView<'_>> = views.iter().map(|v| SavedViewView::of(v, None)).collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "data": { "savedViews": views, "page": page_json(next_cursor, limit) } })))
}

/// `POST /admin/saved-views {"name", "description"?, "filters"?, "visibility"?}` → `201` with the view, owned by
/// the caller, its slug made from the name.
#[tracing::instrument(name = "create_saved_view", skip_all, fields(subject = %caller.0.subject))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.require(Scope::EventsRead)?.subject.clone();
    let CreateRequest {
        name,
        description,
        filters,
        visibility,
    } = request::<SavedViewBody, _>(&body)?;
    let new = NewSavedView {
        name,
        description,
        filters,
        visibility,
        owner,
    };
    let now = Utc::now();
    let id = state.next_ulid().to_string();
    let view = state.storage.saved_views().create(&id, &new, now).await?;
    tracing::info!(slug = %view.slug, owner = %view.owner, "Saved view created.");
    let answer = with_analytics(&state, &view, now).await?;
    Ok(HttpResponse::Created().json(json!({ "data": answer })))
}

/// `GET /admin/saved-views/{slug}`: the view with its analytics.
#[tracing::instrument(name = "get_saved_view", skip(state, caller))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (view, _) = visible(&state, &caller, &slug).await?;
    answer(&state, &view).await
}

/// `PATCH /admin/saved-views/{slug} {"name"?, "description"?, "filters"?, "visibility"?}` (at least one; owner
/// only). The slug stays when the name changes.
#[tracing::instrument(name = "update_saved_view", skip(state, caller, body))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let view = owned(&state, &caller, &slug, "change").await?;
    let changes = request::<SavedViewBody, ViewChanges>(&body)?;
    let view = state
        .storage
        .saved_views()
        .update(&view.slug, &changes, Utc::now())
        .await?
        .ok_or_else(|| gone(&view.slug))?;
    answer(&state, &view).await
}

/// `DELETE /admin/saved-views/{slug}` (owner only) → `204`.
#[tracing::instrument(name = "delete_saved_view", skip(state, caller))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = owned(&state, &caller, &slug, "delete").await?;
    if !state.storage.saved_views().delete(&view.slug).await? {
        return Err(gone(&view.slug));
    }
    tracing::info!(slug = %view.slug, owner = %view.owner, "Saved view deleted.");
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /admin/saved-views/{slug}/apply` (anyone who can see it): counts the use (`appliedCount + 1`,
/// `lastAppliedAt`) and answers the view with fresh analytics.
#[tracing::instrument(name = "apply_saved_view", skip(state, caller))]
pub async fn apply(
    state: web::Data<AppState>,
    caller: Caller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (view, _) = visible(&state, &caller, &slug).await?;
    let view = state
        .storage
        .saved_views()
        .record_apply(&view.slug, Utc::now())
        .await?
        .ok_or_else(|| gone(&view.slug))?;
    answer(&state, &view).await
}

/// `POST /admin/saved-views/{slug}/share` (owner only): `visibility` becomes `shared` and `sharedCount` grows by
/// one, on every call.
#[tracing::instrument(name = "share_saved_view", skip(state, caller))]
pub async fn share(
    state: web::Data<AppState>,
    caller: Caller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = owned(&state, &caller, &slug, "share").await?;
    let view = state
        .storage
        .saved_views()
        .share(&view.slug, Utc::now())
        .await?
        .ok_or_else(|| gone(&view.slug))?;
    tracing::info!(slug = %view.slug, owner = %view.owner, "Saved view shared.");
    answer(&state, &view).await
}

/// The view at `slug` if the caller (with `events:read`) may see it, and how; 404 otherwise.
async fn visible(
    state: &AppState,
    caller: &Caller,
    slug: &str,
) -> Result<(SavedView, Access), ApiError> {
    let subject = &caller.require(Scope::EventsRead)?.subject;
    let not_found = || ApiError::not_found(format!("no saved view {slug:?}"));
    // A path that no slug rule could make names no view: the same 404 as an unknown slug.
    let slug = Slug::parse(slug).map_err(|_| not_found())?;
    let view = state
        .storage
        .saved_views()
        .find(&slug)
        .await?
        .ok_or_else(not_found)?;
    match view.access_for(subject) {
        Access::Hidden => Err(not_found()),
        access => Ok((view, access)),
    }
}

/// The view at `slug` if the caller owns it; 404 when they cannot see it, 403 when it is shared but not theirs.
async fn owned(
    state: &AppState,
    caller: &Caller,
    slug: &str,
    action: &str,
) -> Result<SavedView, ApiError> {
    let (view, access) = visible(state, caller, slug).await?;
    if access != Access::Owner {
        return Err(ApiError::not_owner(
            format!("saved view {slug:?} is shared read-only; only its owner may {action} it",),
            &view.owner,
        ));
    }
    Ok(view)
}

/// A view found a moment ago and gone now (deleted concurrently).
fn gone(slug: &Slug) -> ApiError {
    ApiError::not_found(format!("no saved view {:?}", slug.as_str()))
}

/// `200 {"data": <view with analytics>}`.
async fn answer(state: &AppState, view: &SavedView) -> Result<HttpResponse, ApiError> {
    let answer = with_analytics(state, view, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": answer })))
}

/// The view's JSON with its analytics at `now`: the severities of the newest matching events in the window, read
/// with the events list's own conditions (every filter, under `HERALD_QUERY_TIMEOUT_MS`) but not their payloads,
/// one more than [`SAMPLE_LIMIT`] to know whether there were more.
async fn with_analytics(
    state: &AppState,
    view: &SavedView,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, ApiError> {
    let severities = match analytics_window(&view.filters, now) {
        None => Vec::new(),
        Some((from, to)) => {
            let query = EventQuery {
                filter: view.filters.filter.clone(),
                from: Some(from),
                to: Some(to),
            };
            state
                .storage
                .events()
                .newest_severities(&query, SAMPLE_LIMIT + 1, state.query_timeout)
                .await?
        }
    };
    let analytics = ViewAnalytics::of(severities);
    serde_json::to_value(SavedViewView::of(view, Some(&analytics))).map_err(ApiError::unexpected)
}

/// Reads `body` as `W` and checks it into `R`; 400 naming the field otherwise.
fn request<W, R>(body: &[u8]) -> Result<R, ApiError>
where
    W: WireBody,
    R: TryFrom<W, Error = ValidationError>,
{
    parse_body::<W>(body)
        .and_then(R::try_from)
        .map_err(|e| ApiError::validation(&e))
}
