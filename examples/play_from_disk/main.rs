//! Plays video and audio files to browsers over WebRTC, with WHEP signalling (RFC 9725's
//! egress twin): `POST /whep` with the browser's SDP offer (`application/sdp`, non-trickle,
//! receive-only audio and video) answers `201 Created` with the SDP answer and
//! `Location: /whep/<session>`; `DELETE` of that location ends the session. `GET /` serves a
//! page that plays the stream, `GET /stats` every session's counters as JSON (the video file in
//! use as `layer`, the bandwidth estimate, frames and packets sent).
//!
//! `cargo run --release --example play_from_disk -- --http 127.0.0.1:8080 --udp 127.0.0.1:0
//! --video clip.ivf --audio sound.ogg`, then open `http://127.0.0.1:8080/`.
//!
//! Files, read whole at start and played in real time, looping:
//! - `--video FILE`: IVF with VP8, VP9 or AV1 (the header's fourcc says which; its time base
//!   gives the frame rate), or an Annex B H.264 (`.h264`, `.264`) or H.265 (`.h265`, `.265`,
//!   `.hevc`) stream split into access units, at `--fps` frames per second (default 30).
//!   Repeatable: several files of one codec are layers of one picture, highest bitrate first;
//!   each session sends one of them at a time, the first whose average bitrate (plus the
//!   audio's) fits the connection's bandwidth estimate (`PeerConnection::bandwidth_estimate`),
//!   switching only at a key frame of the new file. `--start-bitrate` and `--max-bitrate` (bits
//!   per second) set the estimator's start and ceiling.
//! - `--audio FILE`: Ogg Opus, packet by packet (each one's duration from its TOC byte).
//!
//! A keyframe request from the browser (PLI, FIR: it lost a frame, or a decoder restarted)
//! makes the video jump ahead to its file's next key frame instead of waiting for it.
//!
//! RTP timestamps: video at 90 kHz by frame index, audio at 48 kHz by samples sent. Frames are
//! cut by the payload format's packetizer of `sansrtc::rtp::packetize` and written with
//! `PeerConnection::write_rtp` on the payload type the browser negotiated for the codec.
//!
//! Limits: `--max-sessions 100`; a session not connected 30 s after its offer, or silent for
//! 60 s, is closed; the HTTP side is the echo server's (`../echo_server/http.rs`: bounded
//! requests, one thread per connection, at most 64). The structure is the echo server's: HTTP
//! threads ask the main thread, which owns one UDP socket shared by every session (routed with
//! `sansrtc::Router`) and runs the peer connections' timers and the players' frame clocks.

#[path = "../echo_server/common.rs"]
mod common;
#[path = "../echo_server/http.rs"]
mod http;

mod annexb;
mod ivf;
mod media;
mod ogg;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use sansrtc::dtls::Certificate;
use sansrtc::sdp::Setup;
use sansrtc::sdp::jsep::{CodecName, MediaKind};
use sansrtc::{Config, ConnectionState, Event, PeerConnection, Router, SdpType};

use common::{SessionId, loopback_only};
use media::{AudioFile, Library, Player, VideoFile};

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>sansrtc play from disk</title>
<h1>sansrtc: play from disk</h1><video id="v" autoplay playsinline muted controls width="640"></video>
<pre id="log"></pre>
<script>
const log = (t) => document.getElementById('log').textContent += t + '\n';
(async () => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const stream = new MediaStream();
  pc.ontrack = (e) => { stream.addTrack(e.track); document.getElementById('v').srcObject = stream; };
  pc.onconnectionstatechange = () => log('connection ' + pc.connectionState);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); setTimeout(r, 2000); });
  const res = await fetch('/whep', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  if (res.status !== 201) { log('WHEP: ' + res.status + ' ' + await res.text()); return; }
  const session = res.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  window.addEventListener('pagehide', () => fetch(session, { method: 'DELETE', keepalive: true }));
  setInterval(async () => {
    const s = await (await fetch('/stats')).json();
    const me = s.sessions[s.sessions.length - 1] || {};
    document.getElementById('log').textContent = 'connection ' + pc.connectionState + ', layer ' + me.layer + ' (' + me.layer_file + '), estimate ' + me.bandwidth_estimate + ' bit/s\n';
  }, 1000);
})();
</script>"#;

