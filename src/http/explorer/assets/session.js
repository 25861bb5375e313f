// The session: signing in with a token (or without one, on a Herald without tokens), starting what a session
// shows, and signing out.

import { api, errorMessage, hideError, request } from './api.js';
import { ui } from './dom.js';
import { closeDrawer } from './drawer.js';
import { runQuery } from './events.js';
import { resetEventsTable } from './events-table.js';
import { refreshHealth } from './health.js';
import { connectLive, disconnectLive } from './live.js';
import { route } from './router.js';
import { TOKEN_KEY, state } from './state.js';
import { loadSavedViews, renderViews } from './views.js';

const HEALTH_REFRESH_MS = 30_000;

function showSignIn(message) {
  ui.layout.hidden = true;
  ui.signinError.textContent = message ?? '';
  ui.signinError.hidden = !message;
  if (!ui.signin.open) ui.signin.showModal();
}

export async function onSignIn(e) {
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
export async function signInWithoutToken() {
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

export async function startSession() {
  hideError();
  ui.layout.hidden = false;
  route();
  refreshHealth();
  state.healthTimer = setInterval(refreshHealth, HEALTH_REFRESH_MS);
  // Who the token is decides which saved views this caller may change.
  const me = await api('GET', '/admin/me');
  state.subject = me?.data.subject ?? null;
  loadSavedViews();
  // The live feed opens once the token has proven itself, so a stale token never reaches the WebSocket handshake.
  if (await runQuery()) connectLive();
}

/** Forgets the token (and everything read with it) and asks for a token, showing `message` when given. */
export function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
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
