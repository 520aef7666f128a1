// Drives headless Chromium against the sansrtc echo server: the browser offers (WHIP-style POST
// /whip), opens a data channel, sends 100 text and 100 binary messages of 1..1000 bytes and a
// 64 KiB one, and checks every echo byte-exact. Prints one JSON line with the result.
const { chromium } = require('playwright-core');

// Camera (fake VP8) and microphone sent to the echo server and looped back: counts frames decoded
// and audio samples received from the server.
async function media(videoCodec) {
  const t0 = performance.now();
  const pc = new RTCPeerConnection();
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
  for (const t of stream.getAudioTracks()) pc.addTrack(t, stream);
  for (const t of stream.getVideoTracks()) {
    const sender = pc.addTrack(t, stream);
    const tr = pc.getTransceivers().find((x) => x.sender === sender);
    const codecs = RTCRtpReceiver.getCapabilities('video').codecs;
    tr.setCodecPreferences([...codecs.filter((c) => c.mimeType === 'video/' + videoCodec), ...codecs.filter((c) => c.mimeType !== 'video/' + videoCodec)]);
  }
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => {
    if (pc.iceGatheringState === 'complete') r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
    setTimeout(r, 3000);
  });
  const res = await fetch('/whip', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  if (res.status !== 201) return { error: 'WHIP status ' + res.status + ': ' + await res.text() };
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  await new Promise((r, j) => {
    pc.onconnectionstatechange = () => pc.connectionState === 'connected' && r();
    setTimeout(() => j(new Error('connect timeout: ' + pc.connectionState)), 10000);
  });
  const setupMs = performance.now() - t0;
  let framesDecoded = 0, audioSamples = 0, audioPackets = 0, audioBytes = 0, codec = '';
  for (let i = 0; i < 40 && (framesDecoded <= 30 || audioPackets < 50); i++) {
    await new Promise((r) => setTimeout(r, 250));
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') { framesDecoded = s.framesDecoded || 0; codec = (stats.get(s.codecId) || {}).mimeType || ''; }
      if (s.type === 'inbound-rtp' && s.kind === 'audio') { audioSamples = s.totalSamplesReceived || 0; audioPackets = s.packetsReceived || 0; audioBytes = s.bytesReceived || 0; }
    });
  }
  return { setupMs, framesDecoded, audioSamples, audioPackets, audioBytes, codec };
}

// 20 channels opened at once (one unordered with maxRetransmits 0), each echoing one message; then
// 20 MB through one channel with bufferedAmountLow flow control, every echoed byte counted.
async function bulk() {
  const t0 = performance.now();
  const pc = new RTCPeerConnection();
  const channels = [];
  for (let i = 0; i < 20; i++) {
    const opts = i === 0 ? { ordered: false, maxRetransmits: 0 } : {};
    const dc = pc.createDataChannel('c' + i, opts);
    dc.binaryType = 'arraybuffer';
    channels.push(dc);
  }
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => {
    if (pc.iceGatheringState === 'complete') r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
    setTimeout(r, 3000);
  });
  const res = await fetch('/whip', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  if (res.status !== 201) return { error: 'WHIP status ' + res.status };
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  await Promise.all(channels.map((dc) => new Promise((r, j) => { dc.onopen = r; setTimeout(() => j(new Error('open timeout ' + dc.label)), 10000); })));
  const setupMs = performance.now() - t0;
  const echoed = await Promise.all(channels.map((dc, i) => new Promise((r, j) => {
    dc.onmessage = (e) => r(e.data === 'hello ' + i);
    dc.send('hello ' + i);
    setTimeout(() => j(new Error('no echo on ' + dc.label)), 10000);
  })));
  const channelsEchoed = echoed.filter((x) => x).length;
  const dc = channels[1];
  const total = 20 * 1024 * 1024, chunk = 16 * 1024;
  const data = new Uint8Array(chunk);
  for (let k = 0; k < chunk; k++) data[k] = k % 251;
  let sent = 0, received = 0, corrupt = 0;
  const t1 = performance.now();
  await new Promise((resolve, reject) => {
    dc.onmessage = (e) => {
      const v = new Uint8Array(e.data);
      if (v.length !== chunk || v[100] !== data[100] || v[chunk - 1] !== data[chunk - 1]) corrupt++;
      received += v.length;
      if (received >= total) resolve();
    };
    dc.bufferedAmountLowThreshold = 256 * 1024;
    const pump = () => {
      while (sent < total && dc.bufferedAmount < 1024 * 1024) { dc.send(data); sent += chunk; }
    };
    dc.onbufferedamountlow = pump;
    pump();
    setTimeout(() => reject(new Error('bulk timeout: ' + received + ' of ' + total)), 60000);
  });
  const secs = (performance.now() - t1) / 1000;
  return { setupMs, channelsEchoed, bulkBytes: received, corrupt, mbPerSec: total / secs / 1e6 };
}