/// What an HTTP thread asks of the WebRTC loop.
enum Call {
    /// WHEP: answer this offer.
    Whep(String),
    /// End a session (`DELETE` of its location).
    Delete(SessionId),
    /// Every session's counters as JSON.
    Stats,
}

/// What the loop answers: a new session and its answer, JSON, or nothing; or an HTTP status
/// and why.
enum Reply {
    Created(SessionId, String),
    Json(String),
    Done,
}
type Answer = Result<Reply, (u16, String)>;
type Ask = (Call, mpsc::Sender<Answer>);

/// Every value of flag `name`.
fn args(name: &str) -> Vec<String> {
    let all: Vec<String> = std::env::args().collect();
    all.windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].clone())
        .collect()
}

/// The value of flag `name`, or `default`.
fn arg(name: &str, default: &str) -> String {
    args(name).pop().unwrap_or_else(|| default.to_string())
}

/// A numeric flag.
fn number<T: std::str::FromStr>(name: &str, default: &str) -> T {
    arg(name, default)
        .parse()
        .unwrap_or_else(|_| panic!("{name} takes a number"))
}

/// How long the loop waits for a datagram at most before it looks at the HTTP calls again.
const MAX_WAIT: Duration = Duration::from_millis(5);
/// Datagrams read in one go before timers get a turn.
const MAX_BATCH: usize = 256;
/// How often failed, idle and unanswered sessions are looked for.
const RECLAIM_PERIOD: Duration = Duration::from_millis(100);
/// A session closed by us is forgotten after this even if its goodbyes are not all out.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One browser's session.
struct Session {
    seq: u64,
    pc: PeerConnection,
    /// Once connected.
    player: Option<Player>,
    created: Instant,
    connected: bool,
    last_heard: Instant,
    /// Closed by us: since when.
    closing: Option<Instant>,
    /// The earlier of the peer connection's timeout and the player's next frame.
    deadline: Option<Instant>,
    /// Keyframe requests from the browser (each makes the video jump to its file's next key
    /// frame).
    keyframe_requests: u64,
}

/// The WebRTC side.
struct Server {
    socket: UdpSocket,
    local: SocketAddr,
    lib: Arc<Library>,
    certificate: Arc<Certificate>,
    start_bitrate: u64,
    max_bitrate: u64,
    max_sessions: usize,
    sessions: HashMap<SessionId, Session>,
    routes: Router<SessionId>,
    next_seq: u64,
    next_ssrc: u32,
    unrouted: u64,
}

impl Server {
    fn config(&self) -> Config {
        let mut c = Config::default();
        c.answer_setup = Setup::Active;
        c.certificate = Some(self.certificate.clone());
        c.answer_unauthenticated_stun = false;
        c.start_bitrate = self.start_bitrate.min(self.max_bitrate);
        c.max_bitrate = self.max_bitrate;
        c.min_bitrate = c.min_bitrate.min(c.max_bitrate);
        c
    }

