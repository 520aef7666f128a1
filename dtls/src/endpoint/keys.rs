//! What one handshake negotiates and derives: the randoms, the suite and SRTP profile, the
//! peer's certificate and key, our ECDHE key share, the transcript, and from them the master
//! secret (extended master secret, RFC 7627), the epoch-1 record keys, the Finished values and
//! the RFC 5705 exporter.

use sansrtc_core::crypto::CryptoProvider;

use super::Role;
use crate::cert::PeerKey;
use crate::cipher::{CipherSuite, RecordCipher, SrtpProfile, key_block, prf};
use crate::error::DtlsError;
use crate::fragment;
use crate::kx::{KeyRandomness, KeyShare};
use crate::rng::Rng;

/// The handshake state. A clone behaves as the original, except that a crypto provider's key share
/// (P-256/P-384 with [`KeyRandomness::Fast`]) cannot be copied: a clone taken after such a share
/// went out cannot finish that handshake.
#[derive(Default)]
pub(super) struct Handshake {
    pub(super) client_random: [u8; 32],
    pub(super) server_random: [u8; 32],
    pub(super) suite: Option<CipherSuite>,
    pub(super) srtp: Option<SrtpProfile>,
    pub(super) peer_certificate: Option<Vec<u8>>,
    pub(super) peer_key: Option<PeerKey>,
    /// The scheme of the peer's verified signature (ServerKeyExchange or CertificateVerify).
    pub(super) peer_scheme: Option<u16>,
    pub(super) certificate_requested: bool,
    pub(super) extended_master_secret: bool,
    pub(super) group: u16,
    ephemeral: Option<KeyShare>,
    pub(super) our_point: Vec<u8>,
    pub(super) peer_point: Vec<u8>,
    master: Vec<u8>,
    pub(super) transcript: Vec<u8>,
}

impl Clone for Handshake {
    fn clone(&self) -> Self {
        Handshake {
            client_random: self.client_random,
            server_random: self.server_random,
            suite: self.suite,
            srtp: self.srtp,
            peer_certificate: self.peer_certificate.clone(),
            peer_key: self.peer_key.clone(),
            peer_scheme: self.peer_scheme,
            certificate_requested: self.certificate_requested,
            extended_master_secret: self.extended_master_secret,
            group: self.group,
            ephemeral: self.ephemeral.as_ref().and_then(KeyShare::try_clone),
            our_point: self.our_point.clone(),
            peer_point: self.peer_point.clone(),
            master: self.master.clone(),
            transcript: self.transcript.clone(),
        }
    }
}

type Res<T = ()> = Result<T, DtlsError>;

/// Where an endpoint keeps its DTLS 1.2 [`Handshake`]: allocated at the first write, so a DTLS
/// 1.3 connection, which never uses it, can give it back when it connects
/// ([`HandshakeSlot::free`]); until then reads see an empty handshake.
#[derive(Clone, Default)]
pub(super) struct HandshakeSlot(Option<Box<Handshake>>);

/// What an unallocated [`HandshakeSlot`] reads as.
static EMPTY: std::sync::LazyLock<Handshake> = std::sync::LazyLock::new(Handshake::default);

impl HandshakeSlot {
    /// Frees the handshake; reads see an empty one again.
    pub(super) fn free(&mut self) {
        self.0 = None;
    }
}

impl std::ops::Deref for HandshakeSlot {
    type Target = Handshake;
    fn deref(&self) -> &Handshake {
        self.0.as_deref().unwrap_or(&EMPTY)
    }
}

impl std::ops::DerefMut for HandshakeSlot {
    fn deref_mut(&mut self) -> &mut Handshake {
        self.0.get_or_insert_with(Box::default)
    }
}

impl Handshake {
    /// Appends a received message to the transcript.
    pub(super) fn record(&mut self, ty: u8, seq: u16, body: &[u8]) {
        let whole = fragment::whole_message(ty, seq, body);
        self.transcript.extend_from_slice(&whole);
    }

    /// Whether the ephemeral key exists (tests).
    #[cfg(test)]
    pub(super) fn has_ephemeral(&self) -> bool {
        self.ephemeral.is_some()
    }

