// The Explorer on the embedded default (SQLite, in-process queue, no tokens): no sign-in, and the live feed works.
// Run by tests/api/explorer/browser.rs against a Herald it starts without tokens (HERALD_URL).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { launchChromium } from './chromium.mjs';

const BASE = process.env.HERALD_URL;
const WAIT = { timeout: 10_000 };
let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

test('a Herald without tokens opens straight on the live Events page', async () => {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${BASE}/`);
  await page.getByTestId('page-events').waitFor(WAIT);
  assert.equal(await page.getByTestId('signin').isVisible(), false, 'no sign-in prompt');
  await page.getByTestId('live-status').filter({ hasText: 'live' }).waitFor(WAIT);
  const id = randomUUID();
  const response = await fetch(`${BASE}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, type: 'embedded.hello', source: 'explorer.test', payload: {} }),
  });
  assert.equal(response.status, 202);
  await page.locator(`[data-testid="event-row"][data-event-id="${id}"]`).waitFor(WAIT);
  assert.deepEqual(errors, []);
});
