//! The answers of explain and backtest (SPEC §5.9): [`ExplainView`] with its [`StepView`]s, and [`BacktestView`].

use serde::Serialize;
use serde_json::Value;

use super::DeliveryView;
use crate::trigger::{BacktestReport, Elimination, Step, ThrottlePlay};

/// One step of an explanation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepView<'a> {
    /// Why, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
    /// The value expected.
    pub expected: &'a Value,
    /// The value found.
    pub found: &'a Value,
    /// A predicate's index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// A predicate's operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<&'static str>,
    /// Whether it passed.
    pub passed: bool,
    /// A predicate's path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'a str>,
    /// `type`, `source`, `predicate`, `ttl`, `pause`, `throttle` or `idempotency`.
    pub step: &'static str,
}

impl<'a> StepView<'a> {
    /// The view of `step`.
    pub fn of(step: &'a Step) -> StepView<'a> {
        StepView {
            detail: step.detail.as_deref(),
            expected: &step.expected,
            found: &step.found,
            index: step.index,
            operator: step.operator,
            passed: step.passed,
            path: step.path.as_deref(),
            step: step.kind.as_str(),
        }
    }
}

/// `POST /admin/triggers/{id}/explain`'s `data`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplainView<'a> {
    /// The event explained (a draft event's own id, when it has one).
    pub event_id: Option<&'a str>,
    /// The first step that failed, `null` when every step passed.
    pub failed_step: Option<StepView<'a>>,
    /// The outcome the event got from this trigger, when one is recorded (its original delivery).
    pub outcome: Option<DeliveryView<'a>>,
    /// Every step, in the order the trigger takes them.
    pub steps: Vec<StepView<'a>>,
    /// `{id, name, version}`.
    pub trigger: &'a Value,
    /// Whether the trigger would deliver this event now: every step passed.
    pub would_deliver: bool,
}

/// A predicate's elimination count.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EliminationView<'a> {
    /// Events it removed from those the earlier predicates let through.
    pub eliminated: u64,
    /// Its index.
    pub index: usize,
    /// Its operator.
    pub operator: &'static str,
    /// Its path.
    pub path: &'a str,
}

/// The throttle's play over the matching events.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottlePlayView {
    /// Deliveries per window.
    pub count: u32,
    /// Deliveries held back for a while.
    pub delayed: u64,
    /// Deliveries that could have started at once.
    pub immediate: u64,
    /// The longest hold, ms.
    pub max_delay_ms: i64,
    /// The window, ms.
    pub window_ms: i64,
}

impl ThrottlePlayView {
    fn of(play: &ThrottlePlay) -> ThrottlePlayView {
        ThrottlePlayView {
            count: play.count,
            delayed: play.delayed,
            immediate: play.immediate,
            max_delay_ms: play.max_delay_ms,
            window_ms: play.window_ms,
        }
    }
}

/// `POST /admin/triggers/backtest`'s `data`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BacktestView<'a> {
    /// Matches less idempotency-key duplicates: the deliveries the trigger would have made.
    pub deliveries: u64,
    /// Per predicate, in order.
    pub eliminated: Vec<EliminationView<'a>>,
    /// The range's start.
    pub from: String,
    /// Events every predicate let through.
    pub matched: u64,
    /// The first matching event ids, oldest first (at most `limit`).
    pub sample_ids: &'a [String],
    /// Events of the selected types and sources in the range.
    pub scanned: u64,
    /// Matches whose idempotency key an earlier match had rendered.
    pub skipped_by_idempotency_key: u64,
    /// The throttle's play, `null` without a throttle.
    pub throttle: Option<ThrottlePlayView>,
    /// The range's end.
    pub to: String,
    /// The trigger backtested (`null` for a draft).
    pub trigger_id: Option<&'a str>,
}

impl<'a> BacktestView<'a> {
    /// The view of `report` over `[from, to]`.
    pub fn of(
        report: &'a BacktestReport,
        trigger_id: Option<&'a str>,
        (from, to): (String, String),
    ) -> BacktestView<'a> {
        BacktestView {
            deliveries: report.deliveries,
            eliminated: report.eliminations.iter().map(elimination).collect(),
            from,
            matched: report.matched,
            sample_ids: &report.sample_ids,
            scanned: report.scanned,
            skipped_by_idempotency_key: report.skipped_by_key,
            throttle: report.throttle.as_ref().map(ThrottlePlayView::of),
            to,
            trigger_id,
        }
    }
}

fn elimination(e: &Elimination) -> EliminationView<'_> {
    EliminationView {
        eliminated: e.eliminated,
        index: e.index,
        operator: e.operator,
        path: &e.path,
    }
}
