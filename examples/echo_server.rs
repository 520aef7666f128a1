//! A WebRTC echo server for browsers. Signalling is WHIP-style (RFC 9725): `POST /whip` with an SDP
//! offer (`application/sdp`, non-trickle) answers `201 Created` with the SDP answer and
//! `Location: /whip/<session>`; `DELETE` of that location closes the peer connection. Every data
//! channel message is echoed on the channel it came on; RTP from the browser is sent back on our
//! own SSRC of the same m-section, and the browser's keyframe requests (PLI / FIR) for those
//! looped-back streams are forwarded to its own senders.
//! `POST /offer` makes our peer the offerer: `201` with our offer and `Location: /answer/<session>`,
//! where the browser POSTs its answer; channel `echo` is created before the offer, as a browser's
//! `createDataChannel` would be, and opens once the connection is up. `POST /offer?media=1` also
//! offers a sendrecv audio and video transceiver (the default codecs of `sansrtc::codecs`), whose
//! media is looped back as for WHIP (`&video=H264` offers only that video codec and its RTX
//! format); `?channels=N` opens `N` channels `c0`..`c<N-1>` at once instead of `echo` (`c0`
//! unordered with maxRetransmits 0).
//! `GET /` serves a small page with a chat box and the camera looped back; `GET /stats` returns
//! every session's counters (`PeerConnection::stats`, DTLS and ICE drops) as JSON.
//!
//! `cargo run --release --example echo_server -- --http 127.0.0.1:8080 --udp 127.0.0.1:0`
//! (`--passive` answers `a=setup:passive`, making the browser the DTLS client;
//! `--srtp-profile aes128gcm|aes256gcm|cm80|cm32` or IANA names such as
//! `SRTP_AEAD_AES_128_GCM` (comma-separated for several) restricts the SRTP profiles we accept;
//! `--cipher-suite TLS_...` accepts only that DTLS cipher suite, by IANA name;
//! `--drop-video-every N` loses every Nth video packet we echo on the way out, after the peer
//! connection sent it: the browser NACKs it and gets it again from our retransmission
//! history, as RTX; `--drop-incoming-video-every N` loses every Nth video packet the browser
//! sends us before the peer connection sees it: we NACK it and the browser sends it again;
//! `--repacketize` takes VP8 and H.264 video apart into frames and sends each frame back cut by
//! our own packetizers, with our sequence numbers, instead of forwarding the packets.)
//!
//! The HTTP side is `tiny_http` on its own thread; the WebRTC side runs on the main thread with one
//! UDP socket shared by every peer connection (datagrams are routed by source address, learned
//! from the STUN USERNAME of the first check).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use sansrtc::demux::{Kind, classify};
use sansrtc::dtls::{CipherSuite, SrtpProfile};
use sansrtc::ice::stun::StunMessage;
use sansrtc::rtp::packetize::h264::{H264Depacketizer, H264Packetizer};
use sansrtc::rtp::packetize::vp8::{Vp8Depacketizer, Vp8Packetizer};
use sansrtc::rtp::packetize::{Frame, Payloads};
use sansrtc::sctp::Reliability;
use sansrtc::sdp::jsep::{Codec, Feedback, MediaKind, Transceiver};
use sansrtc::sdp::{Direction, Setup};
use sansrtc::{
    ChannelConfig, Config, Event, KeyframeKind, PeerConnection, RtpReceived, RtpWrite, SdpType,
    codecs,
};

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>sansrtc echo</title>
<h1>sansrtc echo</h1><p>Your camera, looped back by the server:</p><video id="v" autoplay playsinline muted width="320"></video>
<p><input id="msg" value="hello"><button id="send">send</button></p><pre id="log"></pre>
<script>
const log = (t) => document.getElementById('log').textContent += t + '\n';
(async () => {
  const pc = new RTCPeerConnection();
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    for (const t of stream.getAudioTracks()) pc.addTrack(t, stream);
    for (const t of stream.getVideoTracks()) pc.addTrack(t, stream);
  } catch (e) { log('no camera: ' + e); }
  pc.ontrack = (e) => { if (e.track.kind === 'video') document.getElementById('v').srcObject = new MediaStream([e.track]); };
  const dc = pc.createDataChannel('chat');
  dc.onmessage = (e) => log('echo: ' + e.data);
  dc.onopen = () => log('open');
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
  const res = await fetch('/whip', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  const session = res.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  // WHIP: leaving the page deletes the session on the server.
  window.addEventListener('pagehide', () => fetch(session, { method: 'DELETE', keepalive: true }));
  document.getElementById('send').onclick = () => dc.send(document.getElementById('msg').value);
})();
</script>"#;

