//! A selective forwarding unit (SFU) for browsers on one UDP port.
//!
//! Browsers publish with WHIP (`POST /whip` with an SDP offer: `201 Created`, the answer, and
//! `Location: /whip/<session>`; `DELETE` of it ends the session) and subscribe with WHEP
//! (`POST /whep/<publisher>` for one publisher, `POST /whep` for the most recent one, with a
//! recvonly offer: the answer sends the publisher's audio and video; `Location:
//! /whep/session/<session>`). A publisher's number is in the `X-Publisher` header of its WHIP
//! answer and in `GET /participants`.
//!
//! `GET /` is a room page (`examples/sfu_room.html`): it publishes camera and microphone with
//! WHIP, opens a `chat` data channel on that connection, and subscribes with WHEP to every other
//! publisher it finds in `GET /participants` (asked once a second): one subscriber connection
//! per other participant. That is simpler than renegotiating one connection as people come and
//! go (each connection is a plain WHIP or WHEP exchange, no glare, no m-section reuse), at the
//! cost of one ICE/DTLS handshake per pair; every connection shares the server's one UDP port.
//! Chat messages on any session's `chat` channel go to every other session's `chat` channel.
//!
//! Forwarding (`forward.rs`): each RTP packet a publisher sends is rewritten for each of its
//! subscribers (our SSRC, their payload type, mid and extension ids, sequence numbers and
//! timestamps continuous across layer switches) and sent whole with `send_rtp`. A simulcast
//! publisher's layers are measured every second; each subscriber gets the best layer its
//! bandwidth estimate (`PeerConnection::bandwidth_estimate`, from its transport-wide feedback)
//! allows, switched to only at a key frame of the new layer, which is asked of the publisher
//! with a PLI. Subscribers' PLIs and FIRs go to the publisher as keyframe requests for the
//! layer they get. Video is VP8 (simulcast layers need a codec whose key frames we can spot).
//!
//! `cargo run --release --example sfu -- --http 127.0.0.1:8080 --udp 127.0.0.1:0`; `GET
//! /stats` gives every session's counters as JSON, and the server's refusals.
//!
//! Limits (flags, defaults in brackets), checked by `tests/sfu_limits.rs`:
//! `--max-sessions` [200] sessions at once; `--max-pending` [32] of them not connected yet
//! (a new session beyond either evicts the oldest never-connected one, so a flood of offers
//! never followed by ICE cannot lock others out; when every session is connected it is refused
//! with `503`); `--connect-timeout-ms` [30000] for a session to connect and
//! `--idle-timeout-ms` [30000] of silence before it is forgotten; `--max-body-bytes`
//! [131072] per request (`413` beyond) and `--http-timeout-ms` [5000] per request (`408`); a
//! request head of 16 KiB (`431`) and 64 HTTP connections at once. A publisher's simulcast
//! layers: at most [`MAX_LAYERS`], with RIDs of RFC 8851 syntax of at most [`MAX_RID_LEN`]
//! bytes (packets of other layers are dropped and counted in `layers_refused`).

mod forward;
#[allow(dead_code)]
#[path = "../echo_server/http.rs"]
mod http;

use std::collections::HashMap;
use std::fmt;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use sansrtc::dtls::Certificate;
use sansrtc::sdp::Direction;
use sansrtc::sdp::jsep::{Codec, CodecName, Feedback, MediaKind, Transceiver};
use sansrtc::{
    ChannelId, Config, ConnectionState, Event, KeyframeKind, MessageKind, Mid, PcRng,
    PeerConnection, Router, RtpReceived, SdpType, codecs,
};

use forward::{Layer, Outbound};

/// The room page.
const PAGE: &str = include_str!("../sfu_room.html");

/// How long the loop waits for a datagram at most before it looks at the HTTP calls again.
const MAX_WAIT: Duration = Duration::from_millis(5);
/// How often layers are measured, layers chosen, and dead sessions forgotten.
const PERIOD: Duration = Duration::from_secs(1);
/// Keyframe requests for a layer switch are repeated at most this often while it waits.
const PLI_INTERVAL: Duration = Duration::from_millis(500);
/// Simulcast layers one publisher may have (browsers send at most 3).
const MAX_LAYERS: usize = 4;
/// Longest RID accepted for a layer (RFC 8852 RIDs fit a one-byte header extension: 16).
const MAX_RID_LEN: usize = 16;

/// The server's limits (see the module documentation for the flags and defaults).
struct Limits {
    /// Sessions at once.
    max_sessions: usize,
    /// Sessions at once that have not connected yet.
    max_pending: usize,
    /// A session that has not connected after this is forgotten.
    connect_timeout: Duration,
    /// A connected session that has been silent this long is forgotten.
    idle_timeout: Duration,
}

/// What the server refused or reclaimed, for `GET /stats`.
#[derive(Default)]
struct Refusals {
    /// New sessions refused with `503` (every session connected, at `max_sessions`).
    sessions_refused: u64,
    /// Never-connected sessions evicted to make room for a new one.
    pending_evicted: u64,
    /// Sessions forgotten because they did not connect within the connect timeout.
    connect_expired: u64,
}

