// Makes headless Chromium (Debian `chromium`, driven by playwright-core) send real audio and video
// between two peer connections in one page over loopback for a few seconds, while gen-captures.sh
// records the UDP traffic with tshark. Usage: node capture.js SECONDS
'use strict';
const http = require('http');
const { chromium } = require('playwright-core');

const seconds = Number(process.argv[2] || 4);

const page = `<!doctype html><title>capture</title><script>
async function run(seconds) {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  for (const t of stream.getTracks()) a.addTrack(t, stream);
  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription();
  await a.setRemoteDescription(b.localDescription);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const sdp = a.localDescription.sdp;
  a.close(); b.close();
  return sdp;
}
</script>`;

async function main() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
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
    const p = await browser.newPage();
    await p.goto(`http://127.0.0.1:${server.address().port}/`);
    const sdp = await p.evaluate((s) => run(s), seconds);
    // the extmap lines tell which id carries which extension
    for (const line of sdp.split('\r\n')) if (line.startsWith('a=extmap:')) console.log(line);
    console.error('chromium', browser.version());
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
