// The Explorer on the embedded default (SQLite, in-process queue, no tokens): no sign-in, and the live feed works.
// Run by tests/api/explorer/browser.rs against a Herald it starts without tokens (HERALD_URL).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const BASE = process.env.HERALD_URL;
const WAIT = { timeout: 10_000 };
let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
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
  const id = crypto.randomUUID();
  const response = await fetch(`${BASE}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, type: 'embedded.hello', source: 'explorer.test', payload: {} }),
  });
  assert.equal(response.status, 202);
  await page.locator(`[data-testid="event-row"][data-event-id="${id}"]`).waitFor(WAIT);
  assert.deepEqual(errors, []);
});
