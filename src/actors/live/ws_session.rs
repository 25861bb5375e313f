//! `WsSession`: one actor per WebSocket client (SPEC §7): the `connection.ack`, the heartbeat, the client's
//! frames (`ping`, `subscribe`), the `since` backfill, and writing what the [`WsHub`](super::WsHub) hands it.
//!
//! This is the only file that imports `actix-web-actors`: everything else speaks in frames ([`ByteString`]) and
//! messages.
//!
//! The client frames and the answers to them are described in [`super::frames`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Handler, Message, Running, StreamHandler,
    WrapFuture,
};
use actix_http::ws::Item;
use actix_web::error::PayloadError;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;
use bytestring::ByteString;
use chrono::Utc;
use ulid::Ulid;

use super::feed::{Feed, FeedItem, MAX_QUEUED_FRAMES, QueueGauge};
use super::frames::{
    ClientFrame, EventFrames, FrameError, MAX_INBOUND_FRAME_BYTES, SINCE_MAX_EVENTS,
    SubscribeRequest, ack_frame, error_frame, pong_frame, subscribed_frame,
};
use super::guard::GuardedPayload;
use super::ws_hub::{Connect, Disconnect, Subscribe, WsHubLink};
use crate::domain::ErrorCode;
use crate::filter::EventFilter;
use crate::storage::{EventQuery, Storage, StorageError};

/// How often the server pings (SPEC §7).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// A client silent this long is dropped (SPEC §7).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Stored events read per backfill query. Each page is written to the socket before the next is read.
pub const BACKFILL_PAGE_EVENTS: u64 = 200;
/// The subprotocol the server selects.
pub const PROTOCOL: &str = "herald.v1";

/// An event's frames, or a `lagged` notice, for the subscription `generation`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Deliver {
    /// The subscription the hub sent it under; the session drops frames of earlier subscriptions.
    pub generation: u64,
    /// What to write.
    pub item: FeedItem,
}

/// Herald is shutting down: close with 1001 (going away).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct GoingAway;

/// One WebSocket client.
pub struct WsSession {
    id: Ulid,
    hub: WsHubLink,
    storage: Storage,
    query_timeout: Duration,
    gauge: Arc<QueueGauge>,
    feed: Feed,
    /// The latest subscribe asked for; a slower answer to an earlier one is ignored.
    requested: u64,
    last_heard: Instant,
    /// A fragmented text message being put together.
    fragments: Option<Vec<u8>>,
}

impl WsSession {
    /// A session that registers with `hub` and reads `since` backfills from `storage` within `query_timeout`.
    pub fn new(hub: WsHubLink, storage: Storage, query_timeout: Duration) -> WsSession {
        let gauge = QueueGauge::new();
        WsSession {
            id: Ulid::generate(),
            hub,
            storage,
            query_timeout,
            feed: Feed::new(gauge.clone()),
            gauge,
            requested: 0,
            last_heard: Instant::now(),
            fragments: None,
        }
    }

    /// Completes the handshake for `req` (selecting [`PROTOCOL`] when the client offers it) and starts the
    /// session on this worker.
    ///
    /// # Errors
    /// When `req` is not a valid WebSocket handshake (answered 400).
    pub fn serve(
        self,
        req: &HttpRequest,
        payload: web::Payload,
    ) -> Result<HttpResponse, actix_web::Error> {
        // The guard refuses an oversized frame at its header; `frame_size` alone would let actix-http buffer the
        // whole frame first.
        let payload = GuardedPayload::new(payload, MAX_INBOUND_FRAME_BYTES);
        ws::WsResponseBuilder::new(self, req, payload)
            .frame_size(MAX_INBOUND_FRAME_BYTES)
            .protocols(&[PROTOCOL])
            .start()
    }

    fn write(ctx: &mut ws::WebsocketContext<Self>, frames: Vec<ByteString>) {
        for frame in frames {
            ctx.text(frame);
        }
    }

    /// Checks the client is alive every [`HEARTBEAT_INTERVAL`]; drops it after [`CLIENT_TIMEOUT`] of silence.
    fn heartbeat(&self, ctx: &mut ws::WebsocketContext<Self>) {
        ctx.run_interval(HEARTBEAT_INTERVAL, |session, ctx| {
            if session.last_heard.elapsed() > CLIENT_TIMEOUT {
                tracing::debug!(session_id = %session.id, "WebSocket client silent too long; dropping it.");
                ctx.stop();
                return;
            }
            ctx.ping(b"");
        });
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match ClientFrame::parse(text) {
            Ok(ClientFrame::Ping) => ctx.text(pong_frame()),
            Ok(ClientFrame::Subscribe(request)) => self.subscribe(*request, ctx),
            Err(e) => ctx.text(e.frame()),
        }
    }

