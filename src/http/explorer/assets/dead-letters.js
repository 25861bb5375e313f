// The Dead letters page: the list, one dead letter's fields and raw entry, and its redrive.

import { api } from './api.js';
import { enc, fillFields, markCurrentRow, prettyRaw, row, text, timeEl, ui } from './dom.js';
import { LIST_LIMIT, state } from './state.js';

export async function loadDeadLetters() {
  const answer = await api('GET', `/admin/dead-letters?limit=${LIST_LIMIT}`);
  if (!answer) return;
  state.deadLetters = answer.data.deadLetters;
  ui.deadLetters.replaceChildren(...state.deadLetters.map((d) => row(
    { 'data-testid': 'dead-letter-row', 'data-id': d.id, tabindex: 0, 'aria-current': d.id === state.selectedDeadLetterId ? 'true' : null },
    timeEl(d.receivedAt), d.reason, text(d.source), d.message, timeEl(d.redrivenAt))));
  ui.deadLettersEmpty.hidden = state.deadLetters.length > 0;
}

export function selectDeadLetter(tr) {
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

export async function redriveDeadLetter() {
  ui.redriveResult.hidden = true;
  const answer = await api('POST', `/admin/dead-letters/${enc(state.selectedDeadLetterId)}/redrive`, {});
  if (!answer) return;
  const { deadLetter, event } = answer.data;
  ui.redriveResult.textContent = `Stored as event ${event.id}${event.duplicate ? ' (already stored before: a duplicate)' : ''}.`;
  ui.redriveResult.hidden = false;
  renderDeadLetter(deadLetter);
  loadDeadLetters();
}
