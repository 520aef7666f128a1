//! A WebRTC echo server for browsers, written to be copied for real servers. Signalling is
//! WHIP-style (RFC 9725): `POST /whip` with an SDP offer (`application/sdp`, non-trickle)
//! answers `201 Created` with the SDP answer and `Location: /whip/<session>`; `DELETE` of that
//! location closes the peer connection. Every data channel message is echoed on the channel it
//! came on; RTP from the browser is sent back on our own SSRC of the same m-section, and the
//! browser's keyframe requests (PLI / FIR) for those looped-back streams are forwarded to its
//! own senders.
//! `POST /offer` makes our peer the offerer: `201` with our offer and
//! `Location: /answer/<session>`, where the browser POSTs its answer (`204`); channel `echo` is
//! created before the offer, as a browser's `createDataChannel` would be, and opens once the
//! connection is up. `POST /offer?media=1` also offers a sendrecv audio and video transceiver
//! (the default codecs of `sansrtc::codecs`), whose media is looped back as for WHIP
//! (`&video=H264` offers only that video codec and its RTX format; `&simulcast=1` offers the
//! video in three RID layers, `a=simulcast:send q;h;f`: browsers answer without simulcast and
//! the echo stays one stream); `?channels=N` opens `N`
//! channels `c0`..`c<N-1>` at once instead of `echo` (`c0` unordered with maxRetransmits 0).
//! `GET /` serves a small page with a chat box and the camera looped back; `GET /stats` returns
//! every session's counters (`PeerConnection::stats`, DTLS and ICE drops, the selected path's
//! remote address as `selected_remote`, the send-side bandwidth estimate of what we echo as
//! `bandwidth_estimate`, `bandwidth_acknowledged` and `bandwidth_reason`), the last sessions forgotten (`ended`, with the reason)
//! and the server's own counters as JSON (with the ICE-TCP streams open, accepted and dropped).
//!
//! ICE over TCP (RFC 6544): the server also listens on TCP on its UDP socket's address and
//! signals a passive TCP candidate there (below UDP in priority), for browsers whose network
//! blocks UDP; see `tcp.rs` for the streams and their limits.
//!
//! `cargo run --release --example echo_server -- --http 127.0.0.1:8080 --udp 127.0.0.1:0`
//! (DTLS 1.3 is offered and accepted beside 1.2, the peer connection's default; `--dtls12`
//! pins DTLS 1.2, as does `--cipher-suite`; `--dtls13` is accepted and changes nothing;
//! `--key-update-every N` (DTLS 1.3) asks for a DTLS key update (`update_dtls_keys`, RFC 9147
//! 8) after every `N` data channel messages echoed (one at a time: updates falling due while
//! ours waits for its acknowledgement are merged); `--key-update-after-records N` (DTLS 1.3)
//! updates the sending keys automatically after `N` records under one key
//! (`Config::dtls_key_update_after`); `/stats` counts them (`dtls_key_updates_sent`,
//! `dtls_key_updates_received`, `key_updates_asked`: those of `--key-update-every`,
//! `key_updates_refused`: asked on a DTLS 1.2 connection);
//! `--passive` answers `a=setup:passive`, making the browser the DTLS client;
//! `--srtp-profile aes128gcm|aes256gcm|cm80|cm32` or IANA names such as
//! `SRTP_AEAD_AES_128_GCM` (comma-separated for several) restricts the SRTP profiles we accept;
//! `--cipher-suite TLS_...` accepts only that DTLS 1.2 cipher suite, by IANA name (and DTLS 1.2
//! only);
//! `--drop-video-every N` loses every Nth video packet we echo on the way out, after the peer
//! connection sent it: the browser NACKs it and gets it again from our retransmission
//! history, as RTX; `--drop-incoming-video-every N` loses every Nth video packet the browser
//! sends us before the peer connection sees it: we NACK it and the browser sends it again;
//! `--repacketize` takes VP8, VP9, H.264 and AV1 video apart into frames and sends each frame back cut by
//! our own packetizers, with our sequence numbers, instead of forwarding the packets.)
//!
//! Limits, for a server anyone can reach (flag, default):
//! - sessions at once: `--max-sessions 100`; one more is refused with `503`;
//! - a session not connected `--connect-timeout-ms 30000` after its offer/answer (someone
//!   POSTed an offer and never did ICE), one that saw no datagram from its peer for
//!   `--idle-timeout-ms 60000` once connected (consent checks keep a live one busy every ~5 s),
//!   and one whose connection failed or was closed by the peer are closed and forgotten;
//! - session ids are 128 random bits from the operating system, the capability to post an
//!   answer or delete a session; `/stats` shows neither them nor ICE ufrags;
//! - HTTP: `--max-body-bytes 131072` (`413` beyond; Chromium's offers are 7-15 KB), the
//!   request line and headers at most 16 KiB (`431`), the whole request within
//!   `--http-timeout-ms 5000` (a slow client holds nothing longer), at most
//!   `--max-http-connections 64` at once (`503` beyond), one request per connection;
//! - UDP: a datagram reaches a session only by the routes of `session.rs` (a source address is
//!   routed only once the session's ICE agent validated the path with an authenticated check),
//!   the rest is dropped and counted (`unrouted_*` in `/stats`); unauthenticated STUN gets no
//!   answer (`Config::answer_unauthenticated_stun` is off), so spoofed checks reflect nothing;
//! - data channel echoes that find the SCTP send buffer full (`Config::max_buffered_amount`,
//!   16 MiB) wait in a backlog of at most 4 MiB per session; a peer sending faster than it
//!   takes its echo back beyond that has its channel closed (a data channel has no
//!   receive-side backpressure);
//! - the UDP receive buffer asked for is `--recv-buffer-bytes 16777216` (bursts of a fast data
//!   channel overflow a small one and loopback drops the rest).
//!
//! The HTTP side (`http.rs`, std only) runs a thread per connection; the WebRTC side runs on
//! the main thread with one UDP socket shared by every peer connection. The main loop answers
//! the HTTP threads' calls, drains every datagram ready on the socket (delivering each to its
//! session and servicing only that session), runs the timers that are due (looking at every
//! session at most once a millisecond, and only when one is due), and ten times a second
//! closes and forgets sessions that failed, idled or never connected.