    fn call(&mut self, call: Call) -> Answer {
        let now = Instant::now();
        match call {
            Call::Stats => Ok(Reply::Json(self.stats_json())),
            Call::Whep(offer) => {
                if self.sessions.len() >= self.max_sessions {
                    return Err((503, "too many sessions\n".into()));
                }
                let offer = if self.local.ip().is_loopback() {
                    loopback_only(&offer)
                } else {
                    offer
                };
                let mut pc = None;
                for _ in 0..4 {
                    let p = PeerConnection::new(self.config()).map_err(|e| (500, e.to_string()))?;
                    if !self.routes.ufrag_taken(p.local_ufrag()) {
                        pc = Some(p);
                        break;
                    }
                }
                let mut pc = pc.ok_or((500, "no fresh ICE ufrag".to_string()))?;
                pc.add_local_address(self.local)
                    .map_err(|e| (500, e.to_string()))?;
                for t in self
                    .lib
                    .transceivers([self.next_ssrc, self.next_ssrc.wrapping_add(1)])
                {
                    pc.add_transceiver(t);
                }
                self.next_ssrc = self.next_ssrc.wrapping_add(2);
                pc.set_remote_description(now, SdpType::Offer, &offer)
                    .map_err(|e| (400, e.to_string()))?;
                let answer = pc.create_answer(now).map_err(|e| (400, e.to_string()))?;
                self.check_codecs(&mut pc)?;
                let id = loop {
                    let id = SessionId::random();
                    if !self.sessions.contains_key(&id) {
                        break id;
                    }
                };
                self.next_seq += 1;
                if let Err(e) = self.routes.insert(id, &pc) {
                    eprintln!("session {} not routed: {e}", self.next_seq);
                }
                println!("session {} created", self.next_seq);
                self.sessions.insert(
                    id,
                    Session {
                        seq: self.next_seq,
                        pc,
                        player: None,
                        created: now,
                        connected: false,
                        last_heard: now,
                        closing: None,
                        deadline: None,
                        keyframe_requests: 0,
                    },
                );
                self.service(id, now);
                Ok(Reply::Created(id, answer))
            }
            Call::Delete(id) => {
                let s = self
                    .sessions
                    .get_mut(&id)
                    .filter(|s| s.closing.is_none())
                    .ok_or((404, "no such session\n".to_string()))?;
                s.pc.close(now);
                s.closing = Some(now);
                println!("session {} deleted", s.seq);
                self.service(id, now);
                Ok(Reply::Done)
            }
        }
    }

    /// Refuses an offer that cannot carry the files: no section for them, or the video codec
    /// (or Opus) not among the browser's.
    fn check_codecs(&self, pc: &mut PeerConnection) -> Result<(), (u16, String)> {
        let mids: Vec<_> = pc.media_mids().collect();
        let mut wanted = Vec::new();
        if let Some(v) = self.lib.video.first() {
            wanted.push((MediaKind::Video, v.codec.name()));
        }
        if self.lib.audio.is_some() {
            wanted.push((MediaKind::Audio, CodecName::Opus));
        }
        for (kind, codec) in wanted {
            let found = mids.iter().any(|&mid| {
                pc.track(mid)
                    .is_ok_and(|t| t.kind() == kind && t.payload_type(&codec).is_some())
            });
            if !found {
                return Err((
                    400,
                    format!("the offer has no {kind:?} section receiving {codec}\n"),
                ));
            }
        }
        Ok(())
    }

    /// Drains a session's events and datagrams; sets its deadline.
    fn service(&mut self, id: SessionId, now: Instant) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        while let Some(e) = s.pc.poll_event() {
            match e {
                Event::ConnectionStateChange(state) => {
                    println!("session {}: connection {state:?}", s.seq);
                    if state == ConnectionState::Connected && !s.connected {
                        s.connected = true;
                        s.last_heard = now;
                        match Player::new(&self.lib, &mut s.pc, now) {
                            Ok(p) => {
                                println!("session {}: playing, layer {:?}", s.seq, p.layer());
                                s.player = Some(p);
                            }
                            Err(e) => eprintln!("session {}: nothing to play: {e}", s.seq),
                        }
                    }
                }
                Event::KeyframeRequest { mid, .. } => {
                    s.keyframe_requests += 1;
                    if let Some(p) = &mut s.player {
                        p.keyframe_request(mid);
                    }
                }
                _ => {}
            }
        }
        if s.closing.is_none()
            && let Some(p) = &mut s.player
        {
            p.send_due(&self.lib, &mut s.pc, now);
        }
        while let Some(t) = s.pc.poll_transmit() {
            self.routes.sent(id, &t);
            let _ = self.socket.send_to(&t.contents, t.destination);
        }
        let due = s
            .player
            .as_ref()
            .filter(|_| s.closing.is_none())
            .and_then(|p| p.next_due(&self.lib));
        s.deadline = match (s.pc.poll_timeout(), due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if s.closing.is_some() && s.pc.is_closed() {
            self.forget(id);
        }
    }

