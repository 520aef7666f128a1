// Drives headless Chromium against the sansrtc echo server (examples/echo_server).
// Usage: node chromium_echo.js BASE_URL MODE [OPTIONS_JSON]. Prints one JSON line with the result
// last; lines before it are progress reports ({"progress": ...}). Modes:
//   data      the browser offers (WHIP POST /whip), opens a channel, sends 100 text and 100 binary
//             messages of 1..1000 bytes, one of 64 KiB and one of 256 KiB; every echo byte-exact.
//   answerer  our peer offers (POST /offer), Chromium answers, receives channel 'echo' and sends
//             100 messages, 64 KiB and 256 KiB through it (option setup: 'passive' rewrites the
//             answer's a=setup, making Chromium the DTLS server).
//   answerer-media   our peer offers audio and video (POST /offer?media=1); Chromium puts its
//             camera and microphone on the offered transceivers and answers; looped back as in
//             'media' (options: codec, playAudio, setup).
//   answerer-bulk    our peer offers and opens 20 channels at once (POST /offer?channels=20), then
//             as 'bulk' (option: setup).
//   media     camera and microphone looped back (options: codec, videoFirst, playAudio, keyframe,
//             nacks: wait for NACKs sent and 90 frames decoded; nacksIn: for retransmissions
//             sent and 90 frames decoded; simulcast: video as three RID layers q, h, f).
//   bulk      20 channels at once, then 20 MB with bufferedAmountLow flow control (at most
//             4 MiB not echoed yet).
//   hostile   a transfer that keeps going (reporting the server's ICE ufrag) until a line 'stop'
//             arrives on stdin and at least 8 MB went through; every echoed byte checked.
//   delete    WHIP DELETE of the session: the browser sees its DTLS transport close.
//   page      the server's own page (GET /): chat echoed, looped-back video playing.
// Option turn ({urls, username, credential}) in modes data and media: the browser's peer
// connection uses only relayed candidates of that TURN server (iceTransportPolicy 'relay'), and
// the result also reports the selected candidate pair (`selected`) and the offer's candidates
// (also with option path, e.g. to see that ICE-TCP was selected).
// Option ignoreCertificateErrors starts Chromium with --ignore-certificate-errors (a turns: server
// with a self-signed certificate; without it Chromium refuses the certificate).
const { chromium } = require('playwright-core');

// Offers through WHIP (non-trickle: waits for gathering), returns the answer and the Location.
// Resolves once `dc` is open. The open event may already have fired while an earlier await
// ran (the connection can complete before setRemoteDescription's promise resolves on a busy
// machine), so the state is checked before waiting for the event.
function opened(dc, detail) {
  return new Promise((r, j) => {
    if (dc.readyState === 'open') { r(dc); return; }
    dc.addEventListener('open', () => r(dc), { once: true });
    setTimeout(() => j(new Error('open timeout ' + dc.label + (detail ? ', ' + detail() : ''))), 20000);
  });
}

// The browser's RTCPeerConnection configuration: with opts.turn only relayed candidates of that
// TURN server.
function pcConfig(opts) {
  return opts && opts.turn ? { iceServers: [opts.turn], iceTransportPolicy: 'relay' } : {};
}

