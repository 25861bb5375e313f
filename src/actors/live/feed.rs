//! What a WebSocket session is fed, without actix: the per-session queue accounting that turns a slow client into
//! a `lagged` notice instead of unbounded memory (SPEC §7), and the `since` merge that joins stored events to live
//! ones with no gap and no duplicate.
//!
//! [`WsHub`](super::WsHub) and [`WsSession`](super::WsSession) only wire these to mailboxes and timers (STYLE
//! §2.7); the unit tests below drive them directly.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytestring::ByteString;

use super::frames::{EventFrames, lagged_frame};

/// Most frames queued for one session (its mailbox plus what it holds back during a `since` backfill) before
/// further events are skipped (SPEC §7). The session's mailbox capacity is set to the same number.
pub const MAX_QUEUED_FRAMES: usize = 1_000;
/// Most bytes of frames queued for one session before further events are skipped (SPEC §7: 4 MiB).
pub const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// Frames and bytes handed to one session and not yet written to its socket (or dropped). The hub adds before it
/// sends; the session releases when a frame leaves it. Shared between the two, so the hub can tell a slow
/// client without asking it.
#[derive(Debug, Default)]
pub struct QueueGauge {
    frames: AtomicUsize,
    bytes: AtomicUsize,
}

impl QueueGauge {
    /// A shared, empty gauge.
    pub fn new() -> Arc<QueueGauge> {
        Arc::new(QueueGauge::default())
    }

    /// Counts one queued event of `bytes`.
    pub fn add(&self, bytes: usize) {
        self.frames.fetch_add(1, Ordering::AcqRel);
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Uncounts one queued event of `bytes` (written, dropped, or never sent).
    pub fn release(&self, bytes: usize) {
        // Saturating: a release never follows anything but its own add, but a wrapped counter would silence a
        // session for good, so be safe.
        let _ = self
            .frames
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            });
        let _ = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(bytes))
            });
    }

    /// Queued events.
    pub fn frames(&self) -> usize {
        self.frames.load(Ordering::Acquire)
    }

    /// Queued bytes.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    /// Whether one more event of `bytes` fits: fewer than [`MAX_QUEUED_FRAMES`] queued, and the bytes stay within
    /// [`MAX_QUEUED_BYTES`] (an event larger than the whole allowance still goes to a session with nothing
    /// queued, or it could never be sent).
    pub fn has_room_for(&self, bytes: usize) -> bool {
        let queued = self.bytes();
        self.frames() < MAX_QUEUED_FRAMES && (queued == 0 || queued + bytes <= MAX_QUEUED_BYTES)
    }
}

/// What the hub should do with one event for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Send the event.
    Send,
    /// Send a `lagged` notice for the events skipped so far, then the event.
    NoticeThenSend {
        /// Events skipped.
        missed: u64,
        /// The lowest sequence skipped.
        first_missed: i64,
    },
    /// Skip the event (it has been counted).
    Skip,
}

/// The hub's lag bookkeeping for one session: how many events it skipped since the last `lagged` notice, and the
/// lowest of their sequences.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LagBook {
    missed: u64,
    first_missed: Option<i64>,
}

impl LagBook {
    /// Decides for the event `sequence` of `bytes`, given the session's queue. A session that has skipped events
    /// gets its notice before anything else, and only once it has room again.
    pub fn offer(&mut self, gauge: &QueueGauge, sequence: i64, bytes: usize) -> Offer {
        if !gauge.has_room_for(bytes) {
            self.skipped(sequence);
            return Offer::Skip;
        }
        match self.take_notice() {
            Some((missed, first_missed)) => Offer::NoticeThenSend {
                missed,
                first_missed,
            },
            None => Offer::Send,
        }
    }

    /// Counts an event that could not be handed over (the session's mailbox was full).
    pub fn skipped(&mut self, sequence: i64) {
        self.missed += 1;
        self.first_missed = Some(self.first_missed.map_or(sequence, |f| f.min(sequence)));
    }

    /// The pending notice, if any, for when the session has room again without a new event to carry it.
    pub fn notice_due(&mut self, gauge: &QueueGauge) -> Option<(u64, i64)> {
        if gauge.frames() < MAX_QUEUED_FRAMES {
            self.take_notice()
        } else {
            None
        }
    }

    /// Puts back a notice that could not be sent after all.
    pub fn restore(&mut self, missed: u64, first_missed: i64) {
        self.missed += missed;
        self.first_missed = Some(
            self.first_missed
                .map_or(first_missed, |f| f.min(first_missed)),
        );
    }