    /// Makes our key share for the negotiated group.
    pub(super) fn generate_ephemeral(
        &mut self,
        randomness: KeyRandomness,
        rng: &mut dyn Rng,
        crypto: &dyn CryptoProvider,
    ) -> Res {
        let (key, public) = KeyShare::generate(self.group, randomness, rng, crypto)?;
        self.our_point = public;
        self.ephemeral = Some(key);
        Ok(())
    }

    /// The premaster secret from our key share and the peer's point (uses up our key).
    pub(super) fn agree(&mut self, peer_point: &[u8]) -> Res<Vec<u8>> {
        self.ephemeral
            .take()
            .ok_or(DtlsError::UnexpectedMessage("key exchange"))?
            .agree(peer_point)
    }

    /// The master secret, with EMS when negotiated (RFC 7627: the session hash covers the
    /// transcript through ClientKeyExchange), else from the randoms (RFC 5246 8.1; only when
    /// `require_extended_master_secret` is off), then the epoch-1 record ciphers (ours to write,
    /// ours to read).
    pub(super) fn derive_keys(
        &mut self,
        role: Role,
        pms: &[u8],
        crypto: &dyn CryptoProvider,
    ) -> Res<(RecordCipher, RecordCipher)> {
        let suite = self.suite.expect("negotiated");
        let hash = suite.hash();
        let mut master = vec![0u8; 48];
        if self.extended_master_secret {
            let session_hash = hash.digest(crypto, &self.transcript);
            prf(
                crypto,
                hash,
                pms,
                b"extended master secret",
                &session_hash,
                &mut master,
            );
        } else {
            let mut seed = [0u8; 64];
            seed[..32].copy_from_slice(&self.client_random);
            seed[32..].copy_from_slice(&self.server_random);
            prf(crypto, hash, pms, b"master secret", &seed, &mut master);
        }
        self.master = master;
        let kb = key_block(
            crypto,
            suite,
            &self.master,
            &self.client_random,
            &self.server_random,
        );
        let client = RecordCipher::new(crypto, suite.bulk(), &kb.client_key, &kb.client_iv)?;
        let server = RecordCipher::new(crypto, suite.bulk(), &kb.server_key, &kb.server_iv)?;
        Ok(match role {
            Role::Client => (client, server),
            Role::Server => (server, client),
        })
    }

    /// The Finished verify_data with `label` over the transcript so far.
    pub(super) fn finished_data(&self, label: &[u8], crypto: &dyn CryptoProvider) -> Vec<u8> {
        let hash = self.suite.expect("negotiated").hash();
        let mut out = vec![0u8; 12];
        prf(
            crypto,
            hash,
            &self.master,
            label,
            &hash.digest(crypto, &self.transcript),
            &mut out,
        );
        out
    }

    /// Checks the peer's Finished (constant time).
    pub(super) fn check_finished(
        &self,
        label: &[u8],
        body: &[u8],
        crypto: &dyn CryptoProvider,
    ) -> Res {
        let expected = self.finished_data(label, crypto);
        if crate::codec::ct_eq(&expected, body) {
            Ok(())
        } else {
            Err(DtlsError::BadFinished)
        }
    }

    /// RFC 5705 keying material (no context); the suite must be negotiated.
    pub(super) fn export(
        &self,
        label: &str,
        len: usize,
        crypto: &dyn CryptoProvider,
    ) -> Res<Vec<u8>> {
        let suite = self.suite.ok_or(DtlsError::NotConnected)?;
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(&self.client_random);
        seed[32..].copy_from_slice(&self.server_random);
        let mut out = vec![0u8; len];
        prf(
            crypto,
            suite.hash(),
            &self.master,
            label.as_bytes(),
            &seed,
            &mut out,
        );
        Ok(out)
    }

    /// Frees what only the handshake needed: the transcript, the key shares, the peer's key.
    /// Kept: the master secret (for the exporter), the randoms, the negotiated parameters.
    pub(super) fn release(&mut self) {
        self.transcript = Vec::new();
        self.our_point = Vec::new();
        self.peer_point = Vec::new();
        self.peer_key = None;
        self.ephemeral = None;
    }
}
