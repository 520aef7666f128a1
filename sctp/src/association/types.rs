//! The association's public vocabulary: configuration, per-message options, events, states and
//! counters.

use std::time::Duration;

use crate::receiver::ReceivedMessage;

/// Association settings. The defaults suit WebRTC data channels.
///
/// Built from [`Config::default`] and changed field by field (it is `#[non_exhaustive]`, so
/// settings can be added without breaking callers).
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// Most bytes held for sending: messages queued and not yet acknowledged (or abandoned),
    /// each charged its length plus [`SEND_MESSAGE_OVERHEAD`](super::SEND_MESSAGE_OVERHEAD).
    /// A `send` that would pass it fails with
    /// [`SendError::BufferFull`](crate::SendError::BufferFull), so a peer that never
    /// acknowledges cannot grow our memory beyond it. Default 16 MiB (Chromium's limit on a
    /// data channel's `bufferedAmount`); raised to at least one `max_message_size` message.
    pub max_buffered_amount: usize,
    /// Most bytes of idle message buffers kept for reuse: buffers of messages sent with
    /// `send_from_slice` once acknowledged (or abandoned), and of received messages the
    /// application handed back with `recycle`. Each buffer is charged its capacity plus 64
    /// bytes. While the messages in flight fit, sending and receiving allocate nothing per
    /// message. Default 4 MiB: a sender that keeps a receive window (1 MiB by default) of
    /// messages queued and another in flight has twice that alive, and the pool only ever holds
    /// buffers that were alive at once anyway; 0 disables reuse.
    pub max_pooled_bytes: usize,
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
            max_buffered_amount: 16 * 1024 * 1024,
            max_pooled_bytes: 4 * 1024 * 1024,
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

/// Options for one message: [`SendOptions::default`] (ordered, reliable, counted), changed
/// field by field (it is `#[non_exhaustive]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SendOptions {
    /// Deliver without regard to order.
    pub unordered: bool,
    /// Partial reliability policy.
    pub reliability: Reliability,
    /// Left out of the stream's buffered amount (control messages such as DCEP, which the
    /// application never queued).
    pub uncounted: bool,
}

/// Why the association ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
pub struct Stats {
    /// Packets received (dropped ones included).
    pub packets_received: u64,
    /// Packets received with a verification tag not this association's (dropped).
    pub wrong_tag: u64,
    /// DATA and I-DATA chunks received.
    pub data_chunks_received: u64,
    /// DATA chunks ignored because the association was not established.
    pub data_before_established: u64,
    /// Packets received that failed to parse or authenticate.
    pub packets_dropped: u64,
    /// Packets received with an all-zero checksum field that is not their CRC32c, dropped
    /// because zero checksum may not be used for them (RFC 9653): we did not announce it
    /// (`Config::zero_checksum` off), or the packet carries an INIT. Also in `packets_dropped`.
    pub zero_checksum_refused: u64,
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
    /// DATA and I-DATA chunks on a stream id at or above the negotiated inbound count:
    /// acknowledged, dropped and answered with an "Invalid Stream Identifier" error.
    pub invalid_stream_data: u64,
    /// Replies the peer asked for (HEARTBEAT-ACK, ERROR reports) dropped because a packet's
    /// worth of them was already waiting to be sent.
    pub replies_dropped: u64,
}
