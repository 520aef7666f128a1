// Interop driver for sdp/tests/browser_interop.rs: a line protocol over stdin/stdout with a headless
// browser (`node interop.js chromium|firefox`). Each request is one JSON line {op, sdp?} (see
// interop-page.js); each reply is one JSON line {ok, sdp?, error?}. Chromium is driven by
// playwright-core; Firefox (Debian firefox-esr) loads a page that polls this server for requests.
'use strict';
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { spawn } = require('child_process');

const which = process.argv[2] || 'chromium';
const pageScript = fs.readFileSync(path.join(__dirname, 'interop-page.js'));

// Requests waiting for the Firefox page, and the page's pending /next poll.
const queue = [];
let poll = null;
let onReply = null;

const server = http.createServer((req, res) => {
  if (req.url === '/page.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    return res.end(pageScript);
  }
  if (req.url === '/next') {
    if (queue.length) return res.end(JSON.stringify(queue.shift()));
    poll = res;
    return;
  }
  if (req.method === 'POST' && req.url === '/reply') {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      res.end('ok');
      onReply(JSON.parse(body));
    });
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!doctype html><title>interop</title><script src="/page.js"></script>');
});

async function startChromium(url) {
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
    ],
  });
  const page = await browser.newPage();
  await page.goto(url);
  return { call: (req) => page.evaluate((r) => window.handle(r), req).then((sdp) => ({ ok: true, sdp }), (e) => ({ ok: false, error: String(e) })), close: () => browser.close() };
}

function startFirefox(url) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sdp-ff-'));
  const prefs = {
    'media.navigator.streams.fake': true,
    'media.navigator.permission.disabled': true,
    'browser.shell.checkDefaultBrowser': false,
    'datareporting.policy.dataSubmissionEnabled': false,
    'app.update.enabled': false,
  };
  fs.writeFileSync(
    path.join(profile, 'user.js'),
    Object.entries(prefs).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`).join(''),
  );
  const child = spawn('firefox-esr', ['--headless', '--no-remote', '--profile', profile, url + '?poll'], {
    stdio: 'ignore',
    detached: true,
  });
  const call = (req) =>
    new Promise((resolve) => {
      onReply = resolve;
      if (poll) {
        const res = poll;
        poll = null;
        res.end(JSON.stringify(req));
      } else {
        queue.push(req);
      }
    });
  return {
    call,
    close: async () => {
      process.kill(-child.pid, 'SIGTERM');
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

async function main() {
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/`;
  const browser = which === 'firefox' ? startFirefox(url) : await startChromium(url);
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const reply = await browser.call(JSON.parse(line));
    process.stdout.write(JSON.stringify(reply) + '\n');
  }
  await browser.close();
  server.close();
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
