use super::*;
use crate::domain::PauseKind;
use Admission::{Defer, DeferAndPause, Evaluate};

/// A window and an in-process counter, driven through both steps as the actor drives them.
struct Harness {
    window: SourceWindow<FakeClock>,
    counter: LocalWindow<FakeClock>,
}

impl Harness {
    fn new(clock: &FakeClock, limit: Option<RateLimit>) -> Harness {
        Harness {
            window: SourceWindow::new(clock.clone(), limit),
            counter: LocalWindow::new(clock.clone()),
        }
    }

    fn ask(&mut self, wanted: u32) -> Grant {
        match self.window.limit() {
            Some(limit) if wanted > 0 => self.counter.take(limit, wanted),
            _ => Grant::NOTHING_ASKED,
        }
    }

    /// Admits a batch of stored events in one go.
    fn admit_batch(&mut self, seqs: &[i64]) -> Vec<Admission> {
        let wanted = self.window.slots_to_admit(seqs.len());
        let grant = self.ask(wanted);
        self.window.admit(seqs, grant)
    }

    /// Admits one stored event.
    fn admit(&mut self, seq: i64) -> Admission {
        self.admit_batch(&[seq])[0]
    }

    /// One release step.
    fn release(&mut self) -> Vec<i64> {
        let wanted = self.window.slots_to_release();
        let grant = self.ask(wanted);
        self.window.release(grant)
    }
}

impl std::ops::Deref for Harness {
    type Target = SourceWindow<FakeClock>;
    fn deref(&self) -> &Self::Target {
        &self.window
    }
}

impl std::ops::DerefMut for Harness {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.window
    }
}

/// 3 events per 1 000 ms, paused for 500 ms when exceeded; the clock starts at 10 000 ms.
fn window() -> (FakeClock, Harness) {
    let clock = FakeClock::new(10_000);
    let limit = RateLimit::new(3, 1_000, 500).unwrap();
    let harness = Harness::new(&clock, Some(limit));
    (clock, harness)
}

fn admit_all(w: &mut Harness, seqs: impl IntoIterator<Item = i64>) -> Vec<Admission> {
    seqs.into_iter().map(|s| w.admit(s)).collect()
}

#[test]
fn exactly_limit_events_pass_per_window() {
    let (clock, mut w) = window();
    assert_eq!(admit_all(&mut w, 1..=3), [Evaluate; 3]);
    clock.advance_ms(1_000);
    assert_eq!(admit_all(&mut w, 4..=6), [Evaluate; 3]);
    assert_eq!(w.pause(), None);
}

#[test]
fn the_next_event_pauses_the_source_for_pause_ms_and_everything_after_it_is_deferred() {
    let (clock, mut w) = window();
    admit_all(&mut w, 1..=3);
    clock.advance_ms(999);

    assert_eq!(admit_all(&mut w, 4..=6), [DeferAndPause, Defer, Defer]);
    let pause = w.pause().unwrap();
    assert_eq!(
        (pause.kind, pause.until_ms),
        (PauseKind::RateLimit, Some(10_999 + 500))
    );
    assert!(w.release().is_empty());
    assert_eq!(w.backlog_len(), 3);
}

#[test]
fn after_the_pause_the_backlog_is_released_in_arrival_order_at_most_limit_per_interval() {
    let (clock, mut w) = window();
    admit_all(&mut w, 1..=10);

    clock.advance_ms(500); // the pause is over, but the window (10 000..11 000) is still full
    assert!(w.release().is_empty());
    assert_eq!(w.next_release_at_ms(), Some(11_000));
    clock.advance_ms(500);
    let mut released = w.release();
    assert_eq!(released, [4, 5, 6]);
    assert!(w.release().is_empty(), "the window is full again");
    assert_eq!(w.next_release_at_ms(), Some(12_000));
    for _ in 0..2 {
        clock.advance_ms(1_000);
        released.extend(w.release());
    }

    assert_eq!(released, (4..=10).collect::<Vec<_>>());
    assert_eq!(w.next_release_at_ms(), None);
}

#[test]
fn each_event_is_counted_once_in_the_window() {
    let (clock, mut w) = window();
    admit_all(&mut w, 1..=4); // event 4 is deferred: not counted at admission
    clock.advance_ms(1_000);
    assert_eq!(w.release(), [4]); // counted here, once

    // Two slots remain in this window; had event 4 been counted twice, only one would.
    assert_eq!(
        admit_all(&mut w, 5..=7),
        [Evaluate, Evaluate, DeferAndPause]
    );
}

#[test]
fn new_events_queue_behind_the_backlog_even_when_the_source_runs() {
    let (clock, mut w) = window();
    admit_all(&mut w, 1..=4);
    clock.advance_ms(1_000);
    assert_eq!(w.pause(), None);

    assert_eq!(w.admit(5), Defer);
    assert_eq!(w.release(), [4, 5]);
}

