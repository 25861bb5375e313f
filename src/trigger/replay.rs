//! Replay (SPEC §6.2): stored events of a time range sent again to the triggers an operator names, as new
//! deliveries tagged with the replay's id. The pure rules live here: the request as checked, the replay's
//! statuses and progress, which events a trigger takes in a replay, and the pacing. No I/O, no actix; time is
//! passed in.
//!
//! A replayed delivery goes through the trigger's outbox like any other (pause holds it, throttle and
//! concurrency cap apply, failures retry), with two differences: the event's `ttl` does not expire it (the
//! operator asked for the event again, however old) and the trigger's idempotency key does not skip it (a replay
//! is a deliberate repetition; the receiver sees the same event with a new `webhook-id`).

use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::definition::Definition;
use super::predicate::first_failure;
use crate::domain::{NamePattern, UnknownSpelling, ValidationError};

/// The longest span `[from, to]` one replay covers.
pub const MAX_SPAN_DAYS: i64 = 31;
/// Deliveries per second when `ratePerSecond` is not given.
pub const DEFAULT_RATE_PER_SECOND: f64 = 100.0;
/// The highest `ratePerSecond` (past it the delivery pipeline, not the pacing, sets the speed).
pub const MAX_RATE_PER_SECOND: f64 = 100_000.0;
/// The most triggers one replay names.
pub const MAX_TRIGGERS: usize = 100;
/// The most events one step of a replay reads.
pub const MAX_STEP_EVENTS: u64 = 500;

/// Where a replay is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayStatus {
    /// Accepted; no instance has started it yet.
    Pending,
    /// Reading events and recording deliveries.
    Running,
    /// Every event of the range was read and every delivery recorded (deliveries may still be on their way).
    Completed,
    /// Stopped by an operator; its deliveries not yet attempted were cancelled.
    Cancelled,
}

impl ReplayStatus {
    /// As stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReplayStatus::Pending => "pending",
            ReplayStatus::Running => "running",
            ReplayStatus::Completed => "completed",
            ReplayStatus::Cancelled => "cancelled",
        }
    }

    /// Still to be read through (an instance runs it).
    pub const fn is_open(self) -> bool {
        matches!(self, ReplayStatus::Pending | ReplayStatus::Running)
    }
}

impl FromStr for ReplayStatus {
    type Err = UnknownSpelling;

    fn from_str(s: &str) -> Result<ReplayStatus, UnknownSpelling> {
        [
            ReplayStatus::Pending,
            ReplayStatus::Running,
            ReplayStatus::Completed,
            ReplayStatus::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| UnknownSpelling::new("replay status", s))
    }
}

/// A replay as asked for, checked.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    /// Inclusive lower bound on `occurredAt`.
    pub from: DateTime<Utc>,
    /// Inclusive upper bound on `occurredAt`.
    pub to: DateTime<Utc>,
    /// Only events of this type (exact or pattern).
    pub event_type: Option<NamePattern>,
    /// Only events of this source (exact or pattern).
    pub source: Option<NamePattern>,
    /// The triggers to deliver to, each once, in the order given.
    pub trigger_ids: Vec<String>,
    /// Count what would be delivered, deliver nothing.
    pub dry_run: bool,
    /// Deliveries recorded per second, at most.
    pub rate_per_second: f64,
}

impl ReplayRequest {
    /// Checks the parts of a replay request.
    ///
    /// # Errors
    /// `missing_field`/`invalid_field` naming `triggerIds` (absent, empty, too many, an empty id), `from` (after
    /// `to`, or a span over [`MAX_SPAN_DAYS`]) or `ratePerSecond` (not a number above 0 and at most
    /// [`MAX_RATE_PER_SECOND`]).
    pub fn new(
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        (event_type, source): (Option<NamePattern>, Option<NamePattern>),
        trigger_ids: Option<Vec<String>>,
        dry_run: bool,
        rate_per_second: Option<f64>,
    ) -> Result<ReplayRequest, ValidationError> {
        if from > to {
            return Err(ValidationError::invalid("from", "must not be after `to`"));
        }
        if to - from > TimeDelta::days(MAX_SPAN_DAYS) {
            return Err(ValidationError::invalid(
                "from",
                format!("the span from `from` to `to` must be at most {MAX_SPAN_DAYS} days"),
            ));
        }
        let given = trigger_ids.ok_or_else(|| ValidationError::missing("triggerIds"))?;
        if given.is_empty() {
            return Err(ValidationError::invalid(
                "triggerIds",
                "must name at least one trigger",
            ));
        }
        if given.iter().any(String::is_empty) {
            return Err(ValidationError::invalid(
                "triggerIds",
                "must hold trigger ids (non-empty strings)",
            ));
        }
        let mut trigger_ids: Vec<String> = Vec::with_capacity(given.len());
        for id in given {
            if !trigger_ids.contains(&id) {
                trigger_ids.push(id);
            }
        }
        if trigger_ids.len() > MAX_TRIGGERS {
            return Err(ValidationError::invalid(
                "triggerIds",
                format!("must name at most {MAX_TRIGGERS} triggers"),
            ));
        }
        let rate_per_second = rate_per_second.unwrap_or(DEFAULT_RATE_PER_SECOND);
        if !(rate_per_second > 0.0 && rate_per_second <= MAX_RATE_PER_SECOND) {
            return Err(ValidationError::invalid(
                "ratePerSecond",
                format!("must be a number above 0 and at most {MAX_RATE_PER_SECOND}"),
            ));
        }
        Ok(ReplayRequest {
            from,
            to,
            event_type,
            source,
            trigger_ids,
            dry_run,
            rate_per_second,
        })
    }
}

