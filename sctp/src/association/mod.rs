//! The SCTP association (RFC 9260) as a sans-IO state machine, for SCTP carried over DTLS
//! (RFC 8261): handshake with an authenticated cookie, reliable transfer with SACKs, congestion
//! control, retransmission timers, partial reliability (RFC 3758), stream reset (RFC 6525) and
//! shutdown.
//!
//! This module holds the state and the application's side (sending, events, building packets);
//! the rest by concern: `handshake`, `input` (received packets), `sender` (SACKs, congestion
//! control, DATA writing), `reconfig` (stream resets), `timers` (deadlines, heartbeats),
//! `shutdown`, `payloads` (message data held for sending) and `types` (the public vocabulary).
//!
//! # Allocation
//!
//! Once warm, an association driven with [`Association::send_from_slice`],
//! [`Association::poll_transmit_into`] and [`Association::recycle`] allocates nothing per
//! message or packet (while the messages in flight fit [`Config::max_pooled_bytes`]): message
//! data lives in recycled buffers, chunks refer to it by range, fragments arriving in order are
//! appended to their message as they come. `benches/benches/sctp_alloc.rs` counts it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ring::hmac;
use sansrtc_core::VecMap;

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
use crate::pool::BufferPool;
use crate::receiver::{Accept, Receiver};
use crate::rng::Rng;

mod handshake;
mod input;
mod payloads;
mod reconfig;
mod sender;
mod shutdown;
mod timers;
mod types;

use payloads::Payloads;

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
    /// The message's payload (in `Association::payloads`) and this chunk's part of it.
    payload: usize,
    offset: usize,
    len: usize,
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
    /// The payload (in `Association::payloads`) and its length.
    payload: usize,
    len: usize,
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
    out_streams: VecMap<u16, OutStream>,
    /// Payloads of queued and outstanding messages.
    payloads: Payloads,
    /// Buffers of finished messages (sent and acknowledged, or delivered and handed back with
    /// `recycle`), reused for the next ones.
    pool: BufferPool,

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
    /// Frees what an idle association does not need: pooled message buffers and the storage
    /// of empty queues (the next message allocates again). Call it when the connection has
    /// been quiet for a while; it changes no protocol state.
    pub fn release_buffers(&mut self) {
        self.pool.release();
        self.payloads.release_if_empty();
        if self.outstanding.is_empty() {
            self.outstanding.shrink_to_fit();
        }
        if self.ready_streams.is_empty() {
            self.ready_streams.shrink_to_fit();
        }
        if self.control.is_empty() {
            self.control.shrink_to_fit();
        }
        if self.events.is_empty() {
            self.events.shrink_to_fit();
        }
        for s in self.out_streams.values_mut() {
            if s.queue.is_empty() {
                s.queue.shrink_to_fit();
            }
        }
        if let Some(r) = &mut self.receiver {
            r.release_buffers();
        }
    }

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
        rng.fill(&mut key);
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
            out_streams: VecMap::new(),
            payloads: Payloads::default(),
            pool: BufferPool::new(config.max_pooled_bytes),
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

    /// Whether zero checksum (RFC 9653) is in use: both sides offered it, so the packets we
    /// send carry a zero checksum and rely on DTLS to detect errors.
    pub fn zero_checksum(&self) -> bool {
        self.peer.is_some_and(|p| p.zero_checksum)
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
    ///
    /// The message is held as given (a `Bytes`, or a `Vec` turned into one): nothing is copied,
    /// but the caller allocated it. [`Association::send_from_slice`] copies into a recycled
    /// buffer instead and allocates nothing once warm.
    pub fn send(
        &mut self,
        now: Instant,
        stream_id: u16,
        ppid: u32,
        data: impl Into<Bytes>,
        options: SendOptions,
    ) -> Result<(), SendError> {
        let data: Bytes = data.into();
        self.enqueue(now, stream_id, ppid, data.len(), options, |payloads, _| {
            // SCTP cannot carry an empty DATA chunk; callers encode empty messages (RFC 8831
            // PPIDs).
            payloads.insert_shared(if data.is_empty() {
                Bytes::from_static(&[0])
            } else {
                data
            })
        })
    }

    /// Like [`Association::send`], but copies `data` into a buffer of the association's pool:
    /// buffers of acknowledged (or abandoned) messages and of received ones handed back with
    /// [`Association::recycle`] are reused, so a warm association allocates nothing per
    /// message. Nothing is copied when the message is refused.
    pub fn send_from_slice(
        &mut self,
        now: Instant,
        stream_id: u16,
        ppid: u32,
        data: &[u8],
        options: SendOptions,
    ) -> Result<(), SendError> {
        self.enqueue(
            now,
            stream_id,
            ppid,
            data.len(),
            options,
            |payloads, pool| payloads.insert_copy(if data.is_empty() { &[0] } else { data }, pool),
        )
    }

    /// Gives a buffer back for reuse: typically the data of a received message
    /// ([`ReceivedMessage::data`](crate::ReceivedMessage::data)) the application is done with.
    /// The next message received or copied in with [`Association::send_from_slice`] then
    /// reuses it instead of allocating. Any `Vec` may be given; the pool keeps at most
    /// [`Config::max_pooled_bytes`] and frees the rest.
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        self.pool.put(buffer);
    }

    /// Bytes of idle buffers held for reuse, as charged toward [`Config::max_pooled_bytes`].
    pub fn pooled_bytes(&self) -> usize {
        self.pool.charged()
    }

    /// Queues a message of `len` bytes on `stream_id` if it may be sent, its payload held by
    /// `hold` (called only then). One lookup of the stream.
    #[inline]
    fn enqueue(
        &mut self,
        now: Instant,
        stream_id: u16,
        ppid: u32,
        len: usize,
        options: SendOptions,
        hold: impl FnOnce(&mut Payloads, &mut BufferPool) -> usize,
    ) -> Result<(), SendError> {
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
        if len > self.config.max_message_size {
            return Err(SendError::TooLarge {
                size: len,
                max: self.config.max_message_size,
            });
        }
        let stream = self.out_streams.get_or_insert_default(stream_id);
        if stream.resetting {
            return Err(SendError::NotOpen(stream_id));
        }
        // An empty message goes out as one byte.
        let len = len.max(1);
        let cost = len + SEND_MESSAGE_OVERHEAD;
        if self.send_buffered + cost > self.config.max_buffered_amount {
            return Err(SendError::BufferFull {
                buffered: self.send_buffered,
                limit: self.config.max_buffered_amount,
            });
        }
        let payload = hold(&mut self.payloads, &mut self.pool);
        self.send_buffered += cost;
        if !options.uncounted {
            stream.buffered += len;
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
            payload,
            len,
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
        self.out_streams
            .get_or_insert_default(stream_id)
            .low_threshold = threshold;
    }

    /// Requests a reset of outgoing streams (RFC 6525 outgoing SSN reset), after all data
    /// already queued on them. Further sends on them fail until [`Event::OutgoingStreamsReset`].
    /// Ids at or above [`Association::outbound_streams`] are ignored.
    pub fn reset_streams(&mut self, streams: &[u16]) {
        for &s in streams {
            if s >= self.out_stream_count {
                continue;
            }
            let st = self.out_streams.get_or_insert_default(s);
            if !st.resetting {
                st.resetting = true;
                self.reconfig_queue.push(s);
            }
        }
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
