// The live feed: the WebSocket, its status, its frames (events, notices, errors), the live rows on top of the
// events table (capped), and the lagged notice with its catch-up.

import { showError, toast } from './api.js';
import { text, ui } from './dom.js';
import { eventRow } from './events-table.js';
import { refreshHealth } from './health.js';
import { RECONNECT_MIN_MS, live, state } from './state.js';

const MAX_EVENT_ROWS = 500;
const RECONNECT_MAX_MS = 30_000;
const NOTICE_FRAMES = new Set(['trigger.paused', 'trigger.resumed', 'source.paused', 'source.resumed', 'delivery.failed']);

// What a reconnect does to the events table (reading the query's first page again, set by app.js): the query
// module sits above this one.
let reread = () => {};

/** Sets what a reconnect does; `handler` gets the query's filters. */
export function onReconnected(handler) {
  reread = handler;
}

function setLiveStatus(status) {
  ui.liveStatus.textContent = status;
  ui.liveStatus.dataset.state = status === 'live' ? 'live' : status === 'disconnected' ? 'disconnected' : 'connecting';
}

export function connectLive() {
  if (live.socket || state.token === null) return;
  setLiveStatus('connecting…');
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  let socket;
  try {
    // The token travels as a subprotocol, never in the URL (SPEC §7).
    const protocols = state.token ? ['herald.v1', `herald.bearer.${state.token}`] : ['herald.v1'];
    socket = new WebSocket(url, protocols);
  } catch (error) {
    setLiveStatus('disconnected');
    showError(`The live feed cannot start: ${error.message}`);
    return;
  }
  live.socket = socket;
  socket.addEventListener('message', (e) => onLiveFrame(JSON.parse(e.data)));
  socket.addEventListener('close', () => onLiveClosed(socket));
}

export function disconnectLive() {
  clearTimeout(live.retryTimer);
  const socket = live.socket;
  live.socket = null;
  live.accepting = false;
  live.subscribedOnce = false;
  socket?.close(1000);
  setLiveStatus('disconnected');
}

function onLiveClosed(socket) {
  if (socket !== live.socket) return;
  live.socket = null;
  live.accepting = false;
  setLiveStatus('disconnected');
  if (state.token === null) return;
  live.retryTimer = setTimeout(connectLive, live.retryMs);
  live.retryMs = Math.min(live.retryMs * 2, RECONNECT_MAX_MS);
}

/** Narrows the session to the stored query's filters; with `since`, stored events after it come first. */
export function subscribeLive(since) {
  if (live.socket?.readyState !== WebSocket.OPEN) return;
  const { type, source, correlationId, severity, jsonPath } = state.query.filters;
  live.accepting = false;
  live.socket.send(JSON.stringify({ type: 'subscribe', filters: { type, source, correlationId, severity, jsonPath }, since }));
}

function onLiveFrame(frame) {
  switch (frame.type) {
    case 'connection.ack':
      live.retryMs = RECONNECT_MIN_MS;
      // After a reconnect the table has a gap: read the page again rather than guess what was missed.
      if (live.subscribedOnce) reread(state.query.filters);
      else subscribeLive();
      break;
    case 'subscribed':
      live.accepting = true;
      live.subscribedOnce = true;
      setLiveStatus('live');
      break;
    case 'workflow.event.received':
      if (live.accepting) queueLiveEvent(frame.data.event);
      break;
    case 'lagged':
      showLagged(frame.data);
      break;
    case 'error':
      onLiveError(frame.data);
      break;
    default:
      if (NOTICE_FRAMES.has(frame.type)) onNotice(frame);
  }
}

function onLiveError({ code, message }) {
  showError(`Live feed: ${message}`);
  // A refused `since` keeps the previous subscription, which after a reconnect is none: subscribe without it.
  if (code === 'since_too_old') subscribeLive();
}

function onNotice(frame) {
  toast(describeNotice(frame));
  if (frame.type !== 'delivery.failed') refreshHealth();
}

function describeNotice({ type, data }) {
  switch (type) {
    case 'trigger.paused': return `Trigger ${data.name} paused: ${text(data.change.reason)}`;
    case 'trigger.resumed': return `Trigger ${data.name} resumed`;
    case 'source.paused': return `Source ${data.source} paused: ${text(data.reason)}`;
    case 'source.resumed': return `Source ${data.source} resumed (${data.ended})`;
    default: return `Delivery ${data.delivery.id} of trigger ${data.name} failed`;
  }
}

/** Live events outside the query's time bounds (the feed knows no `from`/`to`) stay out of the table. */
function withinTimeBounds(event) {
  const { from, to } = state.query.filters;
  const at = Date.parse(event.occurredAt);
  return (!from || at >= Date.parse(from)) && (!to || at <= Date.parse(to));
}

function queueLiveEvent(event) {
  live.pending.push(event);
  // Only the newest rows can be shown; a hidden tab (no animation frames) must not grow this without bound.
  if (live.pending.length > 2 * MAX_EVENT_ROWS) live.pending.splice(0, live.pending.length - MAX_EVENT_ROWS);
  scheduleLiveFlush();
}

export function scheduleLiveFlush() {
  if (live.flushScheduled || live.pending.length === 0) return;
  live.flushScheduled = true;
  requestAnimationFrame(flushLiveEvents);
}

/** Puts the queued live events on top of the table in one DOM update per frame, newest first. */
function flushLiveEvents() {
  live.flushScheduled = false;
  if (live.holding) return;
  const fragment = document.createDocumentFragment();
  let added = 0;
  for (const event of live.pending.splice(0).reverse()) {
    if (added === MAX_EVENT_ROWS) break;
    if (state.shownEventIds.has(event.id) || !withinTimeBounds(event)) continue;
    state.shownEventIds.add(event.id);
    fragment.append(eventRow(event));
    added += 1;
  }
  ui.events.prepend(fragment);
  state.liveRowCount += added;
  trimLiveRows();
  ui.eventsEmpty.hidden = ui.events.rows.length > 0;
}

/**
 * Keeps the table at MAX_EVENT_ROWS by dropping the oldest live rows. Rows read by cursor stay, so "Load older"
 * still continues right below them.
 */
function trimLiveRows() {
  let excess = Math.min(state.liveRowCount, ui.events.rows.length - MAX_EVENT_ROWS);
  for (; excess > 0; excess -= 1) {
    removeLiveRow(ui.events.rows[state.liveRowCount - 1]);
  }
}

function removeLiveRow(tr) {
  state.shownEventIds.delete(tr.dataset.eventId);
  tr.remove();
  state.liveRowCount -= 1;
}

function showLagged({ missed, resumeFrom }) {
  // Successive gaps add up; catching up from the first one covers them all.
  const earlier = ui.lagged.hidden ? 0 : Number(ui.lagged.dataset.missed);
  if (ui.lagged.hidden) ui.lagged.dataset.resumeFrom = resumeFrom;
  ui.lagged.dataset.missed = String(earlier + missed);
  ui.laggedText.textContent = `The live feed fell behind and missed ${earlier + missed} events.`;
  ui.lagged.hidden = false;
}

/** Re-subscribes from the gap: live rows after it are dropped and come back, in order, with the missed ones. */
export function catchUp() {
  const since = ui.lagged.dataset.resumeFrom;
  const after = BigInt(since);
  for (const tr of [...ui.events.rows].slice(0, state.liveRowCount)) {
    if (BigInt(tr.dataset.sequence) > after) removeLiveRow(tr);
  }
  live.pending.length = 0;
  ui.lagged.hidden = true;
  subscribeLive(since);
}
