//! The client's configuration and its transport to the server.

use std::net::SocketAddr;
use std::time::Duration;

use crate::stun::transaction::TransactionConfig;

/// TURN client configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TurnConfig {
    /// The TURN server.
    pub server: SocketAddr,
    /// Long-term credential username.
    pub username: String,
    /// Long-term credential password.
    pub password: String,
    /// Requested allocation lifetime (seconds).
    pub lifetime: u32,
    /// Refresh an allocation, permission or channel this long before it expires.
    pub refresh_margin: Duration,
    /// STUN retransmission parameters.
    pub transactions: TransactionConfig,
    /// Most permissions kept.
    pub max_permissions: usize,
    /// Most channels kept.
    pub max_channels: usize,
    /// SOFTWARE attribute to send, if any.
    pub software: Option<String>,
    /// Transport to the server.
    pub transport: TurnTransport,
    /// Address family of the relayed address to ask for (REQUESTED-ADDRESS-FAMILY, RFC 8656
    /// 7.2; `None`: the server's default, IPv4). A server that cannot relay that family answers
    /// 440, reported as [`TurnEvent::AllocationFailed`](super::TurnEvent::AllocationFailed).
    pub requested_family: Option<crate::stun::attribute::AddressFamily>,
}

impl TurnConfig {
    /// A configuration with defaults (600 s lifetime, refresh 60 s before expiry).
    pub fn new(server: SocketAddr, username: &str, password: &str) -> Self {
        TurnConfig {
            server,
            username: username.into(),
            password: password.into(),
            lifetime: 600,
            refresh_margin: Duration::from_secs(60),
            transactions: TransactionConfig::default(),
            max_permissions: 64,
            max_channels: 64,
            software: None,
            transport: TurnTransport::Udp,
            requested_family: None,
        }
    }
}

/// The transport between the client and the TURN server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnTransport {
    /// UDP: one message per datagram, requests retransmitted.
    Udp,
    /// TCP: messages back to back on a stream the caller owns, no retransmission.
    Tcp,
}