/// What the HTTP thread asks of the WebRTC loop.
enum Request {
    /// WHIP: answer this offer; reply `"<session>\n<answer>"`.
    Whip(String),
    /// Our peer offers (`POST /offer`): reply `"<session>\n<offer>"`.
    MakeOffer(OfferOptions),
    /// The browser's answer to the offer of a session (`POST /answer/<session>`).
    Answer(usize, String),
    /// Close a session (`DELETE` of its location).
    Delete(usize),
    /// Every session's counters as JSON.
    Stats,
}

/// What `POST /offer?...` asks for.
#[derive(Debug, Default, Clone)]
struct OfferOptions {
    /// `media=1`: an audio and a video transceiver, sendrecv, looped back.
    media: bool,
    /// `video=NAME`: offer only this video codec (and its RTX format).
    video: Option<String>,
    /// `channels=N`: open `N` channels at once (`c0` unordered, maxRetransmits 0) instead of
    /// `echo`.
    channels: u16,
}

impl OfferOptions {
    fn parse(query: &str) -> Self {
        let mut o = OfferOptions::default();
        for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
            match k {
                "media" => o.media = v == "1" || v == "true",
                "video" => o.video = Some(v.to_string()),
                "channels" => o.channels = v.parse().unwrap_or(0).min(1024),
                _ => {}
            }
        }
        o
    }

    /// The video transceiver we offer: the default codecs, or only `video` and its RTX.
    fn video_transceiver(&self) -> Transceiver {
        let mut t = codecs::video_transceiver(Direction::SendRecv);
        if let Some(name) = &self.video {
            let kept: Vec<u8> = t
                .codecs
                .iter()
                .filter(|c| c.name.eq_ignore_ascii_case(name))
                .map(|c| c.payload_type)
                .collect();
            t.codecs.retain(|c| {
                kept.contains(&c.payload_type)
                    || c.fmtp
                        .as_deref()
                        .and_then(|f| f.strip_prefix("apt="))
                        .and_then(|apt| apt.parse().ok())
                        .is_some_and(|apt| kept.contains(&apt))
            });
        }
        t
    }

    /// The channels we create with the offer.
    fn channel_configs(&self) -> Vec<ChannelConfig> {
        if self.channels == 0 {
            return vec![ChannelConfig::reliable("echo")];
        }
        (0..self.channels)
            .map(|i| {
                let mut c = ChannelConfig::reliable(&format!("c{i}"));
                if i == 0 {
                    c.ordered = false;
                    c.reliability = Reliability::MaxRetransmits(0);
                }
                c
            })
            .collect()
    }
}

/// A request and where to put the reply.
type Offer = (Request, mpsc::Sender<Result<String, String>>);

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// The `--srtp-profile` list (comma-separated), default all four.
fn srtp_profiles(list: &str) -> Vec<SrtpProfile> {
    if list.is_empty() {
        return SrtpProfile::ALL.to_vec();
    }
    list.split(',')
        .map(|name| match name.trim() {
            "aes128gcm" | "SRTP_AEAD_AES_128_GCM" => SrtpProfile::AeadAes128Gcm,
            "aes256gcm" | "SRTP_AEAD_AES_256_GCM" => SrtpProfile::AeadAes256Gcm,
            "cm80" | "SRTP_AES128_CM_HMAC_SHA1_80" => SrtpProfile::Aes128CmHmacSha1_80,
            "cm32" | "SRTP_AES128_CM_HMAC_SHA1_32" => SrtpProfile::Aes128CmHmacSha1_32,
            other => panic!("unknown SRTP profile {other:?} (aes128gcm, aes256gcm, cm80, cm32)"),
        })
        .collect()
}

/// The DTLS cipher suites `--cipher-suite` names (IANA names), all when empty.
fn cipher_suites(name: &str) -> Vec<CipherSuite> {
    if name.is_empty() {
        return CipherSuite::ALL.to_vec();
    }
    let suite = match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => CipherSuite::EcdheEcdsaAes128GcmSha256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => CipherSuite::EcdheEcdsaAes256GcmSha384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            CipherSuite::EcdheEcdsaChacha20Poly1305Sha256
        }
        other => panic!("unknown DTLS cipher suite {other:?}"),
    };
    vec![suite]
}

