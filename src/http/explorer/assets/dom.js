// The page's elements (`ui`, `byTestId`) and the DOM and formatting helpers every page uses: elements built from
// text only, table rows, `<dl>` fields, row activation and the modal `askDialog`.

export const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

export const ui = {
  signin: byTestId('signin'),
  signinForm: document.querySelector('.signin-form'),
  signinToken: byTestId('signin-token'),
  signinSubmit: byTestId('signin-submit'),
  signinError: byTestId('signin-error'),
  signout: byTestId('signout'),
  liveStatus: byTestId('live-status'),
  banner: byTestId('error-banner'),
  bannerText: document.querySelector('.banner-text'),
  bannerDismiss: document.querySelector('.banner-dismiss'),
  toasts: document.querySelector('.toasts'),
  layout: document.querySelector('.layout'),
  filters: byTestId('filters'),
  hints: document.getElementById('jsonpath-hints'),
  views: document.querySelector('.views'),
  viewsEmpty: document.querySelector('.views-empty'),
  viewSave: byTestId('view-save'),
  lagged: byTestId('lagged-notice'),
  laggedText: document.querySelector('.lagged-text'),
  catchUp: byTestId('catch-up'),
  events: document.querySelector('.events tbody'),
  eventsEmpty: document.querySelector('.events-empty'),
  loadOlder: byTestId('load-older'),
  drawer: byTestId('event-drawer'),
  drawerTitle: document.getElementById('drawer-title'),
  drawerClose: byTestId('drawer-close'),
  triggers: document.querySelector('.triggers tbody'),
  triggersEmpty: document.querySelector('.triggers-empty'),
  triggerDetail: byTestId('trigger-detail'),
  triggerTitle: document.getElementById('trigger-title'),
  triggerState: byTestId('trigger-state'),
  triggerPauseInfo: document.querySelector('.trigger-pause-info'),
  triggerPause: byTestId('trigger-pause'),
  triggerResume: byTestId('trigger-resume'),
  deliveries: document.querySelector('.deliveries tbody'),
  deliveriesEmpty: document.querySelector('.deliveries-empty'),
  attempts: document.querySelector('.attempts'),
  attemptLog: byTestId('attempt-log').tBodies[0],
  explainForm: document.querySelector('.explain'),
  explainVerdict: byTestId('explain-verdict'),
  explainSteps: byTestId('explain-steps'),
  deadLetters: document.querySelector('.dead-letters tbody'),
  deadLettersEmpty: document.querySelector('.dead-letters-empty'),
  deadLetterDetail: byTestId('dead-letter-detail'),
  deadLetterFields: document.querySelector('.dead-letter-fields'),
  deadLetterRaw: byTestId('dead-letter-raw'),
  redrive: byTestId('dead-letter-redrive'),
  redriveResult: byTestId('redrive-result'),
  healthToggle: byTestId('health-toggle'),
  healthBody: document.getElementById('health-body'),
  healthRefresh: byTestId('health-refresh'),
  healthGenerated: byTestId('health-generated'),
  retries: document.querySelector('.retries'),
  sourcesTitle: document.querySelector('.sources-title'),
  sources: document.querySelector('.health-sources'),
  sourcesNote: document.querySelector('.sources-note'),
  pausedTriggers: document.querySelector('.paused-triggers'),
  pausedTriggersEmpty: document.querySelector('.paused-triggers-empty'),
};

/** An element with attributes (null, undefined and false are left out) and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** The value as display text; a dash for absent values. */
export function text(value) {
  return value === null || value === undefined || value === '' ? '—' : String(value);
}

export function timeEl(iso) {
  return iso ? el('time', { datetime: iso }, iso.replace('T', ' ')) : '—';
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

/** A raw dead-letter entry, indented when it is JSON, else as it came. */
export function prettyRaw(raw) {
  try {
    return pretty(JSON.parse(raw));
  } catch {
    return raw;
  }
}

export function formatMs(ms) {
  if (ms === null || ms === undefined) return '—';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export const enc = encodeURIComponent;

export function row(attrs, ...cells) {
  return el('tr', attrs, ...cells.map((cell) => el('td', {}, cell)));
}

/** Fills a `<dl>` with [term, value] pairs. */
export function fillFields(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]));
}

/** Calls `handler(row)` when a focusable row of `tbody` is clicked or gets Enter. */
export function onRowActivate(tbody, handler) {
  tbody.addEventListener('click', (e) => {
    const target = e.target.closest('tr[tabindex]');
    if (target) handler(target);
  });
  tbody.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || !e.target.matches('tr[tabindex]')) return;
    // Otherwise the same Enter also presses the button the handler may focus (the drawer's Close).
    e.preventDefault();
    handler(e.target);
  });
}

export function markCurrentRow(tbody, target) {
  for (const tr of tbody.querySelectorAll('tr[aria-current]')) tr.removeAttribute('aria-current');
  target?.setAttribute('aria-current', 'true');
}

/**
 * A modal form: a title, an optional message and an optional labelled text input. Resolves with the trimmed input
 * (or `true` without one) when confirmed, `null` when cancelled (Cancel or Escape).
 */
export function askDialog({ title, message, input, confirmLabel, confirmTestId }) {
  const field = input
    ? el('input', { type: 'text', required: true, autofocus: true, autocomplete: 'off', 'data-testid': input.testId, value: input.value })
    : null;
  const cancel = el('button', { type: 'button' }, 'Cancel');
  const form = el('form', {},
    el('h2', {}, title),
    message ? el('p', {}, message) : null,
    field ? el('label', { class: 'stacked' }, input.label, field) : null,
    el('div', { class: 'actions' }, cancel, el('button', { type: 'submit', class: 'primary', 'data-testid': confirmTestId }, confirmLabel)));
  const dialog = el('dialog', { class: 'modal', 'aria-label': title }, form);
  document.body.append(dialog);
  return new Promise((resolve) => {
    let answer = null;
    cancel.addEventListener('click', () => dialog.close());
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      answer = field ? field.value.trim() || null : true;
      dialog.close();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    dialog.showModal();
  });
}