#[test]
fn a_manual_pause_defers_everything_until_resume() {
    let (clock, mut w) = window();
    w.pause_manual("deploy".into(), None).unwrap();
    assert_eq!(admit_all(&mut w, 1..=2), [Defer, Defer]);
    clock.advance_ms(MAX_SOURCE_DURATION_MS);
    assert!(
        w.release().is_empty(),
        "a manual pause without duration never expires"
    );
    assert_eq!(w.next_release_at_ms(), None);

    assert!(w.resume());
    assert_eq!(w.release(), [1, 2]);
    assert!(!w.resume(), "resuming a running source is a no-op");
}

#[test]
fn a_manual_pause_with_a_duration_expires() {
    let (clock, mut w) = window();
    w.pause_manual("maintenance".into(), Some(2_000)).unwrap();
    assert_eq!(w.admit(1), Defer);
    assert_eq!(w.next_release_at_ms(), Some(12_000));

    clock.advance_ms(1_999);
    assert!(w.release().is_empty());
    clock.advance_ms(1);
    assert_eq!(w.pause(), None);
    assert_eq!(w.release(), [1]);
}

#[test]
fn pausing_a_paused_source_updates_reason_and_duration() {
    let (_clock, mut w) = window();
    admit_all(&mut w, 1..=4); // the fourth starts an automatic pause
    w.pause_manual("first".into(), Some(1_000)).unwrap();
    w.pause_manual("second".into(), None).unwrap();

    let pause = w.pause().unwrap();
    assert_eq!(
        (pause.kind, pause.reason.as_str(), pause.until_ms),
        (PauseKind::Manual, "second", None)
    );
}

#[test]
fn a_manual_pause_of_zero_or_over_thirty_days_is_refused_and_changes_nothing() {
    let (_clock, mut w) = window();
    for bad in [0, MAX_SOURCE_DURATION_MS + 1] {
        let err = w.pause_manual("x".into(), Some(bad)).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("durationMs"));
    }
    assert_eq!(w.pause(), None);
    assert!(
        w.pause_manual("x".into(), Some(MAX_SOURCE_DURATION_MS))
            .is_ok()
    );
}

#[test]
fn a_rebuilt_window_fed_the_durable_backlog_keeps_order() {
    let (clock, mut before) = window();
    admit_all(&mut before, 1..=8);
    let durable: Vec<i64> = (4..=8).collect(); // the deferred events storage holds, in ingressSequence order

    let mut after = Harness::new(&clock, RateLimit::new(3, 1_000, 500).ok());
    after.restore_backlog(durable);
    assert_eq!(
        after.admit(9),
        Defer,
        "new events wait behind the restored backlog"
    );
    let mut released = after.release();
    clock.advance_ms(1_000);
    released.extend(after.release());

    assert_eq!(released, [4, 5, 6, 7, 8, 9]);
}

#[test]
fn a_source_without_a_limit_only_obeys_manual_pauses() {
    let mut w = Harness::new(&FakeClock::new(0), None);
    assert!((1..=1_000).all(|s| w.admit(s) == Evaluate));

    w.pause_manual("incident".into(), None).unwrap();
    w.admit(1_001);
    w.admit(1_002);
    w.resume();
    assert_eq!(w.release(), [1_001, 1_002]);
}

#[test]
fn discarding_the_backlog_returns_what_was_dropped() {
    let (_clock, mut w) = window();
    admit_all(&mut w, 1..=5);
    assert_eq!(w.discard_backlog(), [4, 5]);
    assert_eq!(w.backlog_len(), 0);
}

#[test]
fn a_rate_limit_refuses_zero_and_durations_over_thirty_days() {
    let too_long = MAX_SOURCE_DURATION_MS + 1;
    for ((limit, interval, pause), field) in [
        ((0, 1, 1), "limit"),
        ((1, 0, 1), "intervalMs"),
        ((1, too_long, 1), "intervalMs"),
        ((1, 1, 0), "pauseMs"),
        ((1, 1, too_long), "pauseMs"),
    ] {
        let err = RateLimit::new(limit, interval, pause).unwrap_err();
        assert_eq!(err.field.as_deref(), Some(field));
    }
    let ok = RateLimit::new(200, 60_000, 30_000).unwrap();
    assert_eq!(
        (ok.limit(), ok.interval_ms(), ok.pause_ms()),
        (200, 60_000, 30_000)
    );
}

#[test]
fn a_batch_is_admitted_like_its_events_one_by_one() {
    let (_clock, mut w) = window();
    assert_eq!(
        w.admit_batch(&[1, 2, 3, 4, 5]),
        [Evaluate, Evaluate, Evaluate, DeferAndPause, Defer]
    );
    assert_eq!(w.backlog_len(), 2);
}