/// Keeps only loopback candidates (the browser also lists other interfaces).
fn loopback_only(sdp: &str) -> String {
    sdp.split("\r\n")
        .filter(|l| {
            !l.starts_with("a=candidate:")
                || l.split(' ')
                    .nth(4)
                    .is_some_and(|ip| ip == "127.0.0.1" || ip == "::1")
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Adds an audio and a video transceiver that send on `ssrcs` (signalled with `a=ssrc`).
fn transceivers(pc: &mut PeerConnection, ssrcs: [u32; 2]) {
    let fb = |c: Codec| {
        c.feedback(Feedback::new("transport-cc"))
            .feedback(Feedback::new("nack"))
            .feedback(Feedback::with("nack", "pli"))
            .feedback(Feedback::with("ccm", "fir"))
    };
    let mut audio = Transceiver::new(
        MediaKind::Audio,
        Direction::SendRecv,
        vec![
            Codec::new(111, "opus", 48000, Some(2))
                .fmtp("minptime=10;useinbandfec=1")
                .feedback(Feedback::new("transport-cc")),
        ],
    );
    audio.header_extensions = codecs::audio_extensions();
    let mut video = Transceiver::new(
        MediaKind::Video,
        Direction::SendRecv,
        vec![
            fb(Codec::new(96, "VP8", 90000, None)),
            fb(Codec::new(102, "H264", 90000, None)
                .fmtp("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f")),
            // RTX (RFC 4588) for each, matched to the browser's payload types by `apt`.
            Codec::new(97, "rtx", 90000, None).fmtp("apt=96"),
            Codec::new(103, "rtx", 90000, None).fmtp("apt=102"),
        ],
    );
    // sdes:mid, abs-send-time and the RID extensions (simulcast layers need them).
    video.header_extensions = codecs::video_extensions();
    add_echo_tracks(pc, [audio, video], ssrcs);
}

/// Adds the echo's audio and video transceivers, sending on `ssrcs` (signalled with `a=ssrc`,
/// stream `echo`).
fn add_echo_tracks(pc: &mut PeerConnection, tracks: [Transceiver; 2], ssrcs: [u32; 2]) {
    for (mut t, (ssrc, name)) in tracks
        .into_iter()
        .zip(ssrcs.into_iter().zip(["audio", "video"]))
    {
        // Video gets an RTX SSRC too: the browser's NACKs are answered on it.
        let rtx = t
            .codecs
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case("rtx"))
            .then_some(ssrc ^ 0x0800_0000);
        t.send_ssrcs = Some((ssrc, rtx));
        t.cname = Some("sansrtc-echo".into());
        t.msid = Some(("echo".into(), name.into()));
        pc.add_transceiver(t);
    }
}

/// The media echo of one session: what the browser sends on a section goes back on our SSRC
/// of that section (the sequence numbers, timestamps and payload types stay the browser's), and
/// its keyframe requests for our streams go to its own sender of that section.
#[derive(Debug, Default)]
struct MediaEcho {
    /// mid -> the SSRC the browser sends that section on (learned from its RTP).
    theirs: HashMap<String, u32>,
    /// Keyframe requests forwarded.
    keyframe_requests: u64,
    /// `--drop-video-every N`: 0, or N.
    drop_every: u64,
    /// Video packets echoed.
    video_echoed: u64,
    /// (SSRC, sequence number) of echoed packets to lose on the way out.
    to_lose: Vec<(u32, u16)>,
    /// Packets lost on purpose.
    lost: u64,
    /// `--drop-incoming-video-every N`: 0, or N.
    drop_incoming_every: u64,
    /// Data channel messages that could not be echoed.
    echo_errors: u64,
    /// Packets received per simulcast layer (RID).
    layers: std::collections::BTreeMap<Arc<str>, u64>,
    /// mid -> the simulcast layer echoed (the first seen; the others are only counted).
    echoed_layer: HashMap<String, Arc<str>>,
    /// Video packets from the browser seen.
    video_received: u64,
    /// Of them, lost on purpose.
    lost_incoming: u64,
    /// `--repacketize`: video goes back as frames cut by our packetizers.
    repacketize: bool,
    /// mid -> the depacketizer of the browser's video on that section.
    depacketizers: HashMap<String, Depacketizer>,
    /// The payloads of the frame being sent back (reused).
    payloads: Payloads,
    /// Frames sent back through our packetizers, and their packets.
    frames_repacketized: u64,
    packets_repacketized: u64,
}

/// The SSRC and sequence number of an SRTP datagram (RFC 7983 demultiplexing; SRTP keeps the
/// RTP header in the clear).
fn rtp_ids(datagram: &[u8]) -> Option<(u32, u16)> {
    if classify(datagram) != Kind::Rtp || datagram.len() < 12 {
        return None;
    }
    let sequence = u16::from_be_bytes([datagram[2], datagram[3]]);
    let ssrc = u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]);
    Some((ssrc, sequence))
}

