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
use crate::receiver::{Accept, ReceivedMessage, Receiver};
use crate::rng::Rng;

/// Association settings. The defaults suit WebRTC data channels.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our SCTP port (5000 in WebRTC).
    pub local_port: u16,
    /// The peer's SCTP port (5000 in WebRTC).
    pub remote_port: u16,
    /// Largest SCTP packet we send, common header included: the path MTU minus DTLS, UDP and
    /// IP overhead. Default 1150 (1200-byte datagrams minus DTLS record overhead).
    pub max_packet_size: usize,
    /// Receive buffer advertised as a_rwnd; raised to at least twice `max_message_size`.
    pub receive_window: u32,
    /// Largest message we accept and send (advertised in SDP as max-message-size).
    pub max_message_size: usize,
    /// Number of inbound and outbound streams we offer.
    pub streams: u16,
    /// Initial retransmission timeout.
    pub rto_initial: Duration,
    /// Lower bound on the retransmission timeout.
    pub rto_min: Duration,
    /// Upper bound on the retransmission timeout.
    pub rto_max: Duration,
    /// Consecutive retransmission timeouts after which the association fails (`None`: never).
    pub max_retransmits: Option<u32>,
    /// INIT / COOKIE-ECHO retransmissions before giving up.
    pub max_init_retransmits: u32,
    /// How long a SACK may be delayed.
    pub delayed_ack: Duration,
    /// How long a state cookie stays valid.
    pub cookie_lifetime: Duration,
    /// Offer zero checksum (RFC 9653, error detection by DTLS); used when both sides offer it.
    pub zero_checksum: bool,
    /// Offer I-DATA message interleaving (RFC 8260); used when both sides offer it. Fragments of
    /// messages on different streams then take turns, so a large message does not hold up the
    /// others.
    pub interleaving: bool,
    /// Send a HEARTBEAT after this long without sending anything (`None`: never). Unanswered
    /// heartbeats count toward `max_retransmits`; answered ones measure the RTT.
    pub heartbeat_interval: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            local_port: 5000,
            remote_port: 5000,
            max_packet_size: 1150,
            receive_window: 1024 * 1024,
            max_message_size: 256 * 1024,
            streams: 1024,
            rto_initial: Duration::from_millis(1000),
            rto_min: Duration::from_millis(400),
            rto_max: Duration::from_secs(10),
            max_retransmits: Some(10),
            max_init_retransmits: 8,
            delayed_ack: Duration::from_millis(200),
            cookie_lifetime: Duration::from_secs(60),
            zero_checksum: false,
            interleaving: false,
            heartbeat_interval: Some(Duration::from_secs(30)),
        }
    }
}

/// Per-message reliability for partial reliability (RFC 3758).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reliability {
    /// Retransmit until acknowledged.
    #[default]
    Reliable,
    /// Give up after this many retransmissions.
    MaxRetransmits(u16),
    /// Give up once this much time has passed since `send`.
    MaxLifetime(Duration),
}

/// Options for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendOptions {
    /// Deliver without regard to order.
    pub unordered: bool,
    /// Partial reliability policy.
    pub reliability: Reliability,
}

/// Why the association ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The SHUTDOWN sequence completed.
    Shutdown,
    /// We aborted.
    LocalAbort,
    /// The peer sent ABORT.
    PeerAbort,
    /// Too many retransmissions without an answer.
    Timeout,
}

/// Something the application must know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The association is established.
    Connected,
    /// A complete message arrived.
    Message(ReceivedMessage),
    /// The peer reset these incoming streams (their outgoing direction); sequence numbers start
    /// again at zero.
    IncomingStreamsReset(Vec<u16>),
    /// Our request to reset these outgoing streams was performed.
    OutgoingStreamsReset(Vec<u16>),
    /// A stream's buffered amount fell to or below its low threshold.
    BufferedAmountLow(u16),
    /// The association is closed.
    Closed(CloseReason),
}

/// Association state (RFC 9260 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No association; waiting for an INIT or `connect`.
    Closed,
    /// INIT sent.
    CookieWait,
    /// COOKIE-ECHO sent.
    CookieEchoed,
    /// Established.
    Established,
    /// Shutdown requested; waiting for outstanding data.
    ShutdownPending,
    /// SHUTDOWN sent.
    ShutdownSent,
    /// SHUTDOWN received; waiting for outstanding data.
    ShutdownReceived,
    /// SHUTDOWN-ACK sent.
    ShutdownAckSent,
}

/// Counters for tests and monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets received that failed to parse or authenticate.
    pub packets_dropped: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// DATA chunks retransmitted (fast or timeout).
    pub retransmissions: u64,
    /// Fast retransmit events.
    pub fast_retransmits: u64,
    /// T3-rtx expiries.
    pub t3_expiries: u64,
    /// DATA chunks dropped for memory bounds.
    pub data_dropped: u64,
    /// Messages abandoned by partial reliability.
    pub messages_abandoned: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    InFlight,
    Retransmit,
    Acked,
    Abandoned,
}

#[derive(Debug)]
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

#[derive(Debug)]
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
}

#[derive(Debug, Default)]
struct OutStream {
    queue: VecDeque<QueuedMessage>,
    next_ssn: u16,
    next_mid: u32,
    next_unordered_mid: u32,
    buffered: usize,
    low_threshold: usize,
    resetting: bool,
}

#[derive(Debug)]
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
pub struct Association {
    config: Config,
    state: State,
    epoch: Instant,
    key: hmac::Key,
    local_tag: u32,
    initial_tsn: u32,
    peer: Option<Peer>,
    receiver: Option<Receiver>,

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
            init_timer: None,
            init_retransmits: 0,
            cookie: None,
            next_tsn: initial_tsn,
            cum_ack: initial_tsn.wrapping_sub(1),
            outstanding: VecDeque::new(),
            ready_streams: VecDeque::new(),
            current_stream: None,
            queued_messages: 0,
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