// The selected candidate pair as getStats reports it (through the transport's
// selectedCandidatePairId), with its local and remote candidates; and the candidates the
// offer carried (pc.localDescription). Chromium marks a pair 'in-progress' whenever it sends
// it a keepalive ping, until the answer: getStats is read again (every 50 ms, at most 5 s)
// until the pair shows 'succeeded', so that a ping in flight is not taken for a failed pair.
async function selectedPair(pc) {
  let stats, pair = null;
  for (let i = 0; i < 100; i++) {
    stats = await pc.getStats();
    pair = null;
    stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
    if (pair && pair.state === 'succeeded') break;
    await new Promise((res) => setTimeout(res, 50));
  }
  const offered = pc.localDescription.sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
  if (!pair) return { selected: null, offered };
  const local = stats.get(pair.localCandidateId) || {}, remote = stats.get(pair.remoteCandidateId) || {};
  return {
    offered,
    selected: {
      state: pair.state, nominated: pair.nominated, bytesSent: pair.bytesSent, bytesReceived: pair.bytesReceived,
      packetsSent: pair.packetsSent, packetsReceived: pair.packetsReceived,
      localType: local.candidateType, local: local.address + ':' + local.port, localProtocol: local.protocol,
      relayProtocol: local.relayProtocol, url: local.url,
      remoteType: remote.candidateType, remote: remote.address + ':' + remote.port, remoteProtocol: remote.protocol,
    },
  };
}

async function whip(pc) {
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => {
    if (pc.iceGatheringState === 'complete') r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
    setTimeout(r, 3000);
  });
  const res = await fetch('/whip', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  const sdp = await res.text();
  if (res.status !== 201) throw new Error('WHIP status ' + res.status + ': ' + sdp);
  await pc.setRemoteDescription({ type: 'answer', sdp });
  return { sdp, location: res.headers.get('Location') };
}

// Camera (fake, VP8 or H264) and microphone (Opus) sent to the echo server and looped back:
// frames decoded, audio packets and samples received, the ciphers; with `playAudio` the received
// audio plays through an <audio> element; with `keyframe` the video receiver asks for a key frame
// (RTCRtpScriptTransformer.sendKeyFrameRequest) and the browser's own sender must get it.
async function media(opts) {
  const t0 = performance.now();
  const pc = new RTCPeerConnection(pcConfig(opts));
  // Simulcast needs a picture large enough for three layers.
  const size = opts.simulcast ? { width: 1280, height: 720 } : { width: 320, height: 240 };
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: size });
  const tracks = opts.videoFirst
    ? [...stream.getVideoTracks(), ...stream.getAudioTracks()]
    : [...stream.getAudioTracks(), ...stream.getVideoTracks()];
  for (const t of tracks) {
    if (t.kind === 'video' && opts.simulcast) {
      // Three RID layers (RFC 8851/8853): a quarter, half and full resolution.
      const tr = pc.addTransceiver(t, {
        direction: 'sendrecv', streams: [stream],
        sendEncodings: [{ rid: 'q', scaleResolutionDownBy: 4 }, { rid: 'h', scaleResolutionDownBy: 2 }, { rid: 'f' }],
      });
      // On a busy machine Chromium's CPU adaptation would scale the picture down until the
      // larger layers stop: keep the resolution (the frame rate gives way instead).
      const params = tr.sender.getParameters();
      params.degradationPreference = 'maintain-resolution';
      await tr.sender.setParameters(params);
    } else {
      pc.addTrack(t, stream);
    }
    if (t.kind !== 'video') continue;
    const tr = pc.getTransceivers().find((x) => x.sender.track === t);
    const codecs = RTCRtpReceiver.getCapabilities('video').codecs;
    const want = 'video/' + (opts.codec || 'VP8');
    tr.setCodecPreferences([...codecs.filter((c) => c.mimeType === want), ...codecs.filter((c) => c.mimeType !== want)]);
  }
  let keyframeTransform = null, keyFrameRequest = '';
  if (opts.keyframe) {
    // After 60 frames the receiver asks for a key frame (a PLI or FIR to our SSRC).
    const code = `onrtctransform = (e) => {
      const t = e.transformer; let n = 0;
      t.readable.pipeThrough(new TransformStream({ transform(frame, c) {
        if (++n === 60) t.sendKeyFrameRequest().then(() => postMessage('sent'), (err) => postMessage('failed: ' + err));
        c.enqueue(frame);
      } })).pipeTo(t.writable).catch((err) => postMessage('pipe: ' + err));
    };`;
    const worker = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })));
    worker.onmessage = (e) => { keyFrameRequest = e.data; };
    keyframeTransform = () => new RTCRtpScriptTransform(worker, {});
  }
  // Chromium routes frames through a receiver transform only if it is set before negotiation.
  if (keyframeTransform) pc.getTransceivers().find((t) => t.receiver.track.kind === 'video').receiver.transform = keyframeTransform();
  const remote = {};
  pc.ontrack = (e) => { remote[e.track.kind] = e; };
  const { sdp } = await whip(pc);
  await connected(pc);
  const setupMs = performance.now() - t0;
  const sectionOrder = [...sdp.matchAll(/^m=(\w+)/gm)].map((m) => m[1]).join(',');
  const r = await loopedBack(pc, remote, opts);
  const path = opts.turn || opts.path ? await selectedPair(pc) : {};
  pc.close();
  return { setupMs, sectionOrder, keyFrameRequest, ...r, ...path };
}

