//! Every transition of the auto-pause machine, with time moved by hand.

use chrono::{TimeDelta, TimeZone, Utc};

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn secs(s: i64) -> TimeDelta {
    TimeDelta::seconds(s)
}

fn machine() -> PauseMachine {
    PauseMachine::new(PauseConfig::default())
}

/// Fails `n` distinct deliveries one second apart from `start`; returns the last transition.
fn fail_deliveries(m: &mut PauseMachine, start: DateTime<Utc>, n: i64) -> Option<StateChange> {
    let mut last = None;
    for i in 0..n {
        last = m.record_failure(start + secs(i), true);
    }
    last
}

#[test]
fn five_failing_deliveries_in_the_window_pause_for_the_hold() {
    let mut m = machine();
    assert_eq!(fail_deliveries(&mut m, t0(), 4), None);
    assert_eq!(m.state(), TriggerState::Running);
    let change = m
        .record_failure(t0() + secs(4), true)
        .expect("the fifth pauses");
    assert_eq!(change.from, TriggerState::Running);
    assert_eq!(change.to, TriggerState::Paused);
    assert_eq!(change.actor, "herald");
    assert_eq!(change.until, Some(t0() + secs(4) + TimeDelta::minutes(5)));
    assert!(
        change.reason.contains("5 deliveries failed"),
        "{}",
        change.reason
    );
    assert_eq!(m.gate(), Gate::Hold);
}

#[test]
fn retries_of_one_bad_delivery_never_pause() {
    let mut m = machine();
    assert_eq!(m.record_failure(t0(), true), None);
    for i in 1..50 {
        assert_eq!(m.record_failure(t0() + secs(i), false), None, "retry {i}");
    }
    assert_eq!(m.state(), TriggerState::Running);
}

#[test]
fn failures_that_leave_the_window_stop_counting() {
    let mut m = machine();
    fail_deliveries(&mut m, t0(), 4);
    // The fifth comes after the first four have left the 5-minute window.
    assert_eq!(m.record_failure(t0() + secs(301) + secs(4), true), None);
    assert_eq!(m.state(), TriggerState::Running);
}

#[test]
fn the_hold_ends_half_open_and_lets_exactly_one_probe_go() {
    let mut m = machine();
    fail_deliveries(&mut m, t0(), 5);
    let end = m.paused_until().unwrap();
    assert_eq!(m.tick(end - secs(1)), None, "still paused before the end");
    assert_eq!(m.gate(), Gate::Hold);
    let change = m.tick(end).expect("half-open at the end");
    assert_eq!(
        (change.from, change.to),
        (TriggerState::Paused, TriggerState::HalfOpen)
    );
    assert_eq!(m.gate(), Gate::Probe);
    assert_eq!(m.gate(), Gate::Hold, "one probe at a time");
}

#[test]
fn a_successful_probe_resumes() {
    let mut m = machine();
    fail_deliveries(&mut m, t0(), 5);
    let end = m.paused_until().unwrap();
    m.tick(end);
    assert_eq!(m.gate(), Gate::Probe);
    let change = m.record_success(end + secs(1)).expect("resumed");
    assert_eq!(
        (change.from, change.to),
        (TriggerState::HalfOpen, TriggerState::Running)
    );
    assert_eq!(m.gate(), Gate::Go);
    // The failures before the pause are forgotten: four new ones do not pause again.
    assert_eq!(fail_deliveries(&mut m, end + secs(2), 4), None);
}

#[test]
fn a_failed_probe_pauses_again_for_the_hold() {
    let mut m = machine();
    fail_deliveries(&mut m, t0(), 5);
    let end = m.paused_until().unwrap();
    m.tick(end);
    assert_eq!(m.gate(), Gate::Probe);
    // A probe's failure pauses whether or not it is the delivery's first.
    let change = m
        .record_failure(end + secs(2), false)
        .expect("paused again");
    assert_eq!(
        (change.from, change.to),
        (TriggerState::HalfOpen, TriggerState::Paused)
    );
    assert_eq!(change.until, Some(end + secs(2) + TimeDelta::minutes(5)));
    assert_eq!(m.gate(), Gate::Hold);
    // And the next hold ends half-open again, with a new probe.
    m.tick(end + secs(2) + TimeDelta::minutes(5));
    assert_eq!(m.gate(), Gate::Probe);
}

