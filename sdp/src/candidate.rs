//! `a=candidate`: the ICE candidate type and its one parser are `sansrtc-core`'s
//! ([`sansrtc_core::candidate`]), shared with the ICE agent; this module re-exports them under
//! the SDP crate's paths and reads a section's candidates for negotiation.
//!
//! While a description is parsed, every `a=candidate` value is checked with
//! [`Candidate::validate`]: one breaking the RFC 8839 grammar refuses the description, one that
//! is well formed but unusable ([`CandidateError::is_unsupported`]: a transport other than UDP
//! or TCP, an FQDN that is not an mDNS `.local` name, an unknown type) is kept as written.

pub use sansrtc_core::candidate::*;

/// The UDP candidates among `values` (the section's `a=candidate` values), and how many were
/// left out: well formed but unusable, TCP (the ICE agent checks UDP only), or not parsable.
pub(crate) fn udp_candidates<'a>(values: impl Iterator<Item = &'a str>) -> (Vec<Candidate>, usize) {
    let mut skipped = 0;
    let candidates = values
        .filter_map(|v| match Candidate::parse(v) {
            Ok(c) if c.transport == CandidateTransport::Udp => Some(c),
            _ => {
                skipped += 1;
                None
            }
        })
        .collect();
    (candidates, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_candidates_are_kept_the_rest_counted() {
        let values = [
            "1 1 udp 2122260223 192.168.0.196 46243 typ host generation 0",
            "2 1 tcp 1518280447 192.168.0.196 9 typ host tcptype active",
            "3 1 udp 1 example.org 9 typ host",
            "4 1 UDP 2113937151 4e5c1b2c-9f1d-4a2b.local 50000 typ host",
        ];
        let (kept, skipped) = udp_candidates(values.into_iter());
        assert_eq!(skipped, 2);
        assert_eq!(
            kept.iter()
                .map(|c| c.foundation.as_str())
                .collect::<Vec<_>>(),
            ["1", "4"]
        );
        assert_eq!(
            kept[1].address,
            CandidateAddress::Mdns("4e5c1b2c-9f1d-4a2b.local".into(), 50000)
        );
    }
}
