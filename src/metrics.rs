//! Prometheus metrics (`GET /metrics/prometheus`): one [`Metrics`] handle per [`crate::startup::Application`],
//! owning its own [`Registry`] rather than the process-wide default, so two Herald instances in one process (the
//! integration tests) never share counters.
//!
//! Names follow `herald_<name>_<unit>[_total]` (STYLE §7.4). Counters are bumped where the event happens: the
//! [`crate::actors::IngressRouter`] after each write (stored, duplicates, dead letters, batch duration, lag) and
//! the [`crate::actors::SourceRateLimiter`] on its decisions (throttled, dropped). Gauges that describe shared
//! state (backlogs, paused sources) are read from storage when scraped, so every instance reports the deployment's
//! numbers, not only its own.
//!
//! Label values come from bounded sets: `reason` from the closed [`ErrorCode`] set, `source` from
//! [`SourceLabels`] (the sources named in `EVENT_SOURCE_RATE_LIMITS` plus the first [`MAX_SOURCE_LABELS`] others
//! seen; everything else is [`OTHER_SOURCE_LABEL`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::config::rate_limits::RateLimits;
use crate::domain::{ErrorCode, SourceName, StoredEvent};

/// How many distinct sources, beyond those named in `EVENT_SOURCE_RATE_LIMITS`, get a `source` label value of
/// their own. Each one is a time series per source metric in every scrape; a publisher that invents a source per
/// event must not be able to grow that without bound.
pub const MAX_SOURCE_LABELS: usize = 100;

/// The `source` label value of every source past the cap. SPEC §1's source charset does allow `_`, so a real
/// source could be called `__other__`: such a source is never given a label of its own and always counts here, so
/// the value keeps one meaning ("folded"), whatever publishers name their sources.
pub const OTHER_SOURCE_LABEL: &str = "__other__";

/// The `Content-Type` of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Lag buckets, in milliseconds: from "published just now" to "an hour late" (a replayed or back-filled stream).
const LAG_BUCKETS_MS: [f64; 14] = [
    1.0,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1_000.0,
    5_000.0,
    10_000.0,
    60_000.0,
    300_000.0,
    3_600_000.0,
];

/// Write durations, in seconds: a group commit of up to 2,000 events takes milliseconds on a healthy database.
const BATCH_BUCKETS_S: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Decides the `source` label value of each source: its own name while the set of named sources is within bounds,
/// else [`OTHER_SOURCE_LABEL`]. A plain struct (no locking, no Prometheus) so the rule is unit tested on its own.
#[derive(Debug, Clone)]
pub struct SourceLabels {
    /// Sources named in `EVENT_SOURCE_RATE_LIMITS`: always labelled, whatever the order of arrival.
    configured: HashSet<String>,
    /// Other sources given a label of their own, in order of first sight, up to `cap`.
    seen: HashSet<String>,
    cap: usize,
}

impl SourceLabels {
    /// Labels for the `configured` sources plus the first `cap` others seen.
    pub fn new<I, S>(configured: I, cap: usize) -> SourceLabels
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SourceLabels {
            configured: configured.into_iter().map(Into::into).collect(),
            seen: HashSet::new(),
            cap,
        }
    }

    /// The label value of `source`, admitting it to the set when there is room. Once admitted a source keeps its
    /// label for the life of the process, so its series never switch to `__other__` halfway.
    pub fn label<'a>(&mut self, source: &'a str) -> &'a str {
        if source == OTHER_SOURCE_LABEL {
            return OTHER_SOURCE_LABEL;
        }
        if self.configured.contains(source) || self.seen.contains(source) {
            return source;
        }
        if self.seen.len() < self.cap {
            self.seen.insert(source.to_owned());
            return source;
        }
        OTHER_SOURCE_LABEL
    }

    /// The label value of `source` without admitting it: for gauges computed at scrape time from storage, which
    /// must not take the places of sources that publish.
    pub fn peek<'a>(&self, source: &'a str) -> &'a str {
        if source != OTHER_SOURCE_LABEL
            && (self.configured.contains(source) || self.seen.contains(source))
        {
            source
        } else {
            OTHER_SOURCE_LABEL
        }
    }
}