/// A video depacketizer by payload format, with the packetizer that cuts its frames again.
#[derive(Debug)]
enum Depacketizer {
    Vp8(Vp8Depacketizer, Vp8Packetizer),
    H264(H264Depacketizer, H264Packetizer),
}

impl Depacketizer {
    /// Joins `rtp`'s payload; the frame it completes, if any, cut again into `payloads`.
    fn push(&mut self, rtp: &RtpReceived, payloads: &mut Payloads) -> Option<Frame> {
        let (seq, marker, payload) = (rtp.sequence_number, rtp.marker, rtp.payload());
        let frame = match self {
            Depacketizer::Vp8(d, _) => d.push(seq, marker, payload),
            Depacketizer::H264(d, _) => d.push(seq, marker, payload),
        }
        .ok()
        .flatten()?;
        match self {
            Depacketizer::Vp8(_, p) => p.packetize(&frame.data, payloads),
            Depacketizer::H264(_, p) => p.packetize(&frame.data, payloads),
        }
        Some(frame)
    }
}

/// Payload bytes per packet we cut frames into: small, so that frames take several packets
/// (VP8 partitions, H.264 FU-A fragments) and the whole payload format is exercised.
const MAX_PAYLOAD: usize = 400;

impl MediaEcho {
    fn echo_rtp(&mut self, pc: &mut PeerConnection, now: Instant, rtp: RtpReceived) {
        let Some(mid) = rtp.mid.clone() else { return };
        let Some(ours) = pc.sending_ssrc(&mid) else {
            return;
        };
        // Simulcast: every layer is counted, one goes back (our single SSRC carries one).
        if let Some(rid) = &rtp.rid {
            if self.layers.len() < 16 || self.layers.contains_key(rid) {
                *self.layers.entry(rid.clone()).or_default() += 1;
            }
            let echoed = self
                .echoed_layer
                .entry(mid.to_string())
                .or_insert_with(|| rid.clone());
            if echoed != rid {
                return;
            }
        }
        self.theirs.insert(mid.to_string(), rtp.ssrc);
        if self.repacketize && self.repacketized(pc, now, &mid, &rtp) {
            return;
        }
        let sequence = rtp.sequence_number;
        let mut packet = rtp.into_packet();
        packet[8..12].copy_from_slice(&ours.to_be_bytes());
        if pc.send_rtp(now, &packet).is_ok()
            && self.drop_every > 0
            && pc.media_kind(&mid) == Some(MediaKind::Video)
        {
            self.video_echoed += 1;
            if self.video_echoed.is_multiple_of(self.drop_every) && self.to_lose.len() < 64 {
                self.to_lose.push((ours, sequence));
            }
        }
    }

    /// `--repacketize`: joins VP8 or H.264 payloads into frames and sends each complete frame
    /// back in our own payloads; false for other payload formats (forwarded as they are).
    fn repacketized(
        &mut self,
        pc: &mut PeerConnection,
        now: Instant,
        mid: &str,
        rtp: &RtpReceived,
    ) -> bool {
        let Some(name) = pc.codec(mid, rtp.payload_type).map(|c| c.name.as_str()) else {
            return false;
        };
        let d = match self.depacketizers.get_mut(mid) {
            Some(d) => d,
            None => {
                let d = if name.eq_ignore_ascii_case("VP8") {
                    Depacketizer::Vp8(Vp8Depacketizer::default(), Vp8Packetizer::new(MAX_PAYLOAD))
                } else if name.eq_ignore_ascii_case("H264") {
                    Depacketizer::H264(
                        H264Depacketizer::default(),
                        H264Packetizer::new(MAX_PAYLOAD),
                    )
                } else {
                    return false;
                };
                self.depacketizers.entry(mid.to_string()).or_insert(d)
            }
        };
        let frame = d.push(rtp, &mut self.payloads);
        if frame.is_some() {
            let n = self.payloads.len();
            for (i, payload) in self.payloads.iter().enumerate() {
                let write =
                    RtpWrite::new(rtp.payload_type, rtp.timestamp, payload).marker(i + 1 == n);
                let _ = pc.write_rtp(now, mid, write);
            }
            self.frames_repacketized += 1;
            self.packets_repacketized += n as u64;
        }
        true
    }

