//! # sansrtc
//!
//! A WebRTC protocol stack built sans-IO: every part is a state machine that takes input
//! (datagrams, API calls, the current time) and yields output (datagrams to send, events, the next
//! deadline) without touching sockets, threads or the system clock. You bring the sockets and the
//! clock; sansrtc brings SDP, ICE, DTLS, SRTP, SCTP data channels and RTP. Nothing is sent,
//! received or timed behind your back, so the same code runs in a test with a fake clock, in a
//! thread with a blocking socket, or in any async runtime.
//!
//! [`PeerConnection`] composes the protocol crates: JSEP offer/answer ([`sdp`]), ICE ([`ice`]),
//! DTLS ([`dtls`]), SRTP ([`srtp`]), SCTP data channels ([`sctp`]) and RTP/RTCP ([`rtp`]) on one
//! bundled, rtcp-muxed transport.
//!
//! ## The driving loop
//!
//! Register the socket's address, exchange descriptions through your signalling, then loop:
//! hand over every datagram and every passed deadline, and drain what comes out.
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use std::time::{Duration, Instant};
//!
//! use sansrtc::{ChannelConfig, Config, Event, PeerConnection, SdpType};
//!
//! # fn signal(_offer: &str) -> String { unimplemented!() }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let socket = UdpSocket::bind("127.0.0.1:0")?;
//! let local = socket.local_addr()?;
//! let mut pc = PeerConnection::new(Config::default())?;
//! pc.add_local_address(local)?;
//! let chat = pc.create_data_channel(Instant::now(), ChannelConfig::reliable("chat"))?;
//!
//! // Signalling is yours: send the offer to the peer, get its answer back.
//! let offer = pc.create_offer(Instant::now())?;
//! let answer = signal(&offer);
//! pc.set_remote_description(Instant::now(), SdpType::Answer, &answer)?;
//!
//! let mut buf = vec![0u8; 2048];
//! loop {
//!     // Wait for a datagram, at most until the connection's next deadline.
//!     let wait = pc
//!         .poll_timeout()
//!         .map_or(Duration::from_millis(100), |t| t.saturating_duration_since(Instant::now()));
//!     socket.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
//!     match socket.recv_from(&mut buf) {
//!         Ok((n, from)) => pc.handle_receive(Instant::now(), from, local, &buf[..n]),
//!         Err(_) => pc.handle_timeout(Instant::now()),
//!     }
//!     while let Some(t) = pc.poll_transmit() {
//!         socket.send_to(&t.contents, t.destination)?;
//!     }
//!     while let Some(event) = pc.poll_event() {
//!         match event {
//!             Event::DataChannelOpen { id, .. } if id == chat => {
//!                 pc.channel(chat)?.send_text(Instant::now(), "hello")?;
//!             }
//!             Event::DataChannelMessage { data, .. } => println!("got {} bytes", data.len()),
//!             Event::ConnectionStateChange(state) => println!("{state:?}"),
//!             _ => {}
//!         }
//!     }
//! }
//! # }
//! ```
//!
//! ## Ids, handles and buffers
//!
//! - A data channel is a [`ChannelId`], stable for the connection's life; [`PeerConnection::channel`]
//!   borrows a [`Channel`] handle to send on it, close it or watch its buffer.
//! - A media section (track) is a [`Mid`] (`Copy`): [`PeerConnection::write_rtp`] sends on it,
//!   received packets ([`RtpReceived`]) name it.
//! - Datagrams to send, received RTP and messages come in [`PacketBuf`]s: owned bytes that go
//!   back to the connection when dropped, so the media and data paths allocate nothing in steady
//!   state.
//! - Misuse is an [`Error`] (unknown ids, a modified description, an address that cannot be a
//!   candidate) or an [`Event`] (a datagram for an address never registered), never silence.
//!
//! ## Candidates: trickle or wait
//!
//! Gathering starts with the first description. A trickling peer sends the description at once
//! and each [`Event::LocalCandidate`] as it comes (WHIP: `PATCH`); one that does not waits for
//! [`Event::GatheringComplete`] and sends [`PeerConnection::local_description`], which has every
//! candidate gathered and `a=end-of-candidates`.
//!
//! ## The protocol crates
//!
//! They are re-exported and usable alone, each a sans-IO state machine or a zero-copy parser:
//!
//! ```
//! use sansrtc::rtp::RtpPacket;
//!
//! let bytes = [0x80, 0x60, 0x00, 0x01, 0, 0, 0, 10, 0, 0, 0, 42, 0xAB];
//! let packet = RtpPacket::parse(&bytes).unwrap();
//! assert_eq!(packet.ssrc(), 42);
//! assert_eq!(packet.payload(), &[0xAB]);
//! ```
//!
//! Security: only datagrams from paths an authenticated ICE check validated reach DTLS, SRTP and
//! SCTP, the peer's certificate must match the fingerprint in its description, consent freshness
//! is enforced, and every buffer a peer can grow is bounded (the repository's `SECURITY.md` lists
//! each limit).

pub mod bandwidth;
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
pub mod router;
pub mod simulcast;
pub mod stats;
pub mod track;
mod twcc;

pub use bandwidth::{BandwidthEstimate, TargetReason};
pub use buffer::{PacketBuf, SharedPacket};
pub use peer::{
    Channel, ChannelConfig, ChannelId, ChannelState, Config, ConnectionState, DtlsState, Error,
    Event, IceState, IceTransportPolicy, MessageKind, PeerConnection, SdpType, StateError, Stats,
    Track, Transmit, Transport,
};
pub use relay::TurnServer;
pub use rng::PcRng;
pub use router::{RouteError, Router, RouterStats};
/// RFC 4571 framing for ICE-TCP streams (the caller runs a
/// [`Deframer`](framing::Deframer) per accepted stream).
pub use sansrtc_ice::framing;
pub use sansrtc_sdp::Mid;
pub use sansrtc_sdp::jsep::TransceiverId;
pub use simulcast::{LayerChooser, SendLayer};
pub use stats::StatsReport;
pub use track::{KeyframeKind, MediaError, RtpReceived, RtpWrite};

/// The crypto providers (ring; aws-lc-rs with the `aws-lc-rs` feature): connections use
/// [`crypto::default_provider`], which [`crypto::install_default`] sets for the process.
pub use sansrtc_core::crypto;
/// DTLS 1.3 and 1.2, DTLS-SRTP key export.
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

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
