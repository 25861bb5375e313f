//! A saved view as every answer of `/admin/saved-views` sends it (SPEC §6.8), with its analytics.

use serde::Serialize;
use serde_json::Value;

use crate::domain::format_timestamp;
use crate::saved_view::{SavedView, ViewAnalytics, Visibility};

/// `{slug, name, description, filters, visibility, owner: {subject}, appliedCount, sharedCount, lastAppliedAt,
/// createdAt, updatedAt, analytics}`; `analytics` is `null` where it was not computed (the list).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedViewView<'a> {
    /// Over the last 15 minutes; `null` in lists.
    pub analytics: Option<ViewAnalyticsView>,
    /// Times applied, by anyone.
    pub applied_count: u64,
    /// When created.
    pub created_at: String,
    /// The description, or `null`.
    pub description: Option<&'a str>,
    /// The normalized filters: every key, `null` when not filtered, `severity` an array.
    pub filters: Value,
    /// When last applied, or `null`.
    pub last_applied_at: Option<String>,
    /// The name.
    pub name: &'a str,
    /// The owner.
    pub owner: OwnerView<'a>,
    /// Times shared.
    pub shared_count: u64,
    /// The address.
    pub slug: &'a str,
    /// When name, description, filters or visibility last changed.
    pub updated_at: String,
    /// `private` or `shared`.
    pub visibility: Visibility,
}

/// `{subject}`: the token subject that created the view.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerView<'a> {
    /// The subject.
    pub subject: &'a str,
}

/// `{windowSeconds, eventsPerMinute, errorRatio, totalEvents, sampledCount, sampleLimit, truncated}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewAnalyticsView {
    /// `(error + critical) / total` among the counted events; 0 when none.
    pub error_ratio: f64,
    /// Counted events per minute of the window.
    pub events_per_minute: f64,
    /// Most events counted.
    pub sample_limit: u64,
    /// Events counted.
    pub sampled_count: u64,
    /// Matching events counted (at most `sampleLimit`).
    pub total_events: u64,
    /// More events matched than were counted.
    pub truncated: bool,
    /// The window's length: 900.
    pub window_seconds: u64,
}

impl<'a> SavedViewView<'a> {
    /// The view of `view`, with `analytics` when computed.
    pub fn of(view: &'a SavedView, analytics: Option<&ViewAnalytics>) -> SavedViewView<'a> {
        SavedViewView {
            slug: view.slug.as_str(),
            name: view.name.as_str(),
            description: view.description.as_ref().map(|d| d.as_str()),
            filters: view.filters.to_json(),
            visibility: view.visibility,
            owner: OwnerView {
                subject: &view.owner,
            },
            applied_count: view.applied_count,
            shared_count: view.shared_count,
            last_applied_at: view.last_applied_at.map(format_timestamp),
            created_at: format_timestamp(view.created_at),
            updated_at: format_timestamp(view.updated_at),
            analytics: analytics.map(ViewAnalyticsView::of),
        }
    }
}

impl ViewAnalyticsView {
    /// The view of `a`.
    pub fn of(a: &ViewAnalytics) -> ViewAnalyticsView {
        ViewAnalyticsView {
            window_seconds: a.window_seconds,
            events_per_minute: a.events_per_minute,
            error_ratio: a.error_ratio,
            total_events: a.total_events,
            sampled_count: a.sampled_count,
            sample_limit: a.sample_limit,
            truncated: a.truncated,
        }
    }
}
