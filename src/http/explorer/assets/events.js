// Events: the filters form, the query's first page, "Load older" by cursor and the JSONPath hints; a new query
// also narrows the live feed.

import { api } from './api.js';
import { el, ui } from './dom.js';
import { appendEventRows, resetEventsTable } from './events-table.js';
import { scheduleLiveFlush, subscribeLive } from './live.js';
import { live, state } from './state.js';

const PAGE_SIZE = 100;

/** The filters in the form, without the empty ones (the shape of saved views and `subscribe` frames). */
export function readFilters() {
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
export function writeFilters(filters) {
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

/** Reads the first page of `filters` and narrows the live feed to them. Resolves with success. */
export async function runQuery(filters = readFilters()) {
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

export async function loadOlder() {
  ui.loadOlder.disabled = true;
  await loadEventsPage();
  ui.loadOlder.disabled = false;
}

/** JSONPath suggestions from the fields the last page's payloads had. */
function renderSchemaHints(schema) {
  ui.hints.replaceChildren(...(schema?.fields ?? []).map((field) =>
    el('option', { value: field.jsonPath }, `${field.types.join(' | ')}, in ${field.occurrences} of ${schema.totalSamples}`)));
}
