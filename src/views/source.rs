//! The views of a source (SPEC §4 metrics, §6.5 controls): its metrics, pause, latest control and rate limit, as
//! `GET /admin/sources`, the controls' answers, `/admin/event-health` and the `source.paused` /
//! `source.resumed` WebSocket frames send them.

use serde::Serialize;

use crate::domain::{
    ControlAction, PauseKind, RateLimit, SourceControl, SourceName, SourceOverview, SourcePause,
    format_timestamp,
};

/// A pause: `{source, kind, reason, actor, pausedAt, until}` (`until` null: until resumed). The same object in
/// the sources list, the event health and the `source.paused` frame.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourcePauseView<'a> {
    /// Who paused it (`herald` for rate limits).
    pub actor: &'a str,
    /// `manual` or `rate_limit`.
    pub kind: PauseKind,
    /// When it was made or last changed.
    pub paused_at: String,
    /// Why.
    pub reason: &'a str,
    /// The paused source.
    pub source: &'a str,
    /// When it ends; `null`: until resumed.
    pub until: Option<String>,
}

impl<'a> SourcePauseView<'a> {
    /// The view of `pause`.
    pub fn of(pause: &'a SourcePause) -> SourcePauseView<'a> {
        SourcePauseView {
            source: pause.source.as_str(),
            kind: pause.kind,
            reason: &pause.reason,
            actor: &pause.actor,
            paused_at: format_timestamp(pause.paused_at),
            until: pause.until.map(format_timestamp),
        }
    }
}

/// A control: `{action, actor, reason, at}` plus the detail of its action, present (possibly `null`) only for
/// that action.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceControlView<'a> {
    /// `pause`, `resume` or `discard_backlog`.
    pub action: ControlAction,
    /// The acting token's subject.
    pub actor: &'a str,
    /// When.
    pub at: String,
    /// The action's own field.
    #[serde(flatten)]
    pub detail: ControlDetail,
    /// Why; `null` when none was given.
    pub reason: Option<&'a str>,
}

/// The one field a control adds for its action, written `"<name>": value` beside the others.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ControlDetail {
    /// Pause: the duration asked for; `null`: until resumed.
    DurationMs(Option<i64>),
    /// Resume: whether a pause was in force and ended.
    EndedPause(Option<bool>),
    /// Discard: how many deferred evaluations were dropped.
    Discarded(Option<i64>),
}

impl<'a> SourceControlView<'a> {
    /// The view of `control`.
    pub fn of(control: &'a SourceControl) -> SourceControlView<'a> {
        SourceControlView {
            action: control.action,
            actor: &control.actor,
            reason: control.reason.as_deref(),
            at: format_timestamp(control.at),
            detail: match control.action {
                ControlAction::Pause => ControlDetail::DurationMs(control.duration_ms),
                ControlAction::Resume => ControlDetail::EndedPause(control.ended_pause),
                ControlAction::DiscardBacklog => ControlDetail::Discarded(control.discarded),
            },
        }
    }
}

/// One source's SPEC §4 metrics, summed across instances: the `sources` of `/admin/event-health`, and the base
/// of [`SourceView`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceMetricsView<'a> {
    /// Deferred events waiting, on every instance.
    pub backlog: i64,
    /// Deferred events discarded by hand.
    pub dropped: i64,
    /// Dead letters with this source.
    pub failures: i64,
    /// `receivedAt − occurredAt`, in milliseconds.
    pub lag_ms: LagView,
    /// When the latest event was received.
    pub last_event_at: Option<String>,
    /// The source.
    pub source: &'a str,
    /// Events whose evaluation was deferred.
    pub throttled: i64,
    /// Events stored.
    pub total: i64,
}

/// Lag statistics, `null` before the first event.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LagView {
    /// The average.
    pub avg: Option<i64>,
    /// The latest event's.
    pub latest: Option<i64>,
    /// The largest.
    pub max: Option<i64>,
}

impl<'a> SourceMetricsView<'a> {
    /// The metrics of `overview`.
    pub fn of(overview: &'a SourceOverview) -> SourceMetricsView<'a> {
        let c = &overview.counters;
        SourceMetricsView {
            source: overview.source.as_str(),
            total: c.total,
            throttled: c.throttled,
            failures: c.failures,
            dropped: c.dropped,
            lag_ms: LagView {
                avg: c.lag_ms_avg(),
                latest: c.lag_ms_latest,
                max: c.lag_ms_max,
            },
            last_event_at: c.last_event_at.map(format_timestamp),
            backlog: overview.backlog,
        }
    }
}

/// A rate limit: `{limit, intervalMs, pauseMs}`.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitView {
    /// The sliding interval.
    pub interval_ms: u64,
    /// Events per interval.
    pub limit: u32,
    /// How long exceeding it pauses the source.
    pub pause_ms: u64,
}