    /// Whether `datagram`, from the browser, is a video packet to lose (every Nth of its
    /// video SSRC, once known).
    fn lose_incoming(&mut self, pc: &PeerConnection, datagram: &[u8]) -> bool {
        if self.drop_incoming_every == 0 {
            return false;
        }
        let Some((ssrc, _)) = rtp_ids(datagram) else {
            return false;
        };
        let video = self
            .theirs
            .iter()
            .any(|(mid, &s)| s == ssrc && pc.media_kind(mid) == Some(MediaKind::Video));
        if !video {
            return false;
        }
        self.video_received += 1;
        if self.video_received.is_multiple_of(self.drop_incoming_every) {
            self.lost_incoming += 1;
            return true;
        }
        false
    }

    /// Whether `datagram` is an echoed packet to lose (SRTP keeps SSRC and sequence number in
    /// the clear).
    fn lose(&mut self, datagram: &[u8]) -> bool {
        let Some(ids) = rtp_ids(datagram) else {
            return false;
        };
        match self.to_lose.iter().position(|&x| x == ids) {
            Some(i) => {
                self.to_lose.swap_remove(i);
                self.lost += 1;
                true
            }
            None => false,
        }
    }

    fn keyframe_request(
        &mut self,
        pc: &mut PeerConnection,
        now: Instant,
        mid: Option<&str>,
        kind: KeyframeKind,
    ) {
        if let Some(&theirs) = mid.and_then(|m| self.theirs.get(m))
            && pc.request_keyframe(now, theirs, kind).is_ok()
        {
            self.keyframe_requests += 1;
        }
    }
}

/// One browser's connection.
struct Session {
    pc: PeerConnection,
    media: MediaEcho,
    /// WHIP DELETE closed it: it says goodbye (SCTP shutdown, close_notify), then it is
    /// forgotten.
    deleted: bool,
}