// What Chromium says of a channel and its SCTP transport (for failure messages).
async function channelState(pc, dc) {
  const parts = ['readyState ' + dc.readyState, 'bufferedAmount ' + dc.bufferedAmount, 'id ' + dc.id];
  if (pc.sctp) parts.push('sctp ' + pc.sctp.state + ' maxMessageSize ' + pc.sctp.maxMessageSize);
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'data-channel') parts.push(`stats ${s.label}/${s.dataChannelIdentifier} ${s.state} sent ${s.messagesSent}/${s.bytesSent} received ${s.messagesReceived}`);
  });
  return parts.join(', ');
}

// Resolves once the connection is 'connected'.
function connected(pc) {
  return new Promise((r, j) => {
    if (pc.connectionState === 'connected') r();
    pc.addEventListener('connectionstatechange', () => pc.connectionState === 'connected' && r());
    setTimeout(() => j(new Error('connect timeout: ' + pc.connectionState)), 20000);
  });
}

// Polls getStats (every 250 ms, up to 20 s) until >30 looped-back frames were decoded and 50
// audio packets received (and, with the options, samples played or the key frame request seen).
// `remote` holds the track events by kind.
async function loopedBack(pc, remote, opts) {
  let playing = false;
  if (opts.playAudio) {
    const audio = document.createElement('audio');
    audio.srcObject = new MediaStream([remote.audio.track]);
    document.body.appendChild(audio);
    await audio.play();
    playing = !audio.paused;
  }
  let r = {};
  for (let i = 0; i < 80; i++) {
    await new Promise((res) => setTimeout(res, 250));
    const stats = await pc.getStats();
    r = { framesDecoded: 0, audioPackets: 0, audioSamples: 0, keyFramesEncoded: 0, pliReceived: 0, firReceived: 0, pliSent: 0, firSent: 0 };
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        r.framesDecoded = s.framesDecoded || 0; r.videoWidth = s.frameWidth || 0; r.pliSent = s.pliCount || 0; r.firSent = s.firCount || 0;
        r.nackSent = s.nackCount || 0; r.videoPacketsLost = s.packetsLost || 0; r.videoPackets = s.packetsReceived || 0;
        r.retransmittedPacketsReceived = s.retransmittedPacketsReceived;
        r.codec = (stats.get(s.codecId) || {}).mimeType || '';
      }
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        r.audioPackets = s.packetsReceived || 0; r.audioBytes = s.bytesReceived || 0;
        r.audioSamples = s.totalSamplesReceived || 0; r.audioLevel = s.audioLevel || 0; r.totalAudioEnergy = s.totalAudioEnergy || 0;
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid && s.packetsSent > 0) {
        r.layersSent = [...(r.layersSent || []), s.rid].sort();
        r.layerPackets = { ...(r.layerPackets || {}), [s.rid]: s.packetsSent };
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        r.keyFramesEncoded = s.keyFramesEncoded || 0; r.pliReceived = s.pliCount || 0; r.firReceived = s.firCount || 0;
        r.nackReceived = s.nackCount || 0; r.retransmittedPacketsSent = s.retransmittedPacketsSent || 0;
      }
      if (s.type === 'transport') { r.dtlsCipher = s.dtlsCipher; r.srtpCipher = s.srtpCipher; r.tlsVersion = s.tlsVersion; r.dtlsRole = s.dtlsRole; }
      if (s.type === 'candidate-pair' && s.nominated && s.availableOutgoingBitrate) r.availableOutgoingBitrate = s.availableOutgoingBitrate;
    });
    const done = r.framesDecoded > 30 && r.audioPackets >= 50
      && (!opts.playAudio || r.audioSamples > 0)
      && (!opts.keyframe || (r.pliReceived + r.firReceived > 0 && r.keyFramesEncoded >= 2))
      && (!opts.nacks || (r.nackSent > 0 && r.framesDecoded > 90))
      // Chromium also sends RTX as bandwidth probes, which may repair a packet lost on purpose
      // before our NACK: wait until a NACK of ours was answered.
      && (!opts.nacksIn || (r.nackReceived > 0 && r.retransmittedPacketsSent > 0 && r.framesDecoded > 90))
      && (!opts.simulcast || Object.values(r.layerPackets || {}).filter((n) => n > 40).length === 3);
    if (done) break;
  }
  return { playing, ...r };
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
  await whip(pc);
  await Promise.all(channels.map((dc) => opened(dc)));
  const setupMs = performance.now() - t0;
  const result = await bulkTransfer(channels);
  pc.close();
  return { setupMs, ...result };
}

