//! Counters and round-trip times.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::rng::Rng;

/// Counters of an [`Agent`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentStats {
    /// Check requests sent, retransmissions included.
    pub checks_sent: u64,
    /// Check requests received and answered with success.
    pub checks_answered: u64,
    /// STUN messages dropped because authentication failed.
    pub auth_failures: u64,
    /// Role conflicts resolved (487 sent or role switched).
    pub role_conflicts: u64,
    /// Datagrams that were not STUN for us.
    pub ignored: u64,
    /// Consent checks that got a response.
    pub consent_refreshed: u64,
}

impl<R: Rng> Agent<R> {
    /// Counters.
    pub fn stats(&self) -> AgentStats {
        self.stats
    }

    /// Keeps the latest round-trip time of a path (bounded like the check list).
    pub(super) fn record_rtt(&mut self, local: SocketAddr, remote: SocketAddr, rtt: Duration) {
        if self.rtts.len() < self.config.checklist.max_pairs
            || self.rtts.contains_key(&(local, remote))
        {
            self.rtts.insert((local, remote), rtt);
        }
    }

    /// The round-trip time of the last connectivity or consent check on the path `(local,
    /// remote)` that was answered without retransmission (Karn's rule).
    pub fn round_trip_time(&self, local: SocketAddr, remote: SocketAddr) -> Option<Duration> {
        self.rtts.get(&(local, remote)).copied()
    }
}
