// The Triggers page: the list with outcome counts, a trigger's pause and resume, its recent deliveries with their
// attempts, and "explain an event".

import { api } from './api.js';
import { askDialog, el, enc, formatMs, markCurrentRow, row, text, timeEl, ui } from './dom.js';
import { describePause, refreshHealth } from './health.js';
import { LIST_LIMIT, state } from './state.js';

export async function loadTriggers() {
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

export function selectTrigger(tr) {
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

export async function pauseTrigger() {
  const id = state.selectedTriggerId;
  const reason = await askDialog({
    title: 'Pause trigger', message: 'Matching events are held until the trigger is resumed.',
    input: { label: 'Reason', testId: 'trigger-pause-reason' }, confirmLabel: 'Pause', confirmTestId: 'trigger-pause-confirm',
  });
  if (!reason) return;
  const answer = await api('POST', `/admin/triggers/${enc(id)}/pause`, { reason });
  if (answer) updateTrigger(answer.data);
}

export async function resumeTrigger() {
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

export async function showAttempts(tr) {
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

export async function explain(e) {
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
