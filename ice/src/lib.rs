//! STUN, the ICE agent, the TURN client and a STUN responder, sans-IO (RFC 8489, 8445, 8656).
//!
//! - [`stun`]: messages (zero-copy view, builder, every RFC 8489 / ICE / TURN attribute,
//!   MESSAGE-INTEGRITY(-SHA256), FINGERPRINT), the one retransmission timer every request runs on
//!   ([`stun::retransmit`]) and client transactions ([`stun::transaction`]);
//! - [`responder`]: a STUN server answering Binding requests;
//! - [`candidate`], [`checklist`], [`agent`]: an ICE agent (host, server-reflexive and relayed
//!   candidates, checks, nomination, role conflicts, consent freshness, restart, ICE-lite); the
//!   candidate type and its parser are `sansrtc-core`'s, shared with the SDP layer;
//! - [`turn`], [`turn_tls`]: a TURN client over UDP, TCP and TLS (`rustls`);
//! - [`turn_server`]: a TURN server (RFC 8656) that is also a STUN server.
//!
//! All of them are sans-IO state machines: the caller owns sockets and the clock. Randomness is
//! injected through `sansrtc-core`'s [`Rng`] (re-exported with [`SystemRng`] and [`SeededRng`]).

pub mod agent;
pub mod candidate;
pub mod checklist;
pub mod framing;
pub mod responder;
pub mod rng;
mod small;
pub mod stun;
pub mod turn;
pub mod turn_server;
pub mod turn_tls;

pub use responder::{ResponderConfig, StunResponder};
pub use rng::{Rng, SeededRng, SystemRng};

use std::net::SocketAddr;

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// The bytes.
    pub contents: Vec<u8>,
}