/// A replay as storage hands it up.
#[derive(Debug, Clone)]
pub struct Replay {
    /// A ULID.
    pub id: String,
    /// What was asked.
    pub request: ReplayRequest,
    /// Where it is.
    pub status: ReplayStatus,
    /// The highest `ingressSequence` stored when it was asked for: events stored later are not replayed.
    pub upper_sequence: i64,
    /// The `ingressSequence` of the last event read (0 before the first).
    pub cursor: i64,
    /// How many events of the range there are to read, once counted.
    pub total: Option<u64>,
    /// Events of the range read so far.
    pub scanned: u64,
    /// (trigger, event) pairs that matched so far.
    pub matched: u64,
    /// The token subject that asked for it.
    pub created_by: String,
    /// Asked for.
    pub created_at: DateTime<Utc>,
    /// First started by an instance.
    pub started_at: Option<DateTime<Utc>>,
    /// Completed or cancelled.
    pub finished_at: Option<DateTime<Utc>>,
}

impl Replay {
    /// How far the reading is, 0 to 1: events read of those counted (1 once completed).
    pub fn progress(&self) -> f64 {
        match (self.status, self.total) {
            (ReplayStatus::Completed, _) => 1.0,
            (_, Some(0)) if self.status == ReplayStatus::Running => 1.0,
            (_, Some(total)) if total > 0 => (self.scanned as f64 / total as f64).min(1.0),
            _ => 0.0,
        }
    }
}

/// One step's read of a replay moved forward, as written with the deliveries it recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayStep {
    /// The cursor the step read from (the write holds only if the replay is still there).
    pub from_cursor: i64,
    /// The last sequence it read.
    pub cursor: i64,
    /// Events it read.
    pub scanned: u64,
    /// Pairs that matched.
    pub matched: u64,
    /// Nothing more to read: the replay is completed.
    pub done: bool,
}

/// Whether a trigger takes `event` (as [`super::event_json`]) in a replay: its type and source patterns select
/// it and every predicate passes. The trigger's creation time, the event's ttl and the idempotency key do not
/// count (see the module notes).
pub fn replay_selects(
    definition: &Definition,
    event_type: &str,
    source: &str,
    event: &Value,
) -> bool {
    definition.event_type.matches(event_type)
        && definition
            .event_source
            .as_ref()
            .is_none_or(|p| p.matches(source))
        && first_failure(&definition.predicates, event).is_none()
}

/// How many events one step reads at `rate` deliveries per second: about a tenth of a second's worth, so a
/// step's deliveries are spread over ten steps a second, and at least one.
pub fn step_events(rate: f64) -> u64 {
    ((rate / 10.0).ceil() as u64).clamp(1, MAX_STEP_EVENTS)
}

/// Spreads deliveries at a rate: after each step, when the next may start. A step that took longer than its
/// share is not made up for by a burst.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate: f64,
    next: Option<Instant>,
}

impl Pacer {
    /// At `rate` per second (> 0).
    pub fn new(rate: f64) -> Pacer {
        Pacer { rate, next: None }
    }

