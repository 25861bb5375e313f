//! The events API (SPEC §6.1): `GET /admin/events` (filtered, cursor-paginated, newest first, with the page's
//! field schema), `GET /admin/events/{id}`, `GET /admin/events/stats` and `GET /admin/events/timeline`.

use std::collections::BTreeMap;

use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use crate::auth::Scope;
use crate::domain::format_timestamp;
use crate::filter::{EventFilter, FILTER_FIELDS};
use crate::http::pagination::{QueryParams, page_json};
use crate::http::{ApiError, AppState, Caller};
use crate::insights::page_schema;
use crate::storage::EventQuery;
use crate::views::{DeliveryView, EventView, TimelineItemView};

/// Most items a timeline answers.
pub const TIMELINE_MAX_ITEMS: u64 = 1_000;
/// Longest span `stats` covers.
pub const STATS_MAX_SPAN: TimeDelta = TimeDelta::days(7);
/// Most types (and sources) `stats` lists, the busiest first.
pub const STATS_MAX_NAMES: usize = 1_000;

/// `GET /admin/events?type&source&correlationId&from&to&severity&jsonPath&limit&cursor`.
#[tracing::instrument(name = "list_events", skip_all)]
pub async fn list_events(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let mut known = FILTER_FIELDS.to_vec();
    known.extend(["from", "to", "limit", "cursor"]);
    let params = QueryParams::parse(req.query_string(), &known)?;
    let limit = params.limit()?;
    let (from, to) = params.range()?;
    let filter =
        EventFilter::from_fields(|name| params.get(name)).map_err(|e| ApiError::query(&e))?;
    let before: Option<i64> = params.cursor()?;
    let query = EventQuery { filter, from, to };
    let mut events = state
        .storage
        .events()
        .list(&query, before, limit, state.query_timeout)
        .await?;
    let next_cursor = params.next_page(&mut events, limit, |last| last.ingress_sequence);
    let schema = page_schema(events.iter().map(|e| &e.envelope.payload));
    let views: Vec<EventView<'_>> = events.iter().map(EventView::of).collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": { "events": views, "page": page_json(next_cursor, limit) },
        "schema": schema,
    })))
}

