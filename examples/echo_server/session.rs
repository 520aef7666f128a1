//! Sessions, their ids, and the tables that route each datagram of the shared UDP socket to one
//! session in O(1).
//!
//! Only the peer knows a session's ICE password, so a source address earns a route only once
//! the session's ICE agent validated the path with an authenticated check or answer
//! ([`PeerConnection::is_validated_path`]). Until then a datagram reaches a session only as
//! STUN: a request naming the session's ufrag in its USERNAME (the agent checks its
//! MESSAGE-INTEGRITY), or the answer to one of the session's own checks (matched by transaction
//! id and address). Nothing else is delivered: DTLS, SRTP and SCTP never see a stranger.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sansrtc::demux::{Kind, classify};
use sansrtc::ice::stun::StunMessage;
use sansrtc::sctp::SendError;
use sansrtc::{ChannelId, ConnectionState, Error, Event, MessageKind, PcRng, PeerConnection};

use crate::media::MediaEcho;

/// Source-address routes one session may hold (the ICE agent remembers at most 32 validated
/// paths; a browser uses one or two).
const MAX_SOURCES: usize = 8;

/// Transaction ids of a session's own STUN checks remembered for routing their answers (checks
/// are paced at 50 ms and answered within seconds; consent checks come every ~5 s).
const MAX_CHECKS: usize = 64;

/// Bytes of data channel messages a session keeps waiting for their echo when the SCTP send
/// buffer is full (`Config::max_buffered_amount`, 16 MiB). A data channel has no receive-side
/// backpressure (messages are delivered as they arrive): a peer sending faster than it takes
/// its echo back would grow our memory without bound, so past this its channel is closed.
const MAX_ECHO_BACKLOG: usize = 4 << 20;

/// The first wait before a message of the backlog is offered to SCTP again (each attempt
/// copies the message), doubled while nothing goes out, at most [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(1);
const MAX_RETRY: Duration = Duration::from_millis(32);

/// A session's id: 128 bits from the operating system's RNG. Its hex form in the `Location`
/// URL is the capability to post the session's answer or to delete it, so it appears nowhere
/// else (not in `/stats`, not in the log).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionId([u8; 16]);

impl SessionId {
    pub(crate) fn random() -> Self {
        let mut id = [0u8; 16];
        PcRng::System.fill(&mut id);
        SessionId(id)
    }

