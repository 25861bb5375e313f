//! The auto-pause machine of one trigger (SPEC §5.7): `running` → `paused` → `halfOpen` → `running` or `paused`.
//!
//! - **Counting.** A delivery counts once, at its first failed attempt: [`PauseMachine::record_failure`] takes
//!   `first_failure` from the caller, who knows the delivery's attempt history. `threshold` such deliveries within
//!   `window` pause the trigger for `hold`, so one bad event's retries alone never pause it.
//! - **Holding.** While paused no attempt is made ([`Gate::Hold`]): new matches become `held`, retries keep their
//!   place.
//! - **Half-open.** When the hold ends ([`PauseMachine::tick`]) exactly one delivery may go ([`Gate::Probe`]); its
//!   success resumes the trigger (the caller drains the held backlog in order), its failure pauses it again for
//!   `hold` (the probe stays first in line).
//! - **By hand.** An operator pauses with a reason and an optional duration (none: until resumed), and resumes
//!   straight to `running`. Both are idempotent: a pause of a paused trigger with the same reason and end, or a
//!   resume of a running one, changes nothing and records nothing.
//!
//! Every transition is returned as a [`StateChange`], the row the caller appends to `trigger_state_changes`, and
//! [`PauseMachine::replay`] rebuilds a machine from those rows (a restarted actor, or an instance taking over the
//! trigger). Time is passed in (`now`) so tests move it by hand; nothing here reads a clock.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::HERALD_ACTOR;

/// A trigger's read-only state (SPEC §5.1 `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerState {
    /// Deliveries go.
    Running,
    /// No attempt is made; matches are held.
    Paused,
    /// One probe delivery may go.
    HalfOpen,
}

impl TriggerState {
    /// The stored and wire spelling: `running`, `paused`, `halfOpen`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TriggerState::Running => "running",
            TriggerState::Paused => "paused",
            TriggerState::HalfOpen => "halfOpen",
        }
    }
}

impl std::str::FromStr for TriggerState {
    type Err = crate::domain::UnknownSpelling;

    fn from_str(s: &str) -> Result<TriggerState, Self::Err> {
        [
            TriggerState::Running,
            TriggerState::Paused,
            TriggerState::HalfOpen,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| crate::domain::UnknownSpelling::new("trigger state", s))
    }
}

/// The auto-pause settings (`EVENT_TRIGGER_ERROR_THRESHOLD`, `…_ERROR_WINDOW_MS`, `…_PAUSE_MS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PauseConfig {
    /// Failing deliveries within `window` that pause the trigger (≥ 1).
    pub threshold: u32,
    /// The sliding window failures are counted in.
    pub window: TimeDelta,
    /// How long an automatic pause holds before the trigger turns half-open.
    pub hold: TimeDelta,
}

impl Default for PauseConfig {
    /// SPEC's defaults: 5 failures in 5 minutes pause for 5 minutes.
    fn default() -> Self {
        PauseConfig {
            threshold: 5,
            window: TimeDelta::milliseconds(300_000),
            hold: TimeDelta::milliseconds(300_000),
        }
    }
}

/// One transition: a row of `trigger_state_changes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The state before.
    pub from: TriggerState,
    /// The state after.
    pub to: TriggerState,
    /// Why, in words an on-call engineer reads.
    pub reason: String,
    /// The token subject that made it, or `herald` for automatic ones.
    pub actor: String,
    /// For a pause: when it ends (`None`: until resumed by hand).
    pub until: Option<DateTime<Utc>>,
}

/// Whether a delivery may be attempted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Running: attempt it.
    Go,
    /// Half-open and no probe out: attempt it as the probe; its outcome decides the state.
    Probe,
    /// Paused, or a probe is already out: make no attempt; keep it in line.
    Hold,
}

/// One trigger's pause state and recent failures.
#[derive(Debug, Clone)]
pub struct PauseMachine {
    config: PauseConfig,
    state: TriggerState,
    until: Option<DateTime<Utc>>,
    reason: String,
    /// First failures inside the window, oldest first.
    failures: VecDeque<DateTime<Utc>>,
    probe_out: bool,
}

impl PauseMachine {
    /// A running trigger with no failures.
    pub fn new(config: PauseConfig) -> PauseMachine {
        PauseMachine {
            config,
            state: TriggerState::Running,
            until: None,
            reason: String::new(),
            failures: VecDeque::new(),
            probe_out: false,
        }
    }

    /// Rebuilds a machine from its recorded transitions (oldest first) and the times of the first failures of
    /// recent deliveries (from the attempts table), as a restarted actor or a new owner does. A probe that was
    /// out when the previous owner stopped is not: the next [`PauseMachine::gate`] sends a new one.
    pub fn replay(
        config: PauseConfig,
        changes: &[StateChange],
        recent_first_failures: impl IntoIterator<Item = DateTime<Utc>>,
    ) -> PauseMachine {
        let mut machine = PauseMachine::new(config);
        if let Some(last) = changes.last() {
            machine.state = last.to;
            machine.until = last.until;
            machine.reason.clone_from(&last.reason);
        }
        let mut failures: Vec<_> = recent_first_failures.into_iter().collect();
        failures.sort();
        machine.failures = failures.into();
        machine
    }