/// A session's id: 128 random bits, the capability to delete it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct SessionId([u8; 16]);

impl SessionId {
    fn random() -> Self {
        let mut id = [0u8; 16];
        PcRng::System.fill(&mut id);
        SessionId(id)
    }

    fn parse(hex: &str) -> Option<Self> {
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(SessionId(id))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A publisher: its streams and who subscribes to them.
#[derive(Default)]
struct Publisher {
    /// Its offer (the extension ids its packets carry).
    offer: String,
    /// Its video streams: one per simulcast layer (keyed by RID), or one keyed `None`.
    layers: HashMap<Option<Arc<str>>, Layer>,
    /// The subscribers' sessions.
    subscribers: Vec<SessionId>,
    /// Packets dropped for a layer beyond [`MAX_LAYERS`] or with a RID not of RFC 8851 syntax.
    layers_refused: u64,
}

/// A subscriber of one publisher.
struct Subscriber {
    publisher: SessionId,
    /// Its offer (extension ids).
    offer: String,
    audio: Option<Outbound>,
    video: Option<Outbound>,
    /// The video layer to forward (`None`: not chosen yet).
    target: Option<Option<Arc<str>>>,
    /// When a key frame of the target was last asked for.
    last_pli: Option<Instant>,
    /// A layer asked for with `POST /whep/session/<session>/layer?rid=R`, which the estimate
    /// no longer chooses (a viewer's preference, and what the tests switch with).
    pinned: Option<Option<Arc<str>>>,
    /// Layer switches made.
    switches: u64,
    /// The highest bandwidth estimate its connection reported (`Event::BandwidthEstimate`).
    peak_estimate: u64,
}

/// What a session does.
enum Role {
    Publisher(Publisher),
    Subscriber(Box<Subscriber>),
}

/// One browser connection.
struct Session {
    /// A plain number: a publisher's public name (`/whep/<n>`), and for the log.
    seq: u64,
    pc: PeerConnection,
    role: Role,
    created: Instant,
    connected: bool,
    last_heard: Instant,
    closing: bool,
    /// Its `chat` channel, once open.
    chat: Option<ChannelId>,
    deadline: Option<Instant>,
}

/// What an HTTP thread asks of the WebRTC loop.
enum Call {
    Whip(String),
    /// WHEP: the publisher's number, or the latest.
    Whep(Option<u64>, String),
    /// Delete a session: its id, and whether its location was a publisher's (`/whip/<id>`).
    Delete(SessionId, bool),
    Participants,
    Stats,
    /// Pin a subscriber's simulcast layer.
    Pin(SessionId, String),
}

/// A reply: the new session's id, public number and SDP answer; or JSON; or an HTTP error.
enum Reply {
    Created(SessionId, u64, String),
    Json(String),
    Done,
}
type Answer = Result<Reply, (u16, String)>;
/// A call and where its answer goes.
type Ask = (Call, mpsc::Sender<Answer>);

/// The WebRTC side: every session, the routes to them, one UDP socket.
struct Server {
    socket: UdpSocket,
    local: SocketAddr,
    certificate: Arc<Certificate>,
    sessions: HashMap<SessionId, Session>,
    routes: Router<SessionId>,
    next_seq: u64,
    next_ssrc: u32,
    next_timer: Instant,
    events: Vec<Event>,
    limits: Limits,
    refusals: Refusals,
    /// The HTTP server's counters.
    http: Arc<http::Counters>,
}

/// The flag `name`'s value, or `default`.
fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// Whether `rid` has the RFC 8851 syntax (letters, digits, `-`, `_`) and at most
/// [`MAX_RID_LEN`] bytes.
fn valid_rid(rid: &str) -> bool {
    !rid.is_empty()
        && rid.len() <= MAX_RID_LEN
        && rid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Keeps only loopback candidates when we listen on loopback.
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

/// Our audio (Opus) and video (VP8 and its RTX) transceivers in `direction`.
fn transceivers(direction: Direction) -> [Transceiver; 2] {
    let mut audio = Transceiver::new(
        MediaKind::Audio,
        direction,
        vec![
            Codec::new(111, "opus", 48000, Some(2))
                .fmtp("minptime=10;useinbandfec=1")
                .feedback(Feedback::new("transport-cc")),
        ],
    );
    audio.header_extensions = codecs::audio_extensions();
    let mut video = Transceiver::new(
        MediaKind::Video,
        direction,
        vec![
            Codec::new(96, "VP8", 90000, None)
                .feedback(Feedback::new("transport-cc"))
                .feedback(Feedback::new("nack"))
                .feedback(Feedback::with("nack", "pli"))
                .feedback(Feedback::with("ccm", "fir")),
            Codec::new(97, "rtx", 90000, None).fmtp("apt=96"),
        ],
    );
    // sdes:mid, abs-send-time, transport-cc and the RID extensions (simulcast layers).
    video.header_extensions = codecs::video_extensions();
    [audio, video]
}

/// The mid of the first negotiated section of `kind`.
fn mid_of(pc: &PeerConnection, kind: MediaKind) -> Option<Mid> {
    pc.media_mids().find(|&m| pc.media_kind(m) == Some(kind))
}

impl Server {
    fn config(&self) -> Config {
        let mut c = Config::default();
        c.certificate = Some(self.certificate.clone());
        c.answer_unauthenticated_stun = false;
        // A subscriber gets what the publisher sends, not what its estimate asks: padding
        // probes find the room for a higher layer.
        c.probing = true;
        c
    }

    fn new_pc(&self) -> Result<PeerConnection, (u16, String)> {
        for _ in 0..4 {
            let mut pc = PeerConnection::new(self.config()).map_err(|e| (500, e.to_string()))?;
            if !self.routes.ufrag_taken(pc.local_ufrag()) {
                pc.add_local_address(self.local)
                    .map_err(|e| (500, e.to_string()))?;
                return Ok(pc);
            }
        }
        Err((500, "no fresh ICE ufrag".into()))
    }

    /// Makes room for one more session once its offer was answered: past `max_sessions` or
    /// `max_pending`, the oldest session that never connected (not `keep`) is evicted; when
    /// there is none, the new session is refused with `503`.
    fn make_room(&mut self, now: Instant, keep: Option<SessionId>) -> Result<(), (u16, String)> {
        loop {
            let pending = self.sessions.values().filter(|s| !s.connected).count();
            if self.sessions.len() < self.limits.max_sessions && pending < self.limits.max_pending {
                return Ok(());
            }
            let oldest = self
                .sessions
                .iter()
                .filter(|&(&id, s)| !s.connected && Some(id) != keep)
                .min_by_key(|(_, s)| s.seq)
                .map(|(&id, _)| id);
            let Some(oldest) = oldest else {
                self.refusals.sessions_refused += 1;
                return Err((503, "too many sessions\n".into()));
            };
            self.refusals.pending_evicted += 1;
            println!(
                "session {} evicted: never connected",
                self.sessions[&oldest].seq
            );
            self.forget(oldest, now);
        }
    }

    fn candidates(&self, sdp: &str) -> String {
        if self.local.ip().is_loopback() {
            loopback_only(sdp)
        } else {
            sdp.to_string()
        }
    }

    /// Answers an HTTP thread's call.
    fn call(&mut self, call: Call) -> Answer {
        let now = Instant::now();
        match call {
            Call::Stats => Ok(Reply::Json(self.stats_json())),
            Call::Pin(id, rid) => {
                let Some(Role::Subscriber(sub)) = self.sessions.get_mut(&id).map(|s| &mut s.role)
                else {
                    return Err((404, "no such subscriber\n".into()));
                };
                let layer = Some(Some(Arc::<str>::from(rid.as_str())));
                println!("subscriber pinned to layer {rid:?}");
                sub.pinned = layer.clone();
                // Asked of the publisher at the next look (every 100 ms while waiting).
                sub.target = layer;
                sub.last_pli = None;
                Ok(Reply::Done)
            }
            Call::Participants => {
                let mut live: Vec<u64> = self
                    .sessions
                    .values()
                    .filter(|s| !s.closing && matches!(s.role, Role::Publisher(_)))
                    .map(|s| s.seq)
                    .collect();
                live.sort_unstable();
                let list: Vec<String> = live.iter().map(u64::to_string).collect();
                Ok(Reply::Json(format!(
                    r#"{{"participants":[{}]}}"#,
                    list.join(",")
                )))
            }
            Call::Whip(offer) => {
                let mut pc = self.new_pc()?;
                for t in transceivers(Direction::RecvOnly) {
                    pc.add_transceiver(t);
                }
                pc.set_remote_description(now, SdpType::Offer, &self.candidates(&offer))
                    .map_err(|e| (400, e.to_string()))?;
                let answer = pc.create_answer(now).map_err(|e| (400, e.to_string()))?;
                self.make_room(now, None)?;
                let role = Role::Publisher(Publisher {
                    offer,
                    ..Publisher::default()
                });
                let (id, seq) = self.add(pc, role, now);
                Ok(Reply::Created(id, seq, answer))
            }
            Call::Whep(which, offer) => {
                let publisher = self
                    .sessions
                    .iter()
                    .filter(|(_, s)| !s.closing && matches!(s.role, Role::Publisher(_)))
                    .filter(|(_, s)| which.is_none_or(|n| s.seq == n))
                    .max_by_key(|(_, s)| s.seq)
                    .map(|(&id, s)| (id, s.seq))
                    .ok_or_else(|| (404, "no such publisher\n".to_string()))?;
                let mut pc = self.new_pc()?;
                for (mut t, name) in transceivers(Direction::SendOnly)
                    .into_iter()
                    .zip(["audio", "video"])
                {
                    let ssrc = self.next_ssrc;
                    self.next_ssrc = self.next_ssrc.wrapping_add(2);
                    let rtx = (name == "video").then_some(ssrc ^ 0x0800_0000);
                    t.send_ssrcs = Some((ssrc, rtx));
                    t.cname = Some(format!("sfu-{}", publisher.1));
                    t.msid = Some((format!("publisher-{}", publisher.1), name.into()));
                    pc.add_transceiver(t);
                }
                pc.set_remote_description(now, SdpType::Offer, &self.candidates(&offer))
                    .map_err(|e| (400, e.to_string()))?;
                let answer = pc.create_answer(now).map_err(|e| (400, e.to_string()))?;
                self.make_room(now, Some(publisher.0))?;
                let role = Role::Subscriber(Box::new(Subscriber {
                    publisher: publisher.0,
                    offer,
                    audio: None,
                    video: None,
                    target: None,
                    last_pli: None,
                    pinned: None,
                    switches: 0,
                    peak_estimate: 0,
                }));
                let (id, seq) = self.add(pc, role, now);
                self.wire(id);
                if let Some(Role::Publisher(p)) =
                    self.sessions.get_mut(&publisher.0).map(|s| &mut s.role)
                {
                    p.subscribers.push(id);
                }
                Ok(Reply::Created(id, seq, answer))
            }
            Call::Delete(id, publisher) => {
                // A session is deleted at its own location: `/whip/<id>` for a publisher,
                // `/whep/session/<id>` for a subscriber.
                let s = self
                    .sessions
                    .get_mut(&id)
                    .filter(|s| !s.closing && matches!(s.role, Role::Publisher(_)) == publisher)
                    .ok_or_else(|| (404, "no such session\n".to_string()))?;
                println!("session {} deleted", s.seq);
                self.forget(id, now);
                Ok(Reply::Done)
            }
        }
    }

    /// Sets up a new subscriber's outgoing streams from its publisher's and its own codecs.
    fn wire(&mut self, id: SessionId) {
        let Some(Role::Subscriber(sub)) = self.sessions.get(&id).map(|s| &s.role) else {
            return;
        };
        let Some(publisher) = self.sessions.get(&sub.publisher) else {
            return;
        };
        let Role::Publisher(p) = &publisher.role else {
            return;
        };
        let subscriber = &self.sessions[&id];
        let mut outs = [None, None];
        for (i, (kind, name)) in [(MediaKind::Audio, "audio"), (MediaKind::Video, "video")]
            .into_iter()
            .enumerate()
        {
            let (Some(pub_mid), Some(sub_mid)) =
                (mid_of(&publisher.pc, kind), mid_of(&subscriber.pc, kind))
            else {
                continue;
            };
            // The publisher's payload types to the subscriber's, by codec name.
            let mut payload_types = HashMap::new();
            for pt in 0..128u8 {
                let Some(c) = publisher.pc.codec(pub_mid, pt) else {
                    continue;
                };
                if c.is_rtx() {
                    continue;
                }
                if let Some(theirs) = (0..128u8).find(|&spt| {
                    subscriber
                        .pc
                        .codec(sub_mid, spt)
                        .is_some_and(|sc| sc.name == c.name && !sc.is_rtx())
                }) {
                    payload_types.insert(pt, theirs);
                }
            }
            outs[i] = Outbound::new(
                &subscriber.pc,
                sub_mid,
                forward::ext_ids(&sub.offer, name),
                forward::ext_ids(&p.offer, name).abs_send_time(),
                payload_types,
                kind == MediaKind::Video,
            );
        }
        let [audio, video] = outs;
        if let Some(Role::Subscriber(sub)) = self.sessions.get_mut(&id).map(|s| &mut s.role) {
            sub.audio = audio;
            sub.video = video;
        }
    }

    /// Adds a session; its id and number.
    fn add(&mut self, pc: PeerConnection, role: Role, now: Instant) -> (SessionId, u64) {
        let id = loop {
            let id = SessionId::random();
            if !self.sessions.contains_key(&id) {
                break id;
            }
        };
        self.next_seq += 1;
        let seq = self.next_seq;
        if let Err(e) = self.routes.insert(id, &pc) {
            eprintln!("session {seq} not routed: {e}");
        }
        let kind = match role {
            Role::Publisher(_) => "publisher",
            Role::Subscriber(_) => "subscriber",
        };
        println!("session {seq} created ({kind})");
        self.sessions.insert(
            id,
            Session {
                seq,
                pc,
                role,
                created: now,
                connected: false,
                last_heard: now,
                closing: false,
                chat: None,
                deadline: None,
            },
        );
        self.service(id, now);
        (id, seq)
    }

    /// Closes and forgets a session (a publisher's subscribers with it).
    fn forget(&mut self, id: SessionId, now: Instant) {
        let Some(mut s) = self.sessions.remove(&id) else {
            return;
        };
        s.closing = true;
        s.pc.close(now);
        while let Some(t) = s.pc.poll_transmit() {
            let _ = self.socket.send_to(&t.contents, t.destination);
        }
        self.routes.remove(id);
        println!("session {} forgotten", s.seq);
        match s.role {
            Role::Publisher(p) => {
                for sub in p.subscribers {
                    self.forget(sub, now);
                }
            }
            Role::Subscriber(sub) => {
                if let Some(Role::Publisher(p)) =
                    self.sessions.get_mut(&sub.publisher).map(|s| &mut s.role)
                {
                    p.subscribers.retain(|&x| x != id);
                }
            }
        }
    }

    /// Sends a session's datagrams; notes its next deadline.
    fn flush(&mut self, id: SessionId) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        while let Some(t) = s.pc.poll_transmit() {
            self.routes.sent(id, &t);
            let _ = self.socket.send_to(&t.contents, t.destination);
        }
        s.deadline = s.pc.poll_timeout();
        if let Some(d) = s.deadline {
            self.next_timer = self.next_timer.min(d);
        }
    }

    /// Handles a session's events after an input, then sends its datagrams.
    fn service(&mut self, id: SessionId, now: Instant) {
        let mut events = std::mem::take(&mut self.events);
        if let Some(s) = self.sessions.get_mut(&id) {
            while let Some(e) = s.pc.poll_event() {
                events.push(e);
            }
        }
        for e in events.drain(..) {
            self.event(id, now, e);
        }
        self.events = events;
        self.flush(id);
    }

    /// One event of session `id`.
    fn event(&mut self, id: SessionId, now: Instant, e: Event) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let seq = s.seq;
        match e {
            Event::Rtp(rtp) => {
                if matches!(s.role, Role::Publisher(_)) {
                    self.publish(id, now, rtp);
                }
            }
            Event::BandwidthEstimate(b) => {
                if let Role::Subscriber(sub) = &mut s.role {
                    sub.peak_estimate = sub.peak_estimate.max(b.target_bitrate);
                }
            }
            Event::KeyframeRequest { mid, kind, .. } => {
                // About the subscriber's video (or no mid said): to the publisher, for the
                // layer this subscriber gets (every layer before it gets one).
                if let Role::Subscriber(sub) = &s.role
                    && let Some(video) = &sub.video
                    && mid.is_none_or(|m| m == video.mid)
                {
                    let (publisher, layer) = (sub.publisher, video.source.clone());
                    self.keyframe(publisher, layer, kind, now);
                }
            }
            Event::ConnectionStateChange(state) => {
                println!("session {seq}: connection {state:?}");
                if state == ConnectionState::Connected && !s.connected {
                    s.connected = true;
                    s.last_heard = now;
                    // A new subscriber starts with a key frame of whatever it gets first.
                    if let Role::Subscriber(sub) = &s.role {
                        let publisher = sub.publisher;
                        let layers: Vec<Option<Arc<str>>> =
                            match self.sessions.get(&publisher).map(|p| &p.role) {
                                Some(Role::Publisher(p)) => p.layers.keys().cloned().collect(),
                                _ => Vec::new(),
                            };
                        for l in layers {
                            self.keyframe(publisher, Some(l), KeyframeKind::Pli, now);
                        }
                    }
                }
            }
            Event::DataChannelOpen {
                id: channel, label, ..
            } => {
                println!("session {seq}: data channel {label:?} open");
                if label == "chat" {
                    s.chat = Some(channel);
                }
            }
            Event::DataChannelMessage {
                id: channel,
                data,
                kind,
            } if s.chat == Some(channel) => self.chat(id, now, &data, kind),
            _ => {}
        }
    }

    /// A chat message from `from` goes to every other session's chat channel.
    fn chat(&mut self, from: SessionId, now: Instant, data: &[u8], kind: MessageKind) {
        let others: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|&(&id, s)| id != from && s.chat.is_some())
            .map(|(&id, _)| id)
            .collect();
        for id in others {
            let s = self.sessions.get_mut(&id).expect("listed");
            let chat = s.chat.expect("listed");
            if let Err(e) =
                s.pc.channel(chat)
                    .and_then(|mut c| c.send_message(now, data, kind))
            {
                eprintln!("session {}: chat not sent: {e}", s.seq);
            }
            self.flush(id);
        }
    }

