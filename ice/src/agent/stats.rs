//! Counters and round-trip times.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::rng::Rng;

/// Counters of an [`Agent`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::test_support::*;

    #[test]
    fn round_trip_times_are_bounded_like_the_pairs() {
        let mut c = config(true);
        c.checklist.max_pairs = 2;
        let mut a = agent(c);
        let path = |i: u8| (sa(LOCAL), SocketAddr::from(([10, 9, 0, i], 9)));
        for i in 0..3 {
            let (l, r) = path(i);
            a.record_rtt(l, r, Duration::from_millis(i.into()));
        }
        assert_eq!(
            a.round_trip_time(path(1).0, path(1).1),
            Some(Duration::from_millis(1))
        );
        assert_eq!(a.round_trip_time(path(2).0, path(2).1), None);
        // A known path is updated.
        a.record_rtt(path(0).0, path(0).1, Duration::from_millis(7));
        assert_eq!(
            a.round_trip_time(path(0).0, path(0).1),
            Some(Duration::from_millis(7))
        );
    }
}