    fn forget(&mut self, id: SessionId) {
        if let Some(s) = self.sessions.remove(&id) {
            self.routes.remove(id);
            println!("session {} forgotten", s.seq);
        }
    }

    fn receive(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) {
        let local = self.local;
        let Some(id) = self
            .routes
            .route(local, source, datagram)
            .filter(|id| self.sessions.contains_key(id))
        else {
            self.unrouted += 1;
            return;
        };
        let s = self.sessions.get_mut(&id).expect("routed to a session");
        s.pc.handle_receive(now, source, local, datagram);
        if s.pc.is_validated_path(local, source) {
            s.last_heard = now;
            self.routes.learn(id, &s.pc, local, source, datagram);
        }
        self.service(id, now);
    }

    /// Reads every datagram ready, waiting up to `wait` for the first.
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
            let _ = self.socket.set_read_timeout(Some(wait));
            let Some((n, from)) = ready(self.socket.recv_from(buf)) else {
                return;
            };
            self.receive(Instant::now(), from, &buf[..n]);
        }
        let _ = self.socket.set_nonblocking(true);
        for _ in 0..MAX_BATCH {
            let Some((n, from)) = ready(self.socket.recv_from(buf)) else {
                break;
            };
            self.receive(Instant::now(), from, &buf[..n]);
        }
        let _ = self.socket.set_nonblocking(false);
    }

    /// The earliest session deadline.
    fn next_deadline(&self) -> Option<Instant> {
        self.sessions.values().filter_map(|s| s.deadline).min()
    }

    /// Runs the timers and frame clocks that are due.
    fn timers(&mut self, now: Instant) {
        let due: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.deadline.is_some_and(|d| d <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            if let Some(s) = self.sessions.get_mut(&id)
                && s.pc.poll_timeout().is_some_and(|t| t <= now)
            {
                s.pc.handle_timeout(now);
            }
            self.service(id, now);
        }
    }

    /// Closes sessions that failed, idled or never connected; forgets closed ones.
    fn reclaim(&mut self, now: Instant) {
        let mut gone = Vec::new();
        for (&id, s) in &mut self.sessions {
            self.routes.refresh(id, &s.pc);
            if let Some(since) = s.closing {
                if s.pc.is_closed() || now >= since + CLOSE_LIMIT {
                    gone.push(id);
                }
                continue;
            }
            let over = match s.pc.state() {
                ConnectionState::Failed | ConnectionState::Closed => true,
                _ if !s.connected => now >= s.created + CONNECT_TIMEOUT,
                _ => now >= s.last_heard + IDLE_TIMEOUT,
            };
            if over {
                s.pc.close(now);
                gone.push(id);
            }
        }
        for id in gone {
            self.service(id, now);
            self.forget(id);
        }
    }

    /// `GET /stats`.
    fn stats_json(&self) -> String {
        let lib = &self.lib;
        let mut live: Vec<&Session> = self.sessions.values().collect();
        live.sort_by_key(|s| s.seq);
        let sessions: Vec<String> = live.iter().map(|s| session_json(lib, s)).collect();
        let files: Vec<String> = lib
            .video
            .iter()
            .map(|v| {
                format!(
                    r#"{{"path":"{}","codec":"{:?}","bitrate":{},"frames":{},"fps":{}}}"#,
                    v.path.escape_default(),
                    v.codec,
                    v.bitrate,
                    v.frames.len(),
                    v.fps
                )
            })
            .collect();
        let audio = lib.audio.as_ref().map_or("null".into(), |a| {
            format!(
                r#"{{"path":"{}","bitrate":{},"packets":{}}}"#,
                a.path.escape_default(),
                a.bitrate,
                a.packets.len()
            )
        });
        format!(
            r#"{{"sessions":[{}],"video":[{}],"audio":{},"unrouted":{}}}"#,
            sessions.join(","),
            files.join(","),
            audio,
            self.unrouted
        )
    }
}