// Each of the channels (c0..c19) echoes one message; then 20 MB go through channel c1 with
// bufferedAmountLow flow control, every echoed chunk checked.
async function bulkTransfer(channels) {
  const echoed = await Promise.all(channels.map((dc, i) => new Promise((r, j) => {
    dc.onmessage = (e) => r(e.data === 'hello ' + i);
    dc.send('hello ' + i);
    setTimeout(() => j(new Error('no echo on ' + dc.label)), 20000);
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
      else pump();
    };
    dc.bufferedAmountLowThreshold = 256 * 1024;
    // At most 4 MiB not echoed yet: the server bounds what it holds for a peer that sends
    // faster than it takes its echo back (a data channel has no receive-side backpressure).
    const pump = () => {
      while (sent < total && dc.bufferedAmount < 1024 * 1024 && sent - received < 4 * 1024 * 1024) { dc.send(data); sent += chunk; }
    };
    dc.onbufferedamountlow = pump;
    pump();
    setTimeout(() => reject(new Error('bulk timeout: ' + received + ' of ' + total)), 60000);
  });
  const secs = (performance.now() - t1) / 1000;
  return { channelsEchoed, bulkBytes: received, corrupt, mbPerSec: total / secs / 1e6 };
}

// Messages both data modes send: 100 text and 100 binary of 1..1000 bytes, 64 KiB and 256 KiB.
function testMessages() {
  const sent = [];
  for (let i = 0; i < 100; i++) {
    const len = 1 + (i * 37) % 1000;
    sent.push('t'.repeat(len).split('').map((_, k) => String.fromCharCode(97 + (k + i) % 26)).join(''));
    const b = new Uint8Array(len);
    for (let k = 0; k < len; k++) b[k] = (k * 7 + i) & 255;
    sent.push(b);
  }
  for (const size of [64 * 1024, 256 * 1024]) {
    const big = new Uint8Array(size);
    for (let k = 0; k < size; k++) big[k] = (k % 251) ^ (k >> 12);
    sent.push(big);
  }
  return sent;
}

// Sends the messages on an open channel, waits for every echo, compares byte by byte.
async function echoAll(dc, sent) {
  const got = [];
  const done = new Promise((r, j) => {
    dc.onmessage = (e) => { got.push(e.data); if (got.length === sent.length) r(); };
    setTimeout(() => j(new Error('echo timeout: ' + got.length + ' of ' + sent.length)), 20000);
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
  const sizes = got.map((b) => (typeof b === 'string' ? b.length : b.byteLength));
  return { echoMs, messages: sent.length, mismatches, largest: Math.max(...sizes) };
}

async function transportStats(pc) {
  const stats = await pc.getStats();
  let dtlsCipher = '', srtpCipher = '', dtlsRole = '', iceRole = '', tlsVersion = '';
  stats.forEach((s) => { if (s.type === 'transport') ({ dtlsCipher, srtpCipher, dtlsRole, iceRole, tlsVersion } = s); });
  return { dtlsCipher, srtpCipher, dtlsRole, iceRole, tlsVersion };
}

// The browser offers; a channel echoes testMessages() (opts.rounds times, one round after the
// other: messages, mismatches and echoMs add up, largest is the largest of all).
async function data(opts) {
  const t0 = performance.now();
  const pc = new RTCPeerConnection(pcConfig(opts));
  const dc = pc.createDataChannel('echo');
  dc.binaryType = 'arraybuffer';
  await whip(pc);
  await opened(dc, () => 'ice ' + pc.iceConnectionState + ', dtls ' + pc.connectionState);
  const setupMs = performance.now() - t0;
  const result = await echoAll(dc, testMessages());
  for (let round = 1; round < (opts.rounds || 1); round++) {
    const r = await echoAll(dc, testMessages());
    result.echoMs += r.echoMs;
    result.messages += r.messages;
    result.mismatches += r.mismatches;
    result.largest = Math.max(result.largest, r.largest);
  }
  const ciphers = await transportStats(pc);
  const path = opts.turn || opts.path ? await selectedPair(pc) : {};
  pc.close();
  return { setupMs, maxMessageSize: pc.sctp.maxMessageSize, ...result, ...ciphers, ...path };
}

// Our peer offers (POST /offer?query) and Chromium answers. With opts.media its fake camera and
// microphone (acquired before the clock starts) go on the offered transceivers (replaceTrack,
// direction sendrecv); opts.setup ('passive') rewrites the answer's a=setup before
// setLocalDescription. Returns the connection, when the offer was requested (t0), the track
// events by kind and channels(n): the first n channels our peer opens, once open.
async function answerOffer(query, opts) {
  const stream = opts.media ? await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } }) : null;
  const t0 = performance.now();
  const res = await fetch('/offer' + (query ? '?' + query : ''), { method: 'POST' });
  const offer = await res.text();
  if (res.status !== 201) throw new Error('offer status ' + res.status + ': ' + offer);
  const location = res.headers.get('Location');
  const pc = new RTCPeerConnection();
  const arrived = [];
  let more = () => {};
  pc.ondatachannel = (e) => { e.channel.binaryType = 'arraybuffer'; arrived.push(e.channel); more(); };
  const channels = (n) => Promise.race([
    new Promise((r) => { more = () => arrived.length >= n && r(arrived.slice(0, n)); more(); }),
    new Promise((_, j) => setTimeout(() => j(new Error(arrived.length + ' of ' + n + ' channels, ' + pc.connectionState)), 20000)),
  ]).then((list) => Promise.all(list.map((dc) => opened(dc))));
  const remote = {};
  pc.ontrack = (e) => { remote[e.track.kind] = e; };
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  if (stream) {
    for (const tr of pc.getTransceivers()) {
      const kind = tr.receiver.track.kind;
      await tr.sender.replaceTrack(stream.getTracks().find((t) => t.kind === kind));
      tr.direction = 'sendrecv';
    }
  }
  let { sdp } = await pc.createAnswer();
  if (opts.setup) sdp = sdp.replace(/^a=setup:\w+/gm, 'a=setup:' + opts.setup);
  await pc.setLocalDescription({ type: 'answer', sdp });
  await new Promise((r) => {
    if (pc.iceGatheringState === 'complete') r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
    setTimeout(r, 3000);
  });
  const answer = pc.localDescription.sdp;
  const put = await fetch(location, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: answer });
  if (put.status !== 204) throw new Error('answer status ' + put.status + ': ' + await put.text());
  const answerSetup = (answer.match(/^a=setup:(\w+)/m) || [])[1];
  const videoLine = (answer.match(/^m=video.*$/m) || [''])[0];
  return { pc, t0, remote, channels, answerSetup, videoLine };
}