impl From<RateLimit> for RateLimitView {
    fn from(l: RateLimit) -> RateLimitView {
        RateLimitView {
            limit: l.limit(),
            interval_ms: l.interval_ms(),
            pause_ms: l.pause_ms(),
        }
    }
}

/// A configured rate limit with the source (or `*`) it applies to, as `/admin/event-health` lists them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRateLimitView<'a> {
    /// The limit.
    #[serde(flatten)]
    pub limit: RateLimitView,
    /// The source name, or the catch-all entry.
    pub source: &'a str,
}

/// A source as `GET /admin/sources` and the controls answer it: its metrics, this instance's releases, its
/// pause, latest control and rate limit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceView<'a> {
    /// The latest control; `null` when none.
    pub last_control: Option<SourceControlView<'a>>,
    /// The metrics, summed across instances.
    #[serde(flatten)]
    pub metrics: SourceMetricsView<'a>,
    /// The pause in force; `null` when running.
    pub paused: Option<SourcePauseView<'a>>,
    /// The configured rate limit; `null` when none.
    pub rate_limit: Option<RateLimitView>,
    /// Deferred events this instance released.
    pub released: u64,
}

impl<'a> SourceView<'a> {
    /// The view of `overview`, with this instance's `released` count and the `rate_limit` configured for it.
    pub fn of(
        overview: &'a SourceOverview,
        released: u64,
        rate_limit: Option<RateLimit>,
    ) -> SourceView<'a> {
        SourceView {
            metrics: SourceMetricsView::of(overview),
            released,
            paused: overview.pause.as_ref().map(SourcePauseView::of),
            last_control: overview.last_control.as_ref().map(SourceControlView::of),
            rate_limit: rate_limit.map(RateLimitView::from),
        }
    }
}

/// The data of a `source.resumed` frame: `{source, ended: "resumed" | "expired"}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceResumedView<'a> {
    /// `resumed` (by hand) or `expired` (its end came).
    pub ended: &'static str,
    /// The source.
    pub source: &'a str,
}

impl<'a> SourceResumedView<'a> {
    /// `source`'s pause ended, by hand or (`expired`) because its end came.
    pub fn of(source: &'a SourceName, expired: bool) -> SourceResumedView<'a> {
        SourceResumedView {
            source: source.as_str(),
            ended: if expired { "expired" } else { "resumed" },
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;

    fn control(action: ControlAction) -> SourceControl {
        SourceControl::new(
            ulid::Ulid::generate(),
            SourceName::parse("a".to_owned()).unwrap(),
            action,
            "alice".into(),
            None,
        )
    }

    #[test]
    fn a_control_carries_only_its_own_action_detail_null_when_unset() {
        let pause =
            serde_json::to_value(SourceControlView::of(&control(ControlAction::Pause))).unwrap();
        assert_eq!(pause["durationMs"], json!(null));
        assert!(pause.get("endedPause").is_none() && pause.get("discarded").is_none());
        let mut discard = control(ControlAction::DiscardBacklog);
        discard.discarded = Some(3);
        let discard = serde_json::to_value(SourceControlView::of(&discard)).unwrap();
        assert_eq!(discard["discarded"], 3);
        assert_eq!(discard["action"], "discard_backlog");
        assert_eq!(discard["reason"], json!(null));
        assert!(discard.get("durationMs").is_none());
    }

    #[test]
    fn a_source_view_flattens_its_metrics_beside_pause_control_and_limit() {
        let mut overview = SourceOverview::empty(SourceName::parse("a".to_owned()).unwrap());
        overview.pause = Some(SourcePause {
            source: overview.source.clone(),
            kind: PauseKind::RateLimit,
            reason: "r".into(),
            actor: "herald".into(),
            paused_at: Utc::now(),
            until: None,
        });
        let limit = RateLimit::new(3, 1_000, 500).unwrap();
        let view = serde_json::to_value(SourceView::of(&overview, 2, Some(limit))).unwrap();
        assert_eq!(view["source"], "a");
        assert_eq!(
            view["lagMs"],
            json!({"avg": null, "latest": null, "max": null})
        );
        assert_eq!(view["released"], 2);
        assert_eq!(view["paused"]["kind"], "rate_limit");
        assert_eq!(view["paused"]["until"], json!(null));
        assert_eq!(view["lastControl"], json!(null));
        assert_eq!(
            view["rateLimit"],
            json!({"limit": 3, "intervalMs": 1000, "pauseMs": 500})
        );
    }
}
