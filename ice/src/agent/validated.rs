//! Validated paths: the `(local, remote)` pairs that carried an authenticated ICE message, the
//! only ones (with the selected pair) that may carry DTLS, SRTP and SCTP.

use std::net::SocketAddr;

use super::*;
use crate::candidate::CandidateTransport;
use crate::rng::Rng;
use crate::small::PushSmall;

/// Validated paths remembered at most (the oldest is forgotten first; the selected pairs are
/// validated again by every consent check).
pub const MAX_VALIDATED: usize = 32;

impl<R: Rng> Agent<R> {
    /// Whether the path `(local, remote)` has carried an authenticated ICE message: a
    /// connectivity check from the peer with valid MESSAGE-INTEGRITY, or an authenticated answer
    /// to one of our checks. Only such paths (and the selected pair) may carry DTLS, SRTP and
    /// SCTP: anything else may come from anyone. A path whose consent expired is forgotten
    /// until ICE validates it again.
    pub fn is_validated(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.is_validated_on(CandidateTransport::Udp, local, remote)
    }

    /// [`Agent::is_validated`] for a path over `transport`: a TCP path is the stream the peer
    /// opened from `remote` to our passive candidate `local`, distinct from a UDP path between
    /// the same addresses.
    pub fn is_validated_on(
        &self,
        transport: CandidateTransport,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> bool {
        self.validated.contains(&(transport, local, remote))
    }

    /// Remembers an authenticated path (newest last, bounded).
    /// The path is over the transport of the input being handled.
    pub(super) fn mark_validated(&mut self, local: SocketAddr, remote: SocketAddr) {
        let path = (self.rx_transport, local, remote);
        if let Some(i) = self.validated.iter().position(|p| *p == path) {
            if i + 1 == self.validated.len() {
                return;
            }
            self.validated.remove(i);
        } else if self.validated.len() >= MAX_VALIDATED {
            self.validated.remove(0);
        }
        self.validated.push_small(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::test_support::*;

    #[test]
    fn paths_are_remembered_newest_last_and_bounded() {
        let mut a = agent(config(true));
        let path = |i: usize| (sa(LOCAL), SocketAddr::from(([10, 9, 0, i as u8], 9)));
        for i in 0..MAX_VALIDATED {
            let (l, r) = path(i);
            a.mark_validated(l, r);
        }
        // Seeing the oldest again makes it the newest.
        a.mark_validated(path(0).0, path(0).1);
        let (l, r) = path(MAX_VALIDATED);
        a.mark_validated(l, r);
        assert!(a.is_validated(path(0).0, path(0).1));
        assert!(!a.is_validated(path(1).0, path(1).1), "oldest forgotten");
        assert_eq!(a.validated.len(), MAX_VALIDATED);
    }
}