mod common;
mod http;
mod media;
mod session;
mod stats;
mod tcp;

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use sansrtc::demux::{Kind, classify};
use sansrtc::dtls::{Certificate, CipherSuite, SrtpProfile};
use sansrtc::sdp::{Direction, Setup};
use sansrtc::{Config, ConnectionState, PeerConnection, Router, SdpType, codecs};

use common::loopback_only;
use media::{MediaEcho, OfferOptions};
use sansrtc::Transport;
use session::{KeyUpdates, Session, SessionId, Sockets, service};

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

/// What an HTTP thread asks of the WebRTC loop.
enum Call {
    /// WHIP: answer this offer.
    Whip(String),
    /// Our peer offers (`POST /offer`).
    MakeOffer(OfferOptions),
    /// The browser's answer to the offer of a session (`POST /answer/<session>`).
    Answer(SessionId, String),
    /// Close a session (`DELETE` of its location).
    Delete(SessionId),
    /// Every session's counters as JSON.
    Stats,
}

/// What the WebRTC loop answers.
enum Reply {
    /// A new session and its SDP (answer or offer).
    Created(SessionId, String),
    /// JSON.
    Json(String),
    /// Done, nothing to say.
    Done,
}

/// A reply, or an HTTP status and why.
type Answer = Result<Reply, (u16, String)>;

/// A call and where its answer goes.
type Ask = (Call, mpsc::Sender<Answer>);