    /// Asks publisher `id` for a key frame of `layer` (`None`: of every stream).
    fn keyframe(
        &mut self,
        id: SessionId,
        layer: Option<Option<Arc<str>>>,
        kind: KeyframeKind,
        now: Instant,
    ) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let Role::Publisher(p) = &s.role else { return };
        let ssrcs: Vec<u32> = match &layer {
            Some(l) => p.layers.get(l).map(|l| l.ssrc).into_iter().collect(),
            None => p.layers.values().map(|l| l.ssrc).collect(),
        };
        for ssrc in ssrcs {
            let _ = s.pc.request_keyframe(now, ssrc, kind);
        }
        self.flush(id);
    }

    /// A publisher's packet, to each of its subscribers.
    fn publish(&mut self, id: SessionId, now: Instant, mut rtp: RtpReceived) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(mid) = rtp.mid else { return };
        let video = s.pc.media_kind(mid) == Some(MediaKind::Video);
        let Role::Publisher(p) = &mut s.role else {
            return;
        };
        let layer = if video { rtp.rid.clone() } else { None };
        if video
            && !p.layers.contains_key(&layer)
            && (p.layers.len() >= MAX_LAYERS || !layer.as_deref().is_none_or(valid_rid))
        {
            // A layer the publisher makes up: not measured, not forwarded.
            p.layers_refused += 1;
            return;
        }
        let keyframe = video
            && s.pc
                .codec(mid, rtp.payload_type)
                .is_some_and(|c| c.name == CodecName::Vp8)
            && sansrtc::rtp::packetize::vp8::is_keyframe(rtp.payload());
        if video {
            p.layers
                .entry(layer.clone())
                .or_insert_with(|| Layer::new(rtp.ssrc))
                .count(rtp.packet().len());
        }
        let subscribers = std::mem::take(&mut p.subscribers);
        // One packet for every subscriber: their retransmission histories keep references.
        let shared = rtp.share();
        for &sub_id in &subscribers {
            let Some(sub_session) = self.sessions.get_mut(&sub_id) else {
                continue;
            };
            if !sub_session.connected {
                continue;
            }
            let Role::Subscriber(sub) = &mut sub_session.role else {
                continue;
            };
            let sent = if video {
                let target = sub.target.clone();
                let Some(out) = sub.video.as_mut() else {
                    continue;
                };
                let switch = keyframe && target.as_ref() == Some(&layer);
                let was = out.source.clone();
                let sent = out.forward(&mut sub_session.pc, now, (&rtp, &shared), &layer, switch);
                if sent && was.as_ref() != Some(&layer) {
                    sub.switches += 1;
                    println!(
                        "session {}: now forwarding layer {:?}",
                        sub_session.seq,
                        layer.as_deref()
                    );
                }
                sent
            } else {
                let Some(out) = sub.audio.as_mut() else {
                    continue;
                };
                out.forward(&mut sub_session.pc, now, (&rtp, &shared), &None, true)
            };
            if sent {
                self.flush(sub_id);
            }
        }
        if let Some(Role::Publisher(p)) = self.sessions.get_mut(&id).map(|s| &mut s.role) {
            p.subscribers = subscribers;
        }
    }

    /// Once a second: measures layers, chooses each subscriber's layer (asking for a key
    /// frame of a new one), forgets sessions that failed, never connected or went quiet.
    fn periodic(&mut self, now: Instant) {
        for s in self.sessions.values_mut() {
            if let Role::Publisher(p) = &mut s.role {
                for l in p.layers.values_mut() {
                    l.measure(PERIOD);
                }
            }
        }
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        let mut dead = Vec::new();
        for id in ids {
            let s = &self.sessions[&id];
            let failed = matches!(
                s.pc.state(),
                ConnectionState::Failed | ConnectionState::Closed
            );
            let never_connected = !s.connected && now >= s.created + self.limits.connect_timeout;
            if never_connected {
                self.refusals.connect_expired += 1;
            }
            if failed
                || never_connected
                || (s.connected && now >= s.last_heard + self.limits.idle_timeout)
            {
                dead.push(id);
                continue;
            }
            let Role::Subscriber(sub) = &s.role else {
                continue;
            };
            let Some(Role::Publisher(p)) = self.sessions.get(&sub.publisher).map(|p| &p.role)
            else {
                continue;
            };
            let estimate = s.pc.bandwidth_estimate().map(|e| e.target_bitrate);
            let choice = match &sub.pinned {
                Some(layer) => Some(layer.clone()),
                None => forward::choose(&p.layers, estimate),
            };
            let s = self.sessions.get_mut(&id).expect("listed");
            let Role::Subscriber(sub) = &mut s.role else {
                continue;
            };
            if choice.is_some() && choice != sub.target {
                println!(
                    "session {}: estimate {estimate:?} b/s, target layer {:?}",
                    s.seq,
                    choice.as_ref().map(|l| l.as_deref())
                );
                sub.target = choice;
                sub.last_pli = None;
            }
        }
        for id in dead {
            if self.sessions.contains_key(&id) {
                self.forget(id, now);
            }
        }
    }

    /// Repeats the keyframe requests of subscribers waiting for a layer switch.
    fn switch_requests(&mut self, now: Instant) {
        let mut asks = Vec::new();
        for s in self.sessions.values_mut() {
            let Role::Subscriber(sub) = &mut s.role else {
                continue;
            };
            let current = sub.video.as_ref().and_then(|v| v.source.clone());
            if s.connected
                && sub.target.is_some()
                && sub.target != current
                && sub.last_pli.is_none_or(|t| now >= t + PLI_INTERVAL)
            {
                sub.last_pli = Some(now);
                asks.push((sub.publisher, sub.target.clone()));
            }
        }
        for (publisher, layer) in asks {
            self.keyframe(publisher, layer, KeyframeKind::Pli, now);
        }
    }

    /// One datagram from `source`, to the session it routes to.
    fn receive(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) {
        let local = self.local;
        let Some(id) = self
            .routes
            .route(local, source, datagram)
            .filter(|id| self.sessions.contains_key(id))
        else {
            return;
        };
        let s = self.sessions.get_mut(&id).expect("routed");
        s.pc.handle_receive(now, source, local, datagram);
        if s.pc.is_validated_path(local, source) {
            s.last_heard = now;
            self.routes.learn(id, &s.pc, local, source, datagram);
        }
        self.service(id, now);
    }

    /// Runs the sessions' timers that are due.
    fn timers(&mut self, now: Instant) {
        if now < self.next_timer {
            return;
        }
        let due: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.deadline.is_some_and(|d| d <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            if let Some(s) = self.sessions.get_mut(&id) {
                s.pc.handle_timeout(now);
            }
            self.service(id, now);
        }
        self.next_timer = self
            .sessions
            .values()
            .filter_map(|s| s.deadline)
            .min()
            .unwrap_or(now + PERIOD)
            .max(now + Duration::from_millis(1));
    }

    /// `GET /stats`.
    fn stats_json(&self) -> String {
        let mut list: Vec<&Session> = self.sessions.values().collect();
        list.sort_by_key(|s| s.seq);
        let layer_name = |l: &Option<Arc<str>>| format!("{:?}", l.as_deref().unwrap_or(""));
        let items: Vec<String> = list
            .iter()
            .map(|s| match &s.role {
                Role::Publisher(p) => {
                    let layers: Vec<String> = p
                        .layers
                        .iter()
                        .map(|(k, l)| format!("{}:{}", layer_name(k), l.bitrate))
                        .collect();
                    format!(
                        r#"{{"seq":{},"role":"publisher","connected":{},"subscribers":{},"layer_bitrates":{{{}}},"rtp_received":{},"layers_refused":{}}}"#,
                        s.seq,
                        s.connected,
                        p.subscribers.len(),
                        layers.join(","),
                        s.pc.stats().rtp_received,
                        p.layers_refused
                    )
                }
                Role::Subscriber(sub) => {
                    let forwarded: Vec<String> = sub
                        .video
                        .iter()
                        .flat_map(|v| v.forwarded.iter())
                        .map(|(k, n)| format!("{}:{n}", layer_name(k)))
                        .collect();
                    let publisher = self.sessions.get(&sub.publisher).map_or(0, |p| p.seq);
                    format!(
                        r#"{{"seq":{},"role":"subscriber","publisher":{},"connected":{},"layer":{},"switches":{},"video_forwarded":{{{}}},"audio_forwarded":{},"bandwidth_estimate":{},"peak_bandwidth_estimate":{}}}"#,
                        s.seq,
                        publisher,
                        s.connected,
                        sub.video
                            .as_ref()
                            .and_then(|v| v.source.as_ref())
                            .map_or("null".to_string(), layer_name),
                        sub.switches,
                        forwarded.join(","),
                        sub.audio
                            .as_ref()
                            .map_or(0, |a| a.forwarded.values().sum::<u64>()),
                        s.pc.bandwidth_estimate().map_or(0, |e| e.target_bitrate),
                        sub.peak_estimate,
                    )
                }
            })
            .collect();
        let r = &self.refusals;
        let h = &self.http;
        let n = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        format!(
            r#"{{"sessions":[{}],"pending":{},"sessions_refused":{},"pending_evicted":{},"connect_expired":{},"http_requests":{},"http_refused":{},"http_timeouts":{},"http_too_large":{},"http_malformed":{}}}"#,
            items.join(","),
            self.sessions.values().filter(|s| !s.connected).count(),
            r.sessions_refused,
            r.pending_evicted,
            r.connect_expired,
            n(&h.requests),
            n(&h.refused),
            n(&h.timeouts),
            n(&h.too_large),
            n(&h.malformed),
        )
    }
}

