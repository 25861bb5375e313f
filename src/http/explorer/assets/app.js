// Herald Explorer (SPEC §8): one page, no framework, no build step. Every API call goes through `api()`, every
// value from the API reaches the page as text (never parsed as HTML).

const TOKEN_KEY = 'herald.token';
const SUBJECT_KEY = 'herald.subject';
const PAGE_SIZE = 100;
const LIST_LIMIT = 200;
const MAX_EVENT_ROWS = 500;
const HEALTH_REFRESH_MS = 30_000;
const RECONNECT_MIN_MS = 1_000;
const RECONNECT_MAX_MS = 30_000;
const TOAST_MS = 6_000;
const MAX_TOASTS = 3;
const NOTICE_FRAMES = new Set(['trigger.paused', 'trigger.resumed', 'source.paused', 'source.resumed', 'delivery.failed']);
const PAGES = ['events', 'triggers', 'dead-letters'];

const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

const ui = {
  signin: byTestId('signin'),
  signinForm: document.querySelector('.signin-form'),
  signinToken: byTestId('signin-token'),
  signinSubmit: byTestId('signin-submit'),
  signinError: byTestId('signin-error'),
  signout: byTestId('signout'),
  liveStatus: byTestId('live-status'),
  banner: byTestId('error-banner'),
  bannerText: document.querySelector('.banner-text'),
  bannerDismiss: document.querySelector('.banner-dismiss'),
  toasts: document.querySelector('.toasts'),
  layout: document.querySelector('.layout'),
  filters: byTestId('filters'),
  hints: document.getElementById('jsonpath-hints'),
  views: document.querySelector('.views'),
  viewsEmpty: document.querySelector('.views-empty'),
  viewSave: byTestId('view-save'),
  lagged: byTestId('lagged-notice'),
  laggedText: document.querySelector('.lagged-text'),
  catchUp: byTestId('catch-up'),
  events: document.querySelector('.events tbody'),
  eventsEmpty: document.querySelector('.events-empty'),
  loadOlder: byTestId('load-older'),
  drawer: byTestId('event-drawer'),
  drawerTitle: document.getElementById('drawer-title'),
  drawerClose: byTestId('drawer-close'),
  triggers: document.querySelector('.triggers tbody'),
  triggersEmpty: document.querySelector('.triggers-empty'),
  triggerDetail: byTestId('trigger-detail'),
  triggerTitle: document.getElementById('trigger-title'),
  triggerState: byTestId('trigger-state'),
  triggerPauseInfo: document.querySelector('.trigger-pause-info'),
  triggerPause: byTestId('trigger-pause'),
  triggerResume: byTestId('trigger-resume'),
  deliveries: document.querySelector('.deliveries tbody'),
  deliveriesEmpty: document.querySelector('.deliveries-empty'),
  attempts: document.querySelector('.attempts'),
  attemptLog: byTestId('attempt-log').tBodies[0],
  explainForm: document.querySelector('.explain'),
  explainVerdict: byTestId('explain-verdict'),
  explainSteps: byTestId('explain-steps'),
  deadLetters: document.querySelector('.dead-letters tbody'),
  deadLettersEmpty: document.querySelector('.dead-letters-empty'),
  deadLetterDetail: byTestId('dead-letter-detail'),
  deadLetterFields: document.querySelector('.dead-letter-fields'),
  deadLetterRaw: byTestId('dead-letter-raw'),
  redrive: byTestId('dead-letter-redrive'),
  redriveResult: byTestId('redrive-result'),
  healthToggle: byTestId('health-toggle'),
  healthBody: document.getElementById('health-body'),
  healthRefresh: byTestId('health-refresh'),
  healthGenerated: byTestId('health-generated'),
  retries: document.querySelector('.retries'),
  sourcesTitle: document.querySelector('.sources-title'),
  sources: document.querySelector('.health-sources'),
  sourcesNote: document.querySelector('.sources-note'),
  pausedTriggers: document.querySelector('.paused-triggers'),
  pausedTriggersEmpty: document.querySelector('.paused-triggers-empty'),
};

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  // The signed-in subject, when known: there is no "who am I" route, so it is learned from views only the caller
  // can own (private ones, and those it created or changed).
  subject: sessionStorage.getItem(SUBJECT_KEY),
  query: { filters: {}, cursor: null },
  shownEventIds: new Set(),
  // Live rows sit at the top of the events table, above the rows of the pages read by cursor.
  liveRowCount: 0,
  views: [],
  triggers: [],
  selectedTriggerId: null,
  deadLetters: [],
  selectedDeadLetterId: null,
  health: null,
  healthTimer: 0,
  drawerOpener: null,
};

