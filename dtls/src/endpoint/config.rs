//! The configuration of an [`Endpoint`](super::Endpoint).

use std::sync::Arc;
use std::time::Duration;

use sansrtc_core::crypto::CryptoProvider;

use crate::cert::{Certificate, Fingerprint};
use crate::cipher::{CipherSuite, SrtpProfile};
use crate::kx::KeyRandomness;
use crate::negotiated::NamedGroup;

/// The DTLS versions an endpoint offers (client) or accepts (server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Versions {
    /// DTLS 1.2 only (RFC 6347).
    Dtls12,
    /// DTLS 1.3 (RFC 9147) preferred, DTLS 1.2 as the fallback (the default): a client offers
    /// supported_versions {1.3, 1.2} and checks the RFC 8446 4.1.3 downgrade sentinel when the
    /// server picks 1.2; a server picks 1.3 when offered (and sets the sentinel when it picks
    /// 1.2 for a client that did not offer 1.3).
    #[default]
    Dtls13Or12,
    /// DTLS 1.3 only: a 1.2 peer is refused.
    Dtls13,
}

impl Versions {
    /// Whether DTLS 1.3 is offered or accepted.
    pub fn has_13(self) -> bool {
        matches!(self, Self::Dtls13Or12 | Self::Dtls13)
    }

    /// Whether DTLS 1.2 is offered or accepted.
    pub fn has_12(self) -> bool {
        matches!(self, Self::Dtls12 | Self::Dtls13Or12)
    }
}

/// Configuration of an endpoint.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Our certificate (ECDSA P-256).
    pub certificate: Arc<Certificate>,
    /// The fingerprints the peer's certificate must match (from the remote SDP). When empty,
    /// the handshake fails with [`DtlsError::NoRemoteFingerprint`](crate::DtlsError::NoRemoteFingerprint) once the peer's certificate
    /// arrives, unless [`Config::insecure_accept_any_certificate`] is set.
    pub remote_fingerprints: Vec<Fingerprint>,
    /// Accept any peer certificate when `remote_fingerprints` is empty. Only for tests, or for
    /// a caller that explicitly opts out because it checks the certificate itself (from
    /// `Event::Connected::peer_certificate`) before trusting the connection. Default false.
    pub insecure_accept_any_certificate: bool,
    /// Cipher suites in preference order.
    pub cipher_suites: Vec<CipherSuite>,
    /// SRTP profiles in preference order (empty: no use_srtp).
    pub srtp_profiles: Vec<SrtpProfile>,
    /// Refuse peers without extended master secret (RFC 7627).
    pub require_extended_master_secret: bool,
    /// As server: request (and require) a client certificate.
    pub require_client_certificate: bool,
    /// The path MTU: no datagram we send exceeds it (application data records excepted).
    pub mtu: usize,
    /// The first retransmission timeout.
    pub initial_retransmit: Duration,
    /// The back-off ceiling.
    pub max_retransmit: Duration,
    /// Retransmissions of one flight before the handshake fails.
    pub max_retransmissions: u32,
    /// The largest handshake message we reassemble.
    pub max_handshake_message: usize,
    /// Bytes held in reassembly buffers at most.
    pub max_reassembly: usize,
    /// Events and early application-data records queued at most.
    pub max_queued: usize,
    /// Bytes held in each of the two buffers of records that arrive before they can be used:
    /// protected records that arrive before we have the keys (reordering; anyone can send
    /// them), and application data that arrives before our side of the handshake finished.
    /// Records past it are dropped (counted in [`Stats::dropped`](super::Stats::dropped)).
    pub max_early_data: usize,
    /// Where the ECDSA nonces and the P-256/P-384 key shares come from: the crypto provider with
    /// the operating system's randomness ([`KeyRandomness::Fast`], the default) or the injected
    /// [`Rng`](crate::Rng) ([`KeyRandomness::Injected`]: a seeded endpoint is then fully
    /// deterministic). Randoms, the cookie and X25519 key shares always come from the `Rng`.
    pub key_randomness: KeyRandomness,
    /// The DTLS versions offered and accepted; by default [`Versions::Dtls13Or12`] (DTLS 1.3
    /// with DTLS 1.2 as the fallback, see the crate's STATUS.md).
    pub versions: Versions,
    /// The DTLS 1.3 key exchange groups offered (client) and accepted (server), in preference
    /// order; by default [`NamedGroup::DTLS13`] (X25519MLKEM768, X25519, P-256); groups we do
    /// not implement in 1.3 (P-384) are left out. A client lists them in supported_groups and
    /// sends a key share of the first in its first ClientHello, and beside a first
    /// X25519MLKEM768 an X25519 share too when X25519 is configured (as browsers do; the
    /// ClientHello is then fragmented), so a server preferring either needs no
    /// HelloRetryRequest for the group. A server picks the first of its groups the client
    /// supports. DTLS 1.2 keeps its own groups (X25519, P-256, P-384): a client offering both
    /// versions lists P-384 after these for a 1.2 server.
    pub groups13: Vec<NamedGroup>,
    /// DTLS 1.3: records sealed under one sending key after which the endpoint starts a
    /// KeyUpdate (RFC 9147 8). `None` (the default): 7/8 of the key's limit (2^23 records for
    /// AES-GCM, the 2^48 sequence numbers for ChaCha20-Poly1305), so that the update is
    /// acknowledged well before the limit; a larger value is lowered to that. Small values make
    /// updates frequent (tests).
    pub key_update_after: Option<u64>,
    /// Where the record AEADs, the key schedule's hashes and HMACs, the P-256/P-384 key shares
    /// of [`KeyRandomness::Fast`] and the peer signature checks come from (our signatures come
    /// from the certificate's provider). Default
    /// [`sansrtc_core::crypto::default_provider`] (ring unless another was installed).
    pub crypto: &'static dyn CryptoProvider,
}

impl Config {
    /// Defaults around a certificate: every suite and SRTP profile, EMS required, client
    /// certificates required, MTU 1200, 1 s initial retransmission timer.
    pub fn new(certificate: Arc<Certificate>) -> Self {
        Self {
            certificate,
            remote_fingerprints: Vec::new(),
            insecure_accept_any_certificate: false,
            cipher_suites: CipherSuite::ALL.to_vec(),
            srtp_profiles: SrtpProfile::ALL.to_vec(),
            require_extended_master_secret: true,
            require_client_certificate: true,
            mtu: 1200,
            initial_retransmit: Duration::from_secs(1),
            max_retransmit: Duration::from_secs(60),
            max_retransmissions: 12,
            max_handshake_message: 16 * 1024,
            max_reassembly: 64 * 1024,
            max_queued: 256,
            max_early_data: 16 * 1024,
            key_randomness: KeyRandomness::Fast,
            versions: Versions::Dtls13Or12,
            groups13: NamedGroup::DTLS13.to_vec(),
            key_update_after: None,
            crypto: sansrtc_core::crypto::default_provider(),
        }
    }
}