/// Every session's counters, as JSON (`GET /stats`).
fn stats_json(sessions: &[Option<Session>]) -> String {
    let items: Vec<String> = sessions
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((i, s.as_ref().filter(|s| !s.deleted)?)))
        .map(|(i, s)| {
            let st = s.pc.stats();
            let report = s.pc.stats_report();
            let inbound = &report.inbound_rtp;
            let dtls = s.pc.dtls_stats().unwrap_or_default();
            let ice = s.pc.ice_stats().unwrap_or_default();
            format!(
                concat!(
                    r#"{{"session":{},"state":"{:?}","ufrag":"{}","srtp":"{}","#,
                    r#""datagrams_received":{},"datagrams_sent":{},"bytes_received":{},"bytes_sent":{},"#,
                    r#""dropped_unknown":{},"dropped_stun":{},"dropped_dtls":{},"dropped_srtp":{},"#,
                    r#""rtp_received":{},"rtp_sent":{},"rtcp_received":{},"rtcp_sent":{},"#,
                    r#""dtls_bad_mac":{},"dtls_malformed":{},"dtls_replayed":{},"dtls_dropped":{},"#,
                    r#""ice_auth_failures":{},"ice_ignored":{},"keyframe_requests_forwarded":{},"#,
                    r#""retransmissions_sent":{},"rtx_discarded":{},"lost_on_purpose":{},"#,
                    r#""incoming_lost_on_purpose":{},"nacks_sent":{},"retransmitted_packets_received":{},"#,
                    r#""layers":{{{}}},"echo_errors":{},"channels":[{}],"sctp":"{}","#,
                    r#""frames_repacketized":{},"packets_repacketized":{}}}"#
                ),
                i,
                s.pc.state(),
                s.pc.local_ufrag(),
                s.pc.srtp_profile().map(|p| format!("{p:?}")).unwrap_or_default(),
                st.datagrams_received,
                st.datagrams_sent,
                st.bytes_received,
                st.bytes_sent,
                st.dropped_unknown,
                st.dropped_stun,
                st.dropped_dtls,
                st.dropped_srtp,
                st.rtp_received,
                st.rtp_sent,
                st.rtcp_received,
                st.rtcp_sent,
                dtls.bad_mac,
                dtls.malformed,
                dtls.replayed,
                dtls.dropped,
                ice.auth_failures,
                ice.ignored,
                s.media.keyframe_requests,
                st.retransmissions_sent,
                st.rtx_discarded,
                s.media.lost,
                s.media.lost_incoming,
                inbound.iter().map(|i| i.nacks_sent).sum::<u64>(),
                inbound.iter().map(|i| i.retransmitted_packets_received).sum::<u64>(),
                s.media
                    .layers
                    .iter()
                    .map(|(rid, n)| format!(r#""{}":{n}"#, rid.escape_default()))
                    .collect::<Vec<_>>()
                    .join(","),
                s.media.echo_errors,
                report
                    .data_channels
                    .iter()
                    .map(|c| format!(
                        r#"{{"id":{},"open":{},"received":{},"sent":{},"buffered":{}}}"#,
                        c.id, c.open, c.messages_received, c.messages_sent, c.buffered_amount
                    ))
                    .collect::<Vec<_>>()
                    .join(","),
                format!("{:?}", report.transport.sctp).escape_default(),
                s.media.frames_repacketized,
                s.media.packets_repacketized,
            )
        })
        .collect();
    format!(r#"{{"sessions":[{}]}}"#, items.join(","))
}

fn header(text: &str) -> tiny_http::Header {
    text.parse().expect("ASCII header")
}

/// The HTTP side: turns requests into [`Request`]s for the WebRTC loop.
fn serve_http(server: tiny_http::Server, requests: mpsc::Sender<Offer>) {
    let ask = |r: Request| {
        let (tx, rx) = mpsc::channel();
        let _ = requests.send((r, tx));
        rx.recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| Err("timeout".into()))
    };
    let session_of = |url: &str| {
        ["/whip/", "/answer/"]
            .iter()
            .find_map(|p| url.strip_prefix(p)?.parse::<usize>().ok())
    };
    for mut request in server.incoming_requests() {
        let mut body = String::new();
        let _ = std::io::Read::read_to_string(request.as_reader(), &mut body);
        let url = request.url().to_string();
        let response = match (request.method(), url.as_str()) {
            (tiny_http::Method::Get, "/") => tiny_http::Response::from_string(PAGE)
                .with_header(header("Content-Type: text/html; charset=utf-8")),
            (tiny_http::Method::Get, "/stats") => match ask(Request::Stats) {
                Ok(json) => tiny_http::Response::from_string(json)
                    .with_header(header("Content-Type: application/json")),
                Err(e) => tiny_http::Response::from_string(e).with_status_code(500),
            },
            (tiny_http::Method::Post, url) if url.split('?').next() == Some("/offer") => match ask(
                Request::MakeOffer(OfferOptions::parse(url.split_once('?').map_or("", |q| q.1))),
            ) {
                Ok(reply) => {
                    let (session, offer) = reply.split_once('\n').unwrap_or(("0", ""));
                    tiny_http::Response::from_string(offer)
                        .with_status_code(201)
                        .with_header(header("Content-Type: application/sdp"))
                        .with_header(header(&format!("Location: /answer/{session}")))
                }
                Err(e) => tiny_http::Response::from_string(e).with_status_code(500),
            },
            (tiny_http::Method::Post, url) if url.starts_with("/answer/") => {
                let session = session_of(url).unwrap_or(usize::MAX);
                match ask(Request::Answer(session, body)) {
                    Ok(_) => tiny_http::Response::from_string("").with_status_code(204),
                    Err(e) => tiny_http::Response::from_string(e).with_status_code(400),
                }
            }
            (tiny_http::Method::Post, "/whip") => match ask(Request::Whip(body)) {
                Ok(reply) => {
                    let (session, answer) = reply.split_once('\n').unwrap_or(("0", ""));
                    tiny_http::Response::from_string(answer)
                        .with_status_code(201)
                        .with_header(header("Content-Type: application/sdp"))
                        .with_header(header(&format!("Location: /whip/{session}")))
                }
                Err(e) => tiny_http::Response::from_string(e).with_status_code(400),
            },
            (tiny_http::Method::Delete, url) => match session_of(url) {
                Some(session) => match ask(Request::Delete(session)) {
                    Ok(_) => tiny_http::Response::from_string("").with_status_code(200),
                    Err(e) => tiny_http::Response::from_string(e).with_status_code(404),
                },
                None => tiny_http::Response::from_string("not found").with_status_code(404),
            },
            _ => tiny_http::Response::from_string("not found").with_status_code(404),
        };
        let _ = request.respond(response);
    }
}

fn main() {
    let http = arg("--http", "127.0.0.1:8080");
    let udp = arg("--udp", "127.0.0.1:0");
    let passive = std::env::args().any(|a| a == "--passive");
    let drop_every: u64 = arg("--drop-video-every", "0")
        .parse()
        .expect("--drop-video-every N");
    let drop_incoming_every: u64 = arg("--drop-incoming-video-every", "0")
        .parse()
        .expect("--drop-incoming-video-every N");
    let repacketize = std::env::args().any(|a| a == "--repacketize");
    let new_echo = || MediaEcho {
        repacketize,
        drop_every,
        drop_incoming_every,
        ..MediaEcho::default()
    };
    let profiles = srtp_profiles(&arg("--srtp-profile", ""));
    let suites = cipher_suites(&arg("--cipher-suite", ""));
    let socket = UdpSocket::bind(&udp).expect("bind UDP");
    // Bursts (20 channels opening at once, media, bulk data) overflow the default receive buffer
    // and loopback drops what does not fit: 4 MiB, as much as the system allows.
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(4 << 20);
    socket
        .set_read_timeout(Some(Duration::from_millis(2)))
        .expect("read timeout");
    let local = socket.local_addr().expect("local addr");
    let server = tiny_http::Server::http(&http).expect("bind HTTP");
    let http_addr = server.server_addr().to_ip().expect("ip address");
    println!("echo server: http://{http_addr}/ (WHIP: POST /whip), UDP {local}");

    let (requests_tx, requests_rx) = mpsc::channel::<Offer>();
    std::thread::spawn(move || serve_http(server, requests_tx));

    let config = || Config {
        answer_setup: if passive {
            Setup::Passive
        } else {
            Setup::Active
        },
        srtp_profiles: profiles.clone(),
        cipher_suites: suites.clone(),
        ..Config::default()
    };
    // Indexed by session number; `None` once deleted.
    let mut sessions: Vec<Option<Session>> = Vec::new();
    let mut next_ssrc: u32 = 0x5EC0_0001;
    let mut routes: HashMap<SocketAddr, usize> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    let debug = std::env::var_os("SANSRTC_ECHO_DEBUG").is_some();
    let mut next_debug = Instant::now();
    loop {
        while let Ok((request, reply)) = requests_rx.try_recv() {
            let now = Instant::now();
            let result = match request {
                Request::Stats => Ok(stats_json(&sessions)),
                Request::MakeOffer(options) => PeerConnection::new(config())
                    .and_then(|mut pc| {
                        pc.add_local_address(local);
                        if options.media {
                            let tracks = [
                                codecs::audio_transceiver(Direction::SendRecv),
                                options.video_transceiver(),
                            ];
                            add_echo_tracks(&mut pc, tracks, [next_ssrc, next_ssrc + 1]);
                            next_ssrc += 2;
                        }
                        // Before the offer, like a browser: they open once SCTP is up.
                        for c in options.channel_configs() {
                            pc.create_data_channel(now, c)?;
                        }
                        let offer = pc.create_offer(now)?;
                        Ok((pc, offer))
                    })
                    .map(|(pc, offer)| {
                        sessions.push(Some(Session {
                            pc,
                            media: new_echo(),
                            deleted: false,
                        }));
                        format!("{}\n{offer}", sessions.len() - 1)
                    })
                    .map_err(|e| e.to_string()),
                Request::Answer(session, answer) => {
                    match sessions.get_mut(session).and_then(Option::as_mut) {
                        Some(s) => s
                            .pc
                            .set_remote_description(now, SdpType::Answer, &loopback_only(&answer))
                            .map(|()| String::new())
                            .map_err(|e| e.to_string()),
                        None => Err("no such session".to_string()),
                    }
                }
                Request::Delete(session) => {
                    match sessions
                        .get_mut(session)
                        .and_then(Option::as_mut)
                        .filter(|s| !s.deleted)
                    {
                        Some(s) => {
                            // SCTP shuts down, then close_notify; the main loop forgets the
                            // session once the peer connection is closed.
                            s.pc.close(now);
                            s.deleted = true;
                            while let Some(t) = s.pc.poll_transmit() {
                                let _ = socket.send_to(&t.contents, t.destination);
                            }
                            println!("session {session} deleted");
                            Ok(String::new())
                        }
                        None => Err("no such session".to_string()),
                    }
                }
                Request::Whip(offer) => {
                    if debug {
                        eprintln!("offer:\n{offer}");
                    }
                    let result = (|| {
                        let mut pc = PeerConnection::new(config()).map_err(|e| e.to_string())?;
                        pc.add_local_address(local);
                        transceivers(&mut pc, [next_ssrc, next_ssrc + 1]);
                        pc.set_remote_description(now, SdpType::Offer, &loopback_only(&offer))
                            .map_err(|e| e.to_string())?;
                        let answer = pc.create_answer().map_err(|e| e.to_string())?;
                        Ok::<_, String>((pc, answer))
                    })();
                    result
                        .map(|(pc, answer)| {
                            next_ssrc += 2;
                            let media = new_echo();
                            sessions.push(Some(Session {
                                pc,
                                media,
                                deleted: false,
                            }));
                            format!("{}\n{answer}", sessions.len() - 1)
                        })
                        .inspect_err(|e| eprintln!("offer refused: {e}"))
                }
            };
            let _ = reply.send(result);
        }
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let data = &buf[..n];
                let index = routes.get(&from).copied().or_else(|| {
                    let user = StunMessage::parse(data).ok()?.username()?.to_owned();
                    let ufrag = user.split(':').next()?;
                    let i = sessions
                        .iter()
                        .position(|s| s.as_ref().is_some_and(|s| s.pc.local_ufrag() == ufrag))?;
                    routes.insert(from, i);
                    Some(i)
                });
                if let Some(s) = index.and_then(|i| sessions[i].as_mut())
                    && !s.media.lose_incoming(&s.pc, data)
                {
                    s.pc.handle_receive(Instant::now(), from, local, data);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => eprintln!("recv: {e}"),
        }
        let now = Instant::now();
        if debug && now >= next_debug {
            next_debug = now + Duration::from_secs(1);
            for s in sessions.iter().flatten() {
                eprintln!("{:?} dtls {:?}", s.pc, s.pc.dtls_stats());
            }
        }
        for (i, s) in sessions.iter_mut().enumerate() {
            let Some(Session { pc, media, .. }) = s else {
                continue;
            };
            if pc.poll_timeout().is_some_and(|t| t <= now) {
                pc.handle_timeout(now);
            }
            while let Some(e) = pc.poll_event() {
                match e {
                    Event::DataChannelMessage { id, data, binary } => {
                        if let Err(e) = pc.send_data(now, id, &data, binary) {
                            media.echo_errors += 1;
                            eprintln!("session {i}: echo on channel {id} failed: {e}");
                        }
                    }
                    Event::Rtp(rtp) => media.echo_rtp(pc, now, rtp),
                    Event::KeyframeRequest { mid, kind, .. } => {
                        media.keyframe_request(pc, now, mid.as_deref(), kind)
                    }
                    Event::ConnectionStateChange(state) => {
                        println!("session {i}: connection {state:?}")
                    }
                    Event::DataChannelOpen { id, label, .. } => {
                        println!("session {i}: data channel {id} {label:?} open")
                    }
                    _ => {}
                }
            }
            while let Some(t) = pc.poll_transmit() {
                if media.lose(&t.contents) {
                    continue;
                }
                // Also route what comes back from where we send: the answer to our first
                // connectivity check (a STUN response has no USERNAME) may arrive first.
                routes.entry(t.destination).or_insert(i);
                let _ = socket.send_to(&t.contents, t.destination);
            }
            // A deleted session is forgotten once its goodbyes are out.
            if s.as_ref().is_some_and(|s| s.deleted && s.pc.is_closed()) {
                *s = None;
                routes.retain(|_, r| *r != i);
            }
        }
    }
}
