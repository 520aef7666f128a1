// Drives headless Chromium against examples/play_from_disk as a WHEP player.
// Usage: node whep_play.js BASE_URL [OPTIONS_JSON]. Prints JSON lines: progress reports
// ({"progress": ...}) and the result last. Options: codec (video codec to prefer, e.g. 'VP8',
// 'VP9', 'AV1', 'H264', 'H265'; others stay offered after it), frames (video frames to wait for
// decoded, default 61), audioPackets (default 50), width (wait until frames of this width are
// decoded too), keyframe (ask for a key frame at the 20th frame), timeoutMs (default 30000),
// capabilities
// (report only the browser's video receive codecs).
// The page offers recvonly video and audio transceivers, POSTs the offer to /whep, and polls
// getStats until `frames` video frames were decoded and `audioPackets` audio packets received;
// then it DELETEs the session. The same file is the Firefox page's script
// (tests/browser/firefox_play.html loads it and calls play): node runs main only when it runs
// this file.

async function play(opts) {
  const t0 = performance.now();
  const pc = new RTCPeerConnection();
  const video = pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  if (opts.keyframe) {
    // At the 20th video frame the receiver asks for a key frame (a PLI to the player), through
    // an RTCRtpScriptTransform set before negotiation.
    const code = `onrtctransform = (e) => {
      const t = e.transformer; let n = 0;
      t.readable.pipeThrough(new TransformStream({ transform(frame, c) {
        if (++n === 20) t.sendKeyFrameRequest().then(() => postMessage('sent'), (err) => postMessage('failed: ' + err));
        c.enqueue(frame);
      } })).pipeTo(t.writable).catch((err) => postMessage('pipe: ' + err));
    };`;
    const worker = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })));
    worker.onmessage = (e) => { window.keyFrameRequest = e.data; };
    video.receiver.transform = new RTCRtpScriptTransform(worker, {});
  }
  if (opts.codec) {
    const codecs = RTCRtpReceiver.getCapabilities('video').codecs;
    const want = 'video/' + opts.codec.toLowerCase();
    const first = codecs.filter((c) => c.mimeType.toLowerCase() === want);
    if (!first.length) throw new Error('this browser does not receive ' + opts.codec);
    video.setCodecPreferences([...first, ...codecs.filter((c) => c.mimeType.toLowerCase() !== want)]);
  }
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => {
    if (pc.iceGatheringState === 'complete') r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
    setTimeout(r, 3000);
  });
  const res = await fetch('/whep', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  const answer = await res.text();
  if (res.status !== 201) throw new Error('WHEP status ' + res.status + ': ' + answer);
  const location = res.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  const frames = opts.frames || 61, wantAudio = opts.audioPackets === undefined ? 50 : opts.audioPackets;
  const deadline = performance.now() + (opts.timeoutMs || 30000);
  let r = {};
  for (;;) {
    const stats = await pc.getStats();
    r = { framesDecoded: 0, keyFramesDecoded: 0, audioPackets: 0, audioSamples: 0, codec: null, audioCodec: null, width: 0, height: 0, connectionState: pc.connectionState };
    stats.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      const codec = s.codecId && stats.get(s.codecId);
      if (s.kind === 'video') {
        r.framesDecoded = s.framesDecoded || 0; r.keyFramesDecoded = s.keyFramesDecoded || 0;
        r.width = s.frameWidth || 0; r.height = s.frameHeight || 0; r.packetsLost = s.packetsLost; r.nackCount = s.nackCount;
        r.pliCount = s.pliCount; r.videoPackets = s.packetsReceived || 0;
        r.codec = codec ? codec.mimeType.replace('video/', '') : null;
      } else {
        r.audioPackets = s.packetsReceived || 0; r.audioSamples = s.totalSamplesReceived || 0;
        r.audioCodec = codec ? codec.mimeType.replace('audio/', '') : null;
      }
    });
    if (r.framesDecoded >= frames && r.audioPackets >= wantAudio && (!opts.width || r.width === opts.width)) break;
    if (performance.now() > deadline) break;
    if (window.progress) window.progress(JSON.stringify({ progress: r }));
    await new Promise((ok) => setTimeout(ok, 250));
  }
  r.ms = performance.now() - t0;
  if (opts.keyframe) r.keyFrameRequest = window.keyFrameRequest || '';
  r.deleteStatus = (await fetch(location, { method: 'DELETE' })).status;
  r.location = location;
  pc.close();
  return r;
}

function capabilities() {
  return { video: [...new Set(RTCRtpReceiver.getCapabilities('video').codecs.map((c) => c.mimeType))] };
}

async function main() {
  const { chromium } = require('playwright-core');
  const base = process.argv[2];
  const opts = JSON.parse(process.argv[3] || '{}');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    ignoreDefaultArgs: ['--disable-features'],
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
      '--disable-features=WebRtcHideLocalIpsWithMdns,Translate,MediaRouter',
    ],
  });
  try {
    const page = await browser.newPage();
    await page.exposeFunction('progress', (line) => console.log(line));
    await page.goto(base + '/blank');
    await page.addScriptTag({ content: [play, capabilities].map((f) => f.toString()).join('\n') });
    const result = opts.capabilities
      ? await page.evaluate(() => window.capabilities())
      : await page.evaluate((o) => window.play(o), opts);
    console.log(JSON.stringify(result));
  } catch (e) {
    console.log(JSON.stringify({ error: String(e) }));
  } finally {
    await browser.close();
  }
}
if (typeof require !== 'undefined' && require.main === module) main();