/// `GET /admin/events/{id}` → `{"data": {"event": <view>, "deliveries": [<delivery>…]}}` (every trigger
/// outcome of the event, oldest first).
#[tracing::instrument(name = "get_event", skip(state, caller))]
pub async fn get_event(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let event = state
        .storage
        .events()
        .find(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {id}")))?;
    let deliveries = state.storage.delivery_history().for_event(&id).await?;
    let deliveries: Vec<DeliveryView<'_>> = deliveries.iter().map(DeliveryView::of).collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "data": { "event": EventView::of(&event), "deliveries": deliveries } })))
}

/// `GET /admin/events/stats?from&to&bucket=minute|hour`: counts by `occurredAt` bucket (empty buckets are 0), by
/// type and by source. Defaults to the last hour; spans at most 7 days. `bucket` defaults to `minute` for spans up
/// to 6 hours and `hour` beyond.
#[tracing::instrument(name = "event_stats", skip_all)]
pub async fn stats(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let params = QueryParams::parse(req.query_string(), &["from", "to", "bucket"])?;
    let (from, to) = params.range()?;
    let to = to.unwrap_or_else(Utc::now);
    let from = from.unwrap_or(to - TimeDelta::hours(1));
    if from > to {
        return Err(ApiError::parameter("from", "from is after to"));
    }
    if to - from > STATS_MAX_SPAN {
        return Err(ApiError::parameter(
            "from",
            "stats span at most 7 days; narrow from and to",
        ));
    }
    let bucket_seconds: i64 = match params.get("bucket") {
        Some("minute") => 60,
        Some("hour") => 3_600,
        None if to - from <= TimeDelta::hours(6) => 60,
        None => 3_600,
        Some(other) => {
            return Err(ApiError::parameter(
                "bucket",
                format!("bucket must be minute or hour, got {other:?}"),
            ));
        }
    };
    let counts = state
        .storage
        .events()
        .stats(from, to, bucket_seconds, state.query_timeout)
        .await?;
    let by_start: BTreeMap<i64, u64> = counts
        .per_bucket
        .iter()
        .map(|(at, n)| (at.timestamp(), *n))
        .collect();
    let first = from.timestamp().div_euclid(bucket_seconds) * bucket_seconds;
    let per_bucket: Vec<Value> = (first..=to.timestamp())
        .step_by(bucket_seconds as usize)
        .filter_map(|start| {
            let at = DateTime::<Utc>::from_timestamp(start, 0)?;
            let count = by_start.get(&start).copied().unwrap_or(0);
            Some(json!({ "at": format_timestamp(at), "count": count }))
        })
        .collect();
    let minutes = ((to - from).num_milliseconds() as f64 / 60_000.0).max(1.0);
    let per_minute = (counts.total as f64 / minutes * 100.0).round() / 100.0;
    Ok(HttpResponse::Ok().json(json!({ "data": {
        "from": format_timestamp(from),
        "to": format_timestamp(to),
        "bucket": if bucket_seconds == 60 { "minute" } else { "hour" },
        "total": counts.total,
        "perBucket": per_bucket,
        "byType": busiest(counts.by_type),
        "bySource": busiest(counts.by_source),
        "eventsPerMinute": per_minute,
    }})))
}

/// The busiest [`STATS_MAX_NAMES`] names as a JSON object, name → count.
fn busiest(mut counts: Vec<(String, u64)>) -> Value {
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.truncate(STATS_MAX_NAMES);
    Value::Object(
        counts
            .into_iter()
            .map(|(name, n)| (name, json!(n)))
            .collect::<Map<String, Value>>(),
    )
}

/// `GET /admin/events/timeline?correlationId=`: every event of the correlation id, and the
/// deliveries and attempts they caused (`kind`: `event`, `delivery`, `attempt`), in time order, at most 1,000 items.
#[tracing::instrument(name = "event_timeline", skip_all)]
pub async fn timeline(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::EventsRead)?;
    let params = QueryParams::parse(req.query_string(), &["correlationId"])?;
    let filter =
        EventFilter::from_fields(|name| params.get(name)).map_err(|e| ApiError::query(&e))?;
    let Some(correlation_id) = filter.correlation_id else {
        return Err(ApiError::parameter(
            "correlationId",
            "correlationId is required",
        ));
    };
    let mut events = state
        .storage
        .events()
        .correlated(correlation_id.as_str(), TIMELINE_MAX_ITEMS + 1)
        .await?;
    let truncated = events.len() as u64 > TIMELINE_MAX_ITEMS;
    events.truncate(TIMELINE_MAX_ITEMS as usize);
    let ids: Vec<&str> = events.iter().map(|e| e.envelope.id.as_str()).collect();
    let deliveries = state.storage.delivery_history().for_events(&ids).await?;
    let delivery_ids: Vec<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
    let attempts = state
        .storage
        .delivery_history()
        .attempts_of(&delivery_ids)
        .await?;
    let listed: HashSet<&str> = ids.iter().copied().collect();
    let mut items: Vec<TimelineItemView<'_>> = events
        .iter()
        .map(|e| TimelineItemView::event(e, |id| listed.contains(id)))
        .collect();
    items.extend(deliveries.iter().map(TimelineItemView::delivery));
    items.extend(attempts.iter().map(TimelineItemView::attempt));
    // RFC 3339 with milliseconds in UTC sorts as text; within one millisecond an event comes before the deliveries
    // it caused and a delivery before its attempts; the sort is stable, so events keep their stored order.
    items.sort_by(|a, b| a.at.cmp(&b.at).then(a.rank().cmp(&b.rank())));
    let truncated = truncated || items.len() as u64 > TIMELINE_MAX_ITEMS;
    items.truncate(TIMELINE_MAX_ITEMS as usize);
    Ok(HttpResponse::Ok().json(json!({ "data": { "items": items, "truncated": truncated } })))
}
