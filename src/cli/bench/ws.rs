//! `herald bench ingest --ws-clients C`: C WebSocket clients on the bench's Herald, for publish→WebSocket latency
//! and the memory an idle session costs (SPEC §14).
//!
//! The clients run on a thread and runtime of their own, so reading 100 sockets does not queue behind Herald's
//! own tasks on the bench's system thread (which hosts the router and the hub). They do not parse JSON: each
//! frame's event index is read from its `"id":"bench-<i>"`, which keeps the client side cheap next to the server.
//!
//! `wsSessionBytes` is the resident-set growth of this process while the clients connect and get their
//! `connection.ack`, divided by C. Clients and server share the process, so it includes each client's own
//! connection state (kept small: 4 KiB read buffers); it is an upper bound on the server's cost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::ingest::event_index;
use super::{Latencies, current_rss_bytes};

/// When each event was published, as nanoseconds after an origin (0 = not yet), shared without a lock between the
/// publisher and the client thread.
pub(super) struct PublishTimes {
    origin: Instant,
    nanos: Box<[AtomicU64]>,
}

impl PublishTimes {
    /// Room for events `0..events`.
    pub(super) fn new(events: usize) -> Arc<PublishTimes> {
        Arc::new(PublishTimes {
            origin: Instant::now(),
            nanos: (0..events).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// Records that events `range` were published `at`.
    pub(super) fn mark(&self, range: std::ops::Range<usize>, at: Instant) {
        // At least 1, so a publish at the origin is not read as "not yet".
        let nanos = (at.duration_since(self.origin).as_nanos() as u64).max(1);
        for slot in self.nanos.get(range).unwrap_or_default() {
            slot.store(nanos, Ordering::Release);
        }
    }

    /// Milliseconds from event `i`'s publish to `now`.
    pub(super) fn latency_ms(&self, i: usize, now: Instant) -> Option<f64> {
        let published = self.nanos.get(i)?.load(Ordering::Acquire);
        if published == 0 {
            return None;
        }
        let received = now.duration_since(self.origin).as_nanos() as u64;
        Some(received.saturating_sub(published) as f64 / 1_000_000.0)
    }
}

/// What the clients measured.
pub(super) struct WsReport {
    /// Publish→receipt, one per event per client.
    pub(super) latencies: Latencies,
    /// Events the clients were told they missed (`lagged`).
    pub(super) missed: u64,
}

/// Connected clients, reading until each has every event.
pub(super) struct WsClients {
    count: usize,
    session_bytes: Option<u64>,
    report: oneshot::Receiver<anyhow::Result<WsReport>>,
}

impl WsClients {
    /// Connects `count` clients to the Herald on `port` and waits for every `connection.ack`. Each then reads
    /// until it has received (or been told it missed) `events` events.
    ///
    /// # Errors
    /// When a client cannot connect.
    pub(super) async fn connect(
        port: u16,
        count: usize,
        events: usize,
        times: Arc<PublishTimes>,
    ) -> anyhow::Result<WsClients> {
        let (connected_tx, connected_rx) = oneshot::channel::<anyhow::Result<()>>();
        let (report_tx, report_rx) = oneshot::channel();
        let before = current_rss_bytes();
        std::thread::Builder::new()
            .name("bench-ws-clients".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = connected_tx.send(Err(e.into()));
                        return;
                    }
                };
                runtime.block_on(run_clients(
                    port,
                    count,
                    events,
                    times,
                    connected_tx,
                    report_tx,
                ));
            })?;
        connected_rx
            .await
            .map_err(|_| anyhow::anyhow!("the WebSocket client thread died"))??;
        let after = current_rss_bytes();
        let session_bytes = match (before, after) {
            (Some(b), Some(a)) => Some(a.saturating_sub(b) / count.max(1) as u64),
            _ => None,
        };
        Ok(WsClients {
            count,
            session_bytes,
            report: report_rx,
        })
    }

    /// RSS growth per connected client.
    pub(super) fn session_bytes(&self) -> Option<u64> {
        self.session_bytes
    }

