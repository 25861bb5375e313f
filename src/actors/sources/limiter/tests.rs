//! The limiter's tests. Time is a [`FakeClock`] moved by hand, and [`Settle`] runs what is due at once, so no
//! test waits for a real timer (STYLE §6.4).

use std::sync::{Arc, Mutex};

use actix::{Actor, Addr, Context, Handler, Message, ResponseFuture, Supervisor};
use sea_orm::ConnectionTrait;
use serde_json::json;
use tokio::sync::oneshot;

use super::steps::Step;
use super::*;
use crate::actors::messages::Crash;
use crate::domain::FakeClock;
use crate::domain::{NewEvent, PauseKind, StoredEvent};

#[derive(Message)]
#[rtype(result = "u32")]
struct Starts;

impl Handler<Starts> for SourceRateLimiter {
    type Result = u32;
    fn handle(&mut self, _msg: Starts, _ctx: &mut Self::Context) -> u32 {
        self.starts
    }
}

/// Where the limiter stands: a call failing and waiting for its retry, and how many steps wait behind it.
#[derive(Message)]
#[rtype(result = "(bool, usize)")]
struct Progress;

impl Handler<Progress> for SourceRateLimiter {
    type Result = actix::MessageResult<Progress>;
    fn handle(&mut self, _msg: Progress, _ctx: &mut Self::Context) -> Self::Result {
        actix::MessageResult((self.retrying.is_some(), self.queue.len()))
    }
}

/// Runs now what its timers would run (the idle check, a pending retry, due releases) and answers once nothing
/// is queued and no release is due on the clock. Not a directory message: it does not count as activity.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(in crate::actors::sources) struct Settle;

impl Handler<Settle> for SourceRateLimiter {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: Settle, ctx: &mut Self::Context) -> Self::Result {
        self.check_idle();
        self.retry_now(ctx);
        let (reply, answered) = oneshot::channel();
        self.push(Step::Settle { reply, rounds: 0 }, ctx);
        Box::pin(async move {
            let _ = answered.await;
        })
    }
}

/// Collects what a limiter sends.
#[derive(Default)]
struct Sink {
    released: Arc<Mutex<Vec<i64>>>,
    idle: Arc<Mutex<Vec<u64>>>,
}

impl Actor for Sink {
    type Context = Context<Self>;
}

impl Handler<EventsReleased> for Sink {
    type Result = ();
    fn handle(&mut self, msg: EventsReleased, _ctx: &mut Self::Context) {
        self.released.lock().unwrap().extend(msg.events.sequences());
    }
}

impl Handler<LimiterIdle> for Sink {
    type Result = ();
    fn handle(&mut self, msg: LimiterIdle, _ctx: &mut Self::Context) {
        self.idle.lock().unwrap().push(msg.handled);
    }
}

/// What the sink holds, answered after every message sent to it before.
#[derive(Message)]
#[rtype(result = "(Vec<i64>, Vec<u64>)")]
struct Collected;

impl Handler<Collected> for Sink {
    type Result = actix::MessageResult<Collected>;
    fn handle(&mut self, _msg: Collected, _ctx: &mut Self::Context) -> Self::Result {
        actix::MessageResult((
            self.released.lock().unwrap().clone(),
            self.idle.lock().unwrap().clone(),
        ))
    }
}

fn source() -> SourceName {
    SourceName::parse("tests.limiter".into()).unwrap()
}

fn stored(seq: i64) -> StoredEvent {
    StoredEvent::sample(
        json!({"id": format!("e-{seq}"), "type": "test.event.happened", "source": "tests.limiter"}),
        seq,
    )
}

/// Stores `n` events of the source and answers them as stored (with their real sequences).
async fn persist(storage: &Storage, n: i64) -> Vec<StoredEvent> {
    let new_events = (1..=n)
        .map(stored)
        .map(|e| NewEvent::new(e.envelope.clone(), e.severity, e.received_at, None, None))
        .collect();
    storage
        .events()
        .persist_batch(new_events, vec![])
        .await
        .unwrap()
        .stored
}

fn link(
    storage: &Storage,
    sink: &Addr<Sink>,
    idle_after: Duration,
    clock: &FakeClock,
) -> LimiterLink {
    LimiterLink {
        storage: storage.clone(),
        shared: None,
        released_to: sink.clone().recipient(),
        idle_to: sink.clone().recipient(),
        idle_after,
        metrics: crate::metrics::Metrics::detached(),
        clock: ActorClock::new(clock.clone()),
    }
}

fn start(limit: Option<RateLimit>, link: LimiterLink) -> Addr<SourceRateLimiter> {
    Supervisor::start(move |_| SourceRateLimiter::new(source(), limit, link))
}

async fn execute(storage: &Storage, sql: &str) {
    storage
        .write_connection()
        .execute_unprepared(sql)
        .await
        .unwrap();
}

