// The event drawer: one event's envelope, links, payload, metadata, derived view and deliveries.

import { api } from './api.js';
import { byTestId, el, enc, fillFields, formatMs, markCurrentRow, pretty, text, timeEl, ui } from './dom.js';
import { state } from './state.js';

export async function openDrawer(tr) {
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

export function closeDrawer() {
  if (ui.drawer.hidden) return;
  ui.drawer.hidden = true;
  const opener = state.drawerOpener;
  state.drawerOpener = null;
  markCurrentRow(ui.events, null);
  if (opener?.isConnected) opener.focus();
}