    /// Whether a notice is pending.
    pub fn is_lagging(&self) -> bool {
        self.missed > 0
    }

    fn take_notice(&mut self) -> Option<(u64, i64)> {
        let first = self.first_missed.take()?;
        let missed = std::mem::take(&mut self.missed);
        Some((missed, first))
    }
}

/// What the hub hands a session, in order.
#[derive(Debug, Clone)]
pub enum FeedItem {
    /// An event's frames.
    Event(EventFrames),
    /// `missed` events, the lowest `first_missed`, were skipped.
    Lagged {
        /// Events skipped.
        missed: u64,
        /// The lowest sequence skipped.
        first_missed: i64,
    },
    /// An operator notice (`source.paused`, …): for every session whatever its subscription, so it is never
    /// dropped as stale; held during a backfill like the rest, to keep the order frames came in.
    Notice(ByteString),
}

/// The session's side of one subscription: which generation of subscription frames belong to, whether live
/// frames are held back while a `since` backfill runs, and what was sent, so that stored and live events meet with
/// no gap and no duplicate.
///
/// The order of operations that makes this hold (see [`WsSession`](super::WsSession)): the session registers the
/// new filter with the hub first ([`Feed::begin`]; live frames are held from then on), then reads the highest
/// stored sequence (`target`), then sends stored events after `since` up to `target` ([`Feed::backfilled`]), then
/// releases the held frames ([`Feed::go_live`]). Every event committed after registration reaches the hub after
/// it, so it comes live; every event committed before has a sequence at or below `target` and comes from the
/// backfill (sequences follow commit order, SPEC §3). A live frame at or below the floor (`since`, the last
/// backfilled sequence, or `target`) was therefore already sent, and is dropped.
#[derive(Debug)]
pub struct Feed {
    gauge: Arc<QueueGauge>,
    generation: u64,
    held: Option<Vec<FeedItem>>,
    floor: Option<i64>,
    last_written: Option<i64>,
}

impl Feed {
    /// The feed of a new session: generation 0 (every event), live.
    pub fn new(gauge: Arc<QueueGauge>) -> Feed {
        Feed {
            gauge,
            generation: 0,
            held: None,
            floor: None,
            last_written: None,
        }
    }

    /// The current subscription's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Switches to subscription `generation`: frames of older generations are dropped from now on, and live frames
    /// are held until [`Feed::go_live`]. With `since`, events at or below it are never sent.
    pub fn begin(&mut self, generation: u64, since: Option<i64>) {
        if let Some(held) = self.held.take() {
            self.release_all(&held);
        }
        self.generation = generation;
        self.held = Some(Vec::new());
        self.floor = since;
        self.last_written = since;
    }

    /// A frame from the hub: what to write now (nothing when it is stale, a duplicate, or held).
    pub fn accept(&mut self, generation: u64, item: FeedItem) -> Vec<ByteString> {
        if generation != self.generation && !matches!(item, FeedItem::Notice(_)) {
            self.release(&item);
            return Vec::new();
        }
        match &mut self.held {
            Some(held) => {
                held.push(item);
                Vec::new()
            }
            None => self.emit(item),
        }
    }

    /// A stored event of the backfill, oldest first: whether to send it (always, unless at or below the floor).
    pub fn backfilled(&mut self, sequence: i64) -> bool {
        if self.floor.is_some_and(|f| sequence <= f) {
            return false;
        }
        self.floor = Some(sequence);
        self.last_written = Some(sequence);
        true
    }

    /// Ends the backfill (which covered every stored event up to `target`) and releases the held frames above
    /// the floor, in the order they came.
    pub fn go_live(&mut self, target: Option<i64>) -> Vec<ByteString> {
        if let Some(t) = target {
            self.floor = Some(self.floor.map_or(t, |f| f.max(t)));
        }
        let held = self.held.take().unwrap_or_default();
        let mut out = Vec::new();
        for item in held {
            out.extend(self.emit(item));
        }
        out
    }

