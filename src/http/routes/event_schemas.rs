//! The schema registry (SPEC §6.7): `PUT /admin/event-schemas/{type}` (scope `schemas:write`),
//! `GET /admin/event-schemas` and `GET /admin/event-schemas/{type}` (scope `events:read`).
//!
//! A PUT compiles the schema before storing it, so a schema that is stored always compiled; identical to the
//! active version (canonical JSON) answers `200` with it, anything else stores the next version and answers `201`.
//! The registering instance refreshes its catalog before answering; the others follow within 1 s.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use chrono::Utc;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::auth::Scope;
use crate::domain::{EventSchema, EventType, MAX_SCHEMA_BYTES, SchemaError, ValidationError};
use crate::http::pagination::{QueryParams, page_json};
use crate::http::{ApiError, AppState, Caller};
use crate::views::{EventSchemaSummaryView, EventSchemaView};

const LIST_PARAMETERS: &[&str] = &["limit", "cursor"];

/// `PUT /admin/event-schemas/{type}` with the schema as the body.
#[tracing::instrument(name = "put_event_schema", skip(state, caller, req, body), fields(subject = %caller.0.subject))]
pub async fn put(
    state: web::Data<AppState>,
    caller: Caller,
    event_type: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(Scope::SchemasWrite)?;
    let event_type = parse_type(event_type.into_inner())?;
    check_content_type(&req)?;
    let bytes = read_body(&req, body, state.max_body_bytes).await?;
    let schema: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::validation(&ValidationError::invalid_json(format!(
            "the body is not valid JSON: {e}"
        )))
    })?;
    // Compiled here only to refuse what does not compile; the version number is the registry's to give.
    match EventSchema::compile(&schema, 0) {
        Ok(_) => {}
        Err(SchemaError::TooLarge { size }) => {
            return Err(ApiError::schema_too_large(size, MAX_SCHEMA_BYTES));
        }
        Err(SchemaError::Invalid { message }) => return Err(ApiError::invalid_schema(&message)),
    }
    let registered = state
        .storage
        .event_schemas()
        .register(&event_type, schema, &principal.subject, Utc::now())
        .await?;
    if registered.created {
        tracing::info!(%event_type, version = registered.version.version, "Event schema registered.");
    }
    if let Err(e) = state.schemas.refresh().await {
        // Stored all the same; the background poll retries the refresh.
        tracing::warn!(error.message = %e, "Could not refresh the schema catalog after a registration.");
    }
    let body = json!({ "data": EventSchemaView::of(&registered.version) });
    Ok(if registered.created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// `GET /admin/event-schemas?limit&cursor`: the types with a schema, in type order, with their active version.
#[tracing::instrument(name = "list_event_schemas", skip_all)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let params = QueryParams::parse(req.query_string(), LIST_PARAMETERS)?;
    let limit = params.limit()?;
    let after: Option<String> = params.cursor()?;
    let mut rows = state
        .storage
        .event_schemas()
        .list(after.as_deref(), limit)
        .await?;
    let next_cursor = params.next_page(&mut rows, limit, |last| last.event_type.to_string());
    let schemas: Vec<EventSchemaSummaryView<'_>> =
        rows.iter().map(EventSchemaSummaryView::of).collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "data": { "schemas": schemas, "page": page_json(next_cursor, limit) } })))
}

/// `GET /admin/event-schemas/{type}`: every version, newest first; 404 for a type without a schema.
#[tracing::instrument(name = "get_event_schema", skip(state, caller))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    event_type: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let event_type = parse_type(event_type.into_inner())?;
    let versions = state.storage.event_schemas().versions(&event_type).await?;
    let Some(active) = versions.first() else {
        return Err(ApiError::not_found(format!(
            "type {event_type} has no registered schema"
        )));
    };
    let views: Vec<EventSchemaView<'_>> = versions.iter().map(EventSchemaView::of).collect();
    Ok(HttpResponse::Ok().json(json!({ "data": {
        "type": event_type.as_str(),
        "activeVersion": active.version,
        "versions": views,
    } })))
}

/// The `{type}` path segment as an event type (SPEC §1 rules), or 400 `invalid_parameter` naming `type`.
fn parse_type(raw: String) -> Result<EventType, ApiError> {
    EventType::parse(raw).map_err(|e| ApiError::parameter("type", e.message))
}

/// A schema is JSON: `application/json`, `application/schema+json` or any other `+json`; a request without the
/// header is read as JSON too.
fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(content_type) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(());
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(format!(
            "a schema is JSON: send `Content-Type: application/json` (got {content_type:?})"
        )))
    }
}

/// Reads the body up to `limit` bytes (`HERALD_MAX_BODY_BYTES`); the schema's own, smaller limit is checked on
/// its compact JSON once parsed.
async fn read_body(
    req: &HttpRequest,
    mut body: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::body_too_large(limit));
    }
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => ApiError::body_too_large(limit),
            other => ApiError::parameter("body", format!("could not read the body: {other}")),
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::body_too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