/// The value of flag `name`, or `default`.
fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// A numeric flag.
fn number<T: std::str::FromStr>(name: &str, default: &str) -> T {
    arg(name, default)
        .parse()
        .unwrap_or_else(|_| panic!("{name} takes a number"))
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

/// Every flag.
struct Options {
    passive: bool,
    /// `--dtls12`, or `--cipher-suite` (a 1.2 suite): DTLS 1.2 only.
    dtls12: bool,
    key_update_every: u64,
    key_update_after_records: Option<u64>,
    srtp_profiles: Vec<SrtpProfile>,
    cipher_suites: Vec<CipherSuite>,
    drop_every: u64,
    drop_incoming_every: u64,
    repacketize: bool,
    max_sessions: usize,
    connect_timeout: Duration,
    idle_timeout: Duration,
}

/// How long the loop waits for a datagram at most before it looks at the HTTP calls again.
const MAX_WAIT: Duration = Duration::from_millis(5);
/// How long the loop waits for a datagram at most while ICE-TCP streams are open (they are
/// read between waits).
const TCP_WAIT: Duration = Duration::from_millis(1);
/// Timers run at most this often (each run looks at every session).
const TIMER_GRANULARITY: Duration = Duration::from_millis(1);
/// How often idle, failed and unanswered sessions are looked for.
const RECLAIM_PERIOD: Duration = Duration::from_millis(100);
/// Datagrams read in one go before timers get a turn (under a flood).
const MAX_BATCH: usize = 1024;
/// A session closed by us is forgotten after this even if its goodbyes are not all out
/// (SCTP shutdown takes at most 2 s).
const CLOSE_LIMIT: Duration = Duration::from_secs(5);
/// Ended sessions whose last counters `/stats` keeps.
const MAX_ENDED: usize = 16;

/// Counters of the server itself (`/stats`).
#[derive(Default)]
struct Counters {
    /// Datagrams no session took, by RFC 7983 kind.
    unrouted_stun: u64,
    unrouted_dtls: u64,
    unrouted_rtp: u64,
    unrouted_unknown: u64,
    sessions_created: u64,
    /// Refused: `--max-sessions` reached.
    sessions_refused: u64,
    /// Forgotten for failing, idling or never connecting (not for `DELETE`).
    sessions_reclaimed: u64,
    sessions_deleted: u64,
}

/// The WebRTC side: every session, the routes to them, one UDP socket.
struct Server {
    sockets: Sockets,
    local: SocketAddr,
    options: Options,
    /// One DTLS certificate for every session: a `POST` costs no key generation.
    certificate: Arc<Certificate>,
    sessions: HashMap<SessionId, Session>,
    routes: Router<SessionId>,
    next_seq: u64,
    next_ssrc: u32,
    counters: Counters,
    http: Arc<http::Counters>,
    /// The last counters of sessions forgotten, newest last.
    ended: VecDeque<String>,
    /// The earliest session deadline (or later: timers look again by then).
    next_timer: Instant,
    last_timers: Instant,
    next_reclaim: Instant,
    debug: bool,
    next_debug: Instant,
}

impl Server {
    fn config(&self) -> Config {
        let mut c = Config::default();
        c.answer_setup = if self.options.passive {
            Setup::Passive
        } else {
            Setup::Active
        };
        c.srtp_profiles = self.options.srtp_profiles.clone();
        c.cipher_suites = self.options.cipher_suites.clone();
        if self.options.dtls12 {
            c.dtls_versions = sansrtc::dtls::endpoint::Versions::Dtls12;
        }
        c.dtls_key_update_after = self.options.key_update_after_records;
        c.certificate = Some(self.certificate.clone());
        // Checks failing authentication are dropped, not answered with a 400/401 that a
        // spoofed source address would receive.
        c.answer_unauthenticated_stun = false;
        c
    }

    /// Only loopback candidates are reachable from a socket bound to loopback (the browser
    /// also lists its other interfaces).
    fn candidates(&self, sdp: &str) -> String {
        if self.local.ip().is_loopback() {
            loopback_only(sdp)
        } else {
            sdp.to_string()
        }
    }

    /// A new peer connection whose ufrag no session has (8 random characters: a clash is
    /// rare, but would mix two sessions' checks).
    fn new_pc(&self) -> Result<PeerConnection, (u16, String)> {
        for _ in 0..4 {
            let mut pc = PeerConnection::new(self.config()).map_err(|e| (500, e.to_string()))?;
            if !self.routes.ufrag_taken(pc.local_ufrag()) {
                pc.add_local_address(self.local)
                    .map_err(|e| (500, e.to_string()))?;
                if self.sockets.tcp.is_some() {
                    // A passive ICE-TCP candidate on the same port, below UDP in priority.
                    pc.add_local_tcp_address(self.local)
                        .map_err(|e| (500, e.to_string()))?;
                }
                return Ok(pc);
            }
        }
        Err((500, "no fresh ICE ufrag".into()))
    }

    fn call(&mut self, call: Call) -> Answer {
        let now = Instant::now();
        match call {
            Call::Stats => Ok(Reply::Json(self.stats_json())),
            Call::Whip(offer) => {
                if self.debug {
                    eprintln!("offer:\n{offer}");
                }
                self.check_capacity()?;
                let mut pc = self.new_pc()?;
                media::transceivers(&mut pc, [self.next_ssrc, self.next_ssrc.wrapping_add(1)]);
                pc.set_remote_description(now, SdpType::Offer, &self.candidates(&offer))
                    .map_err(|e| (400, e.to_string()))?;
                let answer = pc.create_answer(now).map_err(|e| (400, e.to_string()))?;
                self.next_ssrc = self.next_ssrc.wrapping_add(2);
                Ok(Reply::Created(self.add(pc, now), answer))
            }
            Call::MakeOffer(options) => {
                self.check_capacity()?;
                let mut pc = self.new_pc()?;
                if options.media {
                    let tracks = [
                        codecs::audio_transceiver(Direction::SendRecv),
                        options.video_transceiver(),
                    ];
                    media::add_echo_tracks(
                        &mut pc,
                        tracks,
                        [self.next_ssrc, self.next_ssrc.wrapping_add(1)],
                    );
                    self.next_ssrc = self.next_ssrc.wrapping_add(2);
                }
                // Before the offer, like a browser: they open once SCTP is up.
                for c in options.channel_configs() {
                    pc.create_data_channel(now, c)
                        .map_err(|e| (500, e.to_string()))?;
                }
                let offer = pc.create_offer(now).map_err(|e| (500, e.to_string()))?;
                Ok(Reply::Created(self.add(pc, now), offer))
            }
            Call::Answer(id, answer) => {
                let answer = self.candidates(&answer);
                let s = self.live_session(id)?;
                s.pc.set_remote_description(now, SdpType::Answer, &answer)
                    .map_err(|e| (400, e.to_string()))?;
                self.service(id, now);
                Ok(Reply::Done)
            }
            Call::Delete(id) => {
                let s = self.live_session(id)?;
                // SCTP shuts down, then close_notify; the session is forgotten once the peer
                // connection is closed.
                s.pc.close(now);
                s.closing = Some(("deleted".into(), now));
                println!("session {} deleted", s.seq);
                self.counters.sessions_deleted += 1;
                self.service(id, now);
                Ok(Reply::Done)
            }
        }
    }

    fn check_capacity(&mut self) -> Result<(), (u16, String)> {
        if self.sessions.len() >= self.options.max_sessions {
            self.counters.sessions_refused += 1;
            return Err((503, "too many sessions\n".into()));
        }
        Ok(())
    }

    /// A session that exists and is not being closed.
    fn live_session(&mut self, id: SessionId) -> Result<&mut Session, (u16, String)> {
        self.sessions
            .get_mut(&id)
            .filter(|s| s.closing.is_none())
            .ok_or_else(|| (404, "no such session\n".into()))
    }

    /// Adds a session for `pc`; its id.
    fn add(&mut self, pc: PeerConnection, now: Instant) -> SessionId {
        let id = loop {
            let id = SessionId::random();
            if !self.sessions.contains_key(&id) {
                break id;
            }
        };
        self.next_seq += 1;
        let media = MediaEcho::new(
            self.options.repacketize,
            self.options.drop_every,
            self.options.drop_incoming_every,
        );
        let key_updates = KeyUpdates::every(self.options.key_update_every);
        let s = Session::new(self.next_seq, pc, media, key_updates, now);
        println!("session {} created", s.seq);
        if let Err(e) = self.routes.insert(id, &s.pc) {
            // new_pc chose a ufrag no session has, and ids are random.
            eprintln!("session {} not routed: {e}", s.seq);
        }
        self.sessions.insert(id, s);
        self.counters.sessions_created += 1;
        self.service(id, now);
        id
    }

    /// Drains a session's output after an input; forgets it if it was closing and its
    /// goodbyes are all out.
    fn service(&mut self, id: SessionId, now: Instant) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if let Some(deadline) = service(id, s, &mut self.routes, &mut self.sockets, now) {
            self.next_timer = self.next_timer.min(deadline);
        }
        if s.closing.is_some() && s.pc.is_closed() {
            self.forget(id);
        }
    }

    /// Forgets a session and every route to it; keeps its last counters in `ended`.
    fn forget(&mut self, id: SessionId) {
        let Some(s) = self.sessions.remove(&id) else {
            return;
        };
        let routes = self.routes.paths(id).len();
        self.routes.remove(id);
        let reason = s.closing.as_ref().map_or("", |(r, _)| r.as_str());
        println!("session {} forgotten: {reason}", s.seq);
        if self.ended.len() >= MAX_ENDED {
            self.ended.pop_front();
        }
        self.ended
            .push_back(stats::session_json(&s, routes, Some(reason)));
    }

    /// One datagram from `source` (or, over TCP, one frame of the stream from `source`);
    /// whether a session took it.
    fn receive(
        &mut self,
        now: Instant,
        transport: Transport,
        source: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        let kind = classify(datagram);
        let local = self.local;
        let Some(id) = self
            .routes
            .route_on(transport, local, source, datagram)
            .filter(|id| self.sessions.contains_key(id))
        else {
            let c = &mut self.counters;
            *match kind {
                Kind::Stun => &mut c.unrouted_stun,
                Kind::Dtls => &mut c.unrouted_dtls,
                Kind::Rtp | Kind::Rtcp => &mut c.unrouted_rtp,
                Kind::Unknown => &mut c.unrouted_unknown,
            } += 1;
            return false;
        };
        let s = self.sessions.get_mut(&id).expect("routed to a session");
        if s.media.lose_incoming(&s.pc, datagram) {
            return true;
        }
        s.pc.handle_receive_on(now, transport, source, local, datagram);
        if s.pc.is_validated_path_on(transport, local, source) {
            s.last_heard = now;
            // Only an authenticated check validates a path: STUN is what can earn a route.
            self.routes
                .learn_on(id, &s.pc, transport, local, source, datagram);
        }
        self.service(id, now);
        true
    }

    /// Reads every datagram ready (waiting up to `wait` for the first).
    fn receive_all(&mut self, wait: Duration, buf: &mut [u8]) {
        let ready = |r: std::io::Result<(usize, SocketAddr)>| match r {
            Ok(x) => Some(x),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(e) => {
                eprintln!("recv: {e}");
                None
            }
        };
        if !wait.is_zero() {
            let _ = self.sockets.udp.set_read_timeout(Some(wait));
            let Some((n, from)) = ready(self.sockets.udp.recv_from(buf)) else {
                return;
            };
            self.receive(Instant::now(), Transport::Udp, from, &buf[..n]);
        }
        let _ = self.sockets.udp.set_nonblocking(true);
        for _ in 0..MAX_BATCH {
            let Some((n, from)) = ready(self.sockets.udp.recv_from(buf)) else {
                break;
            };
            self.receive(Instant::now(), Transport::Udp, from, &buf[..n]);
        }
        let _ = self.sockets.udp.set_nonblocking(false);
    }

    /// Accepts ICE-TCP connections and handles every frame their streams delivered.
    fn receive_tcp(&mut self, buf: &mut [u8]) {
        let Some(tcp) = &mut self.sockets.tcp else {
            return;
        };
        tcp.poll(buf);
        // The frames leave the streams' table while they are handled (answers are written on
        // the streams), and their reused buffers go back after.
        let batch = tcp.take_frames();
        for (peer, frame) in batch.iter() {
            let now = Instant::now();
            // Only frames a session took keep a stream (see `tcp.rs`).
            if self.receive(now, Transport::Tcp, peer, frame)
                && let Some(tcp) = &mut self.sockets.tcp
            {
                tcp.routed(peer, now);
            }
        }
        if let Some(tcp) = &mut self.sockets.tcp {
            tcp.give_back(batch);
        }
    }

    /// When the loop must look at timers next.
    fn wake(&self) -> Instant {
        self.next_timer
            .max(self.last_timers + TIMER_GRANULARITY)
            .min(self.next_reclaim)
    }

    /// Runs the sessions' timers that are due.
    fn timers(&mut self, now: Instant) {
        if now < self.next_timer || now < self.last_timers + TIMER_GRANULARITY {
            return;
        }
        self.last_timers = now;
        let mut next = now + Duration::from_secs(1);
        let mut closed = Vec::new();
        for (&id, s) in &mut self.sessions {
            if s.deadline.is_some_and(|d| d <= now) {
                s.pc.handle_timeout(now);
                service(id, s, &mut self.routes, &mut self.sockets, now);
                if s.closing.is_some() && s.pc.is_closed() {
                    closed.push(id);
                }
            }
            if let Some(d) = s.deadline {
                next = next.min(d);
            }
        }
        self.next_timer = next;
        for id in closed {
            self.forget(id);
        }
        if self.debug && now >= self.next_debug {
            self.next_debug = now + Duration::from_secs(1);
            for s in self.sessions.values() {
                eprintln!("{:?} dtls {:?}", s.pc, s.pc.dtls_stats());
            }
        }
    }

    /// Closes and forgets sessions that failed, never connected, or went quiet; forgets
    /// closed ones; drops routes whose paths lost their validation.
    fn reclaim(&mut self, now: Instant) {
        let (connect, idle) = (self.options.connect_timeout, self.options.idle_timeout);
        let mut gone = Vec::new();
        for (&id, s) in &mut self.sessions {
            self.routes.refresh(id, &s.pc);
            if let Some((_, since)) = &s.closing {
                if s.pc.is_closed() || now >= *since + CLOSE_LIMIT {
                    gone.push(id);
                }
                continue;
            }
            let (reason, goodbye) = match s.pc.state() {
                ConnectionState::Failed => ("connection failed".to_string(), false),
                ConnectionState::Closed => ("closed by the peer".to_string(), false),
                _ if !s.connected && now >= s.created + connect => (
                    format!(
                        "not connected {} ms after its creation",
                        connect.as_millis()
                    ),
                    true,
                ),
                _ if s.connected && now >= s.last_heard + idle => {
                    (format!("no datagram for {} ms", idle.as_millis()), true)
                }
                _ => continue,
            };
            if goodbye {
                // close_notify, in case anyone is still there.
                s.pc.close(now);
                service(id, s, &mut self.routes, &mut self.sockets, now);
            }
            s.closing = Some((reason, now));
            self.counters.sessions_reclaimed += 1;
            gone.push(id);
        }
        for id in gone {
            self.forget(id);
        }
    }

    /// `GET /stats`.
    fn stats_json(&self) -> String {
        let mut live: Vec<(&SessionId, &Session)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.closing.is_none())
            .collect();
        live.sort_by_key(|(_, s)| s.seq);
        let join = |items: Vec<String>| items.join(",");
        let c = &self.counters;
        let h = &self.http;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let tcp = self.sockets.tcp.as_ref();
        format!(
            concat!(
                r#"{{"sessions":[{}],"ended":[{}],"closing":{},"routes":{},"#,
                r#""unrouted":{},"unrouted_stun":{},"unrouted_dtls":{},"unrouted_rtp":{},"#,
                r#""unrouted_unknown":{},"sessions_created":{},"sessions_refused":{},"#,
                r#""sessions_reclaimed":{},"sessions_deleted":{},"max_sessions":{},"#,
                r#""http_requests":{},"http_refused":{},"http_timeouts":{},"#,
                r#""http_too_large":{},"http_malformed":{},"#,
                r#""tcp_streams":{},"tcp_accepted":{},"tcp_dropped":{}}}"#
            ),
            join(
                live.iter()
                    .map(|(id, s)| stats::session_json(s, self.routes.paths(**id).len(), None))
                    .collect(),
            ),
            join(self.ended.iter().cloned().collect()),
            self.sessions.len() - live.len(),
            self.routes.path_count(),
            c.unrouted_stun + c.unrouted_dtls + c.unrouted_rtp + c.unrouted_unknown,
            c.unrouted_stun,
            c.unrouted_dtls,
            c.unrouted_rtp,
            c.unrouted_unknown,
            c.sessions_created,
            c.sessions_refused,
            c.sessions_reclaimed,
            c.sessions_deleted,
            self.options.max_sessions,
            load(&h.requests),
            load(&h.refused),
            load(&h.timeouts),
            load(&h.too_large),
            load(&h.malformed),
            tcp.map_or(0, |t| t.len()),
            tcp.map_or(0, |t| t.accepted),
            tcp.map_or(0, |t| t.dropped),
        )
    }
}