    /// A step recorded `sent` deliveries at `now`: the instant the next step may start.
    pub fn after(&mut self, sent: u64, now: Instant) -> Instant {
        let base = self.next.map_or(now, |next| next.max(now));
        let next = base + Duration::from_secs_f64(sent as f64 / self.rate);
        self.next = Some(next);
        next
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 0, 0, 0).unwrap()
    }

    fn request(
        range: (DateTime<Utc>, DateTime<Utc>),
        ids: Option<Vec<&str>>,
        rate: Option<f64>,
    ) -> Result<ReplayRequest, ValidationError> {
        ReplayRequest::new(
            range,
            (None, None),
            ids.map(|ids| ids.into_iter().map(String::from).collect()),
            false,
            rate,
        )
    }

    fn field(e: ValidationError) -> String {
        e.to_string()
    }

    #[test]
    fn a_request_names_the_field_it_breaks() {
        assert!(field(request((at(1), at(2)), None, None).unwrap_err()).contains("triggerIds"));
        assert!(
            field(request((at(1), at(2)), Some(vec![]), None).unwrap_err()).contains("triggerIds")
        );
        assert!(
            field(request((at(3), at(2)), Some(vec!["t"]), None).unwrap_err()).contains("from")
        );
        let long = (
            at(1),
            at(1) + TimeDelta::days(31) + TimeDelta::milliseconds(1),
        );
        assert!(field(request(long, Some(vec!["t"]), None).unwrap_err()).contains("31 days"));
        for rate in [0.0, -1.0, f64::NAN, MAX_RATE_PER_SECOND * 2.0] {
            assert!(
                field(request((at(1), at(2)), Some(vec!["t"]), Some(rate)).unwrap_err())
                    .contains("ratePerSecond"),
                "{rate}"
            );
        }
    }

    #[test]
    fn a_request_keeps_each_trigger_once_and_defaults_its_rate() {
        let exactly_31_days = (at(1), at(1) + TimeDelta::days(31));
        let r = request(exactly_31_days, Some(vec!["a", "b", "a"]), None).unwrap();
        assert_eq!(r.trigger_ids, ["a", "b"]);
        assert_eq!(r.rate_per_second, DEFAULT_RATE_PER_SECOND);
        let r = request((at(1), at(1)), Some(vec!["a"]), Some(0.5)).unwrap();
        assert_eq!(r.rate_per_second, 0.5);
    }

    #[test]
    fn the_pacer_spreads_deliveries_and_never_bursts_to_catch_up() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(100.0);
        assert_eq!(pacer.after(10, t0), t0 + Duration::from_millis(100));
        // The next step came on time: another tenth of a second.
        assert_eq!(
            pacer.after(10, t0 + Duration::from_millis(100)),
            t0 + Duration::from_millis(200)
        );
        // A step that found nothing to deliver waits for nothing.
        assert_eq!(
            pacer.after(0, t0 + Duration::from_millis(200)),
            t0 + Duration::from_millis(200)
        );
        // A late step (storage was slow) starts its share from now, not from the missed schedule.
        let late = t0 + Duration::from_secs(5);
        assert_eq!(pacer.after(50, late), late + Duration::from_millis(500));
    }

    #[test]
    fn a_step_reads_a_tenth_of_a_second_of_deliveries() {
        assert_eq!(step_events(0.5), 1);
        assert_eq!(step_events(100.0), 10);
        assert_eq!(step_events(MAX_RATE_PER_SECOND), MAX_STEP_EVENTS);
    }

    #[test]
    fn progress_counts_the_events_read_of_those_counted() {
        let mut replay = Replay {
            id: "r".into(),
            request: request((at(1), at(2)), Some(vec!["t"]), None).unwrap(),
            status: ReplayStatus::Running,
            upper_sequence: 10,
            cursor: 0,
            total: None,
            scanned: 0,
            matched: 0,
            created_by: "x".into(),
            created_at: at(3),
            started_at: None,
            finished_at: None,
        };
        assert_eq!(replay.progress(), 0.0);
        replay.total = Some(8);
        replay.scanned = 2;
        assert_eq!(replay.progress(), 0.25);
        replay.status = ReplayStatus::Completed;
        assert_eq!(replay.progress(), 1.0);
        replay.status = ReplayStatus::Cancelled;
        assert_eq!(replay.progress(), 0.25);
    }

    #[test]
    fn a_replay_takes_what_the_trigger_selects_and_its_predicates_pass() {
        let rules = crate::trigger::DefinitionRules {
            workflow_stream: "herald:workflow-runs".into(),
            workflow_stream_prefix: "herald:".into(),
            ingress_stream: "herald:events".into(),
        };
        let body = serde_json::json!({"name": "t", "eventType": "shop.*", "eventSource": "api",
            "predicates": [{"path": "$.payload.n", "operator": "gt", "value": 1}],
            "target": {"kind": "webhook", "url": "http://127.0.0.1:9/"}});
        let definition = Definition::parse(
            &body,
            &rules,
            || crate::trigger::WebhookSecret::from_random([1; 24]),
            Utc::now(),
        )
        .unwrap()
        .definition;
        let event = |n: i64| serde_json::json!({"payload": {"n": n}});
        assert!(replay_selects(&definition, "shop.order", "api", &event(2)));
        assert!(!replay_selects(&definition, "shop.order", "api", &event(1)));
        assert!(!replay_selects(&definition, "bank.order", "api", &event(2)));
        assert!(!replay_selects(&definition, "shop.order", "web", &event(2)));
    }
}