    /// Checks `since` is recent enough, then registers the subscription.
    fn subscribe(&mut self, request: SubscribeRequest, ctx: &mut ws::WebsocketContext<Self>) {
        self.requested += 1;
        let generation = self.requested;
        let Some(since) = request.since else {
            self.register(request, generation, ctx);
            return;
        };
        let storage = self.storage.clone();
        ctx.spawn(
            async move {
                storage
                    .events()
                    .count_after(since, SINCE_MAX_EVENTS + 1)
                    .await
            }
            .into_actor(self)
            .map(move |counted, session, ctx| {
                if session.requested != generation {
                    return; // A later subscribe replaced this one.
                }
                match counted {
                    Ok(n) if n > SINCE_MAX_EVENTS => ctx.text(error_frame(
                        "since_too_old",
                        &format!(
                            "more than {SINCE_MAX_EVENTS} events were stored after {since}; page through \
                             GET /admin/events instead, then subscribe with a recent since"
                        ),
                        Some("since"),
                    )),
                    Ok(_) => session.register(request, generation, ctx),
                    Err(e) => ctx.text(storage_error_frame(&e, since)),
                }
            }),
        );
    }

    /// Registers the filter with the hub (live frames are held from now on), answers `subscribed`, and either
    /// goes live or starts the backfill.
    fn register(
        &mut self,
        request: SubscribeRequest,
        generation: u64,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        self.feed.begin(generation, request.since);
        let filter = Arc::new(request.filter);
        let registered = self.hub.subscribe.send(Subscribe {
            session_id: self.id,
            generation,
            filter: filter.clone(),
        });
        let SubscribeRequest { filters, since, .. } = request;
        ctx.spawn(
            registered
                .into_actor(self)
                .map(move |registered, session, ctx| {
                    if session.feed.generation() != generation {
                        return;
                    }
                    if registered.is_err() {
                        // The hub is gone (the system is stopping).
                        ctx.text(error_frame(
                            ErrorCode::Unavailable.as_str(),
                            "Herald is shutting down; reconnect to another instance",
                            None,
                        ));
                        ctx.stop();
                        return;
                    }
                    ctx.text(subscribed_frame(&filters, since));
                    match since {
                        None => {
                            let held = session.feed.go_live(None);
                            Self::write(ctx, held);
                        }
                        Some(since) => session.backfill(generation, since, filter, ctx),
                    }
                }),
        );
    }

    /// Reads the highest stored sequence (everything at or below it comes from the backfill, everything
    /// above it live), then sends the stored events after `since` page by page.
    fn backfill(
        &mut self,
        generation: u64,
        since: i64,
        filter: Arc<EventFilter>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let storage = self.storage.clone();
        ctx.spawn(
            async move { storage.events().max_sequence().await }
                .into_actor(self)
                .map(move |target, session, ctx| {
                    if session.feed.generation() != generation {
                        return;
                    }
                    match target {
                        Ok(target) => {
                            let query = Arc::new(EventQuery {
                                filter: (*filter).clone(),
                                from: None,
                                to: None,
                            });
                            session.backfill_page(generation, query, since, target, ctx);
                        }
                        Err(e) => session.backfill_failed(&e, since, ctx),
                    }
                }),
        );
    }

    fn backfill_page(
        &mut self,
        generation: u64,
        query: Arc<EventQuery>,
        after: i64,
        target: i64,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if after >= target {
            let held = self.feed.go_live(Some(target));
            Self::write(ctx, held);
            return;
        }
        let storage = self.storage.clone();
        let timeout = self.query_timeout;
        let page_query = query.clone();
        ctx.spawn(
            async move {
                storage
                    .events()
                    .list_after(&page_query, after, BACKFILL_PAGE_EVENTS, timeout)
                    .await
            }
            .into_actor(self)
            .map(move |page, session, ctx| {
                if session.feed.generation() != generation {
                    return;
                }
                let events = match page {
                    Ok(events) => events,
                    Err(e) => return session.backfill_failed(&e, after, ctx),
                };
                let emitted_at = Utc::now();
                let last = events.last().map(|e| e.ingress_sequence);
                for event in &events {
                    if session.feed.backfilled(event.ingress_sequence) {
                        let frames = EventFrames::of(event, emitted_at);
                        ctx.text(frames.frame);
                        if let Some(typed) = frames.typed {
                            ctx.text(typed);
                        }
                    }
                }
                match last {
                    Some(last) if (events.len() as u64) == BACKFILL_PAGE_EVENTS => {
                        session.backfill_page(generation, query, last, target, ctx)
                    }
                    _ => {
                        let held = session.feed.go_live(Some(target));
                        Self::write(ctx, held);
                    }
                }
            }),
        );
    }

    /// The backfill could not be read: say so, with where to resume, and go live.
    fn backfill_failed(
        &mut self,
        e: &StorageError,
        after: i64,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        tracing::warn!(session_id = %self.id, error.message = %e, "WebSocket since backfill failed.");
        ctx.text(storage_error_frame(e, after));
        let held = self.feed.go_live(None);
        Self::write(ctx, held);
    }

