// Herald Explorer (SPEC §8), the entry point: wires the page's event listeners to the modules and starts the session.
// No framework, no build step; all API calls go through `api()`, API values reach the page as text, never as HTML.

import { hideError, onUnauthorized } from './api.js';
import { redriveDeadLetter, selectDeadLetter } from './dead-letters.js';
import { onRowActivate, ui } from './dom.js';
import { closeDrawer, openDrawer } from './drawer.js';
import { loadOlder, runQuery } from './events.js';
import { refreshHealth, toggleHealth } from './health.js';
import { catchUp, onReconnected } from './live.js';
import { route } from './router.js';
import { onSignIn, signInWithoutToken, signOut, startSession } from './session.js';
import { state } from './state.js';
import { explain, pauseTrigger, resumeTrigger, selectTrigger, showAttempts } from './triggers.js';
import { saveView } from './views.js';

// The lower modules reach the session and the query through these, so no two modules import each other.
onUnauthorized(signOut);
onReconnected(runQuery);

// No way around signing in; Chrome lets a repeated Escape close the dialog anyway, so it opens again.
ui.signin.addEventListener('cancel', (e) => e.preventDefault());
ui.signin.addEventListener('close', () => {
  if (state.token === null) ui.signin.showModal();
});
ui.signinForm.addEventListener('submit', onSignIn);
ui.signout.addEventListener('click', () => signOut());
ui.bannerDismiss.addEventListener('click', hideError);
window.addEventListener('hashchange', route);
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !document.querySelector('dialog[open]')) closeDrawer();
});

ui.filters.addEventListener('submit', (e) => {
  e.preventDefault();
  hideError();
  runQuery();
});
ui.loadOlder.addEventListener('click', loadOlder);
ui.catchUp.addEventListener('click', catchUp);
onRowActivate(ui.events, openDrawer);
ui.drawerClose.addEventListener('click', closeDrawer);
ui.viewSave.addEventListener('click', saveView);

ui.healthToggle.addEventListener('click', toggleHealth);
ui.healthRefresh.addEventListener('click', refreshHealth);

onRowActivate(ui.triggers, selectTrigger);
onRowActivate(ui.deliveries, showAttempts);
ui.triggerPause.addEventListener('click', pauseTrigger);
ui.triggerResume.addEventListener('click', resumeTrigger);
ui.explainForm.addEventListener('submit', explain);

onRowActivate(ui.deadLetters, selectDeadLetter);
ui.redrive.addEventListener('click', redriveDeadLetter);

if (state.token !== null) startSession();
else signInWithoutToken();