    /// The current state (call [`PauseMachine::tick`] first for the state at `now`).
    pub fn state(&self) -> TriggerState {
        self.state
    }

    /// When the current pause ends, if it is a pause with an end.
    pub fn paused_until(&self) -> Option<DateTime<Utc>> {
        self.until
    }

    /// Why the trigger is in its state (empty while it never left `running`).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Advances time: a pause whose end has come turns half-open. Returns the transition, if any; call it before
    /// [`PauseMachine::gate`] and whenever the timer for [`PauseMachine::paused_until`] fires.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Option<StateChange> {
        match (self.state, self.until) {
            (TriggerState::Paused, Some(until)) if until <= now => {
                self.probe_out = false;
                Some(self.transition(
                    now,
                    TriggerState::HalfOpen,
                    "the pause ended; one delivery is tried",
                    HERALD_ACTOR,
                    None,
                ))
            }
            _ => None,
        }
    }

    /// Whether a delivery may be attempted now. In half-open, the first call answers [`Gate::Probe`] and later
    /// ones [`Gate::Hold`] until the probe's outcome is recorded.
    pub fn gate(&mut self) -> Gate {
        match self.state {
            TriggerState::Running => Gate::Go,
            TriggerState::Paused => Gate::Hold,
            TriggerState::HalfOpen if self.probe_out => Gate::Hold,
            TriggerState::HalfOpen => {
                self.probe_out = true;
                Gate::Probe
            }
        }
    }

    /// A delivery attempt failed. `first_failure`: this is the delivery's first failed attempt (only those count
    /// toward the threshold). A failed probe pauses again; the threshold reached pauses.
    pub fn record_failure(
        &mut self,
        now: DateTime<Utc>,
        first_failure: bool,
    ) -> Option<StateChange> {
        match self.state {
            TriggerState::HalfOpen => {
                self.probe_out = false;
                let until = now + self.config.hold;
                Some(self.transition(
                    now,
                    TriggerState::Paused,
                    "the half-open probe failed",
                    HERALD_ACTOR,
                    Some(until),
                ))
            }
            TriggerState::Paused => None,
            TriggerState::Running => {
                if first_failure {
                    self.failures.push_back(now);
                }
                self.forget_before(now - self.config.window);
                if self.failures.len() < self.config.threshold as usize {
                    return None;
                }
                let reason = format!(
                    "{} deliveries failed within {} ms",
                    self.failures.len(),
                    self.config.window.num_milliseconds()
                );
                self.failures.clear();
                let until = now + self.config.hold;
                Some(self.transition(
                    now,
                    TriggerState::Paused,
                    &reason,
                    HERALD_ACTOR,
                    Some(until),
                ))
            }
        }
    }

    /// A delivery attempt succeeded. A successful probe resumes the trigger.
    pub fn record_success(&mut self, now: DateTime<Utc>) -> Option<StateChange> {
        if self.state != TriggerState::HalfOpen {
            return None;
        }
        self.probe_out = false;
        self.failures.clear();
        Some(self.transition(
            now,
            TriggerState::Running,
            "the half-open probe succeeded",
            HERALD_ACTOR,
            None,
        ))
    }

    /// An operator pauses the trigger for `duration` (`None`: until resumed). Pausing a paused trigger updates
    /// reason and end; the same reason and end again records nothing.
    pub fn pause(
        &mut self,
        now: DateTime<Utc>,
        reason: &str,
        actor: &str,
        duration: Option<TimeDelta>,
    ) -> Option<StateChange> {
        let until = duration.map(|d| now + d);
        if self.state == TriggerState::Paused && self.reason == reason && self.until == until {
            return None;
        }
        self.probe_out = false;
        Some(self.transition(now, TriggerState::Paused, reason, actor, until))
    }

    /// An operator resumes the trigger: straight to running, failures forgotten. A running trigger records
    /// nothing.
    pub fn resume(&mut self, now: DateTime<Utc>, reason: &str, actor: &str) -> Option<StateChange> {
        if self.state == TriggerState::Running {
            return None;
        }
        self.probe_out = false;
        self.failures.clear();
        Some(self.transition(now, TriggerState::Running, reason, actor, None))
    }

    fn forget_before(&mut self, horizon: DateTime<Utc>) {
        while self.failures.front().is_some_and(|at| *at <= horizon) {
            self.failures.pop_front();
        }
    }

    fn transition(
        &mut self,
        at: DateTime<Utc>,
        to: TriggerState,
        reason: &str,
        actor: &str,
        until: Option<DateTime<Utc>>,
    ) -> StateChange {
        let change = StateChange {
            at,
            from: self.state,
            to,
            reason: reason.to_owned(),
            actor: actor.to_owned(),
            until,
        };
        self.state = to;
        self.until = until;
        self.reason = reason.to_owned();
        change
    }
}

#[cfg(test)]
mod tests;
