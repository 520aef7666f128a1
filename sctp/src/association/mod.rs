//! The SCTP association (RFC 9260) as a sans-IO state machine, for SCTP carried over DTLS
//! (RFC 8261): handshake with an authenticated cookie, reliable transfer with SACKs, congestion
//! control, retransmission timers, partial reliability (RFC 3758), stream reset (RFC 6525) and
//! shutdown.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ring::hmac;

use crate::chunk::{
    Chunk, DATA_HEADER_LEN, I_DATA_HEADER_LEN, InitChunk, SackChunk, chunk_type, data_flags,
    write_chunk_with, write_data, write_forward_tsn, write_i_forward_tsn, write_sack,
    write_tlv_chunk,
};
use crate::cookie::{COOKIE_LEN, CookieParams};
use crate::error::SendError;
use crate::packet::{COMMON_HEADER_LEN, SctpPacket, begin_packet, finish_packet};
use crate::param::{
    ReconfigParam, Tlvs, UnknownAction, cause_code, param_type, reconfig_result,
    write_outgoing_reset, write_tlv,
};
use crate::receiver::{Accept, Receiver};
use crate::rng::Rng;

mod handshake;
mod reconfig;
mod sender;
mod types;

pub use types::{CloseReason, Config, Event, Reliability, SendOptions, State, Stats};

/// Most whole packets waiting to be sent (INIT-ACKs, ERRORs, our own control packets) beyond
/// which another one the peer asks for is dropped.
const MAX_REPLY_PACKETS: usize = 16;

/// Room kept free in a packet's worth of queued replies for the chunks our own state needs
/// (SACK, SHUTDOWN, COOKIE-ACK, HEARTBEAT).
const REPLY_RESERVE: usize = 128;

/// Bytes charged per message toward [`Config::max_buffered_amount`] on top of its data, for
/// the bookkeeping a queued or unacknowledged message costs, so that many tiny messages
/// cannot exceed the memory bound.
pub const SEND_MESSAGE_OVERHEAD: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    InFlight,
    Retransmit,
    Acked,
    Abandoned,
}

#[derive(Debug, Clone)]
struct OutChunk {
    tsn: u32,
    stream_id: u16,
    ssn: u16,
    ppid: u32,
    flags: u8,
    data: Bytes,
    state: ChunkState,
    sent_at: Option<Instant>,
    transmits: u32,
    misses: u32,
    fast_retransmitted: bool,
    max_retransmits: Option<u16>,
    expires: Option<Instant>,
    message_id: u64,
    /// I-DATA message identifier and fragment sequence number.
    mid: u32,
    fsn: u32,
}

#[derive(Debug, Clone)]
struct QueuedMessage {
    id: u64,
    ppid: u32,
    data: Bytes,
    /// Bytes already fragmented and sent.
    offset: usize,
    /// Stream sequence number (DATA) or message identifier (I-DATA), fixed when the first
    /// fragment goes out.
    ssn: u16,
    mid: u32,
    /// Next fragment sequence number (I-DATA).
    fsn: u32,
    unordered: bool,
    max_retransmits: Option<u16>,
    expires: Option<Instant>,
    /// Counted in the stream's buffered amount.
    counted: bool,
}

#[derive(Debug, Clone, Default)]
struct OutStream {
    queue: VecDeque<QueuedMessage>,
    next_ssn: u16,
    next_mid: u32,
    next_unordered_mid: u32,
    buffered: usize,
    low_threshold: usize,
    resetting: bool,
}

#[derive(Debug, Clone)]
struct ReconfigRequest {
    seq: u32,
    last_tsn: u32,
    streams: Vec<u16>,
    sent_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    tag: u32,
    interleaving: bool,
    forward_tsn: bool,
    zero_checksum: bool,
}

/// An SCTP association.
///
/// Drive it as every sansrtc machine: feed packets with [`Association::handle_receive`] and
/// deadlines with [`Association::handle_timeout`], then drain [`Association::poll_transmit`],
/// [`Association::poll_event`] and read [`Association::poll_timeout`].
///
/// It is `Clone`: a copy is an independent association with the same state and keys (for
/// tests and fuzzing; two copies talking to one peer would confuse it).
#[derive(Clone)]
pub struct Association {
    config: Config,
    state: State,
    epoch: Instant,
    key: hmac::Key,
    local_tag: u32,
    initial_tsn: u32,
    peer: Option<Peer>,
    receiver: Option<Receiver>,
    /// Negotiated stream counts: `config.streams` until the peer's INIT or INIT-ACK is known.
    in_stream_count: u16,
    out_stream_count: u16,

    // Handshake.
    init_timer: Option<Instant>,
    init_retransmits: u32,
    cookie: Option<Vec<u8>>,

