// The API: every call goes through `api()`; failures reach the error banner (or sign out on a 401), notices
// become toasts.

import { el, ui } from './dom.js';
import { state } from './state.js';

const TOAST_MS = 6_000;
const MAX_TOASTS = 3;

// What a 401 for the current token does (signing out, set by app.js): this module sits below the session.
let unauthorized = () => {};

/** Sets what a 401 for the current token does; `handler` gets the error's message. */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

/** One HTTP call with `token`; resolves with `{ok, status, body}` (body: parsed JSON, or null when empty). */
export async function request(method, path, body, token) {
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
export function errorMessage(response) {
  return response.body?.error?.message ?? `Herald answered HTTP ${response.status}.`;
}

/**
 * Calls the API with the session's token. Resolves with the JSON answer (`{}` for an empty one), or with null once
 * the failure is shown: a 401 signs out and asks for a token again, anything else goes to the error banner.
 */
export async function api(method, path, body) {
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
    if (token === state.token) unauthorized(errorMessage(response));
  } else {
    showError(errorMessage(response));
  }
  return null;
}

export function showError(message) {
  ui.bannerText.textContent = message;
  ui.banner.hidden = false;
}

export function hideError() {
  ui.banner.hidden = true;
  ui.bannerText.textContent = '';
}

export function toast(message) {
  const item = el('p', { class: 'toast' }, message);
  ui.toasts.append(item);
  while (ui.toasts.childElementCount > MAX_TOASTS) ui.toasts.firstElementChild.remove();
  setTimeout(() => item.remove(), TOAST_MS);
}