// Our peer offers; Chromium answers, receives our channel 'echo', sends testMessages() through it.
async function answerer(opts) {
  const { pc, t0, channels, answerSetup } = await answerOffer('', opts);
  const [dc] = await channels(1);
  const setupMs = performance.now() - t0;
  const result = await echoAll(dc, testMessages());
  const transport = await transportStats(pc);
  pc.close();
  return { setupMs, label: dc.label, answerSetup, ...result, ...transport };
}

// Our peer offers audio, video and a channel; Chromium's camera and microphone are looped back.
async function answererMedia(opts) {
  // Chromium as answerer sends the offer's first video codec it supports, whatever the answer's
  // codec preferences (setCodecPreferences on the answerer shapes what it receives): a codec
  // other than VP8 is chosen by the offer (video=H264 offers only H264 and its RTX).
  const query = 'media=1' + (opts.codec ? '&video=' + opts.codec : '') + (opts.simulcastOffer ? '&simulcast=1' : '');
  const { pc, t0, remote, channels, answerSetup, videoLine } = await answerOffer(query, { ...opts, media: true });
  await connected(pc);
  const connectedMs = performance.now() - t0;
  const [dc] = await channels(1);
  const setupMs = performance.now() - t0;
  // Once in ~20 runs on a loaded machine Chromium put nothing on the wire for a message sent
  // right after ondatachannel in a media session (our SCTP counted no DATA chunk from it for
  // 20 s, not even a retransmission): the message is repeated every 2 s, and how many sends it
  // took is reported.
  let sends = 0;
  const echo = await new Promise((r, j) => {
    dc.onmessage = (e) => r(e.data);
    const send = () => { sends++; dc.send('media session'); };
    send();
    const again = setInterval(send, 2000);
    dc.addEventListener('message', () => clearInterval(again));
    setTimeout(() => { clearInterval(again); channelState(pc, dc).then((state) => j(new Error('no echo: ' + state))); }, 20000);
  });
  const r = await loopedBack(pc, remote, opts);
  const transport = await transportStats(pc);
  const sent = pc.getTransceivers().map((t) => t.receiver.track.kind + ':' + t.currentDirection + ':' + (t.sender.track ? 'track' : 'none')).join(',');
  pc.close();
  const answerSimulcast = pc.localDescription.sdp.split('\r\n').filter((l) => l.startsWith('a=simulcast') || l.startsWith('a=rid'));
  return { setupMs, connectedMs, label: dc.label, echo, sends, answerSetup, videoLine, transceivers: sent, answerSimulcast, ...r, ...transport };
}