/// The HTTP side: a request to a [`Call`], its [`Answer`] to a response.
fn respond(request: http::Request, calls: &mpsc::Sender<Ask>) -> http::Response {
    use http::Response;
    let ask = |call: Call| {
        let (tx, rx) = mpsc::channel();
        let _ = calls.send((call, tx));
        rx.recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| Err((503, "the server is busy\n".into())))
    };
    let created = |answer: Answer, prefix: &str| match answer {
        Ok(Reply::Created(id, seq, sdp)) => Response::new(201, sdp)
            .header("Content-Type", "application/sdp")
            .header("Location", format!("{prefix}{id}"))
            .header("X-Publisher", seq.to_string()),
        Ok(_) => Response::new(500, "unexpected reply\n"),
        Err((status, why)) => Response::new(status, why),
    };
    let json = |answer: Answer| match answer {
        Ok(Reply::Json(j)) => Response::new(200, j).header("Content-Type", "application/json"),
        Ok(_) => Response::new(500, "unexpected reply\n"),
        Err((status, why)) => Response::new(status, why),
    };
    let path = request.target.split('?').next().unwrap_or("").to_string();
    let Ok(body) = String::from_utf8(request.body) else {
        return Response::new(400, "the body is not UTF-8\n");
    };
    match (request.method.as_str(), path.as_str()) {
        ("GET", "/") => Response::new(200, PAGE).header("Content-Type", "text/html; charset=utf-8"),
        ("GET", "/participants") => json(ask(Call::Participants)),
        ("GET", "/stats") => json(ask(Call::Stats)),
        ("POST", "/whip") => created(ask(Call::Whip(body)), "/whip/"),
        ("POST", "/whep") => created(ask(Call::Whep(None, body)), "/whep/session/"),
        ("POST", p) if p.starts_with("/whep/session/") && p.ends_with("/layer") => {
            let id = p["/whep/session/".len()..p.len() - "/layer".len()].to_string();
            let rid = request
                .target
                .split_once("?rid=")
                .map(|(_, r)| r.to_string())
                .unwrap_or_default();
            match SessionId::parse(&id) {
                Some(_) if !valid_rid(&rid) => Response::new(400, "not a RID\n"),
                Some(id) => match ask(Call::Pin(id, rid)) {
                    Ok(_) => Response::new(204, ""),
                    Err((status, why)) => Response::new(status, why),
                },
                _ => Response::new(404, "no such subscriber\n"),
            }
        }
        ("POST", p) if p.starts_with("/whep/") => match p["/whep/".len()..].parse::<u64>() {
            Ok(n) => created(ask(Call::Whep(Some(n), body)), "/whep/session/"),
            Err(_) => Response::new(404, "no such publisher\n"),
        },
        ("DELETE", p) => {
            let target = match (p.strip_prefix("/whip/"), p.strip_prefix("/whep/session/")) {
                (Some(id), _) => SessionId::parse(id).map(|id| (id, true)),
                (_, Some(id)) => SessionId::parse(id).map(|id| (id, false)),
                _ => None,
            };
            match target {
                Some((id, publisher)) => match ask(Call::Delete(id, publisher)) {
                    Ok(_) => Response::new(200, ""),
                    Err((status, why)) => Response::new(status, why),
                },
                None => Response::new(404, "no such session\n"),
            }
        }
        // Trickle ICE and ICE restarts (RFC 9725 4.3) are not supported: the offer carries
        // the candidates. Nothing is looked up, so nothing is learned about other sessions.
        ("PATCH", _) => {
            Response::new(405, "PATCH is not supported\n").header("Allow", "POST, DELETE")
        }
        _ => Response::new(404, "not found\n"),
    }
}