/// A cheap-to-clone handle on Herald's metrics; see the module docs.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

struct Inner {
    registry: Registry,
    /// A `std` mutex: held for a few hash lookups per batch, never across an `.await`.
    labels: Mutex<SourceLabels>,
    events_stored: IntCounterVec,
    events_duplicate: IntCounter,
    events_dead_lettered: IntCounterVec,
    events_throttled: IntCounterVec,
    events_dropped: IntCounterVec,
    ingest_batch_duration: Histogram,
    event_lag: Histogram,
    source_backlog: IntGaugeVec,
    sources_paused: IntGauge,
    websocket_sessions: IntGauge,
}

/// What one ingest write came to, for [`Metrics::ingest_written`].
#[derive(Debug, Default)]
pub struct WriteCounts {
    /// Entries whose id was already stored with the same content.
    pub duplicates: u64,
    /// One reason per dead-lettered entry (validation failures, poison, stream conflicts).
    pub dead_lettered: Vec<ErrorCode>,
}

impl Metrics {
    /// The metrics of one Herald, with `source` labels reserved for the sources named in `rate_limits`.
    pub fn new(rate_limits: &RateLimits) -> Metrics {
        let configured = rate_limits
            .entries()
            .map(|(source, _)| source)
            .filter(|s| *s != crate::config::rate_limits::ANY_SOURCE)
            .map(str::to_owned);
        Metrics::build(SourceLabels::new(configured, MAX_SOURCE_LABELS))
    }

    /// Metrics nobody scrapes: the default of actors built without a handle (unit tests).
    pub fn detached() -> Metrics {
        Metrics::new(&RateLimits::default())
    }