const live = {
  socket: null,
  // False between sending a `subscribe` and its `subscribed`: frames in flight still follow the old filters.
  accepting: false,
  subscribedOnce: false,
  // True while a new first page loads; live events wait so that they land above it.
  holding: false,
  pending: [],
  flushScheduled: false,
  retryMs: RECONNECT_MIN_MS,
  retryTimer: 0,
};

// ---------------------------------------------------------------------------------------------------------------
// DOM and formatting helpers

/** An element with attributes (null, undefined and false are left out) and children (strings become text). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** The value as display text; a dash for absent values. */
function text(value) {
  return value === null || value === undefined || value === '' ? '—' : String(value);
}

function timeEl(iso) {
  return iso ? el('time', { datetime: iso }, iso.replace('T', ' ')) : '—';
}

function pretty(value) {
  return JSON.stringify(value, null, 2);
}

/** A raw dead-letter entry, indented when it is JSON, else as it came. */
function prettyRaw(raw) {
  try {
    return pretty(JSON.parse(raw));
  } catch {
    return raw;
  }
}

function formatMs(ms) {
  if (ms === null || ms === undefined) return '—';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

const enc = encodeURIComponent;

function row(attrs, ...cells) {
  return el('tr', attrs, ...cells.map((cell) => el('td', {}, cell)));
}

/** Fills a `<dl>` with [term, value] pairs. */
function fillFields(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]));
}

/** Calls `handler(row)` when a focusable row of `tbody` is clicked or gets Enter. */
function onRowActivate(tbody, handler) {
  tbody.addEventListener('click', (e) => {
    const target = e.target.closest('tr[tabindex]');
    if (target) handler(target);
  });
  tbody.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || !e.target.matches('tr[tabindex]')) return;
    // Otherwise the same Enter also presses the button the handler may focus (the drawer's Close).
    e.preventDefault();
    handler(e.target);
  });
}

function markCurrentRow(tbody, target) {
  for (const tr of tbody.querySelectorAll('tr[aria-current]')) tr.removeAttribute('aria-current');
  target?.setAttribute('aria-current', 'true');
}

/**
 * A modal form: a title, an optional message and an optional labelled text input. Resolves with the trimmed input
 * (or `true` without one) when confirmed, `null` when cancelled (Cancel or Escape).
 */