#[test]
fn a_shared_counter_filled_by_other_instances_pauses_the_first_event() {
    let (_clock, mut w) = window();
    assert_eq!(w.slots_to_admit(2), 2);
    // Another instance took the whole window; a slot frees in 250 ms.
    let full = Grant {
        granted: 0,
        retry_in_ms: 250,
    };
    assert_eq!(w.window.admit(&[1, 2], full), [DeferAndPause, Defer]);
    // The pause (500 ms) outlasts the full window, so the next release is due when the pause ends.
    assert_eq!(w.next_release_at_ms(), Some(10_500));
    assert_eq!(w.slots_to_admit(1), 0, "paused: nothing to ask the counter");
}

#[test]
fn a_release_that_finds_the_window_full_waits_for_the_slot_the_counter_names() {
    let (clock, mut w) = window();
    admit_all(&mut w, 1..=4);
    clock.advance_ms(500);
    assert_eq!(w.slots_to_release(), 1);
    let released = w.window.release(Grant {
        granted: 0,
        retry_in_ms: 300,
    });
    assert!(released.is_empty());
    assert_eq!(w.next_release_at_ms(), Some(10_800));
}

#[test]
fn storage_is_the_truth_for_pauses_made_elsewhere() {
    let (clock, mut w) = window();
    w.set_pause(Some((PauseKind::Manual, "on A".into(), Some(2_000))));
    assert_eq!(w.admit(1), Defer);
    assert_eq!(w.next_release_at_ms(), Some(12_000));

    w.set_pause(Some((PauseKind::Manual, "forever".into(), None)));
    clock.advance_ms(MAX_SOURCE_DURATION_MS);
    assert!(w.release().is_empty());

    w.set_pause(None);
    assert_eq!(w.release(), [1]);
    w.set_pause(Some((PauseKind::RateLimit, String::new(), Some(0))));
    assert_eq!(w.pause(), None, "a pause with nothing left is over");
}

#[test]
fn adopted_events_take_their_place_in_sequence_order() {
    let (_clock, mut w) = window();
    w.pause_manual("hold".into(), None).unwrap();
    w.admit_batch(&[10, 12]);
    w.restore_backlog([11, 3]); // left behind by another instance
    w.resume();
    assert_eq!(w.release(), [3, 10, 11]);
}

#[test]
fn reading_the_durable_backlog_again_never_queues_an_event_twice() {
    let (_clock, mut w) = window();
    admit_all(&mut w, 1..=5); // 4 and 5 deferred
    w.restore_backlog([4, 5, 6]);
    assert_eq!(w.backlog_len(), 3);
    assert_eq!(w.discard_backlog(), [4, 5, 6]);
}

#[test]
fn events_that_could_not_be_handed_on_go_out_first_next_time() {
    let (clock, mut w) = window();
    admit_all(&mut w, 1..=6);
    clock.advance_ms(1_000);
    let taken = w.release();
    assert_eq!(taken, [4, 5, 6]);
    w.requeue_front(taken);
    clock.advance_ms(1_000);
    assert_eq!(w.release(), [4, 5, 6]);
}

#[test]
fn a_source_without_a_limit_drains_its_backlog_in_bounded_steps() {
    let mut w = Harness::new(&FakeClock::new(0), None);
    w.pause_manual("incident".into(), None).unwrap();
    w.admit_batch(&(1..=1_200).collect::<Vec<_>>());
    w.resume();

    let steps: Vec<usize> = (0..3).map(|_| w.release().len()).collect();
    assert_eq!(steps, [MAX_RELEASE_STEP, MAX_RELEASE_STEP, 200]);
    assert_eq!(w.next_release_at_ms(), None);
}

#[test]
fn the_local_counter_slides_and_names_when_a_slot_frees() {
    let clock = FakeClock::new(0);
    let limit = RateLimit::new(5, 1_000, 1_000).unwrap();
    let mut counter = LocalWindow::new(clock.clone());
    assert_eq!(counter.take(limit, 3).granted, 3);
    clock.advance_ms(400);
    assert_eq!(
        counter.take(limit, 4),
        Grant {
            granted: 2,
            retry_in_ms: 600
        }
    );
    clock.advance_ms(600); // the first three slide out
    assert_eq!(counter.take(limit, 4).granted, 3);
    assert_eq!(counter.counted(), 5);
}

#[test]
fn the_local_counter_keeps_one_entry_per_millisecond_not_per_event() {
    let clock = FakeClock::new(0);
    let limit = RateLimit::new(1_000_000, 60_000, 1_000).unwrap();
    let mut counter = LocalWindow::new(clock.clone());
    for _ in 0..100 {
        assert_eq!(counter.take(limit, 500).granted, 500);
    }
    assert_eq!(counter.counted(), 50_000);
    assert_eq!(counter.runs.len(), 1);
}
