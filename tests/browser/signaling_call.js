// Drives headless Chromium against examples/signaling_server.rs (playwright-core):
//   node signaling_call.js BASE pair    two pages join one room, call each other, chat
//   node signaling_call.js BASE native ROOM       one page joins ROOM where examples/native_peer.rs waits
//   node signaling_call.js BASE native-late ROOM  one page joins ROOM, prints {"progress":"joined"}, and
//                                                 waits for examples/native_peer.rs to call
// Prints one JSON line: the result, or { error }.
const { chromium } = require('playwright-core');

const LIMIT_MS = 60000;

async function until(what, check) {
  const deadline = Date.now() + LIMIT_MS;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out: ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function join(browser, base, room) {
  const page = await browser.newPage();
  page.on('console', (m) => console.error('page: ' + m.text()));
  await page.goto(base + '/?room=' + room);
  await until('joined', () => page.evaluate(() => window.call && window.call.id !== null));
  return page;
}

const frames = (page) => page.evaluate(() => window.framesDecoded());
const state = (page) => page.evaluate(() => window.call);

async function main() {
  const base = process.argv[2];
  const mode = process.argv[3] || 'pair';
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    ignoreDefaultArgs: ['--disable-features'],
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
      '--disable-features=WebRtcHideLocalIpsWithMdns,Translate,MediaRouter',
    ],
  });
  try {
    const t0 = Date.now();
    let result;
    if (mode === 'pair') {
      const a = await join(browser, base, 'test');
      const b = await join(browser, base, 'test');
      await until('both connected', async () => (await state(a)).connected && (await state(b)).connected);
      const connectedMs = Date.now() - t0;
      await until('chat open', async () => (await state(a)).chatOpen && (await state(b)).chatOpen);
      await a.evaluate(() => window.sendChat('hello from a'));
      await b.evaluate(() => window.sendChat('hello from b'));
      await until('chat received', async () => (await state(a)).chat.includes('hello from b') && (await state(b)).chat.includes('hello from a'));
      await until('video decoded', async () => (await frames(a)) > 30 && (await frames(b)) > 30);
      const pairA = await a.evaluate(() => window.selectedPair());
      const pairB = await b.evaluate(() => window.selectedPair());
      result = { connectedMs, ms: Date.now() - t0, framesA: await frames(a), framesB: await frames(b), chatA: (await state(a)).chat, chatB: (await state(b)).chat, pairA, pairB };
      // Screen share: a's video sender switches to a screen capture; b goes on decoding.
      const before = await frames(b);
      // The size of the video b shows: the camera's (640x480), then the screen's.
      const size = () => b.evaluate(() => [document.getElementById('remote').videoWidth, document.getElementById('remote').videoHeight]);
      result.remoteSizeBefore = await size();
      await a.click('#share');
      await until('sharing', () => a.evaluate(() => document.getElementById('share').textContent === 'Stop sharing'));
      result.sharedTrack = await a.evaluate(() => {
        const s = window.call && document.getElementById('local').srcObject.getVideoTracks()[0];
        return s ? { label: s.label, displaySurface: s.getSettings().displaySurface || null } : null;
      });
      await until('screen decoded', async () => (await frames(b)) > before + 30);
      result.framesBWhileSharing = (await frames(b)) - before;
      result.remoteSizeSharing = await until('the screen shown', async () => {
        const now = await size();
        return now[0] !== result.remoteSizeBefore[0] || now[1] !== result.remoteSizeBefore[1] ? now : null;
      });
      // Presence: when b leaves, a is told and hangs up.
      await b.close();
      await until('peer left', async () => (await state(a)).peer === null);
      result.presence = true;
    } else if (mode === 'native' || mode === 'native-late') {
      const a = await join(browser, base, process.argv[4] || 'native');
      // 'native-late': the native peer joins after the page (so it calls): the test starts it now.
      if (mode === 'native-late') console.log(JSON.stringify({ progress: 'joined' }));
      await until('connected', async () => (await state(a)).connected);
      const connectedMs = Date.now() - t0;
      await until('chat open', async () => (await state(a)).chatOpen);
      await a.evaluate(() => window.sendChat('hello native'));
      await until('chat echoed', async () => (await state(a)).chat.some((m) => m.includes('hello native')));
      await until('video decoded', async () => (await frames(a)) > 30);
      result = { connectedMs, ms: Date.now() - t0, frames: await frames(a), chat: (await state(a)).chat };
    } else {
      throw new Error('unknown mode ' + mode);
    }
    console.log(JSON.stringify(result));
  } catch (e) {
    console.log(JSON.stringify({ error: String(e) }));
  } finally {
    await browser.close();
  }
}
main();