// Our peer offers and opens 20 channels at once (c0 unordered, maxRetransmits 0); Chromium gets
// them, each echoes a message, then 20 MB go through c1.
async function answererBulk(opts) {
  const { pc, t0, channels, answerSetup } = await answerOffer('channels=20', opts);
  const list = (await channels(20)).sort((a, b) => Number(a.label.slice(1)) - Number(b.label.slice(1)));
  const setupMs = performance.now() - t0;
  const labels = list.map((dc) => dc.label).join(',');
  const unorderedConfig = { ordered: list[0].ordered, maxRetransmits: list[0].maxRetransmits };
  const result = await bulkTransfer(list);
  const transport = await transportStats(pc);
  pc.close();
  return { setupMs, labels, unorderedConfig, answerSetup, ...result, ...transport };
}

// A transfer through one channel that runs until window.stopTransfer() was called and at least
// 8 MB went; every echoed chunk is compared in full with what was sent at that position.
async function hostile() {
  const pc = new RTCPeerConnection();
  const dc = pc.createDataChannel('bulk');
  dc.binaryType = 'arraybuffer';
  const { sdp } = await whip(pc);
  await opened(dc);
  const ufrag = sdp.match(/^a=ice-ufrag:(\S+)/m)[1];
  const chunk = 16 * 1024, min = 8 * 1024 * 1024, cap = 400 * 1024 * 1024;
  const fill = (i) => {
    const b = new Uint8Array(chunk);
    for (let k = 0; k < chunk; k++) b[k] = (i * 31 + k * 7 + (k >> 8)) & 255;
    return b;
  };
  let sentChunks = 0, gotChunks = 0, corrupt = 0, stop = false, reported = false;
  const t1 = performance.now();
  await new Promise((resolve, reject) => {
    const finished = () => (stop || sentChunks * chunk >= cap) && sentChunks * chunk >= min;
    dc.onmessage = (e) => {
      const v = new Uint8Array(e.data), want = fill(gotChunks++);
      if (v.length !== chunk || v.some((x, k) => x !== want[k])) corrupt++;
      if (!reported) { reported = true; window.progress(JSON.stringify({ progress: 'transfer', ufrag })); }
      if (finished() && gotChunks === sentChunks) resolve();
      else pump();
    };
    // At most 4 MiB not echoed yet (see bulkTransfer).
    const pump = () => {
      while (!finished() && dc.bufferedAmount < 1024 * 1024 && (sentChunks - gotChunks) * chunk < 4 * 1024 * 1024) dc.send(fill(sentChunks++));
    };
    window.stopTransfer = () => { stop = true; pump(); if (finished() && gotChunks === sentChunks) resolve(); };
    dc.bufferedAmountLowThreshold = 256 * 1024;
    dc.onbufferedamountlow = pump;
    pump();
    setTimeout(() => reject(new Error('transfer timeout: ' + gotChunks + ' of ' + sentChunks + ' chunks, stop ' + stop + ', ' + pc.connectionState)), 120000);
  });
  const secs = (performance.now() - t1) / 1000;
  const bytes = gotChunks * chunk;
  const state = pc.connectionState;
  pc.close();
  return { bytes, sentBytes: sentChunks * chunk, corrupt, mbPerSec: bytes / secs / 1e6, state };
}

