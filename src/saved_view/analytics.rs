//! [`ViewAnalytics`]: how busy and how erroneous a saved view's events were over the last 15 minutes (SPEC §6.8).
//!
//! Counting stops at [`SAMPLE_LIMIT`] matching events, so a view over a firehose costs one bounded read:
//! `sampledCount` is how many were counted, `truncated` says more exist, and every figure is then over the newest
//! 2,000 (a lower bound for the rate). `totalEvents` is the number of matching events counted, so it equals
//! `sampledCount`; SPEC names both and does not say how they differ. The clock is passed in.

use chrono::{DateTime, TimeDelta, Utc};

use super::ViewFilters;
use crate::domain::Severity;

/// The span analytics look back over.
pub const ANALYTICS_WINDOW: TimeDelta = TimeDelta::minutes(15);
/// Most matching events counted.
pub const SAMPLE_LIMIT: u64 = 2_000;

/// A view's analytics.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewAnalytics {
    /// Always 900: the window's length.
    pub window_seconds: u64,
    /// Matching events counted per minute of the window, two decimals.
    pub events_per_minute: f64,
    /// `(error + critical) / total` among the counted events, four decimals; 0 when none.
    pub error_ratio: f64,
    /// Matching events counted (at most [`SAMPLE_LIMIT`]).
    pub total_events: u64,
    /// Matching events read to compute the figures (at most [`SAMPLE_LIMIT`]).
    pub sampled_count: u64,
    /// [`SAMPLE_LIMIT`].
    pub sample_limit: u64,
    /// More than [`SAMPLE_LIMIT`] events matched.
    pub truncated: bool,
}

/// The `occurredAt` bounds to read for `filters` at `now`: the last 15 minutes, narrowed by the view's own
/// `from`/`to`; `None` when they do not overlap the window (nothing can match).
pub fn analytics_window(
    filters: &ViewFilters,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let from = filters
        .from
        .map_or(now - ANALYTICS_WINDOW, |f| f.max(now - ANALYTICS_WINDOW));
    let to = filters.to.map_or(now, |t| t.min(now));
    (from <= to).then_some((from, to))
}

impl ViewAnalytics {
    /// The figures for the matching events' severities, newest first; only the first [`SAMPLE_LIMIT`] count, and
    /// one more marks the answer truncated.
    pub fn of(severities: impl IntoIterator<Item = Severity>) -> ViewAnalytics {
        let (mut counted, mut errors, mut truncated) = (0u64, 0u64, false);
        for severity in severities {
            if counted == SAMPLE_LIMIT {
                truncated = true;
                break;
            }
            counted += 1;
            if matches!(severity, Severity::Error | Severity::Critical) {
                errors += 1;
            }
        }
        let minutes = ANALYTICS_WINDOW.num_seconds() as f64 / 60.0;
        let error_ratio = if counted == 0 {
            0.0
        } else {
            round(errors as f64 / counted as f64, 4)
        };
        ViewAnalytics {
            window_seconds: ANALYTICS_WINDOW.num_seconds().unsigned_abs(),
            events_per_minute: round(counted as f64 / minutes, 2),
            error_ratio,
            total_events: counted,
            sampled_count: counted,
            sample_limit: SAMPLE_LIMIT,
            truncated,
        }
    }
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_rfc3339_with_offset;

    fn at(s: &str) -> DateTime<Utc> {
        parse_rfc3339_with_offset(s).unwrap()
    }

    #[test]
    fn errors_and_criticals_count_toward_the_error_ratio() {
        let a = ViewAnalytics::of([
            Severity::Error,
            Severity::Critical,
            Severity::Info,
            Severity::Warning,
            Severity::Debug,
            Severity::Info,
        ]);
        assert_eq!(a.error_ratio, 0.3333);
        assert_eq!(
            (a.total_events, a.sampled_count, a.truncated),
            (6, 6, false)
        );
        assert_eq!(a.events_per_minute, 0.4);
        assert_eq!((a.window_seconds, a.sample_limit), (900, 2_000));
    }

    #[test]
    fn no_events_is_a_zero_ratio() {
        let a = ViewAnalytics::of([]);
        assert_eq!(
            (a.error_ratio, a.events_per_minute, a.total_events),
            (0.0, 0.0, 0)
        );
    }

    #[test]
    fn counting_stops_at_the_sample_limit_and_says_so() {
        let a = ViewAnalytics::of(std::iter::repeat_n(Severity::Error, 2_001));
        assert_eq!(
            (a.sampled_count, a.truncated, a.error_ratio),
            (2_000, true, 1.0)
        );
        let a = ViewAnalytics::of(std::iter::repeat_n(Severity::Info, 2_000));
        assert!(!a.truncated);
    }

    #[test]
    fn the_window_is_the_last_15_minutes_narrowed_by_the_view() {
        let now = at("2026-11-22T10:00:00Z");
        let mut filters = ViewFilters::default();
        assert_eq!(
            analytics_window(&filters, now),
            Some((at("2026-11-22T09:45:00Z"), now))
        );
        filters.from = Some(at("2026-11-22T09:50:00Z"));
        filters.to = Some(at("2026-11-22T11:00:00Z"));
        assert_eq!(
            analytics_window(&filters, now),
            Some((at("2026-11-22T09:50:00Z"), now))
        );
        filters.from = None;
        filters.to = Some(at("2026-11-22T09:00:00Z"));
        assert_eq!(analytics_window(&filters, now), None);
    }
}