/// One session's counters as JSON. No session id (the capability to delete it).
fn session_json(lib: &Library, s: &Session) -> String {
    let st = s.pc.stats();
    let bw = s.pc.bandwidth_estimate();
    let p = s.player.as_ref();
    let layer = p.and_then(Player::layer);
    let opt = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
    format!(
        concat!(
            r#"{{"session":{},"state":"{:?}","playing":{},"layer":{},"layer_file":"{}","#,
            r#""layer_bitrate":{},"wanted_layer":{},"switches":{},"loops":{},"#,
            r#""frames_sent":{},"audio_packets_sent":{},"rtp_written":{},"write_errors":{},"#,
            r#""keyframe_requests":{},"keyframe_jumps":{},"rtp_sent":{},"bytes_sent":{},"retransmissions_sent":{},"#,
            r#""bandwidth_estimate":{},"bandwidth_acknowledged":{},"bandwidth_reason":"{}"}}"#
        ),
        s.seq,
        s.pc.state(),
        p.is_some(),
        opt(layer.map(|l| l as u64)),
        layer
            .map(|l| lib.video[l].path.escape_default().to_string())
            .unwrap_or_default(),
        opt(layer.map(|l| lib.video[l].bitrate)),
        opt(p.and_then(|p| p.wanted_layer).map(|l| l as u64)),
        p.map_or(0, |p| p.switches),
        p.map_or(0, |p| p.loops),
        p.map_or(0, |p| p.frames_sent),
        p.map_or(0, |p| p.audio_packets_sent),
        p.map_or(0, |p| p.rtp_written),
        p.map_or(0, |p| p.write_errors),
        s.keyframe_requests,
        p.map_or(0, |p| p.keyframe_jumps),
        st.rtp_sent,
        st.bytes_sent,
        st.retransmissions_sent,
        opt(bw.map(|b| b.target_bitrate)),
        opt(bw.and_then(|b| b.acknowledged_bitrate)),
        bw.map(|b| format!("{:?}", b.reason)).unwrap_or_default(),
    )
}

/// The HTTP side: a request becomes a [`Call`], its [`Answer`] a response.
fn respond(request: http::Request, calls: &mpsc::Sender<Ask>) -> http::Response {
    use http::Response;
    let ask = |call: Call| {
        let (tx, rx) = mpsc::channel();
        let _ = calls.send((call, tx));
        rx.recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| Err((503, "the server is busy\n".into())))
    };
    let path = request
        .target
        .split_once('?')
        .map_or(request.target.as_str(), |(p, _)| p);
    let reply = match (request.method.as_str(), path) {
        ("GET", "/") => {
            return Response::new(200, PAGE).header("Content-Type", "text/html; charset=utf-8");
        }
        ("GET", "/stats") => ask(Call::Stats),
        ("POST", "/whep") => match String::from_utf8(request.body) {
            Ok(offer) => ask(Call::Whep(offer)),
            Err(_) => Err((400, "the body is not UTF-8\n".into())),
        },
        ("DELETE", p) => match p.strip_prefix("/whep/").and_then(SessionId::parse) {
            Some(id) => ask(Call::Delete(id)),
            None => Err((404, "no such session\n".into())),
        },
        _ => Err((404, "not found\n".into())),
    };
    match reply {
        Ok(Reply::Created(id, sdp)) => Response::new(201, sdp)
            .header("Content-Type", "application/sdp")
            .header("Location", format!("/whep/{id}")),
        Ok(Reply::Json(json)) => {
            Response::new(200, json).header("Content-Type", "application/json")
        }
        Ok(Reply::Done) => Response::new(200, ""),
        Err((status, why)) => Response::new(status, why),
    }
}