// Our peer offers; Chromium answers, receives our channel 'echo', sends 100 messages through it.
async function answerer() {
  const t0 = performance.now();
  const res = await fetch('/offer', { method: 'POST' });
  if (res.status !== 201) return { error: 'offer status ' + res.status };
  const location = res.headers.get('Location');
  const pc = new RTCPeerConnection();
  const channel = new Promise((r) => { pc.ondatachannel = (e) => r(e.channel); });
  await pc.setRemoteDescription({ type: 'offer', sdp: await res.text() });
  await pc.setLocalDescription(await pc.createAnswer());
  await new Promise((r) => {
    if (pc.iceGatheringState === 'complete') r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
    setTimeout(r, 3000);
  });
  const put = await fetch(location, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  if (put.status !== 204) return { error: 'answer status ' + put.status + ': ' + await put.text() };
  const dc = await Promise.race([channel, new Promise((_, j) => setTimeout(() => j(new Error('no channel, ' + pc.connectionState)), 10000))]);
  dc.binaryType = 'arraybuffer';
  if (dc.readyState !== 'open') await new Promise((r) => { dc.onopen = r; });
  const setupMs = performance.now() - t0;
  const sent = [];
  for (let i = 0; i < 100; i++) {
    const b = new Uint8Array(1 + (i * 37) % 1000);
    for (let k = 0; k < b.length; k++) b[k] = (k * 13 + i) & 255;
    sent.push(i % 2 ? b : 'message ' + i + ' ' + 'x'.repeat(i * 9));
  }
  const got = [];
  await new Promise((r, j) => {
    dc.onmessage = (e) => { got.push(e.data); if (got.length === sent.length) r(); };
    setTimeout(() => j(new Error('echo timeout: ' + got.length)), 15000);
    for (const m of sent) dc.send(m);
  });
  let mismatches = 0;
  for (let i = 0; i < sent.length; i++) {
    const a = sent[i], b = got[i];
    if (typeof a === 'string') { if (a !== b) mismatches++; continue; }
    const v = new Uint8Array(b);
    if (v.length !== a.length || v.some((x, k) => x !== a[k])) mismatches++;
  }
  return { setupMs, label: dc.label, messages: sent.length, mismatches };
}

async function main() {
  const base = process.argv[2];
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    ignoreDefaultArgs: ['--disable-features'],
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection',
      '--disable-features=WebRtcHideLocalIpsWithMdns,Translate,MediaRouter',
    ],
  });
  try {
    const page = await browser.newPage();
    await page.goto(base + '/blank');
    const mode = process.argv[3] || 'data';
    const result = mode === 'answerer' ? await page.evaluate(answerer) : mode === 'media' ? await page.evaluate(media, 'VP8') : mode === 'h264' ? await page.evaluate(media, 'H264') : mode === 'bulk' ? await page.evaluate(bulk) : await page.evaluate(async () => {
      const t0 = performance.now();
      const pc = new RTCPeerConnection();
      const dc = pc.createDataChannel('echo');
      dc.binaryType = 'arraybuffer';
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((r) => {
        if (pc.iceGatheringState === 'complete') r();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
        setTimeout(r, 3000);
      });
      const res = await fetch('/whip', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
      if (res.status !== 201) return { error: 'WHIP status ' + res.status + ': ' + await res.text() };
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      await new Promise((r, j) => { dc.onopen = r; setTimeout(() => j(new Error('open timeout, ice ' + pc.iceConnectionState + ', dtls ' + pc.connectionState)), 10000); });
      const setupMs = performance.now() - t0;
      const sent = [];
      for (let i = 0; i < 100; i++) {
        const len = 1 + (i * 37) % 1000;
        sent.push('t'.repeat(len).split('').map((_, k) => String.fromCharCode(97 + (k + i) % 26)).join(''));
        const b = new Uint8Array(len);
        for (let k = 0; k < len; k++) b[k] = (k * 7 + i) & 255;
        sent.push(b);
      }
      const big = new Uint8Array(65536);
      for (let k = 0; k < big.length; k++) big[k] = k % 251;
      sent.push(big);
      const got = [];
      const done = new Promise((r, j) => {
        dc.onmessage = (e) => { got.push(e.data); if (got.length === sent.length) r(); };
        setTimeout(() => j(new Error('echo timeout: ' + got.length + ' of ' + sent.length)), 15000);
      });
      const t1 = performance.now();
      for (const m of sent) dc.send(m);
      await done;
      const echoMs = performance.now() - t1;
      let mismatches = 0;
      for (let i = 0; i < sent.length; i++) {
        const a = sent[i], b = got[i];
        if (typeof a === 'string') { if (a !== b) mismatches++; continue; }
        if (!(b instanceof ArrayBuffer)) { mismatches++; continue; }
        const v = new Uint8Array(b);
        if (v.length !== a.length || v.some((x, k) => x !== a[k])) mismatches++;
      }
      const stats = await pc.getStats();
      let dtlsCipher = '', srtpCipher = '';
      stats.forEach((s) => { if (s.type === 'transport') { dtlsCipher = s.dtlsCipher; srtpCipher = s.srtpCipher; } });
      return { setupMs, echoMs, messages: sent.length, mismatches, dtlsCipher, srtpCipher };
    });
    console.log(JSON.stringify(result));
  } catch (e) {
    console.log(JSON.stringify({ error: String(e) }));
  } finally {
    await browser.close();
  }
}
main();
