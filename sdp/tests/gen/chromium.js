// Regenerates sdp/tests/corpus/chromium-*.sdp with the machine's headless Chromium (Debian `chromium`)
// driven by playwright-core. Run through ../gen-corpus.sh, which installs what is missing and runs this
// inside a private network namespace so only loopback candidates appear.
'use strict';
const { serve, save } = require('./server');
const { chromium } = require('playwright-core');

const out = process.argv[2];

async function main() {
  const server = await serve(() => {});
  const port = server.address().port;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    const names = await page.evaluate(() => Object.keys(window.scenarios));
    const results = {};
    for (const name of names) results[name] = await page.evaluate((n) => window.scenarios[n](), name);
    save(out, 'chromium', results);
    console.log('chromium', browser.version());
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
