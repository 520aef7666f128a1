// Interop driver for sdp/tests/chromium_interop.rs: a line protocol over stdin/stdout with headless
// Chromium. Each request is one JSON line {op, sdp?}; each reply is one JSON line {ok, sdp?, error?}.
//   offer              Chromium (audio + video + data channel) creates an offer and keeps it pending.
//   answer {sdp}       Chromium applies our answer to its pending offer.
//   accept {sdp}       A fresh Chromium peer connection takes our offer and answers it.
'use strict';
const http = require('http');
const readline = require('readline');
const { chromium } = require('playwright-core');

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
    ],
  });
  // getUserMedia needs a secure context: serve an empty page from loopback.
  const server = http.createServer((req, res) => res.end('<!doctype html><title>interop</title>'));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  const reply = (msg) => process.stdout.write(JSON.stringify(msg) + '\n');
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const req = JSON.parse(line);
    try {
      const sdp = await page.evaluate(async ({ op, sdp }) => {
        if (op === 'offer') {
          const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
          window.pc = new RTCPeerConnection();
          stream.getTracks().forEach((t) => window.pc.addTrack(t, stream));
          window.pc.createDataChannel('chat');
          await window.pc.setLocalDescription(await window.pc.createOffer());
          return window.pc.localDescription.sdp;
        }
        if (op === 'answer') {
          await window.pc.setRemoteDescription({ type: 'answer', sdp });
          return window.pc.signalingState;
        }
        if (op === 'accept') {
          const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
          const pc = new RTCPeerConnection();
          await pc.setRemoteDescription({ type: 'offer', sdp });
          stream.getTracks().forEach((t) => pc.addTrack(t, stream));
          await pc.setLocalDescription(await pc.createAnswer());
          return pc.localDescription.sdp;
        }
        throw new Error('unknown op ' + op);
      }, req);
      reply({ ok: true, sdp });
    } catch (e) {
      reply({ ok: false, error: String(e) });
    }
  }
  await browser.close();
  server.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