fn main() {
    let fps: f64 = number("--fps", "30");
    assert!((1.0..=240.0).contains(&fps), "--fps takes 1 to 240");
    let open = || -> Result<Library, String> {
        let video = args("--video")
            .iter()
            .map(|p| VideoFile::open(p, fps))
            .collect::<Result<Vec<_>, _>>()?;
        let audio = args("--audio")
            .pop()
            .map(|p| AudioFile::open(&p))
            .transpose()?;
        Library::new(video, audio)
    };
    let lib = match open() {
        Ok(lib) => Arc::new(lib),
        Err(e) => {
            eprintln!("play_from_disk: {e}");
            std::process::exit(2);
        }
    };
    let socket = UdpSocket::bind(arg("--udp", "127.0.0.1:0")).expect("bind UDP");
    let local = socket.local_addr().expect("local addr");
    let listener = TcpListener::bind(arg("--http", "127.0.0.1:8080")).expect("bind HTTP");
    let http_addr = listener.local_addr().expect("HTTP address");
    // The first line is read by the tests: keep its form.
    println!("play from disk: http://{http_addr}/ (WHEP: POST /whep), UDP {local}");
    for (i, v) in lib.video.iter().enumerate() {
        let keys = v.frames.iter().filter(|f| f.keyframe).count();
        println!(
            "layer {i}: {} ({:?}, {} frames, {} key frames, {} fps, {} bit/s)",
            v.path,
            v.codec,
            v.frames.len(),
            keys,
            v.fps,
            v.bitrate
        );
    }
    if let Some(a) = &lib.audio {
        println!(
            "audio: {} (Opus, {} channels, {} packets, {:.1} s, {} bit/s)",
            a.path,
            a.channels,
            a.packets.len(),
            a.granule_samples as f64 / 48_000.0,
            a.bitrate
        );
    }

    let (calls_tx, calls) = mpsc::channel::<Ask>();
    let limits = http::Limits {
        max_connections: 64,
        max_head: 16 * 1024,
        max_body: 128 * 1024,
        timeout: Duration::from_secs(5),
    };
    let counters = Arc::new(http::Counters::default());
    std::thread::spawn(move || {
        http::serve(listener, limits, counters, move |request| {
            respond(request, &calls_tx)
        })
    });

    let mut server = Server {
        socket,
        local,
        lib,
        certificate: Arc::new(Certificate::generate().expect("a DTLS certificate")),
        start_bitrate: number("--start-bitrate", "300000"),
        max_bitrate: number("--max-bitrate", "10000000"),
        max_sessions: number("--max-sessions", "100"),
        sessions: HashMap::new(),
        routes: Router::new(),
        next_seq: 0,
        next_ssrc: 0x91A7_0001,
        unrouted: 0,
    };
    let mut buf = vec![0u8; 2048];
    let mut next_reclaim = Instant::now();
    loop {
        while let Ok((call, reply)) = calls.try_recv() {
            let answer = server.call(call);
            if let Err((status, why)) = &answer {
                eprintln!("refused with {status}: {}", why.trim_end());
            }
            let _ = reply.send(answer);
        }
        let now = Instant::now();
        let wait = server
            .next_deadline()
            .map_or(MAX_WAIT, |d| d.saturating_duration_since(now).min(MAX_WAIT));
        server.receive_all(wait, &mut buf);
        let now = Instant::now();
        server.timers(now);
        if now >= next_reclaim {
            next_reclaim = now + RECLAIM_PERIOD;
            server.reclaim(now);
        }
    }
}