// WHIP DELETE of the session resource: the server closes the peer connection (DTLS close_notify),
// the browser's DTLS transport goes to 'closed'; a second DELETE finds nothing.
async function del() {
  const pc = new RTCPeerConnection();
  const dc = pc.createDataChannel('echo');
  const { location } = await whip(pc);
  await opened(dc);
  const echo = await new Promise((r, j) => { dc.onmessage = (e) => r(e.data); dc.send('before delete'); setTimeout(() => j(new Error('no echo')), 20000); });
  const transport = pc.sctp.transport;
  const states = [];
  const closed = new Promise((r, j) => {
    transport.onstatechange = () => { states.push(transport.state); if (transport.state === 'closed') r(); };
    setTimeout(() => j(new Error('DTLS transport still ' + transport.state + ' after DELETE')), 20000);
  });
  const t1 = performance.now();
  const first = await fetch(location, { method: 'DELETE' });
  await closed;
  const closeMs = performance.now() - t1;
  const second = await fetch(location, { method: 'DELETE' });
  return { location, echo, deleteStatus: first.status, againStatus: second.status, dtlsState: transport.state, states, closeMs, dcState: dc.readyState, connectionState: pc.connectionState };
}

// The server allows only an SRTP profile Chromium does not offer: no SRTP is agreed, the server
// closes DTLS; reports what the browser's DTLS transport did.
async function nosrtp() {
  const pc = new RTCPeerConnection();
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
  for (const t of stream.getTracks()) pc.addTrack(t, stream);
  await whip(pc);
  const transport = pc.getSenders()[0].transport;
  const states = [transport.state];
  await new Promise((r, j) => {
    const check = () => { if (['closed', 'failed'].includes(transport.state)) r(); };
    transport.onstatechange = () => { states.push(transport.state); check(); };
    check();
    setTimeout(() => j(new Error('DTLS transport still ' + transport.state)), 20000);
  });
  const ciphers = await transportStats(pc);
  return { dtlsState: transport.state, states, connectionState: pc.connectionState, ...ciphers };
}