/// The HTTP side: turns a request into a [`Call`] for the WebRTC loop and its [`Answer`] into a
/// response.
fn respond(request: http::Request, calls: &mpsc::Sender<Ask>) -> http::Response {
    use http::Response;
    let ask = |call: Call| {
        let (tx, rx) = mpsc::channel();
        let _ = calls.send((call, tx));
        rx.recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| Err((503, "the server is busy\n".into())))
    };
    let failed = |(status, why): (u16, String)| Response::new(status, why);
    let created = |answer: Answer, prefix: &str| match answer {
        Ok(Reply::Created(id, sdp)) => Response::new(201, sdp)
            .header("Content-Type", "application/sdp")
            .header("Location", format!("{prefix}{id}")),
        Ok(_) => Response::new(500, "unexpected reply\n"),
        Err(e) => failed(e),
    };
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    let session = |prefix: &str| path.strip_prefix(prefix).and_then(SessionId::parse);
    let Ok(body) = String::from_utf8(request.body) else {
        return Response::new(400, "the body is not UTF-8\n");
    };
    match (request.method.as_str(), path) {
        ("GET", "/") => Response::new(200, PAGE).header("Content-Type", "text/html; charset=utf-8"),
        ("GET", "/stats") => match ask(Call::Stats) {
            Ok(Reply::Json(json)) => {
                Response::new(200, json).header("Content-Type", "application/json")
            }
            Ok(_) => Response::new(500, "unexpected reply\n"),
            Err(e) => failed(e),
        },
        ("POST", "/whip") => created(ask(Call::Whip(body)), "/whip/"),
        ("POST", "/offer") => created(ask(Call::MakeOffer(OfferOptions::parse(query))), "/answer/"),
        ("POST", p) if p.starts_with("/answer/") => match session("/answer/") {
            Some(id) => match ask(Call::Answer(id, body)) {
                Ok(_) => Response::new(204, ""),
                Err(e) => failed(e),
            },
            None => Response::new(404, "no such session\n"),
        },
        ("DELETE", _) => match session("/whip/").or_else(|| session("/answer/")) {
            Some(id) => match ask(Call::Delete(id)) {
                Ok(_) => Response::new(200, ""),
                Err(e) => failed(e),
            },
            None => Response::new(404, "no such session\n"),
        },
        _ => Response::new(404, "not found\n"),
    }
}