    // Sender.
    next_tsn: u32,
    cum_ack: u32,
    outstanding: VecDeque<OutChunk>,
    ready_streams: VecDeque<u16>,
    current_stream: Option<u16>,
    queued_messages: usize,
    /// Bytes charged toward `max_buffered_amount`: data of queued and unacknowledged
    /// messages plus `SEND_MESSAGE_OVERHEAD` per message.
    send_buffered: usize,
    next_message_id: u64,
    retransmit_pending: usize,
    in_flight: usize,
    cwnd: usize,
    ssthresh: usize,
    partial_bytes_acked: usize,
    fast_recovery_exit: Option<u32>,
    fast_rtx_ignore_cwnd: bool,
    peer_rwnd: usize,
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    t3: Option<Instant>,
    error_count: u32,
    forward_tsn_needed: bool,
    out_streams: HashMap<u16, OutStream>,

    // Receiver side acknowledgement.
    sack_now: bool,
    sack_deadline: Option<Instant>,
    data_packets_unacked: u32,

    // Stream reconfiguration.
    next_reconfig_seq: u32,
    reconfig_queue: Vec<u16>,
    reconfig_out: Option<ReconfigRequest>,
    peer_next_reconfig_seq: u32,
    pending_incoming_reset: Option<(u32, u32, Vec<u16>)>,
    reconfig_responses: Vec<(u32, u32)>,
    last_reconfig_response: Option<(u32, u32)>,

    // Shutdown.
    t2: Option<Instant>,

    // Heartbeats: when the next is due, and the one awaiting its acknowledgement.
    heartbeat_due: Option<Instant>,
    heartbeat_sent: Option<(u64, Instant)>,

    control: VecDeque<Vec<u8>>,
    pending_chunks: Vec<u8>,
    events: VecDeque<Event>,
    event_bytes: usize,
    pr_chunks: usize,
    ended: bool,
    stats: Stats,
}

