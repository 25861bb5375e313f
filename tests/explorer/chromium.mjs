// Debian's chromium (CHROMIUM overrides the path), headless, as every browser test here launches it: no sandbox
// (CI runs as root), and none of the background traffic a fresh profile starts.

import { chromium } from 'playwright-core';

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
