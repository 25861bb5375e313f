// Saved views: the list with its analytics, and save, apply, rename, share and delete; only the caller's own
// views can be changed.

import { api } from './api.js';
import { askDialog, byTestId, el, enc, ui } from './dom.js';
import { readFilters, runQuery, writeFilters } from './events.js';
import { LIST_LIMIT, state } from './state.js';

function isOwnView(view) {
  return view.owner.subject === state.subject;
}

export async function loadSavedViews() {
  const answer = await api('GET', `/admin/saved-views?limit=${LIST_LIMIT}`);
  if (!answer) return;
  state.views = answer.data.savedViews;
  renderViews();
  // The list carries no analytics (one query per view); each view's own read has them.
  for (const view of state.views) loadViewAnalytics(view.slug);
}

async function loadViewAnalytics(slug) {
  const answer = await api('GET', `/admin/saved-views/${enc(slug)}`);
  // The list may have changed meanwhile (signed out, view deleted).
  if (answer && state.views.some((v) => v.slug === slug)) upsertView(answer.data);
}

export function renderViews() {
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

export async function saveView() {
  const name = await askDialog({
    title: 'Save current filters', input: { label: 'Name', testId: 'view-name' },
    confirmLabel: 'Save', confirmTestId: 'view-save-confirm',
  });
  if (!name) return;
  const answer = await api('POST', '/admin/saved-views', { name, filters: readFilters() });
  if (!answer) return;
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
  upsertView(answer.data);
}

async function shareView(view) {
  const answer = await api('POST', `/admin/saved-views/${enc(view.slug)}/share`);
  if (!answer) return;
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
