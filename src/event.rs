//! What a peer connection tells the application: events, datagrams to send, states.

use std::net::SocketAddr;
use std::sync::Arc;

pub use sansrtc_ice::agent::ConnectionState as IceState;
/// The transport a packet travels over: UDP datagrams, or RFC 4571 frames on a TCP stream
/// (ICE-TCP, RFC 6544), as [`Transmit::transport`] and
/// [`PeerConnection::handle_receive_on`] say.
pub use sansrtc_ice::candidate::CandidateTransport as Transport;

#[cfg(doc)]
use crate::PeerConnection;
use crate::bandwidth::BandwidthEstimate;
use crate::buffer::PacketBuf;
use crate::peer::{ChannelId, MessageKind};
use crate::track::{KeyframeKind, RtpReceived};
use sansrtc_sdp::Mid;

/// Whether a description is an offer or an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpType {
    /// An offer.
    Offer,
    /// An answer.
    Answer,
}

/// State of the DTLS transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsState {
    /// Not negotiated yet.
    New,
    /// Handshaking.
    Connecting,
    /// Handshake done, peer certificate matched the SDP fingerprint.
    Connected,
    /// Closed with close_notify.
    Closed,
    /// The handshake or the connection failed.
    Failed,
}

/// The overall state (as `RTCPeerConnection.connectionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Nothing started.
    New,
    /// ICE or DTLS in progress.
    Connecting,
    /// ICE and DTLS connected.
    Connected,
    /// ICE lost consent temporarily.
    Disconnected,
    /// ICE or DTLS failed.
    Failed,
    /// Closed by either side.
    Closed,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The registered local address to send from.
    pub source: SocketAddr,
    /// Where to send it.
    pub destination: SocketAddr,
    /// How: [`Transport::Udp`], a datagram from the UDP socket on `source`; or
    /// [`Transport::Tcp`], one RFC 4571 frame ([`crate::framing`]) written on the TCP stream
    /// accepted on `source` from `destination` (drop it if that stream is gone).
    pub transport: Transport,
    /// The bytes (dropped, their storage returns to the connection).
    pub contents: PacketBuf,
}

/// Something the application must know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A local candidate (`candidate:...` attribute value) to signal to the peer (trickle).
    LocalCandidate(String),
    /// A datagram was given to [`PeerConnection::handle_receive`] for a local address never
    /// registered with [`PeerConnection::add_local_address`] (a driver bug: the wrong socket
    /// address). Such datagrams are dropped; each address is reported once.
    UnregisteredLocalAddress(SocketAddr),
    /// Local candidate gathering finished.
    GatheringComplete,
    /// The peer hides an address behind this mDNS name (`<uuid>.local`): resolve it (an mDNS
    /// query is I/O, so it is the caller's) and pass the address to
    /// [`PeerConnection::resolve_mdns`]. Meanwhile ICE may still connect through a peer-reflexive
    /// candidate when the peer's checks reach us.
    ResolveMdns(String),
    /// The ICE state changed.
    IceStateChange(IceState),
    /// The DTLS state changed.
    DtlsStateChange(DtlsState),
    /// The DTLS handshake completed (reported just before [`Event::DtlsStateChange`] to
    /// `Connected`): what it negotiated.
    #[non_exhaustive]
    DtlsConnected {
        /// DTLS 1.2 or 1.3 ([`crate::Config::dtls_versions`]).
        version: crate::dtls::ProtocolVersion,
        /// The cipher suite (a 1.3 suite with DTLS 1.3).
        cipher_suite: crate::dtls::Suite,
        /// The key exchange group (X25519MLKEM768 when a DTLS 1.3 peer agrees to it).
        group: Option<crate::dtls::NamedGroup>,
    },
    /// The overall state changed.
    ConnectionStateChange(ConnectionState),
    /// A change (a transceiver or data channel section added, an ICE restart) needs a new
    /// offer/answer exchange to take effect.
    NegotiationNeeded,
    /// ICE selected the path DTLS, SRTP and SCTP now use (first selection, after an ICE
    /// restart, or a better pair).
    SelectedPairChange {
        /// Our address (a registered socket).
        local: SocketAddr,
        /// The peer's address.
        remote: SocketAddr,
        /// UDP, or TCP (the stream the peer opened from `remote` to our `local`).
        transport: Transport,
    },
    /// A data channel is open (ours once acknowledged, or one the peer opened).
    DataChannelOpen {
        /// Its id.
        id: ChannelId,
        /// Label.
        label: String,
        /// Sub-protocol.
        protocol: String,
    },
    /// A data channel message.
    DataChannelMessage {
        /// The channel.
        id: ChannelId,
        /// The bytes.
        data: PacketBuf,
        /// Text or binary.
        kind: MessageKind,
    },
    /// A data channel closed.
    DataChannelClose(ChannelId),
    /// A channel's buffered amount fell to its low threshold.
    BufferedAmountLow(ChannelId),
    /// A decrypted RTP packet, with the track (mid) and simulcast layer (rid) it belongs to.
    Rtp(RtpReceived),
    /// The peer asks for a key frame on one of our streams (PLI or FIR received).
    KeyframeRequest {
        /// The m-section of our stream.
        mid: Option<Mid>,
        /// Our SSRC the request is about.
        ssrc: u32,
        /// The simulcast layer of that SSRC (the encoder that must make a key frame), `None`
        /// for a section's only stream.
        rid: Option<Arc<str>>,
        /// PLI or FIR.
        kind: KeyframeKind,
    },
    /// The peer lost packets of one of our streams (generic NACK received).
    Nack {
        /// The m-section of our stream.
        mid: Option<Mid>,
        /// Our SSRC the packets were sent on.
        ssrc: u32,
        /// The lost sequence numbers.
        lost: Vec<u16>,
    },
    /// The bandwidth estimate changed meaningfully (the first estimate, then a target moved by
    /// more than 5 % or a new reason, at most every 200 ms): adapt the encoders' bitrate.
    /// [`PeerConnection::bandwidth_estimate`] gives the current one at any time.
    BandwidthEstimate(BandwidthEstimate),
    /// A decrypted compound RTCP packet, whole (reports, feedback, REMB, transport-cc: parse with
    /// `sansrtc::rtp::rtcp::CompoundIter`). PLI, FIR and NACK also arrive typed, above.
    Rtcp(PacketBuf),
}
