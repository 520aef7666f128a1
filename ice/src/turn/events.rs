//! What the client reports: errors of its calls, events, counters.

use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

/// Why a TURN operation could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TurnError {
    /// The client has no allocation (yet, or any more).
    #[error("no TURN allocation")]
    NotAllocated,
    /// An allocation exists or is being made.
    #[error("TURN allocation already exists or is in progress")]
    AlreadyAllocating,
    /// No permission for the peer's IP address: call `create_permission` first.
    #[error("no TURN permission for {0}")]
    NoPermission(IpAddr),
    /// `max_permissions` or `max_channels` reached, or channel numbers exhausted.
    #[error("TURN permission or channel limit reached")]
    Limit,
    /// A request could not be built or sent.
    #[error("STUN: {0}")]
    Stun(#[from] crate::stun::transaction::TransactionError),
}

/// Something the application must know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TurnEvent {
    /// The allocation succeeded.
    Allocated {
        /// The relayed transport address (a relayed ICE candidate).
        relayed: SocketAddr,
        /// Our address as the server saw it (a server-reflexive candidate).
        mapped: Option<SocketAddr>,
        /// Granted lifetime in seconds.
        lifetime: u32,
    },
    /// The allocation was refreshed; the new lifetime in seconds.
    AllocationRefreshed(u32),
    /// The allocation failed or was lost (error code, 0 for a timeout).
    AllocationFailed(u16),
    /// A permission was installed or refreshed.
    PermissionCreated(IpAddr),
    /// A permission request failed (error code, 0 for a timeout).
    PermissionFailed(IpAddr, u16),
    /// A channel was bound or refreshed.
    ChannelBound {
        /// The peer.
        peer: SocketAddr,
        /// The channel.
        channel: u16,
    },
    /// Data relayed from a peer (Data indication or ChannelData).
    Data {
        /// The peer.
        peer: SocketAddr,
        /// The data.
        data: Vec<u8>,
    },
    /// The allocation was deleted (after `close`).
    Closed,
}

/// Counters of a [`TurnClient`](super::TurnClient).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TurnStats {
    /// Responses failing integrity, ignored.
    pub integrity_failures: u64,
    /// Requests retried after 438 Stale Nonce.
    pub stale_nonce_retries: u64,
    /// Datagrams from the server that were neither STUN nor ChannelData for us.
    pub ignored: u64,
}
