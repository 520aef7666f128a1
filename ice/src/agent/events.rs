//! What the agent reports: its connection state, events and datagrams to send.

use std::net::SocketAddr;

use crate::candidate::{Candidate, CandidateTransport};

/// ICE connection state (RFC 8445 / W3C `RTCIceConnectionState` subset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Nothing checked yet.
    New,
    /// Checks are running.
    Checking,
    /// A pair is selected and consent is fresh; checks may still be running.
    Connected,
    /// Checks are done (every pair checked or dropped after nomination, the peer signalled
    /// end-of-candidates) and a pair is nominated and selected; consent is fresh (RFC 8445
    /// "Completed" check list state, W3C `completed`).
    Completed,
    /// A pair is selected but consent checks have gone unanswered for a while.
    Disconnected,
    /// Every pair failed, or consent was lost on the selected pair.
    Failed,
    /// [`Agent::close`](super::Agent::close) was called: the agent sends and answers nothing more.
    Closed,
}

/// Something the application must know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentEvent {
    /// The connection state changed.
    StateChanged(ConnectionState),
    /// The selected pair changed: send application data from `local` to `remote`.
    SelectedPair {
        /// The component (1 = RTP or multiplexed, 2 = RTCP).
        component: u16,
        /// Local address (base) to send from.
        local: SocketAddr,
        /// Remote address to send to.
        remote: SocketAddr,
        /// The transport of the pair: UDP, or TCP on the stream the peer opened from `remote`
        /// to our passive candidate `local`.
        transport: CandidateTransport,
    },
    /// A new local candidate (server-reflexive, from gathering): signal it to the peer.
    LocalCandidate(Candidate),
    /// Gathering finished (every STUN server answered or timed out): signal end-of-candidates.
    GatheringComplete,
}

/// A datagram to send from one of our local addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTransmit {
    /// The local address (a base given to [`Agent::add_host_candidate`](super::Agent::add_host_candidate)) to send from.
    pub source: SocketAddr,
    /// Where to send it.
    pub destination: SocketAddr,
    /// How: a UDP datagram, or (TCP) one RFC 4571 frame on the stream accepted from
    /// `destination` on our passive candidate `source`.
    pub transport: CandidateTransport,
    /// The bytes.
    pub contents: Vec<u8>,
}