fn main() {
    let socket = UdpSocket::bind(arg("--udp", "127.0.0.1:0")).expect("bind UDP");
    let sock = socket2::SockRef::from(&socket);
    let _ = sock.set_recv_buffer_size(8 << 20);
    let local = socket.local_addr().expect("local addr");
    let listener = TcpListener::bind(arg("--http", "127.0.0.1:8080")).expect("bind HTTP");
    let http_addr = listener.local_addr().expect("HTTP address");
    // The first line is read by the tests: keep its form.
    println!(
        "sfu: http://{http_addr}/ (room page; WHIP: POST /whip, WHEP: POST /whep), UDP {local}"
    );
    let number = |name: &str, default: u64| -> u64 {
        arg(name, &default.to_string())
            .parse()
            .unwrap_or_else(|_| panic!("{name} takes a number"))
    };
    let millis = |name: &str, default: u64| Duration::from_millis(number(name, default));
    let limits = http::Limits {
        max_connections: 64,
        max_head: 16 * 1024,
        max_body: number("--max-body-bytes", 128 * 1024) as usize,
        timeout: millis("--http-timeout-ms", 5000),
    };
    let counters = Arc::new(http::Counters::default());
    let (calls_tx, calls) = mpsc::channel();
    let http_counters = counters.clone();
    std::thread::spawn(move || {
        http::serve(listener, limits, http_counters, move |r| {
            respond(r, &calls_tx)
        })
    });
    let now = Instant::now();
    let mut server = Server {
        socket,
        local,
        certificate: Arc::new(Certificate::generate().expect("a DTLS certificate")),
        sessions: HashMap::new(),
        routes: Router::new(),
        next_seq: 0,
        next_ssrc: 0x5F00_0001,
        next_timer: now,
        events: Vec::new(),
        limits: Limits {
            max_sessions: number("--max-sessions", 200) as usize,
            max_pending: number("--max-pending", 32) as usize,
            connect_timeout: millis("--connect-timeout-ms", 30_000),
            idle_timeout: millis("--idle-timeout-ms", 30_000),
        },
        refusals: Refusals::default(),
        http: counters,
    };
    let mut buf = vec![0u8; 2048];
    let mut next_period = now + PERIOD;
    let mut next_switch = now;
    loop {
        while let Ok((call, reply)) = calls.try_recv() {
            let answer = server.call(call);
            if let Err((status, why)) = &answer {
                eprintln!("refused with {status}: {}", why.trim_end());
            }
            let _: Result<(), _> = reply.send(answer);
        }
        let wait = server
            .next_timer
            .min(next_period)
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), MAX_WAIT);
        let _ = server.socket.set_read_timeout(Some(wait));
        match server.socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                server.receive(Instant::now(), from, &buf[..n]);
                let _ = server.socket.set_nonblocking(true);
                for _ in 0..256 {
                    let Ok((n, from)) = server.socket.recv_from(&mut buf) else {
                        break;
                    };
                    server.receive(Instant::now(), from, &buf[..n]);
                }
                let _ = server.socket.set_nonblocking(false);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => eprintln!("recv: {e}"),
        }
        let now = Instant::now();
        server.timers(now);
        if now >= next_switch {
            next_switch = now + Duration::from_millis(100);
            server.switch_requests(now);
        }
        if now >= next_period {
            next_period = now + PERIOD;
            server.periodic(now);
        }
    }
}