/// A limiter of 2 per minute, loaded, whose deferral table then goes away: every deferral it tries fails until
/// [`end_outage`].
async fn limiter_facing_an_outage(
    storage: &Storage,
    sink: &Addr<Sink>,
    clock: &FakeClock,
) -> Addr<SourceRateLimiter> {
    let limit = RateLimit::new(2, 60_000, 60_000).ok();
    let limiter = start(limit, link(storage, sink, Duration::from_secs(600), clock));
    limiter.send(FlushDeferrals).await.unwrap();
    execute(
        storage,
        "ALTER TABLE source_deferrals RENAME TO source_deferrals_away",
    )
    .await;
    limiter
}

/// Brings back the table [`limiter_facing_an_outage`] took away.
async fn end_outage(storage: &Storage) {
    execute(
        storage,
        "ALTER TABLE source_deferrals_away RENAME TO source_deferrals",
    )
    .await;
}

#[actix_rt::test]
async fn the_supervisor_restarts_a_stopped_limiter_which_reloads_its_durable_backlog() {
    // Arrange: 2 per minute, so everything past the second event stays deferred.
    let (_dir, storage) = Storage::scratch().await;
    let sink = Sink::default().start();
    let limit = RateLimit::new(2, 60_000, 60_000).ok();
    let clock = FakeClock::new(0);
    let limiter = start(
        limit,
        link(&storage, &sink, Duration::from_secs(600), &clock),
    );
    let batch: Arc<[StoredEvent]> = (1..=5).map(stored).collect();
    limiter
        .send(AdmitEvents {
            events: EventSelection::whole(batch),
        })
        .await
        .unwrap();
    limiter.send(FlushDeferrals).await.unwrap();

    // Act
    limiter.send(Crash).await.unwrap();
    limiter.send(Crash).await.unwrap();

    // Assert
    assert_eq!(
        limiter.send(Starts).await.unwrap(),
        3,
        "one start and two restarts"
    );
    let backlog = storage.sources().backlog(&source()).await.unwrap();
    assert_eq!(backlog, [3, 4, 5]);
    assert_eq!(sink.send(Collected).await.unwrap().0, [1, 2]);
    let pause = storage
        .sources()
        .pause_of(&source())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pause.kind, PauseKind::RateLimit);
    // The restarted limiter still serves: a discard answers from its reloaded backlog.
    assert_eq!(limiter.send(DiscardDeferred).await.unwrap().unwrap(), 3);
}

#[actix_rt::test]
async fn after_a_pause_the_backlog_is_released_in_order_once() {
    // Arrange: 2 per 100 ms, paused 100 ms.
    let (_dir, storage) = Storage::scratch().await;
    let persisted = persist(&storage, 7).await;
    let sink = Sink::default().start();
    let clock = FakeClock::new(0);
    let limit = RateLimit::new(2, 100, 100).ok();
    let limiter = start(
        limit,
        link(&storage, &sink, Duration::from_secs(600), &clock),
    );

    // Act
    limiter
        .send(AdmitEvents {
            events: EventSelection::whole(Arc::from(persisted)),
        })
        .await
        .unwrap();
    limiter.send(Settle).await.unwrap();
    let at_once = sink.send(Collected).await.unwrap().0;
    let mut released = at_once.clone();
    for _ in 0..10 {
        if released.len() >= 7 {
            break;
        }
        clock.advance_ms(100);
        limiter.send(Settle).await.unwrap();
        released = sink.send(Collected).await.unwrap().0;
    }

    // Assert
    assert_eq!(at_once, [1, 2], "the rest waits for the pause to end");
    assert_eq!(released, (1..=7).collect::<Vec<i64>>());
    assert!(
        storage
            .sources()
            .backlog(&source())
            .await
            .unwrap()
            .is_empty()
    );
}

#[actix_rt::test]
async fn an_idle_limiter_with_an_empty_backlog_offers_to_retire() {
    // Arrange
    let (_dir, storage) = Storage::scratch().await;
    let sink = Sink::default().start();
    let clock = FakeClock::new(0);
    let limiter = start(
        None,
        link(&storage, &sink, Duration::from_millis(50), &clock),
    );
    limiter.send(FlushDeferrals).await.unwrap();
    limiter.send(Settle).await.unwrap();
    let early = sink.send(Collected).await.unwrap().1;

    // Act
    clock.advance_ms(50);
    limiter.send(Settle).await.unwrap();

    // Assert
    assert!(early.is_empty(), "not idle before its time: {early:?}");
    assert_eq!(
        sink.send(Collected).await.unwrap().1,
        [1],
        "it counts the messages it handled"
    );
}

