//! Ephemeral ECDHE key shares for the named groups we speak (X25519, P-256, P-384), made from
//! the endpoint's injected [`Rng`] wherever the cost allows (see [`KeyRandomness`]).
//!
//! - X25519: `x25519-dalek`, the secret is 32 bytes from the [`Rng`] (as fast as `ring`'s).
//! - P-256 / P-384 with [`KeyRandomness::Injected`]: RustCrypto `p256` / `p384`, the scalar
//!   from [`Rng`] bytes (rejection-sampled: bytes that are not a valid scalar are drawn again).
//! - P-256 / P-384 with [`KeyRandomness::Fast`] (the default): the crypto provider (ring or
//!   aws-lc-rs), whose key generation takes only its own system random source (RustCrypto's
//!   scalar multiplication costs 3-4 times ring's on P-256).
//!
//! Peer points must be uncompressed (RFC 8422 5.1.2: we send and accept only the uncompressed
//! point format); a key agreement giving the all-zero X25519 output (a low-order point) fails.

use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use sansrtc_core::crypto::{CryptoProvider, EcdhGroup, EphemeralKey};

use crate::error::DtlsError;
use crate::message::group;
use crate::rng::Rng;

/// Where the secrets of the handshake's public-key operations come from.
///
/// The endpoint always draws its randoms, its cookie and its X25519 key shares from the [`Rng`]
/// it was given. `ring`, which is much faster than the RustCrypto crates for ECDSA and the NIST
/// curves, takes randomness only from the operating system (its `SecureRandom` is sealed), so
/// the choice is between speed and a fully injected endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeyRandomness {
    /// `ring` with the operating system's randomness for the nonce of each ECDSA signature we
    /// make (ServerKeyExchange as a server, CertificateVerify as a client) and for P-256 and
    /// P-384 key shares; everything else from the injected [`Rng`]. Handshakes made with the
    /// same seeds differ in those signatures and key shares. The default.
    #[default]
    Fast,
    /// Every secret from the injected [`Rng`]: ECDSA signatures with RFC 6979 deterministic
    /// nonces hedged with 32 bytes from the [`Rng`] (RustCrypto `p256`), P-256/P-384 key shares
    /// from [`Rng`] scalars (RustCrypto). A seeded endpoint replays byte for byte; each signature
    /// costs about 0.25 ms more than ring's (see `dtls/STATUS.md`).
    Injected,
}

/// Our private key for one key exchange.
pub(crate) enum KeyShare {
    X25519(x25519_dalek::StaticSecret),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    /// A crypto provider's key (P-256 or P-384 with [`KeyRandomness::Fast`]) and the length of
    /// the group's uncompressed point; it cannot be copied.
    Provider(Box<dyn EphemeralKey>, usize),
}

impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Self::X25519(_) => "X25519",
            Self::P256(_) => "P-256",
            Self::P384(_) => "P-384",
            Self::Provider(..) => "provider",
        };
        f.debug_tuple("KeyShare").field(&kind).finish()
    }
}