fn serial_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Association {
    /// A new association in the closed (listening) state. The RNG gives the verification tag,
    /// the initial TSN and the cookie key.
    pub fn new(mut config: Config, now: Instant, rng: &mut dyn Rng) -> Self {
        let min_window = (config.max_message_size * 2).min(u32::MAX as usize / 2) as u32;
        config.receive_window = config.receive_window.max(min_window);
        config.max_packet_size = config.max_packet_size.clamp(256, 65_535);
        config.max_buffered_amount = config
            .max_buffered_amount
            .max(config.max_message_size.max(1) + SEND_MESSAGE_OVERHEAD);
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let mut local_tag = rng.next_u32();
        if local_tag == 0 {
            local_tag = 1;
        }
        let initial_tsn = rng.next_u32();
        let mtu = config.max_packet_size;
        let rto = config.rto_initial;
        Association {
            state: State::Closed,
            epoch: now,
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            local_tag,
            initial_tsn,
            peer: None,
            receiver: None,
            in_stream_count: config.streams,
            out_stream_count: config.streams,
            init_timer: None,
            init_retransmits: 0,
            cookie: None,
            next_tsn: initial_tsn,
            cum_ack: initial_tsn.wrapping_sub(1),
            outstanding: VecDeque::new(),
            ready_streams: VecDeque::new(),
            current_stream: None,
            queued_messages: 0,
            send_buffered: 0,
            next_message_id: 0,
            retransmit_pending: 0,
            in_flight: 0,
            cwnd: (4 * mtu).min((2 * mtu).max(4380)),
            ssthresh: usize::MAX,
            partial_bytes_acked: 0,
            fast_recovery_exit: None,
            fast_rtx_ignore_cwnd: false,
            peer_rwnd: 0,
            srtt: None,
            rttvar: Duration::ZERO,
            rto,
            t3: None,
            error_count: 0,
            forward_tsn_needed: false,
            out_streams: HashMap::new(),
            sack_now: false,
            sack_deadline: None,
            data_packets_unacked: 0,
            next_reconfig_seq: initial_tsn,
            reconfig_queue: Vec::new(),
            reconfig_out: None,
            peer_next_reconfig_seq: 0,
            pending_incoming_reset: None,
            reconfig_responses: Vec::new(),
            last_reconfig_response: None,
            t2: None,
            heartbeat_due: None,
            heartbeat_sent: None,
            control: VecDeque::new(),
            pending_chunks: Vec::new(),
            events: VecDeque::new(),
            event_bytes: 0,
            pr_chunks: 0,
            ended: false,
            stats: Stats::default(),
            config,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The congestion window in bytes.
    pub fn cwnd(&self) -> usize {
        self.cwnd
    }

    /// Changes the largest packet we send (the caller's path MTU minus DTLS, UDP and IP
    /// overhead), clamped to 256..=65535. Applies to fragments cut from now on; chunks already
    /// sent keep their size when retransmitted.
    pub fn set_max_packet_size(&mut self, size: usize) {
        self.config.max_packet_size = size.clamp(256, 65_535);
    }

    /// Bytes the receive side holds: fragments being reassembled, ordered messages waiting for
    /// their turn, and delivered messages not yet taken with [`Association::poll_event`].
    pub fn receive_buffered(&self) -> usize {
        self.receiver.as_ref().map_or(0, |r| r.buffered()) + self.event_bytes
    }

    /// Bytes held for sending, as charged toward [`Config::max_buffered_amount`]: the data of
    /// messages queued or sent and not yet acknowledged (or abandoned and skipped), plus
    /// [`SEND_MESSAGE_OVERHEAD`] per message.
    pub fn send_buffered(&self) -> usize {
        self.send_buffered
    }

    /// Streams we may send on (ids below it): the smaller of our `Config::streams` and the
    /// peer's inbound streams once its INIT or INIT-ACK is known, `Config::streams` before.
    /// Messages queued before the association is up on a stream the peer then does not grant
    /// are dropped when it comes up.
    pub fn outbound_streams(&self) -> u16 {
        self.out_stream_count
    }

    /// Streams the peer may send on (ids below it): the smaller of our `Config::streams` and
    /// the peer's outbound streams once known. DATA on higher ids is acknowledged, dropped,
    /// counted in [`Stats::invalid_stream_data`] and answered with an "Invalid Stream
    /// Identifier" error (RFC 9260 6.5).
    pub fn inbound_streams(&self) -> u16 {
        self.in_stream_count
    }

    /// DATA chunks queued or sent and not yet acknowledged (or skipped).
    pub fn outstanding_chunks(&self) -> usize {
        self.outstanding.len() + self.queued_messages
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// The smoothed round-trip time (RFC 9260 6.3.1), once a measurement exists.
    pub fn smoothed_rtt(&self) -> Option<Duration> {
        self.srtt
    }

    fn interleaving(&self) -> bool {
        self.peer.is_some_and(|p| p.interleaving)
    }

    fn data_header_len(&self) -> usize {
        if self.interleaving() {
            I_DATA_HEADER_LEN
        } else {
            DATA_HEADER_LEN
        }
    }

    fn max_payload(&self) -> usize {
        (self.config.max_packet_size - COMMON_HEADER_LEN - self.data_header_len()) & !3
    }

    /// Starts the association by sending INIT. In WebRTC both sides call this; the collision
    /// is resolved by the INIT handling of RFC 9260 5.2.1.
    pub fn connect(&mut self, now: Instant) {
        if self.state != State::Closed {
            return;
        }
        self.state = State::CookieWait;
        self.init_retransmits = 0;
        self.send_init();
        self.init_timer = Some(now + self.rto);
    }

    /// Queues a message on a stream. It is fragmented and given TSNs when transmitted, as the
    /// congestion and receive windows allow; streams with queued data take turns message by
    /// message (round robin), so one stream's backlog does not starve the others.
    pub fn send(
        &mut self,
        now: Instant,
        stream_id: u16,
        ppid: u32,
        data: impl Into<Bytes>,
        options: SendOptions,
    ) -> Result<(), SendError> {
        let data: Bytes = data.into();
        let open = match self.state {
            State::Closed => !self.ended,
            State::CookieWait | State::CookieEchoed | State::Established => true,
            _ => false,
        };
        if !open {
            return Err(SendError::NotEstablished);
        }
        if stream_id >= self.out_stream_count {
            return Err(SendError::NotOpen(stream_id));
        }
        if data.len() > self.config.max_message_size {
            return Err(SendError::TooLarge {
                size: data.len(),
                max: self.config.max_message_size,
            });
        }
        if self
            .out_streams
            .get(&stream_id)
            .is_some_and(|s| s.resetting)
        {
            return Err(SendError::NotOpen(stream_id));
        }
        // SCTP cannot carry an empty DATA chunk; callers encode empty messages (RFC 8831 PPIDs).
        let data = if data.is_empty() {
            Bytes::from_static(&[0])
        } else {
            data
        };
        let cost = data.len() + SEND_MESSAGE_OVERHEAD;
        if self.send_buffered + cost > self.config.max_buffered_amount {
            return Err(SendError::BufferFull {
                buffered: self.send_buffered,
                limit: self.config.max_buffered_amount,
            });
        }
        self.send_buffered += cost;
        let stream = self.out_streams.entry(stream_id).or_default();
        if !options.uncounted {
            stream.buffered += data.len();
        }
        let (max_retransmits, expires) = match options.reliability {
            Reliability::Reliable => (None, None),
            Reliability::MaxRetransmits(n) => (Some(n), None),
            Reliability::MaxLifetime(d) => (None, Some(now + d)),
        };
        let was_idle = stream.queue.is_empty();
        self.next_message_id += 1;
        stream.queue.push_back(QueuedMessage {
            id: self.next_message_id,
            ppid,
            data,
            offset: 0,
            ssn: 0,
            mid: 0,
            fsn: 0,
            unordered: options.unordered,
            max_retransmits,
            expires,
            counted: !options.uncounted,
        });
        self.queued_messages += 1;
        if was_idle && self.current_stream != Some(stream_id) {
            self.ready_streams.push_back(stream_id);
        }
        Ok(())
    }

    /// Bytes queued on a stream and not yet transmitted.
    pub fn buffered_amount(&self, stream_id: u16) -> usize {
        self.out_streams.get(&stream_id).map_or(0, |s| s.buffered)
    }

    /// Sets the threshold for [`Event::BufferedAmountLow`] on a stream.
    pub fn set_buffered_amount_low_threshold(&mut self, stream_id: u16, threshold: usize) {
        self.out_streams.entry(stream_id).or_default().low_threshold = threshold;
    }

    /// Requests a reset of outgoing streams (RFC 6525 outgoing SSN reset), after all data
    /// already queued on them. Further sends on them fail until [`Event::OutgoingStreamsReset`].
    /// Ids at or above [`Association::outbound_streams`] are ignored.
    pub fn reset_streams(&mut self, streams: &[u16]) {
        for &s in streams {
            if s >= self.out_stream_count {
                continue;
            }
            let st = self.out_streams.entry(s).or_default();
            if !st.resetting {
                st.resetting = true;
                self.reconfig_queue.push(s);
            }
        }
    }

    /// Starts a graceful shutdown (RFC 9260 9.2).
    pub fn shutdown(&mut self, now: Instant) {
        if self.state == State::Established {
            self.state = State::ShutdownPending;
            self.maybe_progress_shutdown(now);
        } else if matches!(self.state, State::CookieWait | State::CookieEchoed) {
            self.abort(now);
        }
    }

    /// Sends ABORT and closes at once.
    pub fn abort(&mut self, _now: Instant) {
        if self.state == State::Closed && self.peer.is_none() {
            return;
        }
        self.send_abort(cause_code::USER_INITIATED_ABORT);
        self.close(CloseReason::LocalAbort);
    }

    fn send_abort(&mut self, cause: u16) {
        self.send_abort_with(cause, &[]);
    }

    fn send_abort_with(&mut self, cause: u16, info: &[u8]) {
        let tag = self.peer.map_or(0, |p| p.tag);
        let mut out = Vec::with_capacity(32);
        begin_packet(
            &mut out,
            self.config.local_port,
            self.config.remote_port,
            tag,
        );
        write_tlv_chunk(&mut out, chunk_type::ABORT, 0, |o| {
            write_tlv(o, cause, info)
        });
        finish_packet(&mut out, false);
        self.control.push_back(out);
    }

    fn close(&mut self, reason: CloseReason) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.state = State::Closed;
        self.peer = None;
        self.init_timer = None;
        self.t3 = None;
        self.t2 = None;
        self.heartbeat_due = None;
        self.sack_deadline = None;
        self.sack_now = false;
        self.outstanding.clear();
        self.ready_streams.clear();
        self.current_stream = None;
        self.queued_messages = 0;
        self.send_buffered = 0;
        for s in self.out_streams.values_mut() {
            s.queue.clear();
            s.buffered = 0;
        }
        self.retransmit_pending = 0;
        self.in_flight = 0;
        self.pr_chunks = 0;
        self.events.push_back(Event::Closed(reason));
    }

    /// Takes the next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front()?;
        if let Event::Message(m) = &e {
            self.event_bytes -= m.data.len();
        }
        Some(e)
    }

    fn drain_messages(&mut self) {
        let Some(r) = self.receiver.as_mut() else {
            return;
        };
        while let Some(m) = r.pop_message() {
            self.event_bytes += m.data.len();
            self.events.push_back(Event::Message(m));
        }
    }

    /// The next deadline at which [`Association::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.init_timer,
            self.t3,
            self.sack_deadline,
            self.t2,
            self.heartbeat_due,
            self.reconfig_out
                .as_ref()
                .and_then(|r| r.sent_at.map(|s| s + self.rto)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles the passing of time: retransmission timers, delayed acknowledgements.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.heartbeat_due.is_some_and(|d| now >= d) {
            self.check_heartbeat(now);
        }
        if let Some(t) = self.init_timer
            && now >= t
        {
            self.init_retransmits += 1;
            if self.init_retransmits > self.config.max_init_retransmits {
                self.init_timer = None;
                self.close(CloseReason::Timeout);
                return;
            }
            self.rto = (self.rto * 2).min(self.config.rto_max);
            match self.state {
                State::CookieWait => self.send_init(),
                State::CookieEchoed => self.send_cookie_echo(),
                _ => {}
            }
            self.init_timer = Some(now + self.rto);
        }
        if let Some(t) = self.sack_deadline
            && now >= t
        {
            self.sack_now = true;
            self.sack_deadline = None;
        }
        if let Some(t) = self.t3
            && now >= t
        {
            self.on_t3_expiry(now);
        }
        if let Some(t) = self.t2
            && now >= t
        {
            self.error_count += 1;
            if self
                .config
                .max_retransmits
                .is_some_and(|m| self.error_count > m)
            {
                self.send_abort(cause_code::PROTOCOL_VIOLATION);
                self.close(CloseReason::Timeout);
                return;
            }
            self.rto = (self.rto * 2).min(self.config.rto_max);
            match self.state {
                State::ShutdownSent => self.queue_shutdown(),
                State::ShutdownAckSent => self.queue_simple(chunk_type::SHUTDOWN_ACK),
                _ => {}
            }
            self.t2 = Some(now + self.rto);
        }
        if let Some(r) = &mut self.reconfig_out
            && r.sent_at.is_some_and(|s| now >= s + self.rto)
        {
            r.sent_at = None;
        }
    }

    /// Handles one SCTP packet (the payload of a DTLS application-data record).
    pub fn handle_receive(&mut self, now: Instant, packet: &[u8]) {
        self.stats.packets_received += 1;
        let parsed = if self.config.zero_checksum {
            SctpPacket::parse_zero_checksum_ok(packet)
        } else {
            SctpPacket::parse(packet)
        };
        let Ok(p) = parsed else {
            self.stats.packets_dropped += 1;
            return;
        };
        if p.destination_port() != self.config.local_port {
            self.stats.packets_dropped += 1;
            return;
        }
        let vtag = p.verification_tag();
        let mut chunks = p.chunks();
        let Some(first) = chunks.clone().next() else {
            return;
        };
        // Verification tag rules (RFC 9260 8.5, 8.5.1).
        let tag_ok = match first {
            Chunk::Init(_) => vtag == 0,
            Chunk::Abort { reflected, .. } | Chunk::ShutdownComplete { reflected } => {
                if reflected {
                    self.peer.is_some_and(|p| p.tag == vtag)
                } else {
                    vtag == self.local_tag
                }
            }
            _ => vtag == self.local_tag,
        };
        if !tag_ok {
            self.stats.packets_dropped += 1;
            self.stats.wrong_tag += 1;
            return;
        }
        let mut had_data = false;
        let mut immediate = false;
        for chunk in chunks.by_ref() {
            match chunk {
                Chunk::Data(d) if d.payload.is_empty() && self.peer.is_some() => {
                    // RFC 9260 6.2: a DATA chunk without user data aborts the association.
                    self.send_abort_with(cause_code::NO_USER_DATA, &d.tsn.to_be_bytes());
                    self.close(CloseReason::LocalAbort);
                    return;
                }
                Chunk::Data(d) => {
                    had_data = true;
                    if d.flags & data_flags::IMMEDIATE != 0 {
                        immediate = true;
                    }
                    self.on_data(&d);
                }
                Chunk::Init(i) => {
                    self.on_init(now, &i);
                    break;
                }
                Chunk::InitAck(i) => {
                    self.on_init_ack(now, &i);
                    break;
                }
                Chunk::CookieEcho(c) => self.on_cookie_echo(now, c),
                Chunk::CookieAck => {
                    if self.state == State::CookieEchoed {
                        self.init_timer = None;
                        self.cookie = None;
                        self.established(now);
                    }
                }
                Chunk::Sack(s) => self.on_sack(now, &s),
                Chunk::Heartbeat(params) => {
                    if self.peer.is_some() {
                        let bytes = params.as_bytes();
                        self.queue_reply(4 + bytes.len().next_multiple_of(4), |o| {
                            write_tlv_chunk(o, chunk_type::HEARTBEAT_ACK, 0, |o| {
                                o.extend_from_slice(bytes)
                            })
                        });
                    }
                }
                Chunk::HeartbeatAck(info) => self.on_heartbeat_ack(now, &info),
                Chunk::Abort { .. } => {
                    if self.state != State::Closed || self.peer.is_some() {
                        self.close(CloseReason::PeerAbort);
                    }
                    return;
                }
                Chunk::Shutdown { cum_tsn_ack } => self.on_shutdown(now, cum_tsn_ack),
                Chunk::ShutdownAck => {
                    if matches!(self.state, State::ShutdownSent | State::ShutdownAckSent) {
                        let mut out = Vec::with_capacity(16);
                        begin_packet(
                            &mut out,
                            self.config.local_port,
                            self.config.remote_port,
                            self.peer.map_or(0, |p| p.tag),
                        );
                        write_chunk_with(&mut out, chunk_type::SHUTDOWN_COMPLETE, 0, |_| {});
                        finish_packet(&mut out, false);
                        self.control.push_back(out);
                        self.close(CloseReason::Shutdown);
                    }
                    return;
                }
                Chunk::ShutdownComplete { .. } => {
                    if self.state == State::ShutdownAckSent {
                        self.close(CloseReason::Shutdown);
                    }
                    return;
                }
                Chunk::Error(causes) => {
                    let stale = causes.iter().any(|c| c.kind == cause_code::STALE_COOKIE);
                    if stale && self.state == State::CookieEchoed {
                        // Start over (RFC 9260 5.2.6).
                        self.peer = None;
                        self.receiver = None;
                        self.cookie = None;
                        self.state = State::CookieWait;
                        self.send_init();
                        self.init_timer = Some(now + self.rto);
                        return;
                    }
                }
                Chunk::ForwardTsn(f) => {
                    if let Some(r) = self.receiver.as_mut() {
                        r.on_forward_tsn(f.new_cum_tsn, f.streams());
                        self.sack_now = true;
                        self.drain_messages();
                        self.process_pending_incoming_reset();
                    }
                }
                Chunk::ReConfig(params) => self.on_reconfig(params),
                Chunk::IData(d) if self.interleaving() && d.payload.is_empty() => {
                    self.send_abort_with(cause_code::NO_USER_DATA, &d.tsn.to_be_bytes());
                    self.close(CloseReason::LocalAbort);
                    return;
                }
                Chunk::IData(d) if self.interleaving() => {
                    had_data = true;
                    if d.flags & data_flags::IMMEDIATE != 0 {
                        immediate = true;
                    }
                    self.on_idata(&d);
                }
                Chunk::IForwardTsn(f) if self.interleaving() => {
                    if let Some(r) = self.receiver.as_mut() {
                        r.on_i_forward_tsn(f.new_cum_tsn, f.entries());
                        self.sack_now = true;
                        self.drain_messages();
                        self.process_pending_incoming_reset();
                    }
                }
                Chunk::IData(_) | Chunk::IForwardTsn(_) => {
                    // Not negotiated: a protocol violation (RFC 8260 2.2).
                    self.send_abort(cause_code::PROTOCOL_VIOLATION);
                    self.close(CloseReason::LocalAbort);
                    return;
                }
                Chunk::Unknown {
                    chunk_type, value, ..
                } => {
                    let action = UnknownAction::from_bits(chunk_type >> 6);
                    if matches!(
                        action,
                        UnknownAction::StopAndReport | UnknownAction::SkipAndReport
                    ) && self.peer.is_some()
                    {
                        let mut header = vec![chunk_type, 0];
                        header.extend_from_slice(&((value.len() + 4) as u16).to_be_bytes());
                        header.extend_from_slice(value);
                        self.queue_reply(8 + header.len().next_multiple_of(4), |o| {
                            write_tlv_chunk(o, chunk_type::ERROR, 0, |o| {
                                write_tlv(o, cause_code::UNRECOGNIZED_CHUNK_TYPE, &header)
                            })
                        });
                    }
                    if matches!(action, UnknownAction::Stop | UnknownAction::StopAndReport) {
                        break;
                    }
                }
            }
        }
        if had_data {
            self.data_packets_unacked += 1;
            let gaps = self.receiver.as_ref().is_some_and(|r| r.has_gaps());
            if immediate || gaps || self.data_packets_unacked >= 2 {
                self.sack_now = true;
            } else if self.sack_deadline.is_none() {
                self.sack_deadline = Some(now + self.config.delayed_ack);
            }
        }
        self.maybe_progress_shutdown(now);
    }

    fn on_data(&mut self, d: &crate::chunk::DataChunk<'_>) {
        self.stats.data_chunks_received += 1;
        if !matches!(
            self.state,
            State::Established | State::ShutdownPending | State::ShutdownSent
        ) {
            self.stats.data_before_established += 1;
            return;
        }
        let Some(r) = self.receiver.as_mut() else {
            return;
        };
        let accept = r.on_data(d, self.event_bytes);
        self.on_accept(accept);
        self.drain_messages();
        self.process_pending_incoming_reset();
    }

    fn on_idata(&mut self, d: &crate::chunk::IDataChunk<'_>) {
        self.stats.data_chunks_received += 1;
        if !matches!(
            self.state,
            State::Established | State::ShutdownPending | State::ShutdownSent
        ) {
            self.stats.data_before_established += 1;
            return;
        }
        let Some(r) = self.receiver.as_mut() else {
            return;
        };
        let accept = r.on_idata(d, self.event_bytes);
        self.on_accept(accept);
        self.drain_messages();
        self.process_pending_incoming_reset();
    }

    fn on_accept(&mut self, accept: Accept) {
        match accept {
            Accept::New => {}
            Accept::Duplicate => self.sack_now = true,
            Accept::Dropped => {
                self.stats.data_dropped += 1;
                self.sack_now = true;
            }
            Accept::InvalidStream(sid) => {
                // RFC 9260 6.5: acknowledge, report at once, discard.
                self.stats.invalid_stream_data += 1;
                self.sack_now = true;
                let mut value = [0u8; 4];
                value[..2].copy_from_slice(&sid.to_be_bytes());
                self.queue_reply(12, |o| {
                    write_tlv_chunk(o, chunk_type::ERROR, 0, |o| {
                        write_tlv(o, cause_code::INVALID_STREAM_ID, &value)
                    })
                });
            }
        }
    }

    /// Queues a whole packet the peer's input asked for (INIT-ACK, stale-cookie ERROR); beyond
    /// `MAX_REPLY_PACKETS` waiting it is dropped and counted.
    fn push_reply_packet(&mut self, packet: Vec<u8>) {
        if self.control.len() >= MAX_REPLY_PACKETS {
            self.stats.replies_dropped += 1;
            return;
        }
        self.control.push_back(packet);
    }

    /// Queues a chunk the peer's input asked for (HEARTBEAT-ACK, ERROR reports) if it fits,
    /// with what is already queued, in one packet beside a SACK; otherwise it is dropped (and
    /// counted), so a peer cannot grow our pending output.
    fn queue_reply(&mut self, len: usize, write: impl FnOnce(&mut Vec<u8>)) {
        let budget = self
            .config
            .max_packet_size
            .saturating_sub(COMMON_HEADER_LEN + REPLY_RESERVE);
        if self.pending_chunks.len() + len > budget {
            self.stats.replies_dropped += 1;
            return;
        }
        write(&mut self.pending_chunks);
    }

    fn on_heartbeat_ack(&mut self, now: Instant, info: &Tlvs<'_>) {
        let Some(v) = info.find(param_type::HEARTBEAT_INFO) else {
            return;
        };
        let Some((nonce, sent)) = self.heartbeat_sent else {
            return;
        };
        if v.len() == 8 && v == nonce.to_be_bytes() {
            self.heartbeat_sent = None;
            self.error_count = 0;
            self.update_rto(now.saturating_duration_since(sent));
        }
    }

    /// Sends a HEARTBEAT when the association has been quiet for the configured interval.
    fn check_heartbeat(&mut self, now: Instant) {
        let Some(interval) = self.config.heartbeat_interval else {
            return;
        };
        if self.state != State::Established {
            self.heartbeat_due = None;
            return;
        }
        let Some(due) = self.heartbeat_due else {
            self.heartbeat_due = Some(now + interval);
            return;
        };
        if now < due {
            return;
        }
        if self.heartbeat_sent.is_some() {
            // The previous one went unanswered (RFC 9260 8.1).
            self.error_count += 1;
            if self
                .config
                .max_retransmits
                .is_some_and(|m| self.error_count > m)
            {
                self.send_abort(cause_code::PROTOCOL_VIOLATION);
                self.close(CloseReason::Timeout);
                return;
            }
        }
        let nonce =
            self.next_message_id ^ (now.saturating_duration_since(self.epoch).as_nanos() as u64);
        self.heartbeat_sent = Some((nonce, now));
        write_tlv_chunk(&mut self.pending_chunks, chunk_type::HEARTBEAT, 0, |o| {
            write_tlv(o, param_type::HEARTBEAT_INFO, &nonce.to_be_bytes())
        });
        self.heartbeat_due = Some(now + interval + self.rto);
    }

    fn queue_simple(&mut self, ty: u8) {
        write_chunk_with(&mut self.pending_chunks, ty, 0, |_| {});
    }

    fn queue_shutdown(&mut self) {
        let cum = self.receiver.as_ref().map_or(0, |r| r.cum_tsn());
        write_chunk_with(&mut self.pending_chunks, chunk_type::SHUTDOWN, 0, |o| {
            o.extend_from_slice(&cum.to_be_bytes())
        });
    }

    fn on_shutdown(&mut self, now: Instant, cum_tsn_ack: u32) {
        if !matches!(
            self.state,
            State::Established
                | State::ShutdownPending
                | State::ShutdownReceived
                | State::ShutdownSent
        ) {
            return;
        }
        self.ack_up_to(now, cum_tsn_ack);
        if self.state != State::ShutdownSent {
            self.state = State::ShutdownReceived;
        }
        self.maybe_progress_shutdown(now);
    }

    fn ack_up_to(&mut self, now: Instant, cum: u32) {
        if serial_lt(self.cum_ack, cum) && !serial_lt(self.next_tsn.wrapping_sub(1), cum) {
            let mut b = Vec::new();
            let rwnd = (self.peer_rwnd + self.in_flight) as u32;
            write_sack(&mut b, cum, rwnd, &[], &[]);
            if let Ok((Chunk::Sack(s), _)) = Chunk::parse(&b) {
                self.on_sack(now, &s);
            }
        }
    }

    fn maybe_progress_shutdown(&mut self, now: Instant) {
        if !self.outstanding.is_empty() || self.queued_messages > 0 {
            return;
        }
        match self.state {
            State::ShutdownPending => {
                self.state = State::ShutdownSent;
                self.queue_shutdown();
                self.t2 = Some(now + self.rto);
            }
            State::ShutdownReceived => {
                self.state = State::ShutdownAckSent;
                self.queue_simple(chunk_type::SHUTDOWN_ACK);
                self.t2 = Some(now + self.rto);
            }
            _ => {}
        }
    }

    /// Builds the next packet to send, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.config.max_packet_size);
        self.poll_transmit_into(now, &mut out).then_some(out)
    }

    /// Like [`Association::poll_transmit`], but writes the packet into `out` (cleared first), so
    /// a caller reusing one buffer allocates nothing per packet. Returns whether there was one.
    pub fn poll_transmit_into(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        if let Some(p) = self.control.pop_front() {
            self.stats.packets_sent += 1;
            out.clear();
            out.extend_from_slice(&p);
            return true;
        }
        let Some(peer) = self.peer else {
            return false;
        };
        if !matches!(
            self.state,
            State::Established
                | State::ShutdownPending
                | State::ShutdownSent
                | State::ShutdownReceived
                | State::ShutdownAckSent
        ) {
            return false;
        }
        let mtu = self.config.max_packet_size;
        begin_packet(
            out,
            self.config.local_port,
            self.config.remote_port,
            peer.tag,
        );
        if !self.pending_chunks.is_empty() && self.pending_chunks.len() + out.len() <= mtu {
            out.extend_from_slice(&self.pending_chunks);
            self.pending_chunks.clear();
        } else if !self.pending_chunks.is_empty() {
            // Oversized control output (cannot happen with our bounds); drop it.
            self.pending_chunks.clear();
        }
        let sending_data = self.has_sendable_data();
        if self.sack_now || (self.sack_deadline.is_some() && sending_data) {
            self.write_sack_chunk(out, mtu);
        }
        if self.pr_chunks > 0 {
            self.check_abandon(now);
        }
        if self.forward_tsn_needed && peer.forward_tsn {
            self.forward_tsn_needed = false;
            self.write_forward_tsn_chunk(out, mtu);
        }
        self.write_reconfig(now, out, mtu);
        if matches!(
            self.state,
            State::Established | State::ShutdownPending | State::ShutdownReceived
        ) {
            self.write_data_chunks(now, out, mtu);
        }
        if out.len() == COMMON_HEADER_LEN {
            out.clear();
            // Building the packet may have set a control packet aside (a RE-CONFIG that did
            // not fit beside the rest).
            if let Some(p) = self.control.pop_front() {
                self.stats.packets_sent += 1;
                out.extend_from_slice(&p);
                return true;
            }
            return false;
        }
        finish_packet(out, peer.zero_checksum);
        self.stats.packets_sent += 1;
        if let Some(interval) = self.config.heartbeat_interval
            && self.state == State::Established
            && self.heartbeat_sent.is_none()
        {
            self.heartbeat_due = Some(now + interval);
        }
        true
    }
}

impl std::fmt::Debug for Association {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Association")
            .field("state", &self.state)
            .field("local_tag", &self.local_tag)
            .field("cwnd", &self.cwnd)
            .field("in_flight", &self.in_flight)
            .field("outstanding", &self.outstanding.len())
            .field("init_retransmits", &self.init_retransmits)
            .field("has_peer", &self.peer.is_some())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