function askDialog({ title, message, input, confirmLabel, confirmTestId }) {
  const field = input
    ? el('input', { type: 'text', required: true, autofocus: true, autocomplete: 'off', 'data-testid': input.testId, value: input.value })
    : null;
  const cancel = el('button', { type: 'button' }, 'Cancel');
  const form = el('form', {},
    el('h2', {}, title),
    message ? el('p', {}, message) : null,
    field ? el('label', { class: 'stacked' }, input.label, field) : null,
    el('div', { class: 'actions' }, cancel, el('button', { type: 'submit', class: 'primary', 'data-testid': confirmTestId }, confirmLabel)));
  const dialog = el('dialog', { class: 'modal', 'aria-label': title }, form);
  document.body.append(dialog);
  return new Promise((resolve) => {
    let answer = null;
    cancel.addEventListener('click', () => dialog.close());
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      answer = field ? field.value.trim() || null : true;
      dialog.close();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    dialog.showModal();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The API

/** One HTTP call with `token`; resolves with `{ok, status, body}` (body: parsed JSON, or null when empty). */
async function request(method, path, body, token) {
  // An empty token is a Herald without tokens (the embedded default): every local caller may read.
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const raw = await response.text();
  let parsed = null;
  try {
    parsed = raw ? JSON.parse(raw) : null;
  } catch {
    parsed = null;
  }
  return { ok: response.ok, status: response.status, body: parsed };
}

/** The message of an error answer (SPEC: `{"error": {code, message, details?}}`). */
function errorMessage(response) {
  return response.body?.error?.message ?? `Herald answered HTTP ${response.status}.`;
}

/**
 * Calls the API with the session's token. Resolves with the JSON answer (`{}` for an empty one), or with null once
 * the failure is shown: a 401 signs out and asks for a token again, anything else goes to the error banner.
 */
async function api(method, path, body) {
  const token = state.token;
  let response;
  try {
    response = await request(method, path, body, token);
  } catch (error) {
    showError(`Herald did not answer ${method} ${path}: ${error.message}`);
    return null;
  }
  if (response.ok) return response.body ?? {};
  // A 401 for a token already replaced (signed out meanwhile) says nothing about the current one.
  if (response.status === 401) {
    if (token === state.token) signOut(errorMessage(response));
  } else {
    showError(errorMessage(response));
  }
  return null;
}

function showError(message) {
  ui.bannerText.textContent = message;
  ui.banner.hidden = false;
}

function hideError() {
  ui.banner.hidden = true;
  ui.bannerText.textContent = '';
}

function toast(message) {
  const item = el('p', { class: 'toast' }, message);
  ui.toasts.append(item);
  while (ui.toasts.childElementCount > MAX_TOASTS) ui.toasts.firstElementChild.remove();
  setTimeout(() => item.remove(), TOAST_MS);
}

// ---------------------------------------------------------------------------------------------------------------
// Session

function showSignIn(message) {
  ui.layout.hidden = true;
  ui.signinError.textContent = message ?? '';
  ui.signinError.hidden = !message;
  if (!ui.signin.open) ui.signin.showModal();
}

async function onSignIn(e) {
  e.preventDefault();
  const token = ui.signinToken.value.trim();
  if (!token) return;
  ui.signinSubmit.disabled = true;
  const failure = await tokenFailure(token);
  ui.signinSubmit.disabled = false;
  if (failure) {
    showSignIn(failure);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.token = token;
  ui.signinToken.value = '';
  ui.signin.close();
  startSession();
}

/** A Herald without tokens answers without one: no prompt then. Otherwise asks for a token. */
async function signInWithoutToken() {
  route();
  if (await tokenFailure('')) {
    showSignIn();
    return;
  }
  state.token = '';
  ui.signout.hidden = true;
  startSession();
}

/** Why `token` cannot read events, or null when it can. */
async function tokenFailure(token) {
  try {
    const response = await request('GET', '/admin/events?limit=1', undefined, token);
    return response.ok ? null : errorMessage(response);
  } catch (error) {
    return `Herald did not answer: ${error.message}`;
  }
}

async function startSession() {
  hideError();
  ui.layout.hidden = false;
  route();
  refreshHealth();
  state.healthTimer = setInterval(refreshHealth, HEALTH_REFRESH_MS);
  loadSavedViews();
  // The live feed opens once the token has proven itself, so a stale token never reaches the WebSocket handshake.
  if (await runQuery()) connectLive();
}

/** Forgets the token (and everything read with it) and asks for a token, showing `message` when given. */
function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(SUBJECT_KEY);
  state.token = null;
  state.subject = null;
  clearInterval(state.healthTimer);
  disconnectLive();
  closeDrawer();
  resetEventsTable();
  state.views = [];
  renderViews();
  showSignIn(message);
}

// ---------------------------------------------------------------------------------------------------------------
// Pages

function currentPage() {
  const name = location.hash.replace(/^#\/?/, '');
  return PAGES.includes(name) ? name : 'events';
}

function route() {
  const page = currentPage();
  for (const name of PAGES) {
    const link = byTestId(`nav-${name}`);
    byTestId(`page-${name}`).hidden = name !== page;
    if (name === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (state.token === null) return;
  if (page === 'triggers') loadTriggers();
  if (page === 'dead-letters') loadDeadLetters();
}

// ---------------------------------------------------------------------------------------------------------------
// Events: filters, pages by cursor

/** The filters in the form, without the empty ones (the shape of saved views and `subscribe` frames). */
function readFilters() {
  const form = new FormData(ui.filters);
  const filters = {};
  for (const name of ['type', 'source', 'correlationId', 'from', 'to', 'jsonPath']) {
    const value = String(form.get(name) ?? '').trim();
    if (value) filters[name] = value;
  }
  const severity = form.getAll('severity').map(String);
  if (severity.length > 0) filters.severity = severity;
  return filters;
}

/** Puts a saved view's filters (every key present, null when not filtered) into the form. */
function writeFilters(filters) {
  for (const name of ['type', 'source', 'correlationId', 'from', 'to', 'jsonPath']) {
    ui.filters.elements[name].value = filters[name] ?? '';
  }
  const severity = new Set(filters.severity ?? []);
  for (const box of ui.filters.querySelectorAll('input[name="severity"]')) box.checked = severity.has(box.value);
}

function eventsPath(filters, cursor) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  for (const [name, value] of Object.entries(filters)) params.set(name, Array.isArray(value) ? value.join(',') : value);
  if (cursor) params.set('cursor', cursor);
  return `/admin/events?${params}`;
}

function resetEventsTable() {
  ui.events.replaceChildren();
  state.shownEventIds.clear();
  state.liveRowCount = 0;
  live.pending.length = 0;
  ui.loadOlder.hidden = true;
  ui.eventsEmpty.hidden = true;
  ui.lagged.hidden = true;
}

/** Reads the first page of `filters` and narrows the live feed to them. Resolves with success. */
async function runQuery(filters = readFilters()) {
  state.query = { filters, cursor: null };
  resetEventsTable();
  live.holding = true;
  subscribeLive();
  const ok = await loadEventsPage();
  live.holding = false;
  scheduleLiveFlush();
  return ok;
}

async function loadEventsPage() {
  const query = state.query;
  const answer = await api('GET', eventsPath(query.filters, query.cursor));
  // A newer query may have replaced this one while it ran.
  if (answer && query === state.query) {
    appendEventRows(answer.data.events);
    query.cursor = answer.data.page.nextCursor;
    ui.loadOlder.hidden = !answer.data.page.hasMore;
    ui.eventsEmpty.hidden = ui.events.rows.length > 0;
    renderSchemaHints(answer.schema);
  }
  return answer !== null;
}

async function loadOlder() {
  ui.loadOlder.disabled = true;
  await loadEventsPage();
  ui.loadOlder.disabled = false;
}

function eventRow(event) {
  return row({ 'data-testid': 'event-row', 'data-event-id': event.id, 'data-sequence': event.ingressSequence, tabindex: 0 },
    timeEl(event.occurredAt),
    el('span', { class: `severity severity-${event.severity}` }, event.severity),
    event.type,
    event.source,
    text(event.correlationId),
    el('span', { class: 'mono' }, event.id));
}

function appendEventRows(events) {
  const fresh = events.filter((event) => !state.shownEventIds.has(event.id));
  for (const event of fresh) state.shownEventIds.add(event.id);
  ui.events.append(...fresh.map(eventRow));
}

/** JSONPath suggestions from the fields the last page's payloads had. */
function renderSchemaHints(schema) {
  ui.hints.replaceChildren(...(schema?.fields ?? []).map((field) =>
    el('option', { value: field.jsonPath }, `${field.types.join(' | ')}, in ${field.occurrences} of ${schema.totalSamples}`)));
}

// ---------------------------------------------------------------------------------------------------------------
// Events: the live feed

function setLiveStatus(status) {
  ui.liveStatus.textContent = status;
  ui.liveStatus.dataset.state = status === 'live' ? 'live' : status === 'disconnected' ? 'disconnected' : 'connecting';
}

function connectLive() {
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

function disconnectLive() {
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
function subscribeLive(since) {
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
      if (live.subscribedOnce) runQuery(state.query.filters);
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

function scheduleLiveFlush() {
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
function catchUp() {
  const since = ui.lagged.dataset.resumeFrom;
  const after = BigInt(since);
  for (const tr of [...ui.events.rows].slice(0, state.liveRowCount)) {
    if (BigInt(tr.dataset.sequence) > after) removeLiveRow(tr);
  }
  live.pending.length = 0;
  ui.lagged.hidden = true;
  subscribeLive(since);
}

// ---------------------------------------------------------------------------------------------------------------
// Events: the detail drawer

async function openDrawer(tr) {
  const id = tr.dataset.eventId;
  state.drawerOpener = tr;
  markCurrentRow(ui.events, tr);
  ui.drawerTitle.textContent = `Event ${id}`;
  for (const section of ui.drawer.querySelectorAll('dl, pre, ul, [data-testid="drawer-links"]')) section.replaceChildren();
  ui.drawer.hidden = false;
  ui.drawerClose.focus();
  const answer = await api('GET', `/admin/events/${enc(id)}`);
  if (answer && !ui.drawer.hidden && state.drawerOpener === tr) renderDrawer(answer.data);
}

function renderDrawer({ event, deliveries }) {
  fillFields(byTestId('drawer-envelope'), [
    ['id', event.id], ['type', event.type], ['source', event.source],
    ['occurredAt', timeEl(event.occurredAt)], ['receivedAt', timeEl(event.receivedAt)],
    ['ingressSequence', event.ingressSequence], ['correlationId', text(event.correlationId)],
    ['causationId', text(event.causationId)], ['ttl', event.ttlMs === null ? '—' : formatMs(event.ttlMs)],
    ['severity', event.severity], ['schemaVersion', text(event.schemaVersion)],
  ]);
  const links = Object.entries(event.links ?? {});
  const linksBox = byTestId('drawer-links');
  if (links.length === 0) linksBox.replaceChildren(el('p', { class: 'empty' }, 'No links.'));
  else linksBox.replaceChildren(el('dl', { class: 'fields' }, ...links.flatMap(([kind, ids]) => [el('dt', {}, kind), el('dd', {}, ids.join(', '))])));
  byTestId('drawer-payload').textContent = pretty(event.payload);
  byTestId('drawer-metadata').textContent = pretty(event.metadata ?? {});
  byTestId('drawer-derived').textContent = event.derived ? pretty(event.derived) : 'None: not a known derived type.';
  const list = byTestId('drawer-deliveries');
  if (deliveries.length === 0) list.replaceChildren(el('li', { class: 'empty' }, 'No trigger matched this event.'));
  else list.replaceChildren(...deliveries.map((d) => el('li', {}, describeDelivery(d))));
}

function describeDelivery(d) {
  const attempts = `${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`;
  return [`trigger ${d.triggerId}`, d.status, attempts, d.replayId && `replay ${d.replayId}`].filter(Boolean).join(' · ');
}

function closeDrawer() {
  if (ui.drawer.hidden) return;
  ui.drawer.hidden = true;
  const opener = state.drawerOpener;
  state.drawerOpener = null;
  markCurrentRow(ui.events, null);
  if (opener?.isConnected) opener.focus();
}

// ---------------------------------------------------------------------------------------------------------------
// Saved views

function rememberSubject(view) {
  state.subject = view.owner.subject;
  sessionStorage.setItem(SUBJECT_KEY, state.subject);
}

/** Others' private views are never listed, so a private view is the caller's own. */
function isOwnView(view) {
  return view.visibility === 'private' || view.owner.subject === state.subject;
}

async function loadSavedViews() {
  const answer = await api('GET', `/admin/saved-views?limit=${LIST_LIMIT}`);
  if (!answer) return;
  state.views = answer.data.savedViews;
  const own = state.views.find((view) => view.visibility === 'private');
  if (own) rememberSubject(own);
  renderViews();
  // The list carries no analytics (one query per view); each view's own read has them.
  for (const view of state.views) loadViewAnalytics(view.slug);
}

async function loadViewAnalytics(slug) {
  const answer = await api('GET', `/admin/saved-views/${enc(slug)}`);
  // The list may have changed meanwhile (signed out, view deleted).
  if (answer && state.views.some((v) => v.slug === slug)) upsertView(answer.data);
}

function renderViews() {
  ui.views.replaceChildren(...state.views.map(viewItem));
  ui.viewsEmpty.hidden = state.views.length > 0;
}

/** Replaces the view with the same slug, keeping focus on the same button, or adds it first. */
function upsertView(view) {
  const index = state.views.findIndex((v) => v.slug === view.slug);
  const item = viewItem(view);
  ui.viewsEmpty.hidden = true;
  if (index === -1) {
    state.views.unshift(view);
    ui.views.prepend(item);
    return;
  }
  state.views[index] = view;
  const old = ui.views.querySelector(`[data-slug="${CSS.escape(view.slug)}"]`);
  const focused = old.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
  old.replaceWith(item);
  if (focused) byTestId(focused, item)?.focus();
}

function describeAnalytics(analytics) {
  if (!analytics) return 'Analytics loading…';
  const ratio = `${(analytics.errorRatio * 100).toFixed(1)} % errors`;
  const sample = analytics.truncated ? ` (newest ${analytics.sampleLimit})` : '';
  return `${analytics.eventsPerMinute} events/min · ${ratio} over 15 min${sample}`;
}

function viewItem(view) {
  const readOnly = !isOwnView(view);
  const button = (testId, label, handler) => {
    const b = el('button', { type: 'button', 'data-testid': testId, 'aria-label': `${label} ${view.name}`, disabled: readOnly && testId !== 'view-apply' }, label);
    b.addEventListener('click', () => handler(view));
    return b;
  };
  return el('li', { 'data-testid': 'view-item', 'data-slug': view.slug, 'data-readonly': readOnly ? 'true' : null },
    el('div', { class: 'view-head' },
      el('strong', {}, view.name),
      el('span', { class: `badge badge-${view.visibility}` }, view.visibility),
      el('span', { class: 'owner' }, `by ${view.owner.subject}`)),
    el('p', { class: 'view-analytics', 'data-testid': 'view-analytics' }, describeAnalytics(view.analytics)),
    el('div', { class: 'actions' },
      button('view-apply', 'Apply', applyView),
      button('view-rename', 'Rename', renameView),
      button('view-share', 'Share', shareView),
      button('view-delete', 'Delete', deleteView)));
}

async function saveView() {
  const name = await askDialog({
    title: 'Save current filters', input: { label: 'Name', testId: 'view-name' },
    confirmLabel: 'Save', confirmTestId: 'view-save-confirm',
  });
  if (!name) return;
  const answer = await api('POST', '/admin/saved-views', { name, filters: readFilters() });
  if (!answer) return;
  rememberSubject(answer.data);
  upsertView(answer.data);
}

async function applyView(view) {
  const answer = await api('POST', `/admin/saved-views/${enc(view.slug)}/apply`);
  if (!answer) return;
  upsertView(answer.data);
  writeFilters(answer.data.filters);
  runQuery();
}

async function renameView(view) {
  const name = await askDialog({
    title: `Rename “${view.name}”`, input: { label: 'New name', testId: 'view-rename-input', value: view.name },
    confirmLabel: 'Rename', confirmTestId: 'view-rename-save',
  });
  if (!name) return;
  const answer = await api('PATCH', `/admin/saved-views/${enc(view.slug)}`, { name });
  if (!answer) return;
  rememberSubject(answer.data);
  upsertView(answer.data);
}

async function shareView(view) {
  const answer = await api('POST', `/admin/saved-views/${enc(view.slug)}/share`);
  if (!answer) return;
  rememberSubject(answer.data);
  upsertView(answer.data);
}

async function deleteView(view) {
  const confirmed = await askDialog({
    title: 'Delete saved view', message: `Delete “${view.name}”? Everyone it is shared with loses it too.`,
    confirmLabel: 'Delete', confirmTestId: 'confirm-ok',
  });
  if (!confirmed || !(await api('DELETE', `/admin/saved-views/${enc(view.slug)}`))) return;
  state.views = state.views.filter((v) => v.slug !== view.slug);
  renderViews();
}

// ---------------------------------------------------------------------------------------------------------------
// Health rail

async function refreshHealth() {
  const [health, sources] = await Promise.all([
    api('GET', '/admin/event-health'),
    api('GET', `/admin/sources?limit=${LIST_LIMIT}`),
  ]);
  if (!health || !sources) return;
  state.health = health.data;
  ui.healthGenerated.replaceChildren(timeEl(health.data.generatedAt));
  renderRetries(health.data.retries);
  renderSources(sources.data);
  renderPausedTriggers(health.data.pausedTriggers);
}

function renderRetries({ ingress, deliveries }) {
  const describe = (r) => `${r.total} waiting, ${r.overdue} overdue; next ${r.nextAttemptAt ? r.nextAttemptAt.replace('T', ' ') : '—'}`;
  fillFields(ui.retries, [['Ingress (deferred)', describe(ingress)], ['Deliveries', describe(deliveries)]]);
}

function renderSources({ sources, page }) {
  const paused = sources.filter((s) => s.paused).length;
  ui.sourcesTitle.textContent = `Sources (${sources.length}${paused ? `, ${paused} paused` : ''})`;
  ui.sources.replaceChildren(...sources.map(sourceItem));
  ui.sourcesNote.hidden = sources.length > 0 && !page.hasMore;
  ui.sourcesNote.textContent = sources.length === 0 ? 'No source seen yet.' : `Showing the first ${sources.length} sources.`;
}

function sourceItem(source) {
  const lag = source.lagMs.latest === null ? 'no lag measured' : `lag ${formatMs(source.lagMs.latest)} (max ${formatMs(source.lagMs.max)})`;
  const control = source.paused
    ? el('button', { type: 'button', 'data-testid': 'source-resume', 'aria-label': `Resume ${source.source}` }, 'Resume')
    : el('button', { type: 'button', 'data-testid': 'source-pause', 'aria-label': `Pause ${source.source}` }, 'Pause');
  control.addEventListener('click', () => (source.paused ? resumeSource(source.source) : pauseSource(source.source)));
  return el('li', { 'data-testid': 'health-source', 'data-source': source.source },
    el('div', { class: 'source-head' },
      el('span', { class: 'source-name' }, source.source),
      el('span', { class: `state state-${source.paused ? 'paused' : 'running'}`, 'data-testid': 'source-state' }, source.paused ? 'paused' : 'running')),
    el('p', { class: 'metrics' }, `${lag} · throttled ${source.throttled} · dropped ${source.dropped} · backlog ${source.backlog}`),
    source.paused ? el('p', { class: 'metrics' }, describePause(source.paused)) : null,
    control);
}

function describePause({ reason, actor, until }) {
  return `${text(reason)} (by ${text(actor)}${until ? `, until ${until.replace('T', ' ')}` : ''})`;
}

async function pauseSource(source) {
  const reason = await askDialog({
    title: `Pause ${source}`,
    message: 'Its events are still stored and streamed; trigger evaluation waits until it is resumed.',
    input: { label: 'Reason', testId: 'pause-reason' }, confirmLabel: 'Pause', confirmTestId: 'pause-confirm',
  });
  if (reason && (await api('POST', '/admin/sources/pause', { source, reason }))) refreshHealth();
}

async function resumeSource(source) {
  if (await api('POST', '/admin/sources/resume', { source })) refreshHealth();
}

function renderPausedTriggers(paused) {
  ui.pausedTriggers.replaceChildren(...paused.map((t) => el('li', { 'data-testid': 'health-paused-trigger', 'data-trigger-id': t.id },
    el('div', { class: 'source-head' }, el('span', {}, t.name ?? t.id), el('span', { class: `state state-${t.state}` }, t.state)),
    el('p', { class: 'metrics' }, `${describePause(t)} · ${t.failures} recent failures`))));
  ui.pausedTriggersEmpty.hidden = paused.length > 0;
}

function toggleHealth() {
  const expanded = ui.healthToggle.getAttribute('aria-expanded') !== 'true';
  ui.healthToggle.setAttribute('aria-expanded', String(expanded));
  ui.healthBody.hidden = !expanded;
  ui.layout.classList.toggle('rail-collapsed', !expanded);
}

// ---------------------------------------------------------------------------------------------------------------
// Triggers

async function loadTriggers() {
  // Outcome counts come with event health, which is refreshed at the same time.
  const [answer] = await Promise.all([api('GET', `/admin/triggers?limit=${LIST_LIMIT}`), refreshHealth()]);
  if (!answer) return;
  state.triggers = answer.data.triggers;
  renderTriggers();
  const selected = state.triggers.find((t) => t.id === state.selectedTriggerId);
  if (selected) renderTriggerState(selected);
  else ui.triggerDetail.hidden = true;
}

function renderTriggers() {
  const counts = new Map((state.health?.triggers ?? []).map((t) => [t.id, t.counts]));
  ui.triggers.replaceChildren(...state.triggers.map((t) => {
    const c = counts.get(t.id);
    return row({ 'data-testid': 'trigger-row', 'data-trigger-id': t.id, tabindex: 0, 'aria-current': t.id === state.selectedTriggerId ? 'true' : null },
      t.name, t.eventType, text(t.eventSource), t.target?.kind ?? '—',
      el('span', { class: `state state-${t.state}` }, t.state),
      text(c?.delivered), text(c?.failed), text(c?.held));
  }));
  ui.triggersEmpty.hidden = state.triggers.length > 0;
}

function selectTrigger(tr) {
  const trigger = state.triggers.find((t) => t.id === tr.dataset.triggerId);
  state.selectedTriggerId = trigger.id;
  markCurrentRow(ui.triggers, tr);
  ui.triggerDetail.hidden = false;
  ui.attempts.hidden = true;
  ui.explainVerdict.hidden = true;
  ui.explainSteps.hidden = true;
  renderTriggerState(trigger);
  loadDeliveries(trigger.id);
}

function renderTriggerState(trigger) {
  ui.triggerTitle.textContent = trigger.name;
  ui.triggerState.textContent = trigger.state;
  ui.triggerPauseInfo.textContent = trigger.pause ? `— ${describePause(trigger.pause)}` : '';
  ui.triggerPause.hidden = trigger.state === 'paused';
  ui.triggerResume.hidden = trigger.state === 'running';
}

/** Shows a trigger answered by pause or resume in the list and the detail. */
function updateTrigger(trigger) {
  state.triggers = state.triggers.map((t) => (t.id === trigger.id ? trigger : t));
  renderTriggers();
  renderTriggerState(trigger);
  refreshHealth();
}

async function pauseTrigger() {
  const id = state.selectedTriggerId;
  const reason = await askDialog({
    title: 'Pause trigger', message: 'Matching events are held until the trigger is resumed.',
    input: { label: 'Reason', testId: 'trigger-pause-reason' }, confirmLabel: 'Pause', confirmTestId: 'trigger-pause-confirm',
  });
  if (!reason) return;
  const answer = await api('POST', `/admin/triggers/${enc(id)}/pause`, { reason });
  if (answer) updateTrigger(answer.data);
}

async function resumeTrigger() {
  const answer = await api('POST', `/admin/triggers/${enc(state.selectedTriggerId)}/resume`, {});
  if (answer) updateTrigger(answer.data);
}

async function loadDeliveries(triggerId) {
  const answer = await api('GET', `/admin/triggers/${enc(triggerId)}/deliveries?limit=50`);
  if (!answer || triggerId !== state.selectedTriggerId) return;
  const { deliveries } = answer.data;
  ui.deliveries.replaceChildren(...deliveries.map((d) => row({ 'data-testid': 'delivery-row', 'data-delivery-id': d.id, tabindex: 0 },
    el('span', { class: 'mono' }, d.id), el('span', { class: 'mono' }, d.eventId), d.status, String(d.attempts),
    text(d.lastStatusCode), timeEl(d.updatedAt))));
  ui.deliveriesEmpty.hidden = deliveries.length > 0;
}

async function showAttempts(tr) {
  markCurrentRow(ui.deliveries, tr);
  const answer = await api('GET', `/admin/deliveries/${enc(tr.dataset.deliveryId)}`);
  if (!answer) return;
  const { attemptLog } = answer.data;
  ui.attemptLog.replaceChildren(...(attemptLog.length === 0
    ? [el('tr', {}, el('td', { colspan: 6 }, 'No attempt yet.'))]
    : attemptLog.map((a) => row({}, String(a.attempt), timeEl(a.startedAt), formatMs(a.durationMs), text(a.statusCode), a.outcome, text(a.error)))));
  ui.attempts.hidden = false;
}

/** "predicate 0 ($.payload.total gt)", as the CLI names steps. */
function stepLabel(step) {
  const index = step.index === null || step.index === undefined ? '' : ` ${step.index}`;
  const path = step.path ? ` (${step.path}${step.operator ? ` ${step.operator}` : ''})` : '';
  return `${step.step}${index}${path}`;
}

async function explain(e) {
  e.preventDefault();
  const eventId = new FormData(ui.explainForm).get('eventId').trim();
  const answer = await api('POST', `/admin/triggers/${enc(state.selectedTriggerId)}/explain`, { eventId });
  if (!answer) return;
  const { steps, wouldDeliver, failedStep, outcome } = answer.data;
  ui.explainSteps.tBodies[0].replaceChildren(...steps.map((s) => row({ class: s.passed ? null : 'failed' },
    stepLabel(s), s.passed ? 'yes' : 'NO', JSON.stringify(s.found), JSON.stringify(s.expected), text(s.detail))));
  const verdict = wouldDeliver
    ? `Event ${eventId} would be delivered now.`
    : `Event ${eventId} would not be delivered now: ${failedStep ? stepLabel(failedStep) : 'a step'} failed.`;
  const recorded = outcome ? ` Recorded outcome: ${outcome.status} (delivery ${outcome.id}, ${outcome.attempts} attempts).` : '';
  ui.explainVerdict.textContent = verdict + recorded;
  ui.explainVerdict.hidden = false;
  ui.explainSteps.hidden = false;
}

// ---------------------------------------------------------------------------------------------------------------
// Dead letters

async function loadDeadLetters() {
  const answer = await api('GET', `/admin/dead-letters?limit=${LIST_LIMIT}`);
  if (!answer) return;
  state.deadLetters = answer.data.deadLetters;
  ui.deadLetters.replaceChildren(...state.deadLetters.map((d) => row(
    { 'data-testid': 'dead-letter-row', 'data-id': d.id, tabindex: 0, 'aria-current': d.id === state.selectedDeadLetterId ? 'true' : null },
    timeEl(d.receivedAt), d.reason, text(d.source), d.message, timeEl(d.redrivenAt))));
  ui.deadLettersEmpty.hidden = state.deadLetters.length > 0;
}

function selectDeadLetter(tr) {
  const letter = state.deadLetters.find((d) => d.id === tr.dataset.id);
  state.selectedDeadLetterId = letter.id;
  markCurrentRow(ui.deadLetters, tr);
  ui.redriveResult.hidden = true;
  renderDeadLetter(letter);
}

function renderDeadLetter(letter) {
  fillFields(ui.deadLetterFields, [
    ['id', letter.id], ['reason', letter.reason], ['message', letter.message], ['source', text(letter.source)],
    ['stream entry', text(letter.streamId)], ['received', timeEl(letter.receivedAt)], ['redriven', timeEl(letter.redrivenAt)],
  ]);
  ui.deadLetterRaw.textContent = prettyRaw(letter.raw);
  ui.deadLetterDetail.hidden = false;
}

async function redriveDeadLetter() {
  ui.redriveResult.hidden = true;
  const answer = await api('POST', `/admin/dead-letters/${enc(state.selectedDeadLetterId)}/redrive`, {});
  if (!answer) return;
  const { deadLetter, event } = answer.data;
  ui.redriveResult.textContent = `Stored as event ${event.id}${event.duplicate ? ' (already stored before: a duplicate)' : ''}.`;
  ui.redriveResult.hidden = false;
  renderDeadLetter(deadLetter);
  loadDeadLetters();
}

// ---------------------------------------------------------------------------------------------------------------
// Wiring

// No way around signing in; Chrome lets a repeated Escape close the dialog anyway, so it opens again.
ui.signin.addEventListener('cancel', (e) => e.preventDefault());
ui.signin.addEventListener('close', () => {
  if (state.token === null) ui.signin.showModal();
});
ui.signinForm.addEventListener('submit', onSignIn);
ui.signout.addEventListener('click', () => signOut());
ui.bannerDismiss.addEventListener('click', hideError);
window.addEventListener('hashchange', route);
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !document.querySelector('dialog[open]')) closeDrawer();
});

ui.filters.addEventListener('submit', (e) => {
  e.preventDefault();
  hideError();
  runQuery();
});
ui.loadOlder.addEventListener('click', loadOlder);
ui.catchUp.addEventListener('click', catchUp);
onRowActivate(ui.events, openDrawer);
ui.drawerClose.addEventListener('click', closeDrawer);
ui.viewSave.addEventListener('click', saveView);

ui.healthToggle.addEventListener('click', toggleHealth);
ui.healthRefresh.addEventListener('click', refreshHealth);

onRowActivate(ui.triggers, selectTrigger);
onRowActivate(ui.deliveries, showAttempts);
ui.triggerPause.addEventListener('click', pauseTrigger);
ui.triggerResume.addEventListener('click', resumeTrigger);
ui.explainForm.addEventListener('submit', explain);

onRowActivate(ui.deadLetters, selectDeadLetter);
ui.redrive.addEventListener('click', redriveDeadLetter);

if (state.token !== null) startSession();
else signInWithoutToken();
