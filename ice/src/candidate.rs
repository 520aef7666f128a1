//! ICE candidates (RFC 8445 section 5.1): the candidate type and its SDP attribute are
//! `sansrtc-core`'s ([`sansrtc_core::candidate`], parsed once for signalling and ICE, re-exported
//! here under their old paths); this module adds what only ICE needs: pair priorities and
//! foundation assignment.

use std::net::IpAddr;

pub use sansrtc_core::candidate::*;

use crate::small::PushSmall;

/// Candidate-pair priority (RFC 8445 6.1.2.3), from the controlling agent's candidate priority `g`
/// and the controlled agent's `d`: `2^32 * min(g, d) + 2 * max(g, d) + (g > d ? 1 : 0)`.
///
/// Candidate priorities are below 2^31 when built by the RFC formula, but a peer may signal any
/// 32-bit value: the sum wraps modulo 2^64 rather than overflowing (both agents still compute the
/// same value).
pub fn pair_priority(g: u32, d: u32) -> u64 {
    let (min, max) = (g.min(d) as u64, g.max(d) as u64);
    (min << 32)
        .wrapping_add(2 * max)
        .wrapping_add(u64::from(g > d))
}

/// Assigns foundations (RFC 8445 5.1.1.3): candidates share a foundation when they have the same
/// type, base IP address, STUN/TURN server IP address and transport.
#[derive(Debug, Default, Clone)]
pub struct Foundations {
    known: Vec<(CandidateKind, IpAddr, Option<IpAddr>)>,
}

impl Foundations {
    /// A new, empty assignment.
    pub fn new() -> Self {
        Self::default()
    }

    /// The foundation for a candidate of `kind` with base `base_ip`, obtained from `server`
    /// (reflexive and relayed candidates) or `None` (host and peer-reflexive).
    pub fn foundation(
        &mut self,
        kind: CandidateKind,
        base_ip: IpAddr,
        server: Option<IpAddr>,
    ) -> String {
        let key = (kind, base_ip, server);
        let index = match self.known.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                self.known.push_small(key);
                self.known.len() - 1
            }
        };
        (index + 1).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_priorities() {
        let (g, d) = (2_130_706_431u32, 1_694_498_815u32);
        assert_eq!(pair_priority(g, d), ((d as u64) << 32) + 2 * g as u64 + 1);
        assert_eq!(pair_priority(d, g), ((d as u64) << 32) + 2 * g as u64);
        // Both agents compute the same ordering whichever role they are in.
        assert!(pair_priority(g, d) > pair_priority(d, g));
        // Out-of-range priorities from a peer wrap instead of overflowing.
        assert_eq!(
            pair_priority(u32::MAX, u32::MAX),
            ((u32::MAX as u64) << 32).wrapping_add(2 * u32::MAX as u64)
        );
    }

    #[test]
    fn foundations() {
        let mut f = Foundations::new();
        let ip: IpAddr = "192.168.1.5".parse().unwrap();
        let ip2: IpAddr = "10.0.0.1".parse().unwrap();
        let stun: IpAddr = "198.51.100.1".parse().unwrap();
        let a = f.foundation(CandidateKind::Host, ip, None);
        assert_eq!(a, f.foundation(CandidateKind::Host, ip, None));
        assert_ne!(a, f.foundation(CandidateKind::Host, ip2, None));
        assert_ne!(
            a,
            f.foundation(CandidateKind::ServerReflexive, ip, Some(stun))
        );
        assert_eq!(
            f.foundation(CandidateKind::ServerReflexive, ip, Some(stun)),
            f.foundation(CandidateKind::ServerReflexive, ip, Some(stun))
        );
    }
}
