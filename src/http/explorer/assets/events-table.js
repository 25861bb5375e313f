// The events table's rows: one row per event, never the same event twice, and the reset of the table (with the
// live rows and notices it holds).

import { el, row, text, timeEl, ui } from './dom.js';
import { live, state } from './state.js';

export function resetEventsTable() {
  ui.events.replaceChildren();
  state.shownEventIds.clear();
  state.liveRowCount = 0;
  live.pending.length = 0;
  ui.loadOlder.hidden = true;
  ui.eventsEmpty.hidden = true;
  ui.lagged.hidden = true;
}

export function eventRow(event) {
  return row({ 'data-testid': 'event-row', 'data-event-id': event.id, 'data-sequence': event.ingressSequence, tabindex: 0 },
    timeEl(event.occurredAt),
    el('span', { class: `severity severity-${event.severity}` }, event.severity),
    event.type,
    event.source,
    text(event.correlationId),
    el('span', { class: 'mono' }, event.id));
}

export function appendEventRows(events) {
  const fresh = events.filter((event) => !state.shownEventIds.has(event.id));
  for (const event of fresh) state.shownEventIds.add(event.id);
  ui.events.append(...fresh.map(eventRow));
}