fn main() {
    let options = Options {
        passive: std::env::args().any(|a| a == "--passive"),
        dtls12: std::env::args().any(|a| a == "--dtls12") || !arg("--cipher-suite", "").is_empty(),
        key_update_every: number("--key-update-every", "0"),
        key_update_after_records: match number("--key-update-after-records", "0") {
            0 => None,
            n => Some(n),
        },
        srtp_profiles: srtp_profiles(&arg("--srtp-profile", "")),
        cipher_suites: cipher_suites(&arg("--cipher-suite", "")),
        drop_every: number("--drop-video-every", "0"),
        drop_incoming_every: number("--drop-incoming-video-every", "0"),
        repacketize: std::env::args().any(|a| a == "--repacketize"),
        max_sessions: number("--max-sessions", "100"),
        connect_timeout: Duration::from_millis(number("--connect-timeout-ms", "30000")),
        idle_timeout: Duration::from_millis(number("--idle-timeout-ms", "60000")),
    };
    let limits = http::Limits {
        max_connections: number("--max-http-connections", "64"),
        max_head: 16 * 1024,
        max_body: number("--max-body-bytes", "131072"),
        timeout: Duration::from_millis(number("--http-timeout-ms", "5000")),
    };
    let socket = UdpSocket::bind(arg("--udp", "127.0.0.1:0")).expect("bind UDP");
    // Bursts (20 channels opening at once, media, a fast data channel) overflow the default
    // receive buffer and the kernel drops what does not fit. Linux caps what we ask for at
    // net.core.rmem_max (often 208 KiB by default): whoever deploys raises it, e.g.
    // `sysctl -w net.core.rmem_max=16777216`. The size printed is the kernel's (Linux doubles
    // the value asked for, for its bookkeeping).
    let asked: usize = number("--recv-buffer-bytes", "16777216");
    let sock = socket2::SockRef::from(&socket);
    let _ = sock.set_recv_buffer_size(asked);
    let got = sock.recv_buffer_size().unwrap_or(0);
    let local = socket.local_addr().expect("local addr");
    let listener = TcpListener::bind(arg("--http", "127.0.0.1:8080")).expect("bind HTTP");
    let http_addr = listener.local_addr().expect("HTTP address");
    // The first line is read by the tests: keep its form.
    println!("echo server: http://{http_addr}/ (WHIP: POST /whip), UDP {local}");
    println!(
        "UDP receive buffer {got} bytes (asked {asked}; raise net.core.rmem_max for more); at most {} sessions, {} HTTP connections, {} bytes per body",
        options.max_sessions, limits.max_connections, limits.max_body
    );

    let counters = Arc::new(http::Counters::default());
    let (calls_tx, calls) = mpsc::channel::<Ask>();
    {
        let counters = counters.clone();
        std::thread::spawn(move || {
            http::serve(listener, limits, counters, move |request| {
                respond(request, &calls_tx)
            })
        });
    }

    // ICE-TCP: the same port number over TCP, for browsers whose network blocks UDP.
    let tcp = match tcp::TcpStreams::bind(local) {
        Ok(t) => {
            println!("ICE-TCP: listening on TCP {local} (passive candidates)");
            Some(t)
        }
        Err(e) => {
            eprintln!("no ICE-TCP candidate: cannot listen on TCP {local}: {e}");
            None
        }
    };
    let now = Instant::now();
    let mut server = Server {
        sockets: Sockets { udp: socket, tcp },
        local,
        options,
        certificate: Arc::new(Certificate::generate().expect("a DTLS certificate")),
        sessions: HashMap::new(),
        routes: Router::new(),
        next_seq: 0,
        next_ssrc: 0x5EC0_0001,
        counters: Counters::default(),
        http: counters,
        ended: VecDeque::new(),
        next_timer: now,
        last_timers: now,
        next_reclaim: now,
        debug: std::env::var_os("SANSRTC_ECHO_DEBUG").is_some(),
        next_debug: now,
    };
    let mut buf = vec![0u8; 2048];
    loop {
        while let Ok((call, reply)) = calls.try_recv() {
            let answer = server.call(call);
            if let Err((status, why)) = &answer {
                eprintln!("refused with {status}: {}", why.trim_end());
            }
            let _ = reply.send(answer);
        }
        let wait = server
            .wake()
            .saturating_duration_since(Instant::now())
            .min(MAX_WAIT);
        // ICE-TCP streams are read between UDP waits: keep those short while any is open.
        let wait = match &server.sockets.tcp {
            Some(t) if t.len() > 0 => wait.min(TCP_WAIT),
            _ => wait,
        };
        server.receive_all(wait, &mut buf);
        server.receive_tcp(&mut buf);
        let now = Instant::now();
        server.timers(now);
        if now >= server.next_reclaim {
            server.next_reclaim = now + RECLAIM_PERIOD;
            server.reclaim(now);
        }
    }
}