#[actix_rt::test]
async fn a_storage_outage_is_retried_without_holding_the_mailbox_and_keeps_the_order() {
    // Arrange: 2 per minute; the deferral table goes away once the limiter has loaded.
    let (_dir, storage) = Storage::scratch().await;
    let sink = Sink::default().start();
    let clock = FakeClock::new(0);
    let limiter = limiter_facing_an_outage(&storage, &sink, &clock).await;
    let batch: Arc<[StoredEvent]> = (1..=7).map(stored).collect();

    // Act: five events, of which three must be deferred while storage fails...
    limiter
        .send(AdmitEvents {
            events: EventSelection::new(batch.clone(), vec![0, 1, 2, 3, 4]),
        })
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !limiter.send(Progress).await.unwrap().0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the deferral never failed"
        );
        tokio::task::yield_now().await;
    }
    // ... then more events and a pause reload, which the mailbox takes and the limiter queues.
    limiter
        .send(AdmitEvents {
            events: EventSelection::new(batch, vec![5, 6]),
        })
        .await
        .unwrap();
    limiter.send(ReloadPause).await.unwrap();
    let during = limiter.send(Progress).await.unwrap();
    let released_during = sink.send(Collected).await.unwrap().0;
    end_outage(&storage).await;
    limiter.send(Settle).await.unwrap();

    // Assert
    assert_eq!(
        during,
        (true, 2),
        "retrying, with the later messages queued behind"
    );
    assert_eq!(released_during, [1, 2]);
    assert_eq!(
        storage.sources().backlog(&source()).await.unwrap(),
        [3, 4, 5, 6, 7],
        "every deferral is durable, in order"
    );
    let pause = storage.sources().pause_of(&source()).await.unwrap();
    assert_eq!(pause.map(|p| p.kind), Some(PauseKind::RateLimit));
    assert_eq!(limiter.send(Progress).await.unwrap(), (false, 0));
    assert_eq!(sink.send(Collected).await.unwrap().0, [1, 2]);
    assert_eq!(limiter.send(Starts).await.unwrap(), 1, "no restart");
}

#[actix_rt::test]
async fn a_claimed_event_that_does_not_parse_stops_the_limiter_which_restarts_from_storage() {
    // Arrange: three deferred events, the second of which no longer parses.
    let (_dir, storage) = Storage::scratch().await;
    let persisted = persist(&storage, 3).await;
    let seqs: Vec<i64> = persisted.iter().map(|e| e.ingress_sequence).collect();
    storage
        .sources()
        .defer(&source(), &seqs, None)
        .await
        .unwrap();
    execute(
        &storage,
        &format!(
            "UPDATE workflow_events SET type = 'not a type!' WHERE ingress_sequence = {}",
            seqs[1]
        ),
    )
    .await;
    let sink = Sink::default().start();
    let clock = FakeClock::new(0);

    // Act: the limiter loads the backlog and claims it at once (no limit).
    let limiter = start(
        None,
        link(&storage, &sink, Duration::from_secs(600), &clock),
    );
    limiter.send(Settle).await.unwrap();

    // Assert: it stopped on the claim's answer and was restarted, reloading what storage holds.
    assert_eq!(limiter.send(Starts).await.unwrap(), 2, "one restart");
    assert!(
        storage
            .sources()
            .backlog(&source())
            .await
            .unwrap()
            .is_empty()
    );
    // And it still serves.
    let next: Arc<[StoredEvent]> = vec![stored(10)].into();
    limiter
        .send(AdmitEvents {
            events: EventSelection::whole(next),
        })
        .await
        .unwrap();
    limiter.send(Settle).await.unwrap();
    assert_eq!(sink.send(Collected).await.unwrap().0, [10]);
}

#[actix_rt::test]
async fn a_deferral_cut_short_by_a_restart_is_written_before_the_reload() {
    // Arrange: 2 per minute; a deferral fails because its table is gone.
    let (_dir, storage) = Storage::scratch().await;
    let sink = Sink::default().start();
    let clock = FakeClock::new(0);
    let limiter = limiter_facing_an_outage(&storage, &sink, &clock).await;
    let batch: Arc<[StoredEvent]> = (1..=5).map(stored).collect();
    limiter
        .send(AdmitEvents {
            events: EventSelection::whole(batch),
        })
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !limiter.send(Progress).await.unwrap().0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the deferral never failed"
        );
        tokio::task::yield_now().await;
    }

    // Act: the limiter restarts while the deferral waits for its retry; then storage comes back.
    limiter.send(Crash).await.unwrap();
    end_outage(&storage).await;
    limiter.send(FlushDeferrals).await.unwrap();

    // Assert: the deferral went first, and the reload after it found the backlog.
    assert_eq!(limiter.send(Starts).await.unwrap(), 2, "one restart");
    assert_eq!(
        storage.sources().backlog(&source()).await.unwrap(),
        [3, 4, 5]
    );
    assert_eq!(sink.send(Collected).await.unwrap().0, [1, 2]);
    assert_eq!(limiter.send(DiscardDeferred).await.unwrap().unwrap(), 3);
}
