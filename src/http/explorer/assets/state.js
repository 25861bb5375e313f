// The Explorer's shared mutable state: the session (`state`) and the live feed (`live`), and the storage keys and
// limits more than one module uses. Only data here: no DOM, no calls.

export const TOKEN_KEY = 'herald.token';
export const LIST_LIMIT = 200;
export const RECONNECT_MIN_MS = 1_000;

export const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  // The signed-in subject (`GET /admin/me`), once the session has started.
  subject: null,
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

export const live = {
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
