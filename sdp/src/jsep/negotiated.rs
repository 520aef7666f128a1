//! The result of an offer/answer exchange.

pub use sansrtc_core::DtlsRole;

use crate::attributes::{CertificateFingerprint, Direction};
use crate::candidate::Candidate;
use crate::mid::Mid;

use super::codec::Codec;
use super::transceiver::{HeaderExtension, SectionKind, SendEncoding, TransceiverId};

/// ICE username fragment and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceCredentials {
    /// `a=ice-ufrag`.
    pub ufrag: String,
    /// `a=ice-pwd`.
    pub pwd: String,
}

/// The negotiated state of one m-section.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NegotiatedSection {
    /// The section's mid.
    pub mid: Mid,
    /// What it carries.
    pub kind: SectionKind,
    /// Rejected (port 0) by either side.
    pub rejected: bool,
    /// The local transceiver bound to it.
    pub transceiver: Option<TransceiverId>,
    /// Direction from the local point of view.
    pub direction: Direction,
    /// Codecs both sides accept, with the offerer's payload types, in the answer's order.
    pub codecs: Vec<Codec>,
    /// Header extensions both sides accept, with the offerer's ids.
    pub header_extensions: Vec<HeaderExtension>,
    /// RIDs the remote side sends (simulcast layers we receive).
    pub recv_rids: Vec<String>,
    /// The simulcast layers we send, as negotiated: paused when either side wrote `~rid`,
    /// within the restrictions of both sides' `a=rid` lines.
    pub send_encodings: Vec<SendEncoding>,
    /// Remote ICE credentials for this section.
    pub remote_ice: Option<IceCredentials>,
    /// The remote UDP candidates of this section's `a=candidate` lines, parsed once (mDNS
    /// `.local` addresses are left for the caller to resolve).
    pub remote_candidates: Vec<Candidate>,
    /// `a=candidate` lines of this section left out of `remote_candidates`: well formed but
    /// unusable (TCP, a transport other than UDP, an FQDN that is not an mDNS name, an unknown
    /// type, a component outside 1-256).
    pub skipped_candidates: usize,
    /// Remote SCTP port (data sections).
    pub remote_sctp_port: Option<u16>,
    /// Remote max message size (data sections; 65536 when absent, RFC 8841).
    pub remote_max_message_size: Option<u64>,
    /// SSRCs the remote side announced with `a=ssrc`, in order of first appearance.
    pub remote_ssrcs: Vec<u32>,
    /// Remote `a=ssrc-group:FID` pairs: `(media, rtx)`.
    pub remote_rtx_ssrcs: Vec<(u32, u32)>,
}

/// The outcome of an offer/answer exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// Every m-section in order.
    pub sections: Vec<NegotiatedSection>,
    /// The mids of the accepted BUNDLE group, the tagged one first (empty: no bundling).
    pub bundle: Vec<Mid>,
    /// Our DTLS role.
    pub dtls_role: DtlsRole,
    /// Remote certificate fingerprints: those of the first accepted m-section's transport whose
    /// hash function is usable, each with a digest of its length (never empty when a section was
    /// accepted; fingerprints with other hash functions are left out).
    pub remote_fingerprints: Vec<CertificateFingerprint>,
    /// The remote side uses ICE lite.
    pub remote_ice_lite: bool,
    /// The remote side restarted ICE (new credentials) in this exchange, or we did.
    pub ice_restart: bool,
    /// Both sides allow mixing one- and two-byte header extensions.
    pub extmap_allow_mixed: bool,
}

impl NegotiatedSection {
    /// A section with nothing negotiated yet: inactive, no codecs, no remote transport.
    pub(super) fn new(
        mid: Mid,
        kind: SectionKind,
        rejected: bool,
        transceiver: Option<TransceiverId>,
    ) -> Self {
        Self {
            mid,
            kind,
            rejected,
            transceiver,
            direction: Direction::Inactive,
            codecs: Vec::new(),
            header_extensions: Vec::new(),
            recv_rids: Vec::new(),
            send_encodings: Vec::new(),
            remote_ice: None,
            remote_candidates: Vec::new(),
            skipped_candidates: 0,
            remote_sctp_port: None,
            remote_max_message_size: None,
            remote_ssrcs: Vec::new(),
            remote_rtx_ssrcs: Vec::new(),
        }
    }
}
