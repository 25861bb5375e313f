// The health rail: retries, sources (with pause and resume) and paused triggers, from the latest event health.

import { api } from './api.js';
import { askDialog, el, fillFields, formatMs, text, timeEl, ui } from './dom.js';
import { LIST_LIMIT, state } from './state.js';

export async function refreshHealth() {
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

export function describePause({ reason, actor, until }) {
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

export function toggleHealth() {
  const expanded = ui.healthToggle.getAttribute('aria-expanded') !== 'true';
  ui.healthToggle.setAttribute('aria-expanded', String(expanded));
  ui.healthBody.hidden = !expanded;
  ui.layout.classList.toggle('rail-collapsed', !expanded);
}
