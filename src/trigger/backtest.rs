//! Backtest (SPEC §5.9): what a definition would have made of the stored events of a time range, counted as the
//! events go by. The caller hands in, oldest first, the events whose type and source the definition selects;
//! [`Backtest`] runs the predicates in order (so each predicate is charged with the events it removed from those
//! the earlier ones let through), renders the idempotency key, and plays the throttle over the events' arrival
//! times. Nothing is delivered; there is no I/O here.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::definition::Definition;
use super::explain::idempotency_key;

/// How many events one predicate removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elimination {
    /// Its index in `predicates`.
    pub index: usize,
    /// Its path.
    pub path: String,
    /// Its operator.
    pub operator: &'static str,
    /// Events that passed every earlier predicate and failed this one.
    pub eliminated: u64,
}

/// What the throttle would have done with the matching events, delivered in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePlay {
    /// The window, ms.
    pub window_ms: i64,
    /// Deliveries per window.
    pub count: u32,
    /// Deliveries that could have started when their event arrived.
    pub immediate: u64,
    /// Deliveries the throttle would have held back for a while.
    pub delayed: u64,
    /// The longest hold, ms.
    pub max_delay_ms: i64,
}

/// The counts of a backtest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BacktestReport {
    /// Events of the selected types and sources in the range.
    pub scanned: u64,
    /// Events every predicate let through.
    pub matched: u64,
    /// The first matching event ids, oldest first.
    pub sample_ids: Vec<String>,
    /// One entry per predicate, in order.
    pub eliminations: Vec<Elimination>,
    /// Matching events whose idempotency key an earlier match of the range had rendered.
    pub skipped_by_key: u64,
    /// Matches less key duplicates: the deliveries the trigger would have made.
    pub deliveries: u64,
    /// The throttle's play, when the definition has one.
    pub throttle: Option<ThrottlePlay>,
}

/// A backtest under way.
#[derive(Debug)]
pub struct Backtest<'d> {
    definition: &'d Definition,
    trigger: Value,
    sample_limit: usize,
    report: BacktestReport,
    keys: HashSet<String>,
    /// Start times of the last `count` deliveries, for the throttle.
    starts: VecDeque<DateTime<Utc>>,
}