    /// How many clients there are.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// Waits (at most `timeout`) until every client has every event.
    ///
    /// # Errors
    /// When a client's connection fails or the time runs out.
    pub(super) async fn finish(self, timeout: Duration) -> anyhow::Result<WsReport> {
        tokio::time::timeout(timeout, self.report)
            .await
            .map_err(|_| anyhow::anyhow!("the WebSocket clients did not get every event in time"))?
            .map_err(|_| anyhow::anyhow!("the WebSocket client thread died"))?
    }
}

async fn run_clients(
    port: u16,
    count: usize,
    events: usize,
    times: Arc<PublishTimes>,
    connected: oneshot::Sender<anyhow::Result<()>>,
    report: oneshot::Sender<anyhow::Result<WsReport>>,
) {
    let url = format!("ws://127.0.0.1:{port}/ws");
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let stream = async {
            let (mut stream, _) =
                tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true)
                    .await?;
            // The first frame is the connection.ack.
            match stream.next().await {
                Some(Ok(Message::Text(_))) => Ok(stream),
                other => Err(anyhow::anyhow!("expected a connection.ack, got {other:?}")),
            }
        }
        .await;
        match stream {
            Ok(stream) => streams.push(stream),
            Err(e) => {
                let _ = connected.send(Err(e));
                return;
            }
        }
    }
    let _ = connected.send(Ok(()));
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let times = times.clone();
            tokio::spawn(async move {
                let mut latencies = Latencies::new();
                let mut missed = 0u64;
                while latencies.count() + missed < events as u64 {
                    let Some(message) = stream.next().await else {
                        anyhow::bail!("a WebSocket closed early");
                    };
                    let Message::Text(text) = message? else {
                        continue;
                    };
                    let now = Instant::now();
                    if let Some(i) = bench_index(&text) {
                        if let Some(ms) = times.latency_ms(i, now) {
                            latencies.record_ms(ms);
                        }
                    } else if let Some(n) = lagged_missed(&text) {
                        missed += n;
                    }
                }
                let _ = stream.close(None).await;
                Ok((latencies, missed))
            })
        })
        .collect();
    let mut all = WsReport {
        latencies: Latencies::new(),
        missed: 0,
    };
    for reader in readers {
        match reader.await {
            Ok(Ok((latencies, missed))) => {
                if let Err(e) = all.latencies.merge(&latencies) {
                    let _ = report.send(Err(e));
                    return;
                }
                all.missed += missed;
            }
            Ok(Err(e)) => {
                let _ = report.send(Err(e));
                return;
            }
            Err(e) => {
                let _ = report.send(Err(e.into()));
                return;
            }
        }
    }
    let _ = report.send(Ok(all));
}

/// The index of the bench event in an event frame, read from its `"id":"bench-<i>"` without parsing the frame.
fn bench_index(frame: &str) -> Option<usize> {
    const MARK: &str = r#""id":""#;
    frame.match_indices(MARK).find_map(|(at, _)| {
        let value = &frame[at + MARK.len()..];
        event_index(&value[..value.find('"')?])
    })
}

/// `missed` of a `lagged` frame.
fn lagged_missed(frame: &str) -> Option<u64> {
    if !frame.contains(r#""type":"lagged""#) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(frame).ok()?;
    value["data"]["missed"].as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_index_is_read_from_the_frame() {
        let frame =
            r#"{"data":{"event":{"causationId":null,"id":"bench-1234","payload":{}}},"type":"x"}"#;
        assert_eq!(bench_index(frame), Some(1234));
        assert_eq!(bench_index(r#"{"type":"pong"}"#), None);
    }

    #[test]
    fn lagged_frames_say_how_many_were_missed() {
        assert_eq!(
            lagged_missed(r#"{"data":{"missed":7,"resumeFrom":"3"},"type":"lagged"}"#),
            Some(7)
        );
        assert_eq!(lagged_missed(r#"{"type":"pong"}"#), None);
    }

    #[test]
    fn latency_is_measured_from_the_publish_mark() {
        let times = PublishTimes::new(3);
        assert_eq!(
            times.latency_ms(0, Instant::now()),
            None,
            "not published yet"
        );
        let at = Instant::now();
        times.mark(0..2, at);
        let latency = times
            .latency_ms(1, at + Duration::from_millis(5))
            .expect("published");
        assert!((latency - 5.0).abs() < 0.01, "{latency}");
        assert_eq!(times.latency_ms(2, at), None);
        assert_eq!(times.latency_ms(9, at), None);
    }
}
