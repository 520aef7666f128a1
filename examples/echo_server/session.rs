//! Sessions and their ids. Each datagram of the shared UDP socket finds its session through
//! the library's [`Router`] (O(1)): only the peer knows a session's ICE password, so a source
//! address earns a route only once the session's ICE agent validated the path with an
//! authenticated check or answer; until then a datagram reaches a session only as STUN naming
//! its ufrag or answering one of its checks. DTLS, SRTP and SCTP never see a stranger.

use std::collections::VecDeque;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use sansrtc::sctp::SendError;
use sansrtc::{
    ChannelId, ConnectionState, Error, Event, MessageKind, PeerConnection, Router, Transport,
};

use crate::tcp::TcpStreams;

pub(crate) use crate::common::SessionId;
use crate::media::MediaEcho;

/// Bytes of data channel messages a session keeps waiting for their echo when the SCTP send
/// buffer is full (`Config::max_buffered_amount`, 16 MiB). A data channel has no receive-side
/// backpressure (messages are delivered as they arrive): a peer sending faster than it takes
/// its echo back would grow our memory without bound, so past this its channel is closed.
const MAX_ECHO_BACKLOG: usize = 4 << 20;

/// The first wait before a message of the backlog is offered to SCTP again (each attempt
/// copies the message), doubled while nothing goes out, at most [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(1);
const MAX_RETRY: Duration = Duration::from_millis(32);

/// `--key-update-every N`: a DTLS 1.3 key update is due after every `N` data channel messages
/// echoed (0: never; the dtls crate's automatic point still applies). The peer connection sends
/// one update at a time (a request while ours waits for its acknowledgement sends nothing), so
/// a due update is asked for again after every input until one goes out; updates falling due
/// meanwhile are merged into it.
#[derive(Default)]
pub(crate) struct KeyUpdates {
    every: u64,
    /// Data channel messages echoed (or queued for their echo).
    echoed: u64,
    /// An update is due and none went out for it yet.
    due: bool,
    /// Due updates that went out (`update_dtls_keys` sent a KeyUpdate).
    pub(crate) asked: u64,
    /// Calls refused (DTLS 1.2 negotiated, not connected). An update still due when the
    /// connection closes is dropped, not counted: the browser may close right after the last
    /// message that made one due.
    pub(crate) refused: u64,
}

impl KeyUpdates {
    pub(crate) fn every(every: u64) -> Self {
        KeyUpdates {
            every,
            ..Default::default()
        }
    }
}

/// Where packets leave: the shared UDP socket, or (ICE-TCP) the stream a browser opened.
pub(crate) struct Sockets {
    pub(crate) udp: UdpSocket,
    /// `None` when the TCP port could not be bound.
    pub(crate) tcp: Option<TcpStreams>,
}

/// One browser's connection.
pub(crate) struct Session {
    /// A plain sequence number, for `/stats` and the log.
    pub(crate) seq: u64,
    pub(crate) pc: PeerConnection,
    pub(crate) media: MediaEcho,
    pub(crate) created: Instant,
    /// The connection reached `Connected` once.
    pub(crate) connected: bool,
    /// The last datagram from a validated path (or the moment it connected).
    pub(crate) last_heard: Instant,
    /// Closed by us (`DELETE`): why, and since when; it is forgotten once its goodbyes are out.
    pub(crate) closing: Option<(String, Instant)>,
    /// Messages to echo that SCTP had no room for yet (channel, data, kind), oldest first.
    backlog: VecDeque<(ChannelId, Vec<u8>, MessageKind)>,
    pub(crate) backlog_bytes: usize,
    /// While the backlog waits: when to offer it again, and the current wait.
    retry: Option<(Instant, Duration)>,
    /// `pc.poll_timeout()` (or the backlog's retry) after the last input.
    pub(crate) deadline: Option<Instant>,
    pub(crate) key_updates: KeyUpdates,
}

impl Session {
    pub(crate) fn new(
        seq: u64,
        pc: PeerConnection,
        media: MediaEcho,
        key_updates: KeyUpdates,
        now: Instant,
    ) -> Self {
        Session {
            seq,
            pc,
            media,
            created: now,
            connected: false,
            last_heard: now,
            closing: None,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            retry: None,
            deadline: None,
            key_updates,
        }
    }

    /// One more message echoed: every `--key-update-every` messages, a DTLS key update is due.
    fn count_echo(&mut self) {
        let k = &mut self.key_updates;
        k.echoed += 1;
        if k.every != 0 && k.echoed.is_multiple_of(k.every) {
            k.due = true;
        }
    }

    /// Asks for the due key update; it is done once a KeyUpdate went out (none was waiting
    /// for its acknowledgement).
    fn update_keys(&mut self, now: Instant) {
        if !self.key_updates.due {
            return;
        }
        let sent = |pc: &PeerConnection| pc.dtls_stats().map_or(0, |d| d.key_updates_sent);
        let before = sent(&self.pc);
        let k = &mut self.key_updates;
        match self.pc.update_dtls_keys(now) {
            Ok(()) if sent(&self.pc) > before => {
                k.due = false;
                k.asked += 1;
            }
            Ok(()) => {}
            Err(sansrtc::Error::Closed) => k.due = false,
            Err(e) => {
                k.due = false;
                k.refused += 1;
                if k.refused == 1 {
                    eprintln!("session {}: no DTLS key update: {e}", self.seq);
                }
            }
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

/// Drains what a session's peer connection produced after an input: its events (echoing data
/// channel messages and media), then its datagrams. Returns its next deadline.
pub(crate) fn service(
    id: SessionId,
    s: &mut Session,
    routes: &mut Router<SessionId>,
    sockets: &mut Sockets,
    now: Instant,
) -> Option<Instant> {
    let seq = s.seq;
    while let Some(e) = s.pc.poll_event() {
        match e {
            Event::DataChannelMessage { id, data, kind } => {
                s.echo(now, id, data.into_vec(), kind);
                s.count_echo();
            }
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
    s.update_keys(now);
    while let Some(t) = s.pc.poll_transmit() {
        if s.media.lose(&t.contents) {
            continue;
        }
        routes.sent(id, &t);
        match (t.transport, &mut sockets.tcp) {
            (Transport::Tcp, Some(tcp)) => tcp.send(t.destination, &t.contents),
            (Transport::Tcp, None) => {}
            _ => {
                let _ = sockets.udp.send_to(&t.contents, t.destination);
            }
        }
    }
    s.deadline = match (s.pc.poll_timeout(), s.retry) {
        (Some(t), Some((r, _))) => Some(t.min(r)),
        (t, r) => t.or(r.map(|(r, _)| r)),
    };
    s.deadline
}
