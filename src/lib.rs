//! # sansrtc
//!
//! A WebRTC protocol stack built sans-IO: every part is a state machine that takes input
//! (datagrams, API calls, the current time) and yields output (datagrams to send, events, the next
//! deadline) without touching sockets, threads or the system clock. The conventions every crate
//! follows are in `docs/ARCHITECTURE.md`.
//!
//! [`PeerConnection`] composes the protocol crates: JSEP offer/answer ([`sdp`]), ICE ([`ice`]),
//! DTLS ([`dtls`]), SRTP ([`srtp`]), SCTP data channels ([`sctp`]) and RTP/RTCP ([`rtp`]) on one
//! bundled, rtcp-muxed transport. The caller owns the sockets and the clock:
//!
//! ```text
//! pc.add_local_address(socket.local_addr());
//! let offer = pc.create_offer(now)?;            // send to the peer, get its answer back
//! pc.set_remote_description(now, SdpType::Answer, &answer)?;
//! loop {
//!     pc.handle_receive(now, from, to, &datagram);   // or pc.handle_timeout(now)
//!     while let Some(t) = pc.poll_transmit() { socket.send_to(&t.contents, t.destination) }
//!     while let Some(e) = pc.poll_event() { ... }
//!     // sleep until pc.poll_timeout() or the next datagram
//! }
//! ```
//!
//! The protocol crates are re-exported:
//!
//! ```
//! use sansrtc::rtp::RtpPacket;
//!
//! let bytes = [0x80, 0x60, 0x00, 0x01, 0, 0, 0, 10, 0, 0, 0, 42, 0xAB];
//! let packet = RtpPacket::parse(&bytes).unwrap();
//! assert_eq!(packet.ssrc(), 42);
//! assert_eq!(packet.payload(), &[0xAB]);
//! ```

pub mod buffer;
pub mod codecs;
pub mod config;
pub mod demux;
pub mod error;
pub mod event;
mod media;
pub mod peer;
mod relay;
pub mod rng;
pub mod stats;
pub mod track;
mod twcc;

pub use buffer::PacketBuf;
pub use peer::{
    Channel, ChannelConfig, ChannelId, ChannelState, Config, ConnectionState, DtlsState, Error,
    Event, IceState, IceTransportPolicy, MessageKind, PeerConnection, SdpType, StateError, Stats,
    Transmit,
};
pub use relay::TurnServer;
pub use rng::PcRng;
pub use sansrtc_sdp::Mid;
pub use sansrtc_sdp::jsep::TransceiverId;
pub use stats::StatsReport;
pub use track::{KeyframeKind, MediaError, RtpReceived, RtpWrite};

/// DTLS 1.2 and DTLS-SRTP key export.
pub use sansrtc_dtls as dtls;
/// STUN, ICE, TURN.
pub use sansrtc_ice as ice;
/// RTP and RTCP packets.
pub use sansrtc_rtp as rtp;
/// SCTP and data channels.
pub use sansrtc_sctp as sctp;
/// SDP and JSEP.
pub use sansrtc_sdp as sdp;
/// SRTP and SRTCP.
pub use sansrtc_srtp as srtp;