impl<'d> Backtest<'d> {
    /// A backtest of `definition` (shown to templates as `trigger`) keeping at most `sample_limit` ids.
    pub fn new(definition: &'d Definition, trigger: Value, sample_limit: usize) -> Backtest<'d> {
        let eliminations = definition
            .predicates
            .iter()
            .enumerate()
            .map(|(index, p)| Elimination {
                index,
                path: p.path().to_owned(),
                operator: p.operator(),
                eliminated: 0,
            })
            .collect();
        Backtest {
            definition,
            trigger,
            sample_limit,
            report: BacktestReport {
                scanned: 0,
                matched: 0,
                sample_ids: Vec::new(),
                eliminations,
                skipped_by_key: 0,
                deliveries: 0,
                throttle: definition.throttle.map(|t| ThrottlePlay {
                    window_ms: t.window_ms(),
                    count: t.count(),
                    immediate: 0,
                    delayed: 0,
                    max_delay_ms: 0,
                }),
            },
            keys: HashSet::new(),
            starts: VecDeque::new(),
        }
    }

    /// Counts one event (as [`super::event_json`]) that arrived at `received_at`; events come oldest first.
    pub fn feed(&mut self, id: &str, event: &Value, received_at: DateTime<Utc>) {
        self.report.scanned += 1;
        if let Some(index) = self
            .definition
            .predicates
            .iter()
            .position(|p| !p.check(event).passed)
        {
            self.report.eliminations[index].eliminated += 1;
            return;
        }
        self.report.matched += 1;
        if self.report.sample_ids.len() < self.sample_limit {
            self.report.sample_ids.push(id.to_owned());
        }
        if let Some(key) = idempotency_key(self.definition, &self.trigger, event, received_at)
            && !self.keys.insert(key)
        {
            self.report.skipped_by_key += 1;
            return;
        }
        self.report.deliveries += 1;
        self.play_throttle(received_at);
    }

    /// A delivery starts at its arrival, or once the start `count` places before it has left the window.
    fn play_throttle(&mut self, arrived: DateTime<Utc>) {
        let Some(play) = &mut self.report.throttle else {
            return;
        };
        let window = TimeDelta::milliseconds(play.window_ms);
        let start = if self.starts.len() >= play.count as usize {
            let freed = self.starts.pop_front().map(|s| s + window);
            freed.map_or(arrived, |f| f.max(arrived))
        } else {
            arrived
        };
        self.starts.push_back(start);
        let delay = (start - arrived).num_milliseconds();
        if delay > 0 {
            play.delayed += 1;
            play.max_delay_ms = play.max_delay_ms.max(delay);
        } else {
            play.immediate += 1;
        }
    }

    /// The report of counts a database made ([`Backtest::feed`]'s, made elsewhere): `scanned` events,
    /// `passing[i]` of them passing predicates `0..=i`, the first matching ids and, for the throttle's play, every
    /// match's arrival time, oldest first. Only for a definition without an idempotency key (keys are rendered
    /// here, event by event).
    pub fn counted(
        mut self,
        scanned: u64,
        passing: &[u64],
        sample_ids: Vec<String>,
        arrivals: &[DateTime<Utc>],
    ) -> BacktestReport {
        self.report.scanned = scanned;
        let mut before = scanned;
        for (elimination, &after) in self.report.eliminations.iter_mut().zip(passing) {
            elimination.eliminated = before.saturating_sub(after);
            before = after;
        }
        self.report.matched = before;
        self.report.deliveries = before;
        self.report.sample_ids = sample_ids;
        self.report.sample_ids.truncate(self.sample_limit);
        for &arrived in arrivals {
            self.play_throttle(arrived);
        }
        self.report
    }

    /// The counts so far.
    pub fn report(self) -> BacktestReport {
        self.report
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::trigger::{DefinitionRules, WebhookSecret};

    fn definition(extra: Value) -> Definition {
        let mut body = json!({"name": "t", "eventType": "order.*",
            "target": {"kind": "webhook", "url": "http://127.0.0.1:9/"}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let rules = DefinitionRules {
            workflow_stream: "herald:workflow-runs".into(),
            workflow_stream_prefix: "herald:".into(),
            ingress_stream: "herald:events".into(),
        };
        Definition::parse(
            &body,
            &rules,
            || WebhookSecret::from_random([7; 24]),
            Utc::now(),
        )
        .unwrap()
        .definition
    }

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap() + TimeDelta::milliseconds(ms)
    }

    fn event(total: i64, currency: &str) -> Value {
        json!({"type": "order.paid", "payload": {"total": total, "currency": currency}})
    }

    #[test]
    fn each_predicate_is_charged_with_what_it_removed_from_what_the_earlier_ones_let_through() {
        let d = definition(json!({"predicates": [
            {"path": "$.payload.total", "operator": "gte", "value": 10},
            {"path": "$.payload.currency", "operator": "equals", "value": "EUR"}]}));
        let mut b = Backtest::new(&d, json!({}), 2);
        // total too small (and wrong currency: charged to the first predicate only), wrong currency, and three
        // matches.
        for (i, (total, currency)) in [
            (1, "USD"),
            (50, "USD"),
            (20, "EUR"),
            (30, "EUR"),
            (40, "EUR"),
        ]
        .into_iter()
        .enumerate()
        {
            b.feed(&format!("E{i}"), &event(total, currency), at(i as i64));
        }
        let r = b.report();
        assert_eq!((r.scanned, r.matched, r.deliveries), (5, 3, 3));
        let eliminated: Vec<u64> = r.eliminations.iter().map(|e| e.eliminated).collect();
        assert_eq!(eliminated, [1, 1]);
        assert_eq!(r.eliminations[1].operator, "equals");
        assert_eq!(r.sample_ids, ["E2", "E3"]);
        assert_eq!(r.throttle, None);
    }

    #[test]
    fn counts_made_elsewhere_give_the_report_feeding_gives() {
        let d = definition(json!({"predicates": [
            {"path": "$.payload.total", "operator": "gte", "value": 10},
            {"path": "$.payload.currency", "operator": "equals", "value": "EUR"}],
            "throttle": {"windowMs": 1000, "count": 2}}));
        let events = [
            (1, "USD"),
            (50, "USD"),
            (20, "EUR"),
            (30, "EUR"),
            (40, "EUR"),
        ];
        let mut fed = Backtest::new(&d, json!({}), 2);
        for (i, (total, currency)) in events.into_iter().enumerate() {
            fed.feed(&format!("E{i}"), &event(total, currency), at(0));
        }
        let counted = Backtest::new(&d, json!({}), 2).counted(
            5,
            &[4, 3],
            vec!["E2".into(), "E3".into(), "E4".into()],
            &[at(0), at(0), at(0)],
        );
        assert_eq!(counted, fed.report());
    }

    #[test]
    fn a_key_rendered_twice_delivers_once() {
        let d = definition(json!({"idempotencyKey": "{{ event.payload.currency }}"}));
        let mut b = Backtest::new(&d, json!({}), 10);
        for (i, c) in ["EUR", "USD", "EUR"].into_iter().enumerate() {
            b.feed(&format!("E{i}"), &event(1, c), at(i as i64));
        }
        let r = b.report();
        assert_eq!((r.matched, r.skipped_by_key, r.deliveries), (3, 1, 2));
    }

    #[test]
    fn the_throttle_holds_back_what_overfills_its_window_and_says_for_how_long() {
        let d = definition(json!({"throttle": {"windowMs": 1000, "count": 2}}));
        let mut b = Backtest::new(&d, json!({}), 10);
        // Four at once: two start, the third waits for the first's slot (1 s), the fourth for the second's.
        // A fifth 5 s later starts at once.
        for (i, ms) in [0, 0, 0, 10, 5000].into_iter().enumerate() {
            b.feed(&format!("E{i}"), &event(1, "EUR"), at(ms));
        }
        let play = b.report().throttle.unwrap();
        assert_eq!(
            (play.immediate, play.delayed, play.max_delay_ms),
            (3, 2, 1000)
        );
    }
}