impl KeyShare {
    /// A key share for `named_group` and its public point as sent on the wire.
    pub(crate) fn generate(
        named_group: u16,
        randomness: KeyRandomness,
        rng: &mut dyn Rng,
        crypto: &dyn CryptoProvider,
    ) -> Result<(Self, Vec<u8>), DtlsError> {
        match (named_group, randomness) {
            (group::X25519, _) => {
                let mut bytes = [0u8; 32];
                rng.fill(&mut bytes);
                let secret = x25519_dalek::StaticSecret::from(bytes);
                bytes.fill(0);
                let public = x25519_dalek::PublicKey::from(&secret).as_bytes().to_vec();
                Ok((Self::X25519(secret), public))
            }
            (group::SECP256R1, KeyRandomness::Injected) => {
                let secret = loop {
                    let mut bytes = p256::FieldBytes::default();
                    rng.fill(&mut bytes);
                    if let Ok(s) = p256::SecretKey::from_bytes(&bytes) {
                        break s;
                    }
                };
                let public = secret
                    .public_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec();
                Ok((Self::P256(secret), public))
            }
            (group::SECP384R1, KeyRandomness::Injected) => {
                let secret = loop {
                    let mut bytes = p384::FieldBytes::default();
                    rng.fill(&mut bytes);
                    if let Ok(s) = p384::SecretKey::from_bytes(&bytes) {
                        break s;
                    }
                };
                let public = secret
                    .public_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec();
                Ok((Self::P384(secret), public))
            }
            (group::SECP256R1 | group::SECP384R1, _) => {
                let (group, point_len) = if named_group == group::SECP256R1 {
                    (EcdhGroup::P256, 65)
                } else {
                    (EcdhGroup::P384, 97)
                };
                let key = crypto
                    .ecdhe(group)
                    .map_err(|_| DtlsError::Crypto("ECDHE key"))?;
                let public = key.public_key().to_vec();
                Ok((Self::Provider(key, point_len), public))
            }
            _ => Err(DtlsError::Invalid("named group")),
        }
    }

    /// A copy, when the key can be copied (all but a provider's).
    pub(crate) fn try_clone(&self) -> Option<Self> {
        match self {
            Self::X25519(s) => Some(Self::X25519(s.clone())),
            Self::P256(s) => Some(Self::P256(s.clone())),
            Self::P384(s) => Some(Self::P384(s.clone())),
            Self::Provider(..) => None,
        }
    }

