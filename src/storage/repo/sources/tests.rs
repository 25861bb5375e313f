//! The sources repository against a scratch SQLite database.

use chrono::{DateTime, Utc};

use super::super::controls::last_controls_in;
use crate::domain::{
    ControlAction, HERALD_ACTOR, PauseKind, SourceName, SourcePause, StatsDelta, truncate_to_millis,
};
use crate::storage::Storage;

fn source(s: &str) -> SourceName {
    SourceName::parse(s.to_owned()).unwrap()
}

fn manual(name: &str, reason: &str, until: Option<DateTime<Utc>>) -> SourcePause {
    SourcePause {
        source: source(name),
        kind: PauseKind::Manual,
        reason: reason.into(),
        actor: "alice".into(),
        paused_at: truncate_to_millis(Utc::now()),
        until,
    }
}

#[actix_rt::test]
async fn counters_add_up_across_writes_and_latest_follows_the_newest_event() {
    let (_dir, storage) = Storage::scratch().await;
    let repo = storage.sources();
    let t0 = truncate_to_millis(Utc::now());
    let mut newer = StatsDelta::zero(source("a"));
    newer
        .counters
        .add_event(t0 + chrono::Duration::seconds(10), 5);
    let mut older = StatsDelta::zero(source("a"));
    older.counters.add_event(t0, 50);
    older.counters.add_event(t0, 30);
    repo.add_stats(vec![newer]).await.unwrap();
    repo.add_stats(vec![older]).await.unwrap(); // committed later, but about older events

    let o = repo.overview(&source("a")).await.unwrap().counters;
    assert_eq!((o.total, o.lag_ms_sum), (3, 85));
    assert_eq!((o.lag_ms_latest, o.lag_ms_max), (Some(5), Some(50)));
    assert_eq!(o.last_event_at, Some(t0 + chrono::Duration::seconds(10)));
}