    /// Exactly 32 hex digits (either case).
    pub(crate) fn parse(hex: &str) -> Option<Self> {
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

/// One browser's connection.
pub(crate) struct Session {
    /// A plain sequence number, for `/stats` and the log.
    pub(crate) seq: u64,
    pub(crate) pc: PeerConnection,
    pub(crate) media: MediaEcho,
    /// Our ICE ufrag (the server never restarts ICE, so it stays).
    pub(crate) ufrag: String,
    pub(crate) created: Instant,
    /// The connection reached `Connected` once.
    pub(crate) connected: bool,
    /// The last datagram from a validated path (or the moment it connected).
    pub(crate) last_heard: Instant,
    /// Closed by us (`DELETE`): why, and since when; it is forgotten once its goodbyes are out.
    pub(crate) closing: Option<(String, Instant)>,
    /// Source addresses routed to this session.
    pub(crate) sources: Vec<SocketAddr>,
    /// Transaction ids of our STUN requests whose answers are routed to this session.
    pub(crate) checks: VecDeque<[u8; 12]>,
    /// Messages to echo that SCTP had no room for yet (channel, data, kind), oldest first.
    backlog: VecDeque<(ChannelId, Vec<u8>, MessageKind)>,
    pub(crate) backlog_bytes: usize,
    /// While the backlog waits: when to offer it again, and the current wait.
    retry: Option<(Instant, Duration)>,
    /// `pc.poll_timeout()` (or the backlog's retry) after the last input.
    pub(crate) deadline: Option<Instant>,
}

impl Session {
    pub(crate) fn new(seq: u64, pc: PeerConnection, media: MediaEcho, now: Instant) -> Self {
        Session {
            seq,
            ufrag: pc.local_ufrag().to_string(),
            pc,
            media,
            created: now,
            connected: false,
            last_heard: now,
            closing: None,
            sources: Vec::new(),
            checks: VecDeque::new(),
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            retry: None,
            deadline: None,
        }
    }

    /// Sends a message back on its channel; false if SCTP has no room for it now.
    fn send(&mut self, now: Instant, id: ChannelId, data: &[u8], kind: MessageKind) -> bool {
        let sent = self
            .pc
            .channel(id)
            .and_then(|mut c| c.send_message(now, data, kind));
        match sent {
            Ok(()) => true,
            Err(Error::DataChannel(SendError::BufferFull { .. })) => false,
            Err(e) => {
                // Counted; logged sparsely (a closed channel fails every message after it).
                self.media.echo_errors += 1;
                let n = self.media.echo_errors;
                if n <= 8 || n.is_power_of_two() {
                    eprintln!("session {}: echo on {id} failed ({n}): {e}", self.seq);
                }
                true
            }
        }
    }

    /// Echoes a data channel message, after those waiting in the backlog.
    fn echo(&mut self, now: Instant, id: ChannelId, data: Vec<u8>, kind: MessageKind) {
        if self.backlog.is_empty() {
            if self.send(now, id, &data, kind) {
                return;
            }
            self.retry = Some((now + FIRST_RETRY, FIRST_RETRY));
        }
        if self.backlog_bytes + data.len() > MAX_ECHO_BACKLOG {
            self.media.echo_errors += 1;
            eprintln!(
                "session {}: the peer sends faster than it takes its echo back; {id} closed",
                self.seq
            );
            if let Ok(c) = self.pc.channel(id) {
                c.close(now);
            }
            self.backlog.retain(|(c, d, _)| {
                if *c == id {
                    self.backlog_bytes -= d.len();
                }
                *c != id
            });
            if self.backlog.is_empty() {
                self.retry = None;
            }
            return;
        }
        self.backlog_bytes += data.len();
        self.backlog.push_back((id, data, kind));
    }

    /// Offers the backlog to SCTP again once its wait is over.
    fn flush_backlog(&mut self, now: Instant) {
        let Some((at, wait)) = self.retry else {
            return;
        };
        if now < at {
            return;
        }
        let mut sent = false;
        while let Some((id, data, kind)) = self.backlog.pop_front() {
            if !self.send(now, id, &data, kind) {
                self.backlog.push_front((id, data, kind));
                let wait = if sent {
                    FIRST_RETRY
                } else {
                    (wait * 2).min(MAX_RETRY)
                };
                self.retry = Some((now + wait, wait));
                return;
            }
            self.backlog_bytes -= data.len();
            sent = true;
        }
        self.retry = None;
    }
}

/// Where datagrams go.
#[derive(Default)]
pub(crate) struct Routes {
    /// Our ICE ufrag -> session: STUN requests name it in their USERNAME.
    pub(crate) by_ufrag: HashMap<String, SessionId>,
    /// A source address whose path the session validated -> session: everything from it.
    pub(crate) by_source: HashMap<SocketAddr, SessionId>,
    /// The transaction id of one of our STUN requests -> its session and where it went: the
    /// answer (which has no USERNAME) must come from there.
    pub(crate) by_check: HashMap<[u8; 12], (SessionId, SocketAddr)>,
}

/// The message class bits of a STUN message (RFC 8489 5): 0b00 request, 0b01 indication,
/// 0b10 success response, 0b11 error response; and its transaction id.
fn stun_header(datagram: &[u8]) -> Option<(u16, [u8; 12])> {
    if classify(datagram) != Kind::Stun || datagram.len() < 20 {
        return None;
    }
    let message_type = u16::from_be_bytes([datagram[0], datagram[1]]);
    let class = ((message_type >> 7) & 0b10) | ((message_type >> 4) & 0b01);
    Some((class, datagram[8..20].try_into().expect("12 bytes")))
}

const REQUEST: u16 = 0b00;

impl Routes {
    /// The session a datagram of kind `kind` from `source` belongs to, if any.
    pub(crate) fn route(
        &self,
        kind: Kind,
        source: SocketAddr,
        datagram: &[u8],
    ) -> Option<SessionId> {
        let header = stun_header(datagram).filter(|_| kind == Kind::Stun);
        let Some((class, txid)) = header else {
            return self.by_source.get(&source).copied();
        };
        // A request names our ufrag ("ours:theirs"); the session's agent checks its integrity.
        if class == REQUEST
            && let Some(id) = StunMessage::parse(datagram).ok().and_then(|m| {
                let ufrag = m.username()?.split(':').next()?;
                self.by_ufrag.get(ufrag).copied()
            })
        {
            return Some(id);
        }
        if let Some(&id) = self.by_source.get(&source) {
            return Some(id);
        }
        // The answer to one of our checks, from where the check went.
        if class & 0b10 == 0 {
            return None;
        }
        let (id, to) = self.by_check.get(&txid)?;
        (*to == source).then_some(*id)
    }

    /// After `session` handled a datagram from `source` through `local`: routes `source` to it
    /// if the datagram validated that path and no other session holds a valid route from there.
    pub(crate) fn learn(
        &mut self,
        id: SessionId,
        sessions: &mut HashMap<SessionId, Session>,
        local: SocketAddr,
        source: SocketAddr,
    ) {
        if self.by_source.get(&source) == Some(&id)
            || !sessions
                .get(&id)
                .is_some_and(|s| s.pc.is_validated_path(local, source))
        {
            return;
        }
        if let Some(other) = self.by_source.get(&source).copied() {
            match sessions.get_mut(&other) {
                // First come, first served: a session cannot take an address from another
                // (whose owner could otherwise spoof a victim's address to steal its route).
                Some(o) if o.pc.is_validated_path(local, source) => return,
                Some(o) => o.sources.retain(|a| *a != source),
                None => {}
            }
        }
        let s = sessions.get_mut(&id).expect("checked above");
        if s.sources.len() >= MAX_SOURCES {
            let oldest = s.sources.remove(0);
            if self.by_source.get(&oldest) == Some(&id) {
                self.by_source.remove(&oldest);
            }
        }
        s.sources.push(source);
        self.by_source.insert(source, id);
    }

    /// Forgets the routes of `session` whose paths are no longer validated (consent lost).
    pub(crate) fn prune(&mut self, id: SessionId, s: &mut Session, local: SocketAddr) {
        s.sources.retain(|a| {
            let keep = s.pc.is_validated_path(local, *a);
            if !keep && self.by_source.get(a) == Some(&id) {
                self.by_source.remove(a);
            }
            keep
        });
    }

    /// Forgets every route to a session.
    pub(crate) fn remove(&mut self, id: SessionId, s: &Session) {
        if self.by_ufrag.get(&s.ufrag) == Some(&id) {
            self.by_ufrag.remove(&s.ufrag);
        }
        for a in &s.sources {
            if self.by_source.get(a) == Some(&id) {
                self.by_source.remove(a);
            }
        }
        for t in &s.checks {
            if self.by_check.get(t).is_some_and(|(owner, _)| *owner == id) {
                self.by_check.remove(t);
            }
        }
    }

    /// Remembers a STUN request `session` sends to `destination` (bounded per session).
    fn check_sent(&mut self, id: SessionId, s: &mut Session, txid: [u8; 12], to: SocketAddr) {
        if self.by_check.contains_key(&txid) {
            // A retransmission.
            return;
        }
        if s.checks.len() >= MAX_CHECKS
            && let Some(oldest) = s.checks.pop_front()
            && self
                .by_check
                .get(&oldest)
                .is_some_and(|(owner, _)| *owner == id)
        {
            self.by_check.remove(&oldest);
        }
        s.checks.push_back(txid);
        self.by_check.insert(txid, (id, to));
    }
}

/// Drains what a session's peer connection produced after an input: its events (echoing data
/// channel messages and media), then its datagrams. Returns its next deadline.
pub(crate) fn service(
    id: SessionId,
    s: &mut Session,
    routes: &mut Routes,
    socket: &UdpSocket,
    now: Instant,
) -> Option<Instant> {
    let seq = s.seq;
    while let Some(e) = s.pc.poll_event() {
        match e {
            Event::DataChannelMessage { id, data, kind } => s.echo(now, id, data.into_vec(), kind),
            Event::Rtp(rtp) => s.media.echo_rtp(&mut s.pc, now, rtp),
            Event::KeyframeRequest { mid, kind, .. } => {
                s.media.keyframe_request(&mut s.pc, now, mid, kind)
            }
            Event::ConnectionStateChange(state) => {
                println!("session {seq}: connection {state:?}");
                if state == ConnectionState::Connected && !s.connected {
                    s.connected = true;
                    s.last_heard = now;
                }
            }
            Event::DataChannelOpen { id, label, .. } => {
                println!("session {seq}: data channel {id} {label:?} open")
            }
            _ => {}
        }
    }
    s.flush_backlog(now);
    while let Some(t) = s.pc.poll_transmit() {
        if s.media.lose(&t.contents) {
            continue;
        }
        if let Some((REQUEST, txid)) = stun_header(&t.contents) {
            routes.check_sent(id, s, txid, t.destination);
        }
        let _ = socket.send_to(&t.contents, t.destination);
    }
    s.deadline = match (s.pc.poll_timeout(), s.retry) {
        (Some(t), Some((r, _))) => Some(t.min(r)),
        (t, r) => t.or(r.map(|(r, _)| r)),
    };
    s.deadline
}