    /// The premaster secret with the peer's public point (RFC 8422 5.10: the x-coordinate for
    /// the NIST curves, the X25519 output).
    pub(crate) fn agree(self, peer: &[u8]) -> Result<Vec<u8>, DtlsError> {
        let bad = DtlsError::Invalid("ECDHE public key");
        match self {
            Self::X25519(secret) => {
                let point: [u8; 32] = peer.try_into().map_err(|_| bad.clone())?;
                let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(point));
                if !shared.was_contributory() {
                    return Err(bad);
                }
                Ok(shared.as_bytes().to_vec())
            }
            Self::P256(secret) => {
                if peer.len() != 65 || peer[0] != 4 {
                    return Err(bad);
                }
                let public = p256::PublicKey::from_sec1_bytes(peer).map_err(|_| bad)?;
                let shared =
                    p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
                Ok(shared.raw_secret_bytes().to_vec())
            }
            Self::P384(secret) => {
                if peer.len() != 97 || peer[0] != 4 {
                    return Err(bad);
                }
                let public = p384::PublicKey::from_sec1_bytes(peer).map_err(|_| bad)?;
                let shared =
                    p384::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
                Ok(shared.raw_secret_bytes().to_vec())
            }
            Self::Provider(key, point_len) => {
                // Uncompressed points only, whatever a provider would also take.
                if peer.len() != point_len || peer[0] != 4 {
                    return Err(bad);
                }
                key.agree(peer).map_err(|_| bad)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey};

    use super::*;
    use crate::rng::TestRng;

    const RING: &dyn CryptoProvider = &sansrtc_core::crypto::RING;

    const GROUPS: [u16; 3] = [group::X25519, group::SECP256R1, group::SECP384R1];

    #[test]
    fn both_sides_agree_in_every_group_and_mode() {
        for g in GROUPS {
            for mode in [KeyRandomness::Fast, KeyRandomness::Injected] {
                let mut rng = TestRng::new(u64::from(g));
                // One side on ring, the other on the last provider (aws-lc-rs when built).
                let last = *sansrtc_core::crypto::available().last().expect("ring");
                let (a, pa) = KeyShare::generate(g, mode, &mut rng, RING).unwrap();
                let (b, pb) = KeyShare::generate(g, mode, &mut rng, last).unwrap();
                let expected_len = match g {
                    group::X25519 => 32,
                    group::SECP256R1 => 65,
                    _ => 97,
                };
                assert_eq!(pa.len(), expected_len);
                let (sa, sb) = (a.agree(&pb).unwrap(), b.agree(&pa).unwrap());
                assert_eq!(sa, sb, "group {g} {mode:?}");
                assert_eq!(sa.len(), if g == group::SECP384R1 { 48 } else { 32 });
            }
        }
    }

    #[test]
    fn injected_shares_are_deterministic_and_interoperate_with_ring() {
        for (g, alg) in [
            (group::X25519, &agreement::X25519),
            (group::SECP256R1, &agreement::ECDH_P256),
            (group::SECP384R1, &agreement::ECDH_P384),
        ] {
            let (ours, public) =
                KeyShare::generate(g, KeyRandomness::Injected, &mut TestRng::new(5), RING).unwrap();
            let (_, again) =
                KeyShare::generate(g, KeyRandomness::Injected, &mut TestRng::new(5), RING).unwrap();
            assert_eq!(public, again, "same seed, same share");
            let (_, other) =
                KeyShare::generate(g, KeyRandomness::Injected, &mut TestRng::new(6), RING).unwrap();
            assert_ne!(public, other);
            // A ring peer computes the same premaster secret.
            let rng = ring::rand::SystemRandom::new();
            let theirs = EphemeralPrivateKey::generate(alg, &rng).unwrap();
            let their_public = theirs.compute_public_key().unwrap().as_ref().to_vec();
            let copy = ours.try_clone().expect("RustCrypto and dalek keys copy");
            let secret = ours.agree(&their_public).unwrap();
            let ring_secret =
                agreement::agree_ephemeral(theirs, &UnparsedPublicKey::new(alg, &public), |s| {
                    s.to_vec()
                })
                .unwrap();
            assert_eq!(secret, ring_secret);
            assert_eq!(copy.agree(&their_public).unwrap(), secret);
        }
    }

    #[test]
    fn bad_peer_points_are_refused() {
        let mut rng = TestRng::new(1);
        let share = |g, rng: &mut TestRng| {
            KeyShare::generate(g, KeyRandomness::Injected, rng, RING)
                .unwrap()
                .0
        };
        let bad = Err(DtlsError::Invalid("ECDHE public key"));
        // X25519: wrong length, and a low-order point (all-zero output).
        assert_eq!(share(group::X25519, &mut rng).agree(&[9; 31]), bad);
        assert_eq!(share(group::X25519, &mut rng).agree(&[0; 32]), bad);
        // P-256: compressed, wrong length, not on the curve.
        let (_, p) =
            KeyShare::generate(group::SECP256R1, KeyRandomness::Injected, &mut rng, RING).unwrap();
        let mut compressed = p[..33].to_vec();
        compressed[0] = 2 + (p[64] & 1);
        assert_eq!(share(group::SECP256R1, &mut rng).agree(&compressed), bad);
        assert_eq!(share(group::SECP256R1, &mut rng).agree(&p[..64]), bad);
        let mut off_curve = p.clone();
        off_curve[64] ^= 1;
        assert_eq!(share(group::SECP256R1, &mut rng).agree(&off_curve), bad);
        let mut off_curve = vec![4u8; 97];
        off_curve[1] = 1;
        assert_eq!(share(group::SECP384R1, &mut rng).agree(&off_curve), bad);
        // A provider's keys likewise.
        let (ring_key, _) =
            KeyShare::generate(group::SECP256R1, KeyRandomness::Fast, &mut rng, RING).unwrap();
        assert!(ring_key.try_clone().is_none());
        assert_eq!(ring_key.agree(&off_curve[..65]), bad);
        for &crypto in sansrtc_core::crypto::available() {
            let (key, _) =
                KeyShare::generate(group::SECP256R1, KeyRandomness::Fast, &mut rng, crypto)
                    .unwrap();
            assert_eq!(key.agree(&compressed), bad, "{crypto:?}");
        }
        assert_eq!(
            KeyShare::generate(0x1234, KeyRandomness::Fast, &mut rng, RING).map(|_| ()),
            Err(DtlsError::Invalid("named group"))
        );
    }
}
