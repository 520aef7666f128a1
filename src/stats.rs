//! A snapshot of a peer connection's statistics ([`crate::PeerConnection::stats_report`]), shaped
//! like the W3C `getStats()` report: the transport, each candidate pair, each RTP stream in and
//! out, and each data channel.

use std::net::SocketAddr;
use std::time::Duration;

use sansrtc_dtls as dtls;
use sansrtc_ice as ice;
use sansrtc_srtp as srtp;

use crate::event::{ConnectionState, DtlsState, IceState};
use crate::peer::{ChannelId, ChannelState};

/// Everything [`crate::PeerConnection::stats_report`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsReport {
    /// The bundled transport (ICE + DTLS + SRTP).
    pub transport: TransportStats,
    /// Every candidate pair the ICE agent checks.
    pub candidate_pairs: Vec<CandidatePairStats>,
    /// Every RTP stream (SSRC) received.
    pub inbound_rtp: Vec<InboundRtpStats>,
    /// Every RTP stream (SSRC) sent.
    pub outbound_rtp: Vec<OutboundRtpStats>,
    /// Every data channel, open or closed.
    pub data_channels: Vec<DataChannelStats>,
}

/// The transport's state and counters.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportStats {
    /// Overall state.
    pub state: ConnectionState,
    /// ICE state.
    pub ice_state: IceState,
    /// DTLS state.
    pub dtls_state: DtlsState,
    /// Datagrams and bytes in and out, and what was dropped.
    pub counters: Stats,
    /// The selected candidate pair `(local, remote)`.
    pub selected_pair: Option<(SocketAddr, SocketAddr)>,
    /// The negotiated DTLS cipher suite: a DTLS 1.2 suite or, with DTLS 1.3, a 1.3 one
    /// (e.g. TLS_AES_128_GCM_SHA256).
    pub dtls_cipher_suite: Option<dtls::Suite>,
    /// The DTLS version once connected.
    pub dtls_version: Option<dtls::ProtocolVersion>,
    /// The key exchange group negotiated by DTLS (e.g. X25519MLKEM768 with DTLS 1.3).
    pub dtls_group: Option<dtls::NamedGroup>,
    /// The negotiated SRTP profile.
    pub srtp_profile: Option<srtp::Profile>,
    /// The ICE agent's counters.
    pub ice: ice::agent::AgentStats,
    /// The DTLS endpoint's counters.
    pub dtls: Option<dtls::endpoint::Stats>,
    /// SCTP's smoothed round-trip time.
    pub sctp_round_trip_time: Option<Duration>,
    /// The SCTP association's state and counters.
    pub sctp: Option<(sansrtc_sctp::State, sansrtc_sctp::association::Stats)>,
    /// Whether SCTP zero checksum (RFC 9653) was negotiated ([`crate::Config::sctp_zero_checksum`]).
    pub sctp_zero_checksum: bool,
}

/// One candidate pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidatePairStats {
    /// Local address (base).
    pub local: SocketAddr,
    /// Remote address.
    pub remote: SocketAddr,
    /// UDP, or TCP (ICE-TCP: the stream the peer opened to our passive candidate).
    pub transport: crate::Transport,
    /// The pair's check state.
    pub state: ice::checklist::PairState,
    /// Nominated.
    pub nominated: bool,
    /// The pair in use.
    pub selected: bool,
    /// Round-trip time of the last check or consent request answered without retransmission.
    pub round_trip_time: Option<Duration>,
    /// Datagrams sent on this path (checks excepted).
    pub packets_sent: u64,
    /// Bytes sent on this path.
    pub bytes_sent: u64,
    /// Datagrams received on this path.
    pub packets_received: u64,
    /// Bytes received on this path.
    pub bytes_received: u64,
}

/// One received RTP stream.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundRtpStats {
    /// Its SSRC.
    pub ssrc: u32,
    /// The m-section it belongs to.
    pub mid: Option<sansrtc_sdp::Mid>,
    /// Its simulcast layer.
    pub rid: Option<String>,
    /// Packets received.
    pub packets_received: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Packets lost (RFC 3550 cumulative count: expected minus received).
    pub packets_lost: i64,
    /// Interarrival jitter.
    pub jitter: Duration,
    /// NACKs we sent about it.
    pub nacks_sent: u64,
    /// PLIs we sent about it.
    pub plis_sent: u64,
    /// FIRs we sent about it.
    pub firs_sent: u64,
    /// Packets that came again after a NACK (RTX unwrapped), counted in `packets_received` too.
    pub retransmitted_packets_received: u64,
    /// Their payload bytes.
    pub retransmitted_bytes_received: u64,
}

