// Page side of the interop drivers: window.handle({op, sdp}) runs one step in the browser.
//   offer              the browser (audio + video + data channel) creates an offer and keeps it pending.
//   answer {sdp}       it applies our answer to its pending offer and returns its signaling state.
//   accept {sdp}       a fresh peer connection takes our offer and returns its answer.
'use strict';
window.handle = async ({ op, sdp }) => {
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
};

// Firefox cannot be driven from outside: with ?poll the page fetches its requests from the server.
if (location.search.includes('poll')) {
  (async () => {
    for (;;) {
      const req = await (await fetch('/next')).json();
      let msg;
      try {
        msg = { ok: true, sdp: await window.handle(req) };
      } catch (e) {
        msg = { ok: false, error: String(e) };
      }
      await fetch('/reply', { method: 'POST', body: JSON.stringify(msg) });
    }
  })();
}
