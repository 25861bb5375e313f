// Pages: the hash (#/events, #/triggers, #/dead-letters) picks the page shown and the navigation link marked
// current; opening a page reads its list.

import { loadDeadLetters } from './dead-letters.js';
import { byTestId } from './dom.js';
import { state } from './state.js';
import { loadTriggers } from './triggers.js';

const PAGES = ['events', 'triggers', 'dead-letters'];

function currentPage() {
  const name = location.hash.replace(/^#\/?/, '');
  return PAGES.includes(name) ? name : 'events';
}

export function route() {
  const page = currentPage();
  for (const name of PAGES) {
    const link = byTestId(`nav-${name}`);
    byTestId(`page-${name}`).hidden = name !== page;
    if (name === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (state.token === null) return;
  if (page === 'triggers') loadTriggers();
  if (page === 'dead-letters') loadDeadLetters();
}