/// One sent RTP stream.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundRtpStats {
    /// Its SSRC.
    pub ssrc: u32,
    /// The m-section it belongs to.
    pub mid: Option<sansrtc_sdp::Mid>,
    /// Its simulcast layer.
    pub rid: Option<String>,
    /// Packets sent.
    pub packets_sent: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// NACKs the peer sent about it.
    pub nacks_received: u64,
    /// PLIs the peer sent about it.
    pub plis_received: u64,
    /// FIRs the peer sent about it.
    pub firs_received: u64,
    /// Round-trip time from the peer's last report block (LSR/DLSR).
    pub round_trip_time: Option<Duration>,
    /// Fraction lost the peer last reported (0.0..1.0).
    pub remote_fraction_lost: Option<f64>,
    /// Cumulative packets lost the peer last reported.
    pub remote_packets_lost: Option<i64>,
    /// Jitter the peer last reported.
    pub remote_jitter: Option<Duration>,
    /// Packets sent again to answer NACKs (as RTX or as the original), not counted in
    /// `packets_sent`.
    pub retransmitted_packets_sent: u64,
    /// Their payload bytes.
    pub retransmitted_bytes_sent: u64,
}

/// One data channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChannelStats {
    /// Its id.
    pub id: ChannelId,
    /// The SCTP stream carrying it (none while it waits for SCTP).
    pub stream_id: Option<u16>,
    /// Label.
    pub label: String,
    /// Sub-protocol.
    pub protocol: String,
    /// Connecting, open or closed.
    pub state: ChannelState,
    /// Messages sent.
    pub messages_sent: u64,
    /// Message bytes sent.
    pub bytes_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Message bytes received.
    pub bytes_received: u64,
    /// Bytes queued and not yet sent.
    pub buffered_amount: usize,
}

/// Counters of what was dropped or done (bad input never panics; it is counted here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Datagrams queued for sending.
    pub datagrams_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Bytes queued for sending.
    pub bytes_sent: u64,
    /// Datagrams that fit no RFC 7983 range, or arrived on an unregistered address.
    pub dropped_unknown: u64,
    /// DTLS, SRTP and SRTCP datagrams from a path that no authenticated ICE check validated
    /// (anyone can send to our sockets: only the peer knows the ICE password).
    pub dropped_unvalidated: u64,
    /// DTLS, SRTP and SRTCP datagrams not sent because no path has ICE consent (RFC 7675:
    /// consent expired, or nothing is selected yet).
    pub dropped_no_consent: u64,
    /// STUN datagrams the ICE agent did not accept.
    pub dropped_stun: u64,
    /// DTLS datagrams before DTLS was set up.
    pub dropped_dtls: u64,
    /// SRTP/SRTCP packets before keys existed or failing authentication/replay checks.
    pub dropped_srtp: u64,
    /// Remote candidates in the SDP left out: unknown syntax, or TCP (a passive TCP candidate
    /// of ours pairs with the peer's active one when its connection's first check arrives).
    pub bad_candidates: u64,
    /// SRTP packets unprotected.
    pub rtp_received: u64,
    /// SRTP packets protected and sent.
    pub rtp_sent: u64,
    /// SRTCP packets unprotected.
    pub rtcp_received: u64,
    /// SRTCP packets sent.
    pub rtcp_sent: u64,
    /// Datagrams a TURN relay could not take yet (no permission or allocation).
    pub dropped_relay: u64,
    /// TURN allocations that failed.
    pub relay_failures: u64,
    /// RTX packets dropped: padding only (bandwidth probes), or repairing an unknown stream.
    pub rtx_discarded: u64,
    /// SCTP packets DTLS could not seal (never expected: counted rather than hidden).
    pub dropped_sctp: u64,
    /// Packets sent again to answer NACKs.
    pub retransmissions_sent: u64,
    /// NACKed packets not sent again: their stream had spent its retransmission budget (as
    /// many bytes per second as it sends, at least 16 KiB).
    pub retransmissions_limited: u64,
    /// Padding-only RTX packets sent for bandwidth probes ([`crate::Config::probing`]).
    pub padding_sent: u64,
}