async function main() {
  const base = process.argv[2];
  const mode = process.argv[3] || 'data';
  const opts = JSON.parse(process.argv[4] || '{}');
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
      // A TURN server over TLS with a self-signed certificate (option ignoreCertificateErrors).
      ...(opts.ignoreCertificateErrors ? ['--ignore-certificate-errors'] : []),
      // DTLS 1.3 (BoringSSL) for the peer connection.
      ...(opts.dtls13 ? ['--force-fieldtrials=WebRTC-ForceDtls13/Enabled/'] : []),
    ],
  });
  try {
    const page = await browser.newPage();
    await page.exposeFunction('progress', (line) => console.log(line));
    let result;
    if (mode === 'page') {
      // The server's own page: it offers camera, microphone and a chat channel through WHIP.
      const t0 = Date.now();
      await page.goto(base + '/');
      const log = () => page.evaluate(() => document.getElementById('log').textContent);
      await page.waitForFunction(() => document.getElementById('log').textContent.includes('open'), null, { timeout: 15000 });
      await page.fill('#msg', 'hello from the test');
      await page.click('#send');
      await page.waitForFunction(() => document.getElementById('log').textContent.includes('echo: hello from the test'), null, { timeout: 10000 });
      await page.waitForFunction(() => document.getElementById('v').videoWidth > 0 && document.getElementById('v').currentTime > 1, null, { timeout: 15000 });
      const video = await page.evaluate(() => { const v = document.getElementById('v'); return { videoWidth: v.videoWidth, videoHeight: v.videoHeight, currentTime: v.currentTime, paused: v.paused }; });
      const ms = Date.now() - t0;
      const text = await log();
      // Leaving the page DELETEs the WHIP session (pagehide handler): wait until the server has none.
      await page.goto(base + '/blank');
      let sessionsAfterLeaving = -1;
      for (let i = 0; i < 100 && sessionsAfterLeaving !== 0; i++) {
        if (i) await new Promise((r) => setTimeout(r, 50));
        sessionsAfterLeaving = (await (await fetch(base + '/stats')).json()).sessions.length;
      }
      result = { ms, log: text, sessionsAfterLeaving, ...video };
    } else {
      await page.goto(base + '/blank');
      if (mode === 'hostile') {
        process.stdin.setEncoding('utf8');
        process.stdin.on('data', (d) => { if (d.includes('stop')) page.evaluate(() => window.stopTransfer()).catch(() => {}); });
      }
      // The functions above run in the page: define them there, then call the mode's one.
      const fns = { data, answerer, 'answerer-media': answererMedia, 'answerer-bulk': answererBulk, media, bulk, hostile, nosrtp, delete: del };
      if (!fns[mode]) throw new Error('unknown mode ' + mode);
      const helpers = [opened, pcConfig, selectedPair, whip, connected, loopedBack, bulkTransfer, answerOffer, testMessages, echoAll, transportStats, ...Object.values(fns)];
      await page.addScriptTag({ content: helpers.map((f) => f.toString()).join('\n') });
      result = await page.evaluate(([name, o]) => window[name](o), [fns[mode].name, opts]);
    }
    console.log(JSON.stringify(result));
  } catch (e) {
    console.log(JSON.stringify({ error: String(e) }));
  } finally {
    await browser.close();
    process.stdin.destroy();
  }
}
main();