    fn build(labels: SourceLabels) -> Metrics {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, label: &str| {
            let metric = IntCounterVec::new(Opts::new(name, help), &[label])
                // unwrap: the name, help and label are constants that Prometheus accepts.
                .unwrap();
            register(&registry, metric)
        };
        let events_stored = counter_vec(
            "herald_events_stored_total",
            "Events newly stored, by source.",
            "source",
        );
        let events_dead_lettered = counter_vec(
            "herald_events_dead_lettered_total",
            "Entries recorded as dead letters, by reason (a SPEC error code).",
            "reason",
        );
        let events_throttled = counter_vec(
            "herald_events_throttled_total",
            "Events whose trigger evaluation a source rate limit deferred, by source.",
            "source",
        );
        let events_dropped = counter_vec(
            "herald_events_dropped_total",
            "Deferred events an operator discarded (their evaluation is dropped; they stay stored), by source.",
            "source",
        );
        // unwrap (each below): constant names and options that Prometheus accepts.
        let events_duplicate = register(
            &registry,
            IntCounter::new(
                "herald_events_duplicate_total",
                "Entries whose id was already stored with the same content.",
            )
            .unwrap(),
        );
        let ingest_batch_duration = register(
            &registry,
            Histogram::with_opts(
                HistogramOpts::new(
                    "herald_ingest_batch_duration_seconds",
                    "Time to persist one ingest write (a group commit of one or more batches).",
                )
                .buckets(BATCH_BUCKETS_S.to_vec()),
            )
            .unwrap(),
        );
        let event_lag = register(
            &registry,
            Histogram::with_opts(
                HistogramOpts::new(
                    "herald_event_lag_milliseconds",
                    "receivedAt minus occurredAt of each stored event.",
                )
                .buckets(LAG_BUCKETS_MS.to_vec()),
            )
            .unwrap(),
        );
        let source_backlog = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "herald_source_backlog_events",
                    "Events waiting for trigger evaluation behind a source's pause (every instance's), by source.",
                ),
                &["source"],
            )
            .unwrap(),
        );
        let sources_paused = register(
            &registry,
            IntGauge::new(
                "herald_sources_paused",
                "Sources paused now, by hand or by their rate limit.",
            )
            .unwrap(),
        );
        let websocket_sessions = register(
            &registry,
            IntGauge::new(
                "herald_websocket_sessions",
                "Open WebSocket sessions on this instance.",
            )
            .unwrap(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                labels: Mutex::new(labels),
                events_stored,
                events_duplicate,
                events_dead_lettered,
                events_throttled,
                events_dropped,
                ingest_batch_duration,
                event_lag,
                source_backlog,
                sources_paused,
                websocket_sessions,
            }),
        }
    }

    fn labels(&self) -> std::sync::MutexGuard<'_, SourceLabels> {
        // A panic while holding the lock cannot leave the sets half-updated in a way that matters (at worst a
        // source is admitted twice), so a poisoned lock is used as is.
        self.inner
            .labels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One ingest write committed in `elapsed`: counts the newly `stored` events per source and their lag, and
    /// the duplicates and dead letters in `counts`.
    pub fn ingest_written(&self, stored: &[StoredEvent], counts: &WriteCounts, elapsed: Duration) {
        let inner = &self.inner;
        inner.ingest_batch_duration.observe(elapsed.as_secs_f64());
        if counts.duplicates > 0 {
            inner.events_duplicate.inc_by(counts.duplicates);
        }
        for reason in &counts.dead_lettered {
            inner
                .events_dead_lettered
                .with_label_values(&[reason.as_str()])
                .inc();
        }
        if stored.is_empty() {
            return;
        }
        // One counter update per label of the write, not per event: a write holds up to 2,000 events.
        let mut per_label: HashMap<&str, u64> = HashMap::new();
        {
            let mut labels = self.labels();
            for event in stored {
                *per_label
                    .entry(labels.label(event.envelope.source.as_str()))
                    .or_default() += 1;
                let lag_ms = (event.received_at - event.envelope.occurred_at)
                    .num_milliseconds()
                    .max(0);
                inner.event_lag.observe(lag_ms as f64);
            }
        }
        for (label, n) in per_label {
            inner.events_stored.with_label_values(&[label]).inc_by(n);
        }
    }

    /// A source's rate limiter deferred `n` events' trigger evaluation.
    pub fn events_throttled(&self, source: &SourceName, n: u64) {
        if n == 0 {
            return;
        }
        let mut labels = self.labels();
        let label = labels.label(source.as_str());
        self.inner
            .events_throttled
            .with_label_values(&[label])
            .inc_by(n);
    }

    /// An operator discarded `n` deferred events of a source.
    pub fn events_dropped(&self, source: &SourceName, n: u64) {
        if n == 0 {
            return;
        }
        let mut labels = self.labels();
        let label = labels.label(source.as_str());
        self.inner
            .events_dropped
            .with_label_values(&[label])
            .inc_by(n);
    }

    /// Replaces the backlog gauges with `backlogs` (every source with deferred events, from storage), folding
    /// sources without a label of their own into [`OTHER_SOURCE_LABEL`].
    pub fn set_source_backlogs(&self, backlogs: &[(SourceName, u64)]) {
        let mut sums: Vec<(&str, i64)> = Vec::new();
        {
            let labels = self.labels();
            for (source, n) in backlogs {
                let label = labels.peek(source.as_str());
                let n = i64::try_from(*n).unwrap_or(i64::MAX);
                match sums.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, sum)) => *sum = sum.saturating_add(n),
                    None => sums.push((label, n)),
                }
            }
        }
        // Reset first, so a source whose backlog drained reports nothing rather than its last value.
        self.inner.source_backlog.reset();
        for (label, n) in sums {
            self.inner.source_backlog.with_label_values(&[label]).set(n);
        }
    }

    /// Sets how many sources are paused now.
    pub fn set_sources_paused(&self, n: usize) {
        self.inner
            .sources_paused
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The hook for the WebSocket hub: call with the number of open sessions whenever it changes.
    pub fn set_websocket_sessions(&self, open: usize) {
        self.inner
            .websocket_sessions
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    /// Every metric in the Prometheus text exposition format ([`PROMETHEUS_CONTENT_TYPE`]).
    ///
    /// # Errors
    /// When a metric cannot be encoded (a bug: every name and label is validated at registration).
    pub fn encode(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.inner.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

fn register<M>(registry: &Registry, metric: M) -> M
where
    M: prometheus::core::Collector + Clone + 'static,
{
    // unwrap: every metric is registered once, under a distinct constant name, in a fresh registry.
    registry.register(Box::new(metric.clone())).unwrap();
    metric
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_past_the_cap_fold_into_other_and_admitted_ones_keep_their_label() {
        let mut labels = SourceLabels::new(["configured.api"], 2);
        assert_eq!(labels.label("first.api"), "first.api");
        assert_eq!(labels.label("second.api"), "second.api");
        assert_eq!(labels.label("third.api"), OTHER_SOURCE_LABEL);
        assert_eq!(labels.label("fourth.api"), OTHER_SOURCE_LABEL);
        // Admitted sources keep their label, and configured ones never compete for a place.
        assert_eq!(labels.label("first.api"), "first.api");
        assert_eq!(labels.label("configured.api"), "configured.api");
        assert_eq!(labels.peek("third.api"), OTHER_SOURCE_LABEL);
        assert_eq!(labels.peek("second.api"), "second.api");
    }

    #[test]
    fn the_cap_is_the_named_constant_plus_other() {
        let mut labels = SourceLabels::new(Vec::<String>::new(), MAX_SOURCE_LABELS);
        let distinct: HashSet<String> = (0..MAX_SOURCE_LABELS + 50)
            .map(|i| labels.label(&format!("svc-{i}")).to_owned())
            .collect();
        assert_eq!(
            distinct.len(),
            MAX_SOURCE_LABELS + 1,
            "the cap plus __other__"
        );
        assert!(distinct.contains(OTHER_SOURCE_LABEL));
    }

    #[test]
    fn a_real_source_named_other_never_gets_a_label_of_its_own() {
        // SPEC §1 allows `_` in source names, so `__other__` is a valid name; it must not take a place.
        assert!(SourceName::parse(OTHER_SOURCE_LABEL.to_owned()).is_ok());
        let mut labels = SourceLabels::new([OTHER_SOURCE_LABEL], 1);
        assert_eq!(labels.label(OTHER_SOURCE_LABEL), OTHER_SOURCE_LABEL);
        assert_eq!(
            labels.label("first.api"),
            "first.api",
            "the place is still free"
        );
        assert_eq!(labels.label("second.api"), OTHER_SOURCE_LABEL);
    }

    #[test]
    fn peeking_never_admits_a_source() {
        let mut labels = SourceLabels::new(Vec::<String>::new(), 1);
        assert_eq!(labels.peek("backlogged.api"), OTHER_SOURCE_LABEL);
        assert_eq!(labels.label("publishing.api"), "publishing.api");
    }

    #[test]
    fn backlog_gauges_are_replaced_and_folded() {
        let metrics = Metrics::build(SourceLabels::new(["a.api"], 0));
        let name = |s: &str| SourceName::parse(s.to_owned()).unwrap();
        metrics.set_source_backlogs(&[(name("a.api"), 3), (name("b.api"), 4), (name("c.api"), 5)]);
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(r#"herald_source_backlog_events{source="a.api"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"herald_source_backlog_events{source="__other__"} 9"#),
            "{text}"
        );
        metrics.set_source_backlogs(&[]);
        assert!(
            !metrics
                .encode()
                .unwrap()
                .contains("herald_source_backlog_events{")
        );
    }
}