    /// DATA chunks queued or sent and not yet acknowledged (or skipped).
    pub fn outstanding_chunks(&self) -> usize {
        self.outstanding.len() + self.queued_messages
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rto
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

    fn init_params(&self, out: &mut Vec<u8>) {
        write_tlv(out, param_type::FORWARD_TSN_SUPPORTED, &[]);
        if self.config.interleaving {
            write_tlv(
                out,
                param_type::SUPPORTED_EXTENSIONS,
                &[
                    chunk_type::RE_CONFIG,
                    chunk_type::FORWARD_TSN,
                    chunk_type::I_DATA,
                    chunk_type::I_FORWARD_TSN,
                ],
            );
        } else {
            write_tlv(
                out,
                param_type::SUPPORTED_EXTENSIONS,
                &[chunk_type::RE_CONFIG, chunk_type::FORWARD_TSN],
            );
        }
        if self.config.zero_checksum {
            // Error detection method 1: DTLS (RFC 9653 / RFC 8261).
            write_tlv(
                out,
                param_type::ZERO_CHECKSUM_ACCEPTABLE,
                &1u32.to_be_bytes(),
            );
        }
    }

    fn send_init(&mut self) {
        let mut out = Vec::with_capacity(128);
        begin_packet(&mut out, self.config.local_port, self.config.remote_port, 0);
        let mut params = Vec::new();
        self.init_params(&mut params);
        Chunk::Init(InitChunk {
            initiate_tag: self.local_tag,
            a_rwnd: self.config.receive_window,
            outbound_streams: self.config.streams,
            inbound_streams: self.config.streams,
            initial_tsn: self.initial_tsn,
            params: Tlvs::parse(&params).expect("we wrote valid parameters"),
        })
        .write(&mut out);
        finish_packet(&mut out, false);
        self.control.push_back(out);
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
        if stream_id >= self.config.streams {
            return Err(SendError::NotOpen(stream_id));
        }
        if data.len() > self.config.max_message_size {
            return Err(SendError::TooLarge {
                size: data.len(),
                max: self.config.max_message_size,
            });
        }
        let stream = self.out_streams.entry(stream_id).or_default();
        if stream.resetting {
            return Err(SendError::NotOpen(stream_id));
        }
        // SCTP cannot carry an empty DATA chunk; callers encode empty messages (RFC 8831 PPIDs).
        let data = if data.is_empty() {
            Bytes::from_static(&[0])
        } else {
            data
        };
        stream.buffered += data.len();
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
    pub fn reset_streams(&mut self, streams: &[u16]) {
        for &s in streams {
            let st = self.out_streams.entry(s).or_default();
            if !st.resetting {
                st.resetting = true;
                self.reconfig_queue.push(s);
            }
        }
    }

    /// Treats our pending outgoing reset of `stream` as performed. The data-channel layer calls
    /// this when the peer opens the stream again: the peer reuses a stream only after it has
    /// performed our reset, so only its response is still on the way (or lost).
    pub fn assume_outgoing_reset_done(&mut self, stream: u16) {
        let Some(req) = self.reconfig_out.as_mut() else {
            return;
        };
        let Some(pos) = req.streams.iter().position(|s| *s == stream) else {
            return;
        };
        req.streams.remove(pos);
        if req.streams.is_empty() {
            // Nothing left to wait for; the sequence number stays used, as the peer saw it.
            self.reconfig_out = None;
        }
        if let Some(st) = self.out_streams.get_mut(&stream) {
            st.next_ssn = 0;
            st.next_mid = 0;
            st.next_unordered_mid = 0;
            st.resetting = false;
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
        let tag = self.peer.map_or(0, |p| p.tag);
        let mut out = Vec::with_capacity(32);
        begin_packet(
            &mut out,
            self.config.local_port,
            self.config.remote_port,
            tag,
        );
        write_tlv_chunk(&mut out, chunk_type::ABORT, 0, |o| write_tlv(o, cause, &[]));
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

    fn on_t3_expiry(&mut self, now: Instant) {
        self.stats.t3_expiries += 1;
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
        let mtu = self.config.max_packet_size;
        self.ssthresh = (self.cwnd / 2).max(4 * mtu);
        self.cwnd = mtu;
        self.partial_bytes_acked = 0;
        self.fast_recovery_exit = None;
        self.rto = (self.rto * 2).min(self.config.rto_max);
        for i in 0..self.outstanding.len() {
            let c = &mut self.outstanding[i];
            if c.state == ChunkState::InFlight {
                c.state = ChunkState::Retransmit;
                self.in_flight -= c.data.len();
                self.retransmit_pending += 1;
            }
        }
        self.check_abandon(now);
        if self.adv_peer_ack_point() != self.cum_ack {
            self.forward_tsn_needed = true;
        }
        self.t3 = if self.outstanding.is_empty() {
            None
        } else {
            Some(now + self.rto)
        };
    }

    /// Handles one SCTP packet (the payload of a DTLS application-data record).
    pub fn handle_receive(&mut self, now: Instant, packet: &[u8]) {
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
            return;
        }
        let mut had_data = false;
        let mut immediate = false;
        for chunk in chunks.by_ref() {
            match chunk {
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
                        let bytes = params.as_bytes().to_vec();
                        write_tlv_chunk(
                            &mut self.pending_chunks,
                            chunk_type::HEARTBEAT_ACK,
                            0,
                            |o| o.extend_from_slice(&bytes),
                        );
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
                        if self.pending_chunks.len() + header.len() + 8 < self.max_payload() {
                            write_tlv_chunk(&mut self.pending_chunks, chunk_type::ERROR, 0, |o| {
                                write_tlv(o, cause_code::UNRECOGNIZED_CHUNK_TYPE, &header)
                            });
                        }
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
        if !matches!(
            self.state,
            State::Established | State::ShutdownPending | State::ShutdownSent
        ) {
            return;
        }
        let Some(r) = self.receiver.as_mut() else {
            return;
        };
        match r.on_data(d, self.event_bytes) {
            Accept::New => {}
            Accept::Duplicate => self.sack_now = true,
            Accept::Dropped => {
                self.stats.data_dropped += 1;
                self.sack_now = true;
            }
        }
        self.drain_messages();
        self.process_pending_incoming_reset();
    }

    fn on_idata(&mut self, d: &crate::chunk::IDataChunk<'_>) {
        if !matches!(
            self.state,
            State::Established | State::ShutdownPending | State::ShutdownSent
        ) {
            return;
        }
        let Some(r) = self.receiver.as_mut() else {
            return;
        };
        match r.on_idata(d, self.event_bytes) {
            Accept::New => {}
            Accept::Duplicate => self.sack_now = true,
            Accept::Dropped => {
                self.stats.data_dropped += 1;
                self.sack_now = true;
            }
        }
        self.drain_messages();
        self.process_pending_incoming_reset();
    }

    fn peer_features(params: &Tlvs<'_>) -> (bool, bool, bool, bool) {
        let mut fwd = false;
        let mut reconfig = false;
        let mut zero = false;
        let mut idata = false;
        for p in params.iter() {
            match p.kind {
                param_type::FORWARD_TSN_SUPPORTED => fwd = true,
                param_type::SUPPORTED_EXTENSIONS => {
                    fwd |= p.value.contains(&chunk_type::FORWARD_TSN);
                    reconfig |= p.value.contains(&chunk_type::RE_CONFIG);
                    idata |= p.value.contains(&chunk_type::I_DATA)
                        && p.value.contains(&chunk_type::I_FORWARD_TSN);
                }
                param_type::ZERO_CHECKSUM_ACCEPTABLE => zero = p.value == 1u32.to_be_bytes(),
                param_type::STATE_COOKIE
                | param_type::UNRECOGNIZED_PARAMETER
                | param_type::IPV4_ADDRESS
                | param_type::IPV6_ADDRESS
                | param_type::COOKIE_PRESERVATIVE
                | param_type::SUPPORTED_ADDRESS_TYPES
                | param_type::ECN_CAPABLE => {}
                _ => {
                    if matches!(
                        p.unknown_action(),
                        UnknownAction::Stop | UnknownAction::StopAndReport
                    ) {
                        break;
                    }
                }
            }
        }
        (fwd, reconfig, zero, idata)
    }

    fn on_init(&mut self, now: Instant, init: &InitChunk<'_>) {
        if init.initiate_tag == 0 || init.inbound_streams == 0 || init.outbound_streams == 0 {
            return;
        }
        if matches!(
            self.state,
            State::ShutdownAckSent | State::ShutdownSent | State::ShutdownReceived
        ) {
            return;
        }
        // Answer statelessly; in every state our tag and initial TSN stay the same, so an INIT
        // collision (RFC 9260 5.2.1) yields matching cookies on both sides.
        let (fwd, reconfig, zero, idata) = Self::peer_features(&init.params);
        let cookie = CookieParams {
            created_ms: now.saturating_duration_since(self.epoch).as_millis() as u64,
            local_tag: self.local_tag,
            peer_tag: init.initiate_tag,
            local_initial_tsn: self.initial_tsn,
            peer_initial_tsn: init.initial_tsn,
            peer_rwnd: init.a_rwnd,
            peer_outbound_streams: init.outbound_streams,
            peer_inbound_streams: init.inbound_streams,
            peer_features: fwd as u8
                | (reconfig as u8) << 1
                | (zero as u8) << 2
                | (idata as u8) << 3,
        }
        .seal(&self.key);
        let mut params = Vec::with_capacity(128);
        write_tlv(&mut params, param_type::STATE_COOKIE, &cookie);
        self.init_params(&mut params);
        for p in init.params.iter() {
            let known = matches!(
                p.kind,
                param_type::FORWARD_TSN_SUPPORTED
                    | param_type::SUPPORTED_EXTENSIONS
                    | param_type::ZERO_CHECKSUM_ACCEPTABLE
                    | param_type::IPV4_ADDRESS
                    | param_type::IPV6_ADDRESS
                    | param_type::COOKIE_PRESERVATIVE
                    | param_type::SUPPORTED_ADDRESS_TYPES
                    | param_type::ECN_CAPABLE
            );
            if !known {
                let action = p.unknown_action();
                if matches!(
                    action,
                    UnknownAction::StopAndReport | UnknownAction::SkipAndReport
                ) && params.len() < 512
                {
                    let mut inner = Vec::new();
                    p.write(&mut inner);
                    write_tlv(&mut params, param_type::UNRECOGNIZED_PARAMETER, &inner);
                }
                if matches!(action, UnknownAction::Stop | UnknownAction::StopAndReport) {
                    break;
                }
            }
        }
        let mut out = Vec::with_capacity(64 + params.len());
        begin_packet(
            &mut out,
            self.config.local_port,
            self.config.remote_port,
            init.initiate_tag,
        );
        Chunk::InitAck(InitChunk {
            initiate_tag: self.local_tag,
            a_rwnd: self.config.receive_window,
            outbound_streams: self.config.streams,
            inbound_streams: self.config.streams,
            initial_tsn: self.initial_tsn,
            params: Tlvs::parse(&params).expect("we wrote valid parameters"),
        })
        .write(&mut out);
        finish_packet(&mut out, false);
        self.control.push_back(out);
    }

    fn on_init_ack(&mut self, now: Instant, ack: &InitChunk<'_>) {
        if self.state != State::CookieWait || ack.initiate_tag == 0 {
            return;
        }
        let Some(cookie) = ack.params.find(param_type::STATE_COOKIE) else {
            return;
        };
        let (fwd, _reconfig, zero, idata) = Self::peer_features(&ack.params);
        self.setup_peer(
            ack.initiate_tag,
            ack.a_rwnd,
            ack.initial_tsn,
            (
                fwd,
                zero && self.config.zero_checksum,
                idata && self.config.interleaving,
            ),
        );
        self.cookie = Some(cookie.to_vec());
        self.state = State::CookieEchoed;
        self.init_retransmits = 0;
        self.send_cookie_echo();
        self.init_timer = Some(now + self.rto);
    }

    fn setup_peer(
        &mut self,
        tag: u32,
        rwnd: u32,
        initial_tsn: u32,
        (fwd, zero, interleaving): (bool, bool, bool),
    ) {
        self.peer = Some(Peer {
            tag,
            interleaving,
            forward_tsn: fwd,
            zero_checksum: zero,
        });
        self.peer_rwnd = rwnd as usize;
        self.ssthresh = rwnd as usize;
        self.peer_next_reconfig_seq = initial_tsn;
        let hard = self.config.receive_window as usize + self.config.receive_window as usize / 4;
        self.receiver = Some(Receiver::new(
            initial_tsn,
            self.config.max_message_size,
            hard,
        ));
    }

    fn send_cookie_echo(&mut self) {
        let (Some(cookie), Some(peer)) = (&self.cookie, self.peer) else {
            return;
        };
        let mut out = Vec::with_capacity(32 + cookie.len());
        begin_packet(
            &mut out,
            self.config.local_port,
            self.config.remote_port,
            peer.tag,
        );
        Chunk::CookieEcho(cookie).write(&mut out);
        finish_packet(&mut out, false);
        self.control.push_back(out);
    }

    fn on_cookie_echo(&mut self, now: Instant, cookie: &[u8]) {
        if cookie.len() != COOKIE_LEN {
            return;
        }
        let Some(c) = CookieParams::open(&self.key, cookie) else {
            self.stats.packets_dropped += 1;
            return;
        };
        if c.local_tag != self.local_tag || c.local_initial_tsn != self.initial_tsn {
            return;
        }
        // A duplicate COOKIE-ECHO for the association we have (our COOKIE-ACK was lost, RFC
        // 9260 5.2.4 case D) is answered whatever the cookie's age.
        let ours = self.peer.is_some_and(|p| p.tag == c.peer_tag);
        if ours
            && !matches!(
                self.state,
                State::Closed | State::CookieWait | State::CookieEchoed
            )
        {
            self.queue_simple(chunk_type::COOKIE_ACK);
            return;
        }
        let age = now.saturating_duration_since(self.epoch).as_millis() as u64;
        let lifetime = self.config.cookie_lifetime.as_millis() as u64;
        if age.saturating_sub(c.created_ms) > lifetime {
            // Stale cookie (RFC 9260 5.1.5, 5.2.6): report it so the peer starts over with INIT.
            let staleness_us = (age - c.created_ms - lifetime).saturating_mul(1000);
            let mut out = Vec::with_capacity(32);
            begin_packet(
                &mut out,
                self.config.local_port,
                self.config.remote_port,
                c.peer_tag,
            );
            write_tlv_chunk(&mut out, chunk_type::ERROR, 0, |o| {
                write_tlv(
                    o,
                    cause_code::STALE_COOKIE,
                    &(staleness_us.min(u32::MAX as u64) as u32).to_be_bytes(),
                )
            });
            finish_packet(&mut out, false);
            self.control.push_back(out);
            return;
        }
        match self.state {
            State::Closed | State::CookieWait | State::CookieEchoed => {
                if self.peer.is_none_or(|p| p.tag != c.peer_tag) {
                    self.setup_peer(
                        c.peer_tag,
                        c.peer_rwnd,
                        c.peer_initial_tsn,
                        (
                            c.peer_features & 1 != 0,
                            c.peer_features & 4 != 0 && self.config.zero_checksum,
                            c.peer_features & 8 != 0 && self.config.interleaving,
                        ),
                    );
                }
                self.init_timer = None;
                self.cookie = None;
                self.queue_simple(chunk_type::COOKIE_ACK);
                self.established(now);
            }
            _ => {
                // Duplicate COOKIE-ECHO for this association (RFC 9260 5.2.4 case D).
                if self.peer.is_some_and(|p| p.tag == c.peer_tag) {
                    self.queue_simple(chunk_type::COOKIE_ACK);
                }
            }
        }
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

    fn established(&mut self, now: Instant) {
        self.state = State::Established;
        self.error_count = 0;
        self.heartbeat_due = self.config.heartbeat_interval.map(|i| now + i);
        self.rto = self.config.rto_initial;
        self.events.push_back(Event::Connected);
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

    fn update_rto(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + diff / 4;
                self.srtt = Some(srtt * 7 / 8 + r / 8);
            }
        }
        let srtt = self.srtt.expect("just set");
        self.rto = (srtt + (self.rttvar * 4).max(Duration::from_millis(1)))
            .clamp(self.config.rto_min, self.config.rto_max);
    }

    fn on_sack(&mut self, now: Instant, sack: &SackChunk<'_>) {
        if !matches!(
            self.state,
            State::Established
                | State::ShutdownPending
                | State::ShutdownReceived
                | State::ShutdownSent
        ) {
            return;
        }
        let cum = sack.cum_tsn_ack;
        if serial_lt(cum, self.cum_ack) {
            return;
        }
        let highest = self.next_tsn.wrapping_sub(1);
        if serial_lt(highest, cum) {
            return;
        }
        let flight_before = self.in_flight;
        let mut bytes_acked = 0usize;
        let mut rtt_sample: Option<Instant> = None;
        let advanced = cum != self.cum_ack;
        let n = cum.wrapping_sub(self.cum_ack) as usize;
        for _ in 0..n {
            let Some(c) = self.outstanding.pop_front() else {
                break;
            };
            if c.max_retransmits.is_some() || c.expires.is_some() {
                self.pr_chunks -= 1;
            }
            match c.state {
                ChunkState::InFlight => {
                    self.in_flight -= c.data.len();
                    bytes_acked += c.data.len();
                    if c.transmits == 1 {
                        rtt_sample = c.sent_at;
                    }
                }
                ChunkState::Retransmit => {
                    self.retransmit_pending -= 1;
                    bytes_acked += c.data.len();
                }
                ChunkState::Acked | ChunkState::Abandoned => {}
            }
        }
        self.cum_ack = cum;
        // Gap-ack blocks: must be ascending and disjoint; anything else ends the walk.
        let mut prev_end = 0u32;
        let mut highest_newly_acked: Option<usize> = None;
        let sent = self.outstanding.len();
        for (start, end) in sack.gap_blocks() {
            let (start, end) = (start as u32, end as u32);
            if start == 0 || start <= prev_end || end < start {
                break;
            }
            prev_end = end;
            let lo = (start - 1) as usize;
            let hi = (end as usize).min(sent);
            for i in lo..hi {
                let c = &mut self.outstanding[i];
                match c.state {
                    ChunkState::InFlight => {
                        self.in_flight -= c.data.len();
                        bytes_acked += c.data.len();
                        if c.transmits == 1 {
                            rtt_sample = c.sent_at;
                        }
                        c.state = ChunkState::Acked;
                        highest_newly_acked = Some(i);
                    }
                    ChunkState::Retransmit => {
                        self.retransmit_pending -= 1;
                        bytes_acked += c.data.len();
                        c.state = ChunkState::Acked;
                        highest_newly_acked = Some(i);
                    }
                    _ => {}
                }
            }
        }
        // Miss indications (RFC 9260 7.2.4, with the HTNA rule).
        let mut fast = false;
        if let Some(h) = highest_newly_acked {
            for i in 0..h {
                let c = &mut self.outstanding[i];
                if c.state == ChunkState::InFlight && !c.fast_retransmitted {
                    c.misses += 1;
                    if c.misses >= 3 {
                        c.state = ChunkState::Retransmit;
                        c.fast_retransmitted = true;
                        self.in_flight -= c.data.len();
                        self.retransmit_pending += 1;
                        fast = true;
                    }
                }
            }
        }
        if let Some(t) = rtt_sample {
            self.update_rto(now.saturating_duration_since(t));
        }
        let mtu = self.config.max_packet_size;
        if let Some(exit) = self.fast_recovery_exit
            && !serial_lt(cum, exit)
        {
            self.fast_recovery_exit = None;
        }
        if advanced {
            self.error_count = 0;
            if self.fast_recovery_exit.is_none() {
                let utilized = flight_before + mtu >= self.cwnd;
                if self.cwnd <= self.ssthresh {
                    if utilized {
                        self.cwnd += bytes_acked.min(mtu);
                    }
                } else {
                    self.partial_bytes_acked += bytes_acked;
                    if self.partial_bytes_acked >= self.cwnd && utilized {
                        self.partial_bytes_acked -= self.cwnd;
                        self.cwnd += mtu;
                    }
                }
            }
        }
        if fast {
            self.stats.fast_retransmits += 1;
            if self.fast_recovery_exit.is_none() {
                self.ssthresh = (self.cwnd / 2).max(4 * mtu);
                self.cwnd = self.ssthresh;
                self.partial_bytes_acked = 0;
                self.fast_recovery_exit = Some(self.next_tsn.wrapping_sub(1));
            }
            self.fast_rtx_ignore_cwnd = true;
        }
        self.peer_rwnd = (sack.a_rwnd as usize).saturating_sub(self.in_flight);
        let adv = self.adv_peer_ack_point();
        if self.peer.is_some_and(|p| p.forward_tsn) && adv != self.cum_ack {
            self.forward_tsn_needed = true;
        }
        let pending = self.in_flight > 0 || self.retransmit_pending > 0 || adv != self.cum_ack;
        if !pending {
            self.t3 = None;
        } else if advanced || self.t3.is_none() {
            self.t3 = Some(now + self.rto);
        }
        self.maybe_progress_shutdown(now);
    }

    fn reduce_buffered(&mut self, stream_id: u16, len: usize) {
        if let Some(s) = self.out_streams.get_mut(&stream_id) {
            let before = s.buffered;
            s.buffered = s.buffered.saturating_sub(len);
            if before > s.low_threshold && s.buffered <= s.low_threshold {
                self.events.push_back(Event::BufferedAmountLow(stream_id));
            }
        }
    }

    /// The TSN up to which the peer may move its cumulative point (RFC 3758 3.5 C1).
    fn adv_peer_ack_point(&self) -> u32 {
        let mut p = self.cum_ack;
        for c in &self.outstanding {
            if c.state != ChunkState::Abandoned {
                break;
            }
            p = c.tsn;
        }
        p
    }

    /// Abandons messages whose partial-reliability limits passed (RFC 3758 3.5 A1-A3).
    fn check_abandon(&mut self, now: Instant) {
        if !self.peer.is_some_and(|p| p.forward_tsn) || self.pr_chunks == 0 {
            return;
        }
        let before = self.stats.messages_abandoned;
        let mut i = 0;
        while i < self.outstanding.len() {
            let c = &self.outstanding[i];
            let expired = c.expires.is_some_and(|e| now >= e);
            let too_many = c.state == ChunkState::Retransmit
                && c.max_retransmits.is_some_and(|m| c.transmits > m as u32);
            if matches!(c.state, ChunkState::InFlight | ChunkState::Retransmit)
                && (expired || too_many)
            {
                i = self.abandon_message(i);
            } else {
                i += 1;
            }
        }
        if self.stats.messages_abandoned != before && self.adv_peer_ack_point() != self.cum_ack {
            self.forward_tsn_needed = true;
        }
    }

    /// Abandons the message containing index `i`; returns the index after it.
    fn abandon_message(&mut self, i: usize) -> usize {
        let id = self.outstanding[i].message_id;
        let mut start = i;
        while start > 0 && self.outstanding[start - 1].message_id == id {
            start -= 1;
        }
        let mut end = i;
        while end + 1 < self.outstanding.len() && self.outstanding[end + 1].message_id == id {
            end += 1;
        }
        self.stats.messages_abandoned += 1;
        for k in start..=end {
            let c = &mut self.outstanding[k];
            match c.state {
                ChunkState::InFlight => self.in_flight -= c.data.len(),
                ChunkState::Retransmit => self.retransmit_pending -= 1,
                _ => {}
            }
            c.state = ChunkState::Abandoned;
        }
        // The rest of a partly sent message is dropped from its stream's queue.
        let sid = self.outstanding[i].stream_id;
        if let Some(st) = self.out_streams.get_mut(&sid)
            && st.queue.front().is_some_and(|m| m.id == id)
        {
            let m = st.queue.pop_front().expect("checked above");
            let rest = m.data.len() - m.offset;
            let more = !st.queue.is_empty();
            self.queued_messages -= 1;
            // With DATA the partly sent message's stream is the current one; with I-DATA it is
            // already waiting in the round robin.
            if self.current_stream == Some(sid) {
                self.current_stream = None;
                if more {
                    self.ready_streams.push_back(sid);
                }
            }
            self.reduce_buffered(sid, rest);
        }
        end + 1
    }

    fn on_reconfig(&mut self, params: Tlvs<'_>) {
        if self.peer.is_none() {
            return;
        }
        for tlv in params.iter() {
            let Ok(p) = ReconfigParam::from_tlv(tlv) else {
                continue;
            };
            match p {
                ReconfigParam::OutgoingReset {
                    request_seq,
                    last_tsn,
                    streams,
                    ..
                } => {
                    if request_seq == self.peer_next_reconfig_seq {
                        self.peer_next_reconfig_seq = request_seq.wrapping_add(1);
                        let list: Vec<u16> = streams.iter().take(1024).collect();
                        self.pending_incoming_reset = Some((request_seq, last_tsn, list));
                        self.process_pending_incoming_reset();
                    } else if request_seq.wrapping_add(1) == self.peer_next_reconfig_seq {
                        // A retransmitted request: answer again if we already did.
                        if let Some((seq, result)) = self.last_reconfig_response
                            && seq == request_seq
                        {
                            self.reconfig_responses.push((seq, result));
                        }
                    } else {
                        self.reconfig_responses
                            .push((request_seq, reconfig_result::ERROR_BAD_SEQUENCE));
                    }
                }
                ReconfigParam::IncomingReset { request_seq, .. }
                | ReconfigParam::SsnTsnReset { request_seq }
                | ReconfigParam::AddStreams { request_seq, .. } => {
                    if request_seq == self.peer_next_reconfig_seq {
                        self.peer_next_reconfig_seq = request_seq.wrapping_add(1);
                    }
                    self.reconfig_responses
                        .push((request_seq, reconfig_result::DENIED));
                }
                ReconfigParam::Response {
                    response_seq,
                    result,
                    ..
                } => {
                    let Some(req) = &self.reconfig_out else {
                        continue;
                    };
                    if req.seq != response_seq {
                        continue;
                    }
                    if result == reconfig_result::IN_PROGRESS {
                        continue;
                    }
                    let req = self.reconfig_out.take().expect("checked above");
                    for s in &req.streams {
                        if let Some(st) = self.out_streams.get_mut(s) {
                            st.next_ssn = 0;
                            st.next_mid = 0;
                            st.next_unordered_mid = 0;
                            st.resetting = false;
                        }
                    }
                    self.events
                        .push_back(Event::OutgoingStreamsReset(req.streams));
                }
                ReconfigParam::Unknown(_) => {}
            }
        }
    }

    fn process_pending_incoming_reset(&mut self) {
        let Some((seq, last_tsn, _)) = &self.pending_incoming_reset else {
            return;
        };
        let (seq, last_tsn) = (*seq, *last_tsn);
        let Some(r) = self.receiver.as_mut() else {
            return;
        };
        if !r.reached(last_tsn) {
            return;
        }
        let (_, _, streams) = self.pending_incoming_reset.take().expect("checked above");
        r.reset_streams(&streams);
        self.reconfig_responses
            .push((seq, reconfig_result::SUCCESS_PERFORMED));
        self.last_reconfig_response = Some((seq, reconfig_result::SUCCESS_PERFORMED));
        self.events.push_back(Event::IncomingStreamsReset(streams));
    }

    /// Builds the next packet to send, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if let Some(p) = self.control.pop_front() {
            self.stats.packets_sent += 1;
            return Some(p);
        }
        let peer = self.peer?;
        if !matches!(
            self.state,
            State::Established
                | State::ShutdownPending
                | State::ShutdownSent
                | State::ShutdownReceived
                | State::ShutdownAckSent
        ) {
            return None;
        }
        let mtu = self.config.max_packet_size;
        let mut out = Vec::with_capacity(mtu);
        begin_packet(
            &mut out,
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
            self.write_sack_chunk(&mut out, mtu);
        }
        if self.pr_chunks > 0 {
            self.check_abandon(now);
        }
        if self.forward_tsn_needed && peer.forward_tsn {
            self.forward_tsn_needed = false;
            self.write_forward_tsn_chunk(&mut out, mtu);
        }
        self.write_reconfig(now, &mut out, mtu);
        if matches!(
            self.state,
            State::Established | State::ShutdownPending | State::ShutdownReceived
        ) {
            self.write_data_chunks(now, &mut out, mtu);
        }
        if out.len() == COMMON_HEADER_LEN {
            return None;
        }
        finish_packet(&mut out, peer.zero_checksum);
        self.stats.packets_sent += 1;
        if let Some(interval) = self.config.heartbeat_interval
            && self.state == State::Established
            && self.heartbeat_sent.is_none()
        {
            self.heartbeat_due = Some(now + interval);
        }
        Some(out)
    }

    fn has_sendable_data(&self) -> bool {
        self.retransmit_pending > 0 || self.queued_messages > 0
    }

    fn write_sack_chunk(&mut self, out: &mut Vec<u8>, mtu: usize) {
        let Some(r) = self.receiver.as_mut() else {
            return;
        };
        let room = mtu.saturating_sub(out.len() + 16);
        let mut dups = r.take_dups();
        dups.truncate(room / 8);
        let gaps = r.gap_blocks((room - dups.len() * 4) / 4);
        let rwnd = (self.config.receive_window as usize)
            .saturating_sub(r.buffered() + self.event_bytes) as u32;
        write_sack(out, r.cum_tsn(), rwnd, &gaps, &dups);
        self.sack_now = false;
        self.sack_deadline = None;
        self.data_packets_unacked = 0;
    }

    fn write_forward_tsn_chunk(&mut self, out: &mut Vec<u8>, mtu: usize) {
        let adv = self.adv_peer_ack_point();
        if adv == self.cum_ack {
            return;
        }
        if self.interleaving() {
            // (stream, unordered, MID): the highest skipped ordered MID per stream, and every
            // skipped unordered message.
            let mut entries: Vec<(u16, bool, u32)> = Vec::new();
            for c in &self.outstanding {
                if c.tsn == adv.wrapping_add(1) {
                    break;
                }
                let unordered = c.flags & data_flags::UNORDERED != 0;
                match entries.iter_mut().find(|(s, u, m)| {
                    *s == c.stream_id && *u == unordered && (!unordered || *m == c.mid)
                }) {
                    Some(e) => e.2 = c.mid,
                    None => entries.push((c.stream_id, unordered, c.mid)),
                }
            }
            let room = mtu.saturating_sub(out.len() + 8) / 8;
            entries.truncate(room);
            write_i_forward_tsn(out, adv, &entries);
            return;
        }
        let mut streams: Vec<(u16, u16)> = Vec::new();
        for c in &self.outstanding {
            if c.tsn == adv.wrapping_add(1) {
                break;
            }
            if c.flags & data_flags::UNORDERED == 0 {
                match streams.iter_mut().find(|(s, _)| *s == c.stream_id) {
                    Some(e) => e.1 = c.ssn,
                    None => streams.push((c.stream_id, c.ssn)),
                }
            }
        }
        let room = mtu.saturating_sub(out.len() + 8) / 4;
        streams.truncate(room);
        write_forward_tsn(out, adv, &streams);
    }

    fn write_reconfig(&mut self, now: Instant, out: &mut Vec<u8>, mtu: usize) {
        let mut body = Vec::new();
        for (seq, result) in self.reconfig_responses.drain(..) {
            ReconfigParam::Response {
                response_seq: seq,
                result,
                next_tsns: None,
            }
            .write(&mut body);
        }
        if self.reconfig_out.is_none() && !self.reconfig_queue.is_empty() {
            // A stream is reset only once all its queued data has TSNs, so the request's last
            // TSN covers it.
            let (streams, wait): (Vec<u16>, Vec<u16>) = std::mem::take(&mut self.reconfig_queue)
                .into_iter()
                .partition(|s| self.out_streams.get(s).is_none_or(|st| st.queue.is_empty()));
            self.reconfig_queue = wait;
            if !streams.is_empty() {
                let seq = self.next_reconfig_seq;
                self.next_reconfig_seq = seq.wrapping_add(1);
                self.reconfig_out = Some(ReconfigRequest {
                    seq,
                    last_tsn: self.next_tsn.wrapping_sub(1),
                    streams,
                    sent_at: None,
                });
            }
        }
        if let Some(req) = &mut self.reconfig_out
            && req.sent_at.is_none()
        {
            req.sent_at = Some(now);
            write_outgoing_reset(
                &mut body,
                req.seq,
                self.peer_next_reconfig_seq.wrapping_sub(1),
                req.last_tsn,
                &req.streams,
            );
        }
        if body.is_empty() {
            return;
        }
        if out.len() + 4 + body.len() > mtu {
            // Cannot fit now: send alone in the next packet.
            let mut own = Vec::new();
            begin_packet(
                &mut own,
                self.config.local_port,
                self.config.remote_port,
                self.peer.map_or(0, |p| p.tag),
            );
            write_tlv_chunk(&mut own, chunk_type::RE_CONFIG, 0, |o| {
                o.extend_from_slice(&body)
            });
            finish_packet(&mut own, false);
            self.control.push_back(own);
            return;
        }
        write_tlv_chunk(out, chunk_type::RE_CONFIG, 0, |o| {
            o.extend_from_slice(&body)
        });
    }

    fn write_data_chunks(&mut self, now: Instant, out: &mut Vec<u8>, mtu: usize) {
        let ignore_cwnd = std::mem::take(&mut self.fast_rtx_ignore_cwnd);
        let header_len = self.data_header_len();
        // Retransmissions first, oldest first.
        if self.retransmit_pending > 0 {
            for i in 0..self.outstanding.len() {
                if self.retransmit_pending == 0 {
                    break;
                }
                let c = &self.outstanding[i];
                if c.state != ChunkState::Retransmit {
                    continue;
                }
                let len = c.data.len();
                // A chunk cut before the MTU shrank goes out alone rather than never.
                if out.len() + header_len + len > mtu && out.len() > COMMON_HEADER_LEN {
                    return;
                }
                if !ignore_cwnd && self.in_flight >= self.cwnd {
                    return;
                }
                if self.peer_rwnd < len && self.in_flight > 0 && !ignore_cwnd {
                    return;
                }
                self.retransmit_pending -= 1;
                self.stats.retransmissions += 1;
                self.transmit_chunk(now, i, out);
            }
        }
        let max_payload = self.max_payload();
        let interleaving = self.interleaving();
        loop {
            if self.in_flight >= self.cwnd {
                return;
            }
            let room = mtu.saturating_sub(out.len() + header_len) & !3;
            if room == 0 {
                return;
            }
            let sid = match self.current_stream {
                Some(s) => s,
                None => match self.ready_streams.pop_front() {
                    Some(s) => {
                        self.current_stream = Some(s);
                        s
                    }
                    None => return,
                },
            };
            let Some(st) = self.out_streams.get_mut(&sid) else {
                self.current_stream = None;
                continue;
            };
            let Some(m) = st.queue.front_mut() else {
                self.current_stream = None;
                continue;
            };
            if m.offset == 0 && m.expires.is_some_and(|e| now >= e) {
                // Expired before any of it was sent: dropped without using a TSN.
                let m = st.queue.pop_front().expect("front exists");
                let more = !st.queue.is_empty();
                self.queued_messages -= 1;
                self.current_stream = None;
                if more {
                    self.ready_streams.push_back(sid);
                }
                self.stats.messages_abandoned += 1;
                self.reduce_buffered(sid, m.data.len());
                continue;
            }
            let remaining = m.data.len() - m.offset;
            let mut len = remaining.min(max_payload);
            // A packet already carrying control chunks takes a shorter fragment, unless the
            // space left is small.
            if len > room {
                if room < 512 {
                    return;
                }
                len = room;
            }
            if self.peer_rwnd < len && self.in_flight > 0 {
                return;
            }
            if m.offset == 0 {
                if interleaving {
                    let counter = if m.unordered {
                        &mut st.next_unordered_mid
                    } else {
                        &mut st.next_mid
                    };
                    m.mid = *counter;
                    *counter = counter.wrapping_add(1);
                } else if !m.unordered {
                    m.ssn = st.next_ssn;
                    st.next_ssn = st.next_ssn.wrapping_add(1);
                }
            }
            let mut flags = if m.unordered {
                data_flags::UNORDERED
            } else {
                0
            };
            if m.offset == 0 {
                flags |= data_flags::BEGIN;
            }
            if len == remaining {
                flags |= data_flags::END;
            }
            let chunk = OutChunk {
                tsn: self.next_tsn,
                stream_id: sid,
                ssn: if m.unordered { 0 } else { m.ssn },
                ppid: m.ppid,
                flags,
                data: m.data.slice(m.offset..m.offset + len),
                state: ChunkState::InFlight,
                sent_at: None,
                transmits: 0,
                misses: 0,
                fast_retransmitted: false,
                max_retransmits: m.max_retransmits,
                expires: m.expires,
                message_id: m.id,
                mid: m.mid,
                fsn: m.fsn,
            };
            m.offset += len;
            m.fsn = m.fsn.wrapping_add(1);
            if flags & data_flags::END != 0 {
                st.queue.pop_front();
                self.queued_messages -= 1;
                self.current_stream = None;
                if !st.queue.is_empty() {
                    self.ready_streams.push_back(sid);
                }
            } else if interleaving {
                // I-DATA: the next stream's turn after every fragment.
                self.current_stream = None;
                self.ready_streams.push_back(sid);
            }
            if chunk.max_retransmits.is_some() || chunk.expires.is_some() {
                self.pr_chunks += 1;
            }
            self.next_tsn = self.next_tsn.wrapping_add(1);
            self.outstanding.push_back(chunk);
            self.reduce_buffered(sid, len);
            let i = self.outstanding.len() - 1;
            self.transmit_chunk(now, i, out);
        }
    }

    fn transmit_chunk(&mut self, now: Instant, i: usize, out: &mut Vec<u8>) {
        let c = &mut self.outstanding[i];
        c.state = ChunkState::InFlight;
        c.transmits += 1;
        c.misses = 0;
        c.sent_at = Some(now);
        if self.peer.is_some_and(|p| p.interleaving) {
            let ppid_or_fsn = if c.flags & data_flags::BEGIN != 0 {
                c.ppid
            } else {
                c.fsn
            };
            Chunk::IData(crate::chunk::IDataChunk {
                flags: c.flags,
                tsn: c.tsn,
                stream_id: c.stream_id,
                mid: c.mid,
                ppid_or_fsn,
                payload: &c.data,
            })
            .write(out);
        } else {
            write_data(out, c.flags, c.tsn, c.stream_id, c.ssn, c.ppid, &c.data);
        }
        let len = c.data.len();
        self.in_flight += len;
        self.peer_rwnd = self.peer_rwnd.saturating_sub(len);
        if self.t3.is_none() {
            self.t3 = Some(now + self.rto);
        }
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