#[test]
fn a_success_while_running_or_paused_changes_nothing() {
    let mut m = machine();
    assert_eq!(m.record_success(t0()), None);
    fail_deliveries(&mut m, t0(), 5);
    assert_eq!(
        m.record_success(t0() + secs(10)),
        None,
        "a late success of an attempt made before the pause"
    );
    assert_eq!(m.state(), TriggerState::Paused);
}

#[test]
fn a_manual_pause_without_duration_holds_until_resumed() {
    let mut m = machine();
    let change = m.pause(t0(), "receiver migration", "alice", None).unwrap();
    assert_eq!(change.actor, "alice");
    assert_eq!(change.until, None);
    assert_eq!(
        m.tick(t0() + TimeDelta::days(30)),
        None,
        "no end, no half-open"
    );
    assert_eq!(m.gate(), Gate::Hold);
    let resumed = m.resume(t0() + TimeDelta::days(30), "done", "bob").unwrap();
    assert_eq!(
        (resumed.from, resumed.to),
        (TriggerState::Paused, TriggerState::Running)
    );
    assert_eq!(resumed.actor, "bob");
    assert_eq!(m.gate(), Gate::Go);
}

#[test]
fn a_manual_pause_with_a_duration_turns_half_open_at_its_end() {
    let mut m = machine();
    m.pause(t0(), "deploy", "alice", Some(secs(60))).unwrap();
    assert_eq!(m.paused_until(), Some(t0() + secs(60)));
    assert_eq!(m.tick(t0() + secs(60)).unwrap().to, TriggerState::HalfOpen);
}

#[test]
fn manual_controls_are_idempotent_and_a_repause_updates_reason_and_end() {
    let mut m = machine();
    assert_eq!(m.resume(t0(), "nothing to resume", "alice"), None);
    m.pause(t0(), "deploy", "alice", Some(secs(60))).unwrap();
    // The same pause again, one second later, would move the end: it is recorded. The same reason with no
    // duration twice is not.
    assert!(
        m.pause(t0() + secs(1), "deploy", "alice", Some(secs(60)))
            .is_some()
    );
    m.pause(t0() + secs(2), "longer", "alice", None).unwrap();
    assert_eq!(m.pause(t0() + secs(3), "longer", "bob", None), None);
    assert_eq!(m.reason(), "longer");
    assert_eq!(m.paused_until(), None);
}

#[test]
fn a_manual_resume_of_a_half_open_trigger_goes_straight_to_running() {
    let mut m = machine();
    fail_deliveries(&mut m, t0(), 5);
    let end = m.paused_until().unwrap();
    m.tick(end);
    let change = m.resume(end + secs(1), "fixed", "alice").unwrap();
    assert_eq!(
        (change.from, change.to),
        (TriggerState::HalfOpen, TriggerState::Running)
    );
}

#[test]
fn replay_rebuilds_the_state_from_the_recorded_changes() {
    let mut m = machine();
    let mut log = Vec::new();
    log.extend(fail_deliveries(&mut m, t0(), 5));
    let end = m.paused_until().unwrap();

    // Restarted while paused: still paused, with the same end, and half-open at it.
    let mut restarted = PauseMachine::replay(PauseConfig::default(), &log, []);
    assert_eq!(restarted.state(), TriggerState::Paused);
    assert_eq!(restarted.paused_until(), Some(end));
    assert_eq!(restarted.gate(), Gate::Hold);
    log.extend(restarted.tick(end));

    // Restarted while half-open with a probe out: a new probe may go.
    let mut again = PauseMachine::replay(PauseConfig::default(), &log, []);
    assert_eq!(again.state(), TriggerState::HalfOpen);
    assert_eq!(again.gate(), Gate::Probe);

    // No changes at all: running. Recent first failures count toward the threshold after a takeover.
    let mut fresh =
        PauseMachine::replay(PauseConfig::default(), &[], (0..4).map(|i| t0() + secs(i)));
    assert_eq!(fresh.state(), TriggerState::Running);
    assert_eq!(
        fresh.record_failure(t0() + secs(10), true).unwrap().to,
        TriggerState::Paused
    );
}
