//! STUN, the ICE agent, the TURN client and a STUN responder, sans-IO (RFC 8489, 8445, 8656).
//!
//! Implemented so far: STUN messages (zero-copy view, builder, every RFC 8489 / ICE / TURN
//! attribute, MESSAGE-INTEGRITY(-SHA256), FINGERPRINT), client transactions with retransmission,
//! the STUN [`responder`], and the ICE agent's foundation: [`candidate`]s (priorities,
//! foundations, SDP attribute) and the [`checklist`] (pairing, pruning, limits, pair states, check
//! order). The ICE agent state machine and the TURN client are work in progress (issue 5).

pub mod agent;
pub mod candidate;
pub mod checklist;
pub mod responder;
pub mod rng;
pub mod stun;
pub mod turn;
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