    /// A fragmented message: put together within [`MAX_INBOUND_FRAME_BYTES`].
    fn on_fragment(&mut self, item: Item, ctx: &mut ws::WebsocketContext<Self>) {
        let (first, bytes, last) = match item {
            Item::FirstText(b) => (true, b, false),
            Item::FirstBinary(_) => {
                self.fragments = None;
                ctx.text(binary_refused().frame());
                return;
            }
            Item::Continue(b) => (false, b, false),
            Item::Last(b) => (false, b, true),
        };
        let buffer = if first {
            self.fragments.insert(Vec::new())
        } else {
            match &mut self.fragments {
                Some(buffer) => buffer,
                // The rest of a refused binary message, or a continuation without a start.
                None => return,
            }
        };
        if buffer.len() + bytes.len() > MAX_INBOUND_FRAME_BYTES {
            self.fragments = None;
            Self::close_too_large(ctx);
            return;
        }
        buffer.extend_from_slice(&bytes);
        if last && let Some(message) = self.fragments.take() {
            match String::from_utf8(message) {
                Ok(text) => self.on_text(&text, ctx),
                Err(_) => ctx.text(
                    FrameError::new(ErrorCode::InvalidJson, None, "the frame is not UTF-8 text")
                        .frame(),
                ),
            }
        }
    }

    fn close_too_large(ctx: &mut ws::WebsocketContext<Self>) {
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Size,
            description: Some(format!(
                "client frames are limited to {MAX_INBOUND_FRAME_BYTES} bytes"
            )),
        }));
        ctx.stop();
    }
}

fn binary_refused() -> FrameError {
    FrameError::new(
        ErrorCode::InvalidJson,
        None,
        "binary frames are not read; send JSON as text frames",
    )
}

fn storage_error_frame(e: &StorageError, after: i64) -> ByteString {
    let (code, why) = match e {
        StorageError::QueryTimeout => (
            ErrorCode::QueryTimeout,
            "reading stored events ran past HERALD_QUERY_TIMEOUT_MS",
        ),
        _ => (ErrorCode::Unavailable, "stored events could not be read"),
    };
    error_frame(
        code.as_str(),
        &format!(
            "{why}; events after {after} were not sent: live events follow; subscribe again with since \
             \"{after}\" to fill the gap"
        ),
        Some("since"),
    )
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // The frame allowance of SPEC §7; the default mailbox holds only 16 (STYLE §2.4).
        ctx.set_mailbox_capacity(MAX_QUEUED_FRAMES);
        self.hub.connect.do_send(Connect {
            session_id: self.id,
            deliver: ctx.address().recipient(),
            going_away: ctx.address().recipient(),
            gauge: self.gauge.clone(),
        });
        ctx.text(ack_frame(Utc::now(), &self.id.to_string()));
        self.heartbeat(ctx);
        tracing::debug!(session_id = %self.id, "WebSocket session started.");
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        self.hub.disconnect.do_send(Disconnect {
            session_id: self.id,
        });
        Running::Stop
    }
}

impl Handler<Deliver> for WsSession {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Self::Context) {
        let frames = self.feed.accept(msg.generation, msg.item);
        Self::write(ctx, frames);
    }
}

impl Handler<GoingAway> for WsSession {
    type Result = ();

    fn handle(&mut self, _msg: GoingAway, ctx: &mut Self::Context) {
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Away,
            description: Some("Herald is shutting down".to_owned()),
        }));
        ctx.stop();
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsSession {
    fn handle(&mut self, message: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        let message = match message {
            Ok(message) => message,
            Err(ws::ProtocolError::Overflow) => return Self::close_too_large(ctx),
            // The guard's overflow reaches us as the I/O error actix-web-actors makes of a payload error.
            Err(ws::ProtocolError::Io(e))
                if e.to_string() == PayloadError::Overflow.to_string() =>
            {
                return Self::close_too_large(ctx);
            }
            Err(e) => {
                tracing::debug!(session_id = %self.id, error.message = %e, "WebSocket protocol error; closing.");
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Protocol,
                    description: Some(e.to_string()),
                }));
                ctx.stop();
                return;
            }
        };
        self.last_heard = Instant::now();
        match message {
            ws::Message::Text(text) => self.on_text(&text, ctx),
            ws::Message::Binary(_) => ctx.text(binary_refused().frame()),
            ws::Message::Continuation(item) => self.on_fragment(item, ctx),
            ws::Message::Ping(bytes) => ctx.pong(&bytes),
            ws::Message::Pong(_) | ws::Message::Nop => {}
            ws::Message::Close(reason) => {
                ctx.close(reason);
                ctx.stop();
            }
        }
    }
}