    fn emit(&mut self, item: FeedItem) -> Vec<ByteString> {
        self.release(&item);
        match item {
            FeedItem::Event(frames) => {
                if self.floor.is_some_and(|f| frames.sequence <= f) {
                    return Vec::new();
                }
                self.last_written = Some(
                    self.last_written
                        .map_or(frames.sequence, |l| l.max(frames.sequence)),
                );
                let mut out = vec![frames.frame];
                out.extend(frames.typed);
                out
            }
            FeedItem::Lagged {
                missed,
                first_missed,
            } => {
                // The last sequence sent before the gap: resuming from it re-sends everything skipped, even when
                // a relayed event from another instance was skipped after a later local one was sent.
                let before_gap = first_missed - 1;
                let resume_from = self.last_written.map_or(before_gap, |l| l.min(before_gap));
                vec![lagged_frame(missed, resume_from)]
            }
            FeedItem::Notice(frame) => vec![frame],
        }
    }

    fn release(&self, item: &FeedItem) {
        if let FeedItem::Event(frames) = item {
            self.gauge.release(frames.len());
        }
    }

    fn release_all(&self, items: &[FeedItem]) {
        for item in items {
            self.release(item);
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            self.release_all(&held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(sequence: i64) -> FeedItem {
        FeedItem::Event(EventFrames {
            sequence,
            frame: ByteString::from(format!("e{sequence}")),
            typed: None,
        })
    }

    fn queued(gauge: &QueueGauge, item: FeedItem) -> FeedItem {
        if let FeedItem::Event(frames) = &item {
            gauge.add(frames.len());
        }
        item
    }

    fn texts(out: Vec<ByteString>) -> Vec<String> {
        out.into_iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn a_session_with_room_gets_every_event() {
        let gauge = QueueGauge::new();
        let mut book = LagBook::default();
        assert_eq!(book.offer(&gauge, 1, 100), Offer::Send);
        assert!(!book.is_lagging());
    }

    #[test]
    fn a_session_past_its_frame_allowance_skips_events_and_is_told_once_it_has_room() {
        let gauge = QueueGauge::new();
        let mut book = LagBook::default();
        for _ in 0..MAX_QUEUED_FRAMES {
            gauge.add(10);
        }
        assert_eq!(book.offer(&gauge, 7, 10), Offer::Skip);
        assert_eq!(book.offer(&gauge, 8, 10), Offer::Skip);
        assert!(book.is_lagging());
        assert_eq!(book.notice_due(&gauge), None, "still full");

        gauge.release(10);
        assert_eq!(
            book.offer(&gauge, 9, 10),
            Offer::NoticeThenSend {
                missed: 2,
                first_missed: 7
            }
        );
        assert!(!book.is_lagging());
        assert_eq!(book.offer(&gauge, 10, 10), Offer::Send);
    }

    #[test]
    fn a_session_past_its_byte_allowance_skips_events() {
        let gauge = QueueGauge::new();
        let mut book = LagBook::default();
        gauge.add(MAX_QUEUED_BYTES - 10);
        assert_eq!(book.offer(&gauge, 1, 10), Offer::Send);
        assert_eq!(book.offer(&gauge, 2, 11), Offer::Skip);
    }

    #[test]
    fn an_event_larger_than_the_allowance_still_goes_to_an_idle_session() {
        let gauge = QueueGauge::new();
        let mut book = LagBook::default();
        assert_eq!(book.offer(&gauge, 1, MAX_QUEUED_BYTES * 2), Offer::Send);
    }

    #[test]
    fn a_notice_is_due_without_a_new_event_once_the_session_drains() {
        let gauge = QueueGauge::new();
        let mut book = LagBook::default();
        book.skipped(5);
        book.skipped(4);
        assert_eq!(book.notice_due(&gauge), Some((2, 4)));
        assert_eq!(book.notice_due(&gauge), None);
        book.restore(2, 4);
        assert_eq!(book.notice_due(&gauge), Some((2, 4)));
    }

    #[test]
    fn the_gauge_never_wraps_below_zero() {
        let gauge = QueueGauge::new();
        gauge.release(10);
        assert_eq!((gauge.frames(), gauge.bytes()), (0, 0));
    }

    #[test]
    fn a_live_feed_writes_frames_and_releases_them() {
        let gauge = QueueGauge::new();
        let mut feed = Feed::new(gauge.clone());
        let out = feed.accept(0, queued(&gauge, event(1)));
        assert_eq!(texts(out), ["e1"]);
        assert_eq!((gauge.frames(), gauge.bytes()), (0, 0));
    }

    #[test]
    fn frames_of_an_older_subscription_are_dropped_and_released() {
        let gauge = QueueGauge::new();
        let mut feed = Feed::new(gauge.clone());
        feed.begin(1, None);
        assert!(feed.accept(0, queued(&gauge, event(1))).is_empty());
        assert_eq!(gauge.frames(), 0);
        assert_eq!(texts(feed.go_live(None)), Vec::<String>::new());
    }

    #[test]
    fn since_sends_stored_then_held_live_frames_without_gap_or_duplicate() {
        let gauge = QueueGauge::new();
        let mut feed = Feed::new(gauge.clone());
        feed.begin(1, Some(10));
        // Live frames arrive while the backfill runs; 12 and 13 were also committed before the target was read.
        for seq in [12, 13, 14, 15] {
            assert!(feed.accept(1, queued(&gauge, event(seq))).is_empty());
        }
        let sent: Vec<i64> = (11..=13).filter(|s| feed.backfilled(*s)).collect();
        assert_eq!(sent, [11, 12, 13]);
        assert_eq!(texts(feed.go_live(Some(13))), ["e14", "e15"]);
        // Live from now on; a late copy of a backfilled event (relayed from another instance) is a duplicate.
        assert!(feed.accept(1, queued(&gauge, event(12))).is_empty());
        assert_eq!(texts(feed.accept(1, queued(&gauge, event(16)))), ["e16"]);
        assert_eq!((gauge.frames(), gauge.bytes()), (0, 0));
    }

    #[test]
    fn the_target_covers_stored_events_the_filter_left_out() {
        let gauge = QueueGauge::new();
        let mut feed = Feed::new(gauge.clone());
        feed.begin(1, Some(0));
        assert!(feed.accept(1, queued(&gauge, event(7))).is_empty());
        assert!(feed.backfilled(3));
        // The backfill's last match was 3, but it covered everything up to 8.
        assert!(texts(feed.go_live(Some(8))).is_empty());
        assert_eq!(texts(feed.accept(1, queued(&gauge, event(9)))), ["e9"]);
    }

    #[test]
    fn a_notice_reaches_every_subscription_and_waits_its_turn_behind_a_backfill() {
        let gauge = QueueGauge::new();
        let mut feed = Feed::new(gauge.clone());
        // Sent under an earlier subscription: an event would be stale, a notice is not.
        feed.begin(2, None);
        assert!(texts(feed.go_live(None)).is_empty());
        assert!(feed.accept(1, queued(&gauge, event(4))).is_empty());
        assert_eq!(
            texts(feed.accept(1, FeedItem::Notice(ByteString::from("paused")))),
            ["paused"]
        );
        // During a backfill it is held with the live events, in the order they came.
        feed.begin(3, Some(4));
        assert!(feed.accept(3, queued(&gauge, event(5))).is_empty());
        assert!(
            feed.accept(3, FeedItem::Notice(ByteString::from("resumed")))
                .is_empty()
        );
        assert_eq!(texts(feed.go_live(Some(4))), ["e5", "resumed"]);
        assert_eq!(gauge.bytes(), 0);
    }

    #[test]
    fn backfilled_events_at_or_below_since_are_not_sent() {
        let mut feed = Feed::new(QueueGauge::new());
        feed.begin(1, Some(10));
        assert!(!feed.backfilled(10));
        assert!(feed.backfilled(11));
        assert!(!feed.backfilled(11));
    }

    #[test]
    fn a_lagged_notice_resumes_from_the_last_sequence_sent_before_the_gap() {
        let gauge = QueueGauge::new();
        let mut feed = Feed::new(gauge.clone());
        feed.accept(0, queued(&gauge, event(5)));
        let out = feed.accept(
            0,
            FeedItem::Lagged {
                missed: 3,
                first_missed: 6,
            },
        );
        assert_eq!(
            texts(out),
            [r#"{"data":{"missed":3,"resumeFrom":"5"},"type":"lagged"}"#]
        );
        // A relayed event below the last one sent was skipped: resume from before it.
        let out = feed.accept(
            0,
            FeedItem::Lagged {
                missed: 1,
                first_missed: 4,
            },
        );
        assert_eq!(
            texts(out),
            [r#"{"data":{"missed":1,"resumeFrom":"3"},"type":"lagged"}"#]
        );
    }

    #[test]
    fn a_new_subscribe_releases_what_the_previous_one_held() {
        let gauge = QueueGauge::new();
        let mut feed = Feed::new(gauge.clone());
        feed.begin(1, Some(0));
        feed.accept(1, queued(&gauge, event(1)));
        assert_eq!(gauge.frames(), 1);
        feed.begin(2, None);
        assert_eq!(gauge.frames(), 0);
        drop(feed);
    }
}
