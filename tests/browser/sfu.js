// Drives headless Chromium against examples/sfu (playwright-core):
//   node sfu.js BASE room        three pages join the room page, each decodes the other two's video
//                                and gets the other two's chat message
//   node sfu.js BASE whip        a page publishes with WHIP, another subscribes with WHEP (POST /whep)
//   node sfu.js BASE simulcast   a page publishes three simulcast layers (rids q, h, f), another
//                                subscribes with WHEP to it
// Prints one JSON line: the result, or { error }.
const { chromium } = require('playwright-core');

const LIMIT_MS = 90000;

async function until(what, check) {
  const deadline = Date.now() + LIMIT_MS;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out: ' + what);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function page(browser, base, path) {
  const p = await browser.newPage();
  p.on('console', (m) => console.error('page: ' + m.text()));
  await p.goto(base + path);
  return p;
}

const stats = (p) => p.evaluate(async () => (await fetch('/stats')).json());

// In a page at the server's origin: publish with WHIP (simulcast: three layers).
async function publish(p, simulcast) {
  return p.evaluate(async (simulcast) => {
    const pc = new RTCPeerConnection();
    const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: simulcast ? { width: 1280, height: 720 } : { width: 640, height: 480 } });
    pc.addTransceiver(media.getAudioTracks()[0], { direction: 'sendonly', streams: [media] });
    const init = { direction: 'sendonly', streams: [media] };
    if (simulcast) {
      init.sendEncodings = [
        { rid: 'q', scaleResolutionDownBy: 4 },
        { rid: 'h', scaleResolutionDownBy: 2 },
        { rid: 'f', scaleResolutionDownBy: 1 },
      ];
    }
    const video = pc.addTransceiver(media.getVideoTracks()[0], init);
    if (simulcast) {
      // On a busy machine Chromium's CPU adaptation would scale the picture down until the
      // larger layers stop: keep the resolution (the frame rate gives way instead).
      const params = video.sender.getParameters();
      params.degradationPreference = 'maintain-resolution';
      await video.sender.setParameters(params);
    }
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
    const res = await fetch('/whip', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
    if (res.status !== 201) throw new Error('WHIP: ' + res.status + ' ' + (await res.text()));
    const location = res.headers.get('Location');
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    window.publisher = pc;
    return { status: res.status, location, publisher: Number(res.headers.get('X-Publisher')) };
  }, simulcast);
}

// In a page at the server's origin: subscribe with WHEP (to the latest publisher).
async function subscribe(p) {
  return p.evaluate(async () => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
    const video = document.createElement('video');
    video.autoplay = true; video.muted = true;
    document.body.appendChild(video);
    const stream = new MediaStream();
    video.srcObject = stream;
    pc.ontrack = (e) => stream.addTrack(e.track);
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
    const res = await fetch('/whep', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
    if (res.status !== 201) throw new Error('WHEP: ' + res.status + ' ' + (await res.text()));
    const location = res.headers.get('Location');
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    window.subscriber = pc;
    window.inbound = async () => {
      const out = [];
      (await pc.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') out.push({ ssrc: r.ssrc, framesDecoded: r.framesDecoded || 0, frameWidth: r.frameWidth || 0, frameHeight: r.frameHeight || 0 });
      });
      return out;
    };
    return { status: res.status, location };
  });
}

const decoded = async (p) => (await p.evaluate(() => window.inbound())).reduce((n, r) => n + r.framesDecoded, 0);

async function main() {
  const base = process.argv[2];
  const mode = process.argv[3] || 'room';
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
    if (mode === 'room') {
      const pages = [];
      for (let i = 0; i < 3; i++) {
        const p = await page(browser, base, '/');
        await until('joined', () => p.evaluate(() => window.room && window.room.id !== null));
        pages.push(p);
      }
      const ids = [];
      for (const p of pages) ids.push(await p.evaluate(() => window.room.id));
      await until('chat open', async () => {
        for (const p of pages) if (!(await p.evaluate(() => window.room.chatOpen))) return false;
        return true;
      });
      for (let i = 0; i < 3; i++) await pages[i].evaluate((i) => window.sendChat('hello from page ' + i), i);
      await until('chat received', async () => {
        for (let i = 0; i < 3; i++) {
          const chat = await pages[i].evaluate(() => window.room.chat);
          for (let j = 0; j < 3; j++) if (j !== i && !chat.some((m) => m.endsWith('hello from page ' + j))) return false;
        }
        return true;
      });
      const frames = async () => Promise.all(pages.map((p) => p.evaluate(() => window.framesDecoded())));
      await until('video decoded', async () => {
        const all = await frames();
        return all.every((f, i) => ids.every((id, j) => j === i || (f[id] || 0) > 30));
      });
      const chats = [];
      for (const p of pages) chats.push(await p.evaluate(() => window.room.chat));
      result = { ms: Date.now() - t0, ids, frames: await frames(), chats, stats: await stats(pages[0]) };
    } else if (mode === 'whip' || mode === 'simulcast') {
      const simulcast = mode === 'simulcast';
      const a = await page(browser, base, '/participants');
      const published = await publish(a, simulcast);
      if (simulcast) {
        // All three layers reach the server before anyone subscribes.
        await until('three layers', async () => {
          const s = await stats(a);
          const p = s.sessions.find((x) => x.role === 'publisher');
          return p && Object.values(p.layer_bitrates).filter((b) => b > 0).length === 3;
        });
      }
      const b = await page(browser, base, '/participants');
      const subscribed = await subscribe(b);
      await until('video decoded', async () => (await decoded(b)) > 30);
      const inbound = await b.evaluate(() => window.inbound());
      const s = await stats(a);
      result = { ms: Date.now() - t0, published, subscribed, frames: await decoded(b), inbound, stats: s };
      if (simulcast) {
        // The viewer asks for another layer: the SFU asks the publisher for a key frame of it,
        // switches there, and the subscriber goes on decoding the same stream at the new size.
        const sub = async () => (await stats(a)).sessions.find((x) => x.role === 'subscriber');
        const first = (await sub()).layer;
        const want = first === 'q' ? 'h' : 'q';
        const before = await decoded(b);
        const pinned = await b.evaluate(async ([location, rid]) => (await fetch(location + '/layer?rid=' + rid, { method: 'POST' })).status, [subscribed.location, want]);
        await until('the switch to ' + want, async () => (await sub()).layer === want);
        await until('decoded after the switch', async () => (await decoded(b)) > before + 30);
        result.switched = { from: first, to: want, pinned, inbound: await b.evaluate(() => window.inbound()), stats: await stats(a) };
      }
      // WHIP DELETE ends the publisher (and its subscribers).
      result.deleted = await a.evaluate(async (location) => (await fetch(location, { method: 'DELETE' })).status, published.location);
      result.afterDelete = await stats(a);
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
