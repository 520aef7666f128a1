//! # sansrtc
//!
//! A WebRTC protocol stack built sans-IO: every part is a state machine that takes input
//! (datagrams, API calls, the current time) and yields output (datagrams to send, events, the next
//! deadline) without touching sockets, threads or the system clock. The conventions every crate
//! follows are in `docs/ARCHITECTURE.md`.
//!
//! Until the peer connection lands, this facade re-exports the protocol crates:
//!
//! ```
//! use sansrtc::rtp::RtpPacket;
//!
//! let bytes = [0x80, 0x60, 0x00, 0x01, 0, 0, 0, 10, 0, 0, 0, 42, 0xAB];
//! let packet = RtpPacket::parse(&bytes).unwrap();
//! assert_eq!(packet.ssrc(), 42);
//! assert_eq!(packet.payload(), &[0xAB]);
//! ```

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
