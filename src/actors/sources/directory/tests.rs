//! The directory's tests. Its limiters read a [`FakeClock`] moved by hand, and [`SettleLimiters`] has each of them
//! run at once what its timers would, so no test waits for a real timer (STYLE §6.4).

use actix::{Handler, Message, ResponseFuture};

use super::*;
use crate::actors::messages::Crash;
use crate::actors::sources::limiter::tests::Settle;
use crate::domain::FakeClock;
use crate::domain::{NewEvent, StoredEvent};

#[derive(Message)]
#[rtype(result = "(u32, usize)")]
struct Starts;

impl Handler<Starts> for SourceDirectory {
    type Result = actix::MessageResult<Starts>;
    fn handle(&mut self, _msg: Starts, _ctx: &mut Self::Context) -> Self::Result {
        actix::MessageResult((self.starts, self.limiters.len()))
    }
}

/// Sends every limiter [`Settle`] (not counted as a directory message) and answers once all have answered; a
/// message sent to the directory afterwards is handled after everything the limiters sent it meanwhile.
#[derive(Message)]
#[rtype(result = "()")]
struct SettleLimiters;

impl Handler<SettleLimiters> for SourceDirectory {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, _msg: SettleLimiters, _ctx: &mut Self::Context) -> Self::Result {
        let limiters: Vec<_> = self.limiters.values().map(|e| e.addr.clone()).collect();
        Box::pin(async move {
            for limiter in limiters {
                let _ = limiter.send(Settle).await;
            }
        })
    }
}

async fn released(directory: &Addr<SourceDirectory>, source: &SourceName) -> u64 {
    directory
        .send(ReleasedCounts {
            sources: vec![source.clone()],
        })
        .await
        .unwrap()
        .get(source)
        .copied()
        .unwrap_or(0)
}

#[actix_rt::test]
async fn the_supervisor_restarts_a_stopped_directory_which_keeps_its_limiters_and_adopts_backlogs()
{
    // Arrange: a durable backlog left by an earlier run.
    let (_dir, storage) = Storage::scratch().await;
    let left = SourceName::parse("left.behind".into()).unwrap();
    let events = ["e-1", "e-2"]
        .into_iter()
        .map(|id| {
            let event = StoredEvent::sample(
                serde_json::json!({"id": id, "type": "test.event.happened", "source": "left.behind"}),
                0,
            );
            NewEvent::new(event.envelope, event.severity, Utc::now(), None, None)
        })
        .collect();
    let stored = storage
        .events()
        .persist_batch(events, vec![])
        .await
        .unwrap();
    let seqs: Vec<i64> = stored.stored.iter().map(|e| e.ingress_sequence).collect();
    storage.sources().defer(&left, &seqs, None).await.unwrap();
    let directory = Supervisor::start({
        let storage = storage.clone();
        move |_| {
            SourceDirectory::new(storage, Arc::new(RateLimits::default()), None, None)
                .with_clock(ActorClock::new(FakeClock::new(0)))
        }
    });

    // Act
    directory.send(Crash).await.unwrap();
    directory.send(Crash).await.unwrap();
    directory.send(DrainSources).await.unwrap();
    directory.send(SettleLimiters).await.unwrap();

    // Assert
    let (starts, limiters) = directory.send(Starts).await.unwrap();
    assert_eq!(starts, 3, "one start and two restarts");
    assert_eq!(limiters, 1, "the backlogged source got its limiter, once");
    assert_eq!(
        released(&directory, &left).await,
        2,
        "the backlog was released"
    );
}

#[actix_rt::test]
async fn an_idle_limiter_retires_and_the_next_event_of_its_source_starts_a_fresh_one() {
    // Arrange
    let (_dir, storage) = Storage::scratch().await;
    let clock = FakeClock::new(0);
    let directory = Supervisor::start({
        let clock = clock.clone();
        move |_| {
            SourceDirectory::new(storage, Arc::new(RateLimits::default()), None, None)
                .with_idle_after(Duration::from_millis(50))
                .with_clock(ActorClock::new(clock))
        }
    });
    let quiet = SourceName::parse("quiet.api".into()).unwrap();
    let stored = |seq: i64| {
        StoredEvent::sample(
            serde_json::json!({"id": format!("q-{seq}"), "type": "test.event.happened", "source": "quiet.api"}),
            seq,
        )
    };
    let state = || async {
        let released = released(&directory, &quiet).await;
        let (_, limiters) = directory.send(Starts).await.unwrap();
        (released, limiters)
    };

    // Act and assert: the first event starts a limiter...
    directory.do_send(EventsStored {
        events: Arc::from(vec![stored(1)]),
    });
    directory.send(SettleLimiters).await.unwrap();
    assert_eq!(state().await, (1, 1), "the first release");
    // ... which retires once idle ...
    clock.advance_ms(50);
    directory.send(SettleLimiters).await.unwrap();
    assert_eq!(state().await, (1, 0), "retirement");
    // ... and the next event starts a fresh one.
    directory.do_send(EventsStored {
        events: Arc::from(vec![stored(2)]),
    });
    directory.send(SettleLimiters).await.unwrap();
    assert_eq!(
        state().await,
        (2, 1),
        "the second release by a fresh limiter"
    );
}
