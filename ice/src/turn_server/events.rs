//! What the TURN server says to its caller: transmits (from which socket), events (relay sockets to
//! open and close, allocation logs) and counters.

use std::net::SocketAddr;

/// The transport a client reached the server over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientTransport {
    /// UDP: one message per datagram.
    Udp,
    /// TCP: frames on a stream (ChannelData padded to four bytes).
    Tcp,
    /// TLS over TCP: as TCP.
    Tls,
}

impl ClientTransport {
    /// Whether the transport is a stream (ChannelData is padded to a multiple of four).
    pub fn is_stream(self) -> bool {
        !matches!(self, ClientTransport::Udp)
    }
}

/// Which socket a [`ServerTransmit`] leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransmitSource {
    /// The listening socket (or, for TCP/TLS, the connection from `destination`) of this
    /// transport: an answer or relayed data for a client.
    Listener(ClientTransport),
    /// The relayed UDP socket bound at this address: data for a peer.
    Relay(SocketAddr),
}

/// Bytes the caller must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTransmit {
    /// The socket to send from.
    pub source: TransmitSource,
    /// The client or peer address.
    pub destination: SocketAddr,
    /// The bytes (one datagram, or one frame to write on a stream).
    pub contents: Vec<u8>,
}

/// Why an allocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeleteReason {
    /// The client sent a Refresh with LIFETIME 0.
    Deleted,
    /// It was not refreshed in time.
    Expired,
    /// The client's TCP/TLS connection closed.
    ConnectionClosed,
    /// A relayed socket could not be opened.
    RelayFailed,
}

/// Something the caller must do or may log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TurnServerEvent {
    /// Bind a UDP socket at this relayed address, then report with
    /// [`TurnServer::relay_opened`](super::TurnServer::relay_opened). The Allocate answer waits
    /// for it.
    OpenRelay(SocketAddr),
    /// Close the UDP socket bound at this relayed address.
    CloseRelay(SocketAddr),
    /// An allocation was created (all its relayed sockets are open).
    AllocationCreated {
        /// The client's address.
        client: SocketAddr,
        /// The client's transport.
        transport: ClientTransport,
        /// The relayed addresses (one, or two for a dual-stack allocation).
        relayed: Vec<SocketAddr>,
        /// The authenticated username.
        username: String,
        /// Granted lifetime in seconds.
        lifetime: u32,
    },
    /// An allocation was deleted.
    AllocationDeleted {
        /// The client's address.
        client: SocketAddr,
        /// The client's transport.
        transport: ClientTransport,
        /// Why.
        reason: DeleteReason,
    },
}

/// Counters of a [`TurnServer`](super::TurnServer): every refused or dropped input is counted
/// under its cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TurnServerStats {
    /// Binding requests answered.
    pub binding_requests: u64,
    /// Allocations created.
    pub allocations_created: u64,
    /// Allocations deleted by the client (LIFETIME 0) or by a closed connection.
    pub allocations_deleted: u64,
    /// Allocations that expired.
    pub allocations_expired: u64,
    /// Allocations alive now.
    pub allocations_active: u64,
    /// Requests without credentials, answered 401 with a nonce.
    pub unauthenticated: u64,
    /// Requests with an unknown user or an expired REST username (401).
    pub unknown_users: u64,
    /// Requests failing MESSAGE-INTEGRITY (401).
    pub integrity_failures: u64,
    /// Requests with an expired or forged nonce (438).
    pub stale_nonces: u64,
    /// Malformed requests (400) and input that is neither STUN nor ChannelData.
    pub malformed: u64,
    /// Requests naming an allocation that does not exist or is not theirs (437, 441).
    pub allocation_mismatches: u64,
    /// Allocate requests with an unsupported REQUESTED-TRANSPORT (442).
    pub unsupported_transport: u64,
    /// Allocate requests refused by the per-user quota (486).
    pub quota_refused: u64,
    /// Requests refused for capacity: allocations, ports, permissions or channels full (508).
    pub capacity_refused: u64,
    /// Relayed sockets that could not be bound, their Allocate handled again with other ports.
    pub relay_open_retries: u64,
    /// Requests or indications naming a denied peer address (403, or dropped).
    pub peers_denied: u64,
    /// Requests with an address family the server cannot relay (440, 443).
    pub family_refused: u64,
    /// Permissions installed or refreshed.
    pub permissions_installed: u64,
    /// Channels bound or refreshed.
    pub channels_bound: u64,
    /// Packets relayed from clients to peers.
    pub to_peer_packets: u64,
    /// Bytes relayed from clients to peers.
    pub to_peer_bytes: u64,
    /// Packets relayed from peers to clients.
    pub to_client_packets: u64,
    /// Bytes relayed from peers to clients.
    pub to_client_bytes: u64,
    /// Data (ChannelData, Send indications, relayed datagrams) without an allocation, dropped.
    pub dropped_no_allocation: u64,
    /// Data for or from a peer without a permission, or on an unbound channel, dropped.
    pub dropped_no_permission: u64,
    /// Data over the allocation's bandwidth limit, dropped.
    pub dropped_rate_limited: u64,
}