#[actix_rt::test]
async fn a_deferred_event_is_released_once_and_counted_as_throttled_once() {
    let (_dir, storage) = Storage::scratch().await;
    let repo = storage.sources();
    repo.defer(&source("a"), &[3, 1, 2], None).await.unwrap();
    assert_eq!(repo.backlog(&source("a")).await.unwrap(), [1, 2, 3]);

    // No stored events behind these numbers: the claim still deletes the rows, once.
    assert!(
        repo.release(&source("a"), &[1, 2])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(repo.backlog(&source("a")).await.unwrap(), [3]);
    let o = repo.overview(&source("a")).await.unwrap();
    assert_eq!((o.counters.throttled, o.backlog), (3, 1));
    assert_eq!(repo.discard_backlog(&source("a")).await.unwrap(), 1);
    assert_eq!(
        repo.overview(&source("a")).await.unwrap().counters.dropped,
        1
    );
}

#[actix_rt::test]
async fn an_automatic_pause_never_replaces_a_manual_one_in_force() {
    let (_dir, storage) = Storage::scratch().await;
    let repo = storage.sources();
    repo.pause(&manual("a", "deploy", None), ulid::Ulid::generate())
        .await
        .unwrap();
    let automatic = SourcePause {
        kind: PauseKind::RateLimit,
        reason: "rate limit".into(),
        actor: HERALD_ACTOR.into(),
        ..manual("a", "", Some(Utc::now() + chrono::Duration::seconds(5)))
    };
    repo.defer(&source("a"), &[1], Some(&automatic))
        .await
        .unwrap();
    let kept = repo.pause_of(&source("a")).await.unwrap().unwrap();
    assert_eq!(
        (kept.kind, kept.reason.as_str()),
        (PauseKind::Manual, "deploy")
    );

    repo.resume(&source("a"), ulid::Ulid::generate(), "alice", None)
        .await
        .unwrap();
    repo.defer(&source("a"), &[2], Some(&automatic))
        .await
        .unwrap();
    let now = repo.pause_of(&source("a")).await.unwrap().unwrap();
    assert_eq!(now.kind, PauseKind::RateLimit);
    // A manual pause replaces an automatic one.
    repo.pause(&manual("a", "incident", None), ulid::Ulid::generate())
        .await
        .unwrap();
    let replaced = repo.pause_of(&source("a")).await.unwrap().unwrap();
    assert_eq!(replaced.reason, "incident");
}

#[actix_rt::test]
async fn the_list_holds_sources_seen_or_paused_by_name_and_hides_expired_pauses() {
    let (_dir, storage) = Storage::scratch().await;
    let repo = storage.sources();
    let mut seen = StatsDelta::zero(source("b.seen"));
    seen.counters.add_event(Utc::now(), 1);
    repo.add_stats(vec![seen]).await.unwrap();
    repo.pause(
        &manual("a.paused", "never seen", None),
        ulid::Ulid::generate(),
    )
    .await
    .unwrap();
    repo.pause(
        &manual(
            "c.expired",
            "over",
            Some(Utc::now() - chrono::Duration::seconds(1)),
        ),
        ulid::Ulid::generate(),
    )
    .await
    .unwrap();

    let page = repo.list(None, 2).await.unwrap();
    let names: Vec<&str> = page.iter().map(|o| o.source.as_str()).collect();
    assert_eq!(names, ["a.paused", "b.seen", "c.expired"]);
    assert!(page[0].pause.is_some());
    assert!(page[2].pause.is_none(), "an expired pause is no pause");
    let rest = repo.list(Some("b.seen"), 2).await.unwrap();
    assert_eq!(rest.len(), 1);
}

#[actix_rt::test]
async fn each_source_gets_its_own_latest_control_and_its_history_pages_newest_first() {
    let (_dir, storage) = Storage::scratch().await;
    let repo = storage.sources();
    // Ids from one monotonic generator, as the HTTP handlers take them: the four controls may share a
    // millisecond and still keep their order.
    let mut ids = ulid::Generator::new();
    let mut id = || ids.generate().unwrap();
    repo.pause(&manual("a", "first", None), id()).await.unwrap();
    repo.pause(&manual("b", "only", None), id()).await.unwrap();
    repo.resume(&source("a"), id(), "bob", Some("done"))
        .await
        .unwrap();
    repo.resume(&source("a"), id(), "bob", None).await.unwrap();

    let latest = last_controls_in(storage.write_connection(), &["a", "b", "c"])
        .await
        .unwrap();
    assert_eq!(latest.len(), 2, "c has no control");
    assert_eq!(latest["a"].action, ControlAction::Resume);
    assert_eq!(
        (latest["a"].reason.as_deref(), latest["a"].ended_pause),
        (None, Some(false))
    );
    assert_eq!(latest["b"].reason.as_deref(), Some("only"));

    let first = repo.controls(&source("a"), None, 2).await.unwrap();
    assert_eq!(first.len(), 3, "limit + 1 tells there is more");
    let rest = repo
        .controls(&source("a"), Some(&first[1].id), 2)
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = first[..2]
        .iter()
        .chain(&rest)
        .map(|c| (c.action.as_str(), c.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [("resume", "bob"), ("resume", "bob"), ("pause", "alice")]
    );
}

#[actix_rt::test]
async fn a_stored_pause_that_no_longer_reads_is_a_corrupt_row_that_keeps_its_cause() {
    use sea_orm::{ActiveValue::Set, EntityTrait};

    use crate::storage::entity::source_pauses as pauses;
    use crate::storage::{CorruptColumn, StorageError};

    let (_dir, storage) = Storage::scratch().await;
    pauses::Entity::insert(pauses::ActiveModel {
        source: Set("a".into()),
        kind: Set("sleepy".into()),
        reason: Set("r".into()),
        actor: Set("alice".into()),
        paused_at: Set(truncate_to_millis(Utc::now())),
        paused_until: Set(None),
    })
    .exec_without_returning(storage.write_connection())
    .await
    .unwrap();

    let e = storage
        .sources()
        .pause_of(&source("a"))
        .await
        .expect_err("corrupt");
    let StorageError::Corrupt { table, key, cause } = &e else {
        panic!("a corrupt row, got {e:?}");
    };
    assert_eq!((*table, key.as_str()), ("source_pauses", "a"));
    let CorruptColumn::Unknown { column, cause } = &**cause else {
        panic!("an unknown spelling, got {cause:?}");
    };
    assert_eq!((*column, cause.value.as_str()), ("kind", "sleepy"));
    let chain: Vec<String> =
        std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
            .map(ToString::to_string)
            .collect();
    assert_eq!(
        chain,
        [
            r#"corrupt source_pauses row "a""#,
            "column kind",
            r#"unknown pause kind "sleepy""#
        ]
    );
}
