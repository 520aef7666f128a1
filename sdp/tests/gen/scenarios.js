// The negotiation scenarios both browser generators run; loaded as a page script. Each scenario
// returns {kind: sdp} for the offers and answers it produced.
'use strict';
// Resolves when ICE gathering completes (or after 5 s, for a browser that keeps gathering).
window.gathered = (pc) =>
  new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    setTimeout(resolve, 5000);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
  });

window.scenarios = {
  // Data channel only.
  async data() {
    const a = new RTCPeerConnection();
    a.createDataChannel('chat');
    const offer = await a.createOffer();
    await a.setLocalDescription(offer);
    await gathered(a);
    const b = new RTCPeerConnection();
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    await gathered(b);
    return { offer: a.localDescription.sdp, answer: b.localDescription.sdp };
  },
  // Camera + microphone + data channel, then an ICE-restart re-offer and a re-offer without video.
  async av() {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    const a = new RTCPeerConnection();
    const senders = stream.getTracks().map((t) => a.addTrack(t, stream));
    a.createDataChannel('chat');
    await a.setLocalDescription(await a.createOffer());
    await gathered(a);
    const b = new RTCPeerConnection();
    await b.setRemoteDescription(a.localDescription);
    const s2 = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    s2.getTracks().forEach((t) => b.addTrack(t, s2));
    await b.setLocalDescription(await b.createAnswer());
    await gathered(b);
    const offer = a.localDescription.sdp;
    const answer = b.localDescription.sdp;
    await a.setRemoteDescription(b.localDescription);
    await a.setLocalDescription(await a.createOffer({ iceRestart: true }));
    await gathered(a);
    const restart = a.localDescription.sdp;
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription);
    a.removeTrack(senders.find((s) => s.track && s.track.kind === 'video'));
    await a.setLocalDescription(await a.createOffer());
    const removed = a.localDescription.sdp;
    return { offer, answer, 'ice-restart-offer': restart, 'removed-video-offer': removed };
  },
  // Three simulcast layers with rids.
  async simulcast() {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    const a = new RTCPeerConnection();
    a.addTransceiver(stream.getVideoTracks()[0], {
      streams: [stream],
      sendEncodings: [{ rid: 'q', scaleResolutionDownBy: 4 }, { rid: 'h', scaleResolutionDownBy: 2 }, { rid: 'f' }],
    });
    await a.setLocalDescription(await a.createOffer());
    await gathered(a);
    return { offer: a.localDescription.sdp };
  },
  // Receive-only audio and video.
  async recvonly() {
    const a = new RTCPeerConnection();
    a.addTransceiver('audio', { direction: 'recvonly' });
    a.addTransceiver('video', { direction: 'recvonly' });
    await a.setLocalDescription(await a.createOffer());
    await gathered(a);
    const b = new RTCPeerConnection();
    await b.setRemoteDescription(a.localDescription);
    const s = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    s.getTracks().forEach((t) => b.addTrack(t, s));
    await b.setLocalDescription(await b.createAnswer());
    await gathered(b);
    return { offer: a.localDescription.sdp, answer: b.localDescription.sdp };
  },
};

// With ?auto in the URL (Firefox), run everything and POST each result back to the server.
if (location.search.includes('auto')) {
  const post = (msg) => fetch('/result', { method: 'POST', body: JSON.stringify(msg) });
  (async () => {
    for (const [name, fn] of Object.entries(window.scenarios)) {
      let result;
      try {
        const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('scenario timed out')), 20000));
        result = await Promise.race([fn(), timeout]);
      } catch (e) {
        result = { error: String(e) };
      }
      await post({ name, result });
    }
    await post({ done: true, ua: navigator.userAgent });
  })();
}
