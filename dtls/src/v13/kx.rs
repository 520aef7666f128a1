//! DTLS 1.3 key shares (RFC 8446 4.2.8): X25519 (RFC 7748, `x25519-dalek`), the hybrid
//! X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem, codepoint 0x11EC) with ML-KEM-768 (FIPS 203,
//! RustCrypto `ml-kem`), and P-256 (secp256r1, 0x0017, RFC 8446 4.2.8.2: the uncompressed point,
//! the shared secret is its x-coordinate). X25519 and ML-KEM secrets always come from the
//! injected [`Rng`], so a seeded endpoint stays deterministic; P-256 follows [`KeyRandomness`]
//! as in DTLS 1.2 (`ring` with the system's randomness for `Fast`, RustCrypto `p256` from the
//! [`Rng`] for `Injected`).
//!
//! X25519MLKEM768 on the wire, ML-KEM first:
//! - client share: ML-KEM-768 encapsulation key (1184 bytes) || X25519 public key (32 bytes);
//! - server share: ML-KEM-768 ciphertext (1088 bytes) || X25519 public key (32 bytes);
//! - shared secret: ML-KEM shared secret (32 bytes) || X25519 shared secret (32 bytes).

use std::sync::{Arc, Mutex};

use ml_kem::{Decapsulate, DecapsulationKey, EncapsulationKey, KeyExport, MlKem768, array::Array};

use sansrtc_core::crypto::CryptoProvider;

use super::key_schedule::Secret;
use crate::error::DtlsError;
use crate::kx::{KeyRandomness, KeyShare};
use crate::rng::Rng;

/// The X25519 group (0x001D).
pub const X25519: u16 = 0x001D;
/// The X25519MLKEM768 hybrid group (0x11EC).
pub const X25519MLKEM768: u16 = 0x11EC;
/// The secp256r1 (P-256) group (0x0017).
pub const SECP256R1: u16 = 0x0017;
/// Bytes of an ML-KEM-768 encapsulation key.
pub const MLKEM768_EK_LEN: usize = 1184;
/// Bytes of an ML-KEM-768 ciphertext.
pub const MLKEM768_CT_LEN: usize = 1088;
/// Bytes of an X25519 public key.
pub const X25519_LEN: usize = 32;
/// Bytes of an uncompressed P-256 point (0x04 || x || y).
pub const P256_LEN: usize = 65;

fn x25519_secret(rng: &mut dyn Rng) -> x25519_dalek::StaticSecret {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes);
    let secret = x25519_dalek::StaticSecret::from(bytes);
    bytes.fill(0);
    secret
}

fn x25519_agree(secret: &x25519_dalek::StaticSecret, peer: &[u8]) -> Result<[u8; 32], DtlsError> {
    let point: [u8; 32] = peer
        .try_into()
        .map_err(|_| DtlsError::Invalid("X25519 key share"))?;
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(point));
    if !shared.was_contributory() {
        return Err(DtlsError::Invalid("X25519 key share"));
    }
    Ok(*shared.as_bytes())
}

/// A P-256 share as RFC 8446 4.2.8.2 wants it: 65 bytes, uncompressed, on the curve (not the
/// identity, which has no uncompressed form). Checked before our key is used up.
fn check_p256(peer: &[u8]) -> Result<(), DtlsError> {
    let bad = DtlsError::Invalid("P-256 key share");
    if peer.len() != P256_LEN || peer[0] != 4 {
        return Err(bad);
    }
    p256::PublicKey::from_sec1_bytes(peer)
        .map(|_| ())
        .map_err(|_| bad)
}

/// The P-256 agreement through DTLS 1.2's [`KeyShare`] (x-coordinate, 32 bytes).
fn p256_agree(key: KeyShare, peer: &[u8]) -> Result<Secret, DtlsError> {
    check_p256(peer)?;
    key.agree(peer)
        .map(Secret::new)
        .map_err(|_| DtlsError::Invalid("P-256 key share"))
}

/// Our private key of a client share.
enum Private {
    X25519(x25519_dalek::StaticSecret),
    Hybrid(x25519_dalek::StaticSecret, Box<DecapsulationKey<MlKem768>>),
    /// P-256: RustCrypto (copied with the share) or `ring` (usable once, so shared by the
    /// copies: the first ServerHello whose point is valid uses it up).
    P256(Arc<Mutex<Option<KeyShare>>>),
}

impl Clone for Private {
    fn clone(&self) -> Self {
        match self {
            Self::X25519(s) => Self::X25519(s.clone()),
            Self::Hybrid(s, dk) => Self::Hybrid(s.clone(), dk.clone()),
            Self::P256(shared) => {
                let copy = shared
                    .lock()
                    .ok()
                    .and_then(|k| k.as_ref().and_then(KeyShare::try_clone));
                match copy {
                    Some(k) => Self::P256(Arc::new(Mutex::new(Some(k)))),
                    None => Self::P256(shared.clone()),
                }
            }
        }
    }
}

/// A client's key share for one group, kept until the ServerHello.
#[derive(Clone)]
pub struct ClientKeyShare {
    group: u16,
    private: Private,
}

impl std::fmt::Debug for ClientKeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKeyShare")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl ClientKeyShare {
    /// Makes a share for `group` with every secret from the generator
    /// ([`KeyRandomness::Injected`]); returns it with the key_exchange bytes to send.
    pub fn generate(group: u16, rng: &mut dyn Rng) -> Result<(Self, Vec<u8>), DtlsError> {
        Self::generate_with(
            group,
            KeyRandomness::Injected,
            rng,
            sansrtc_core::crypto::default_provider(),
        )
    }

    /// Makes a share for `group`, its P-256 secret as `randomness` says (from `crypto` when
    /// [`KeyRandomness::Fast`]); returns it with the key_exchange bytes to send.
    pub fn generate_with(
        group: u16,
        randomness: KeyRandomness,
        rng: &mut dyn Rng,
        crypto: &dyn CryptoProvider,
    ) -> Result<(Self, Vec<u8>), DtlsError> {
        let (private, public) = match group {
            X25519 => {
                let x25519 = x25519_secret(rng);
                let public = x25519_dalek::PublicKey::from(&x25519).as_bytes().to_vec();
                (Private::X25519(x25519), public)
            }
            X25519MLKEM768 => {
                let mut seed = [0u8; 64];
                rng.fill(&mut seed);
                let dk = DecapsulationKey::<MlKem768>::from_seed(Array::from(seed));
                seed.fill(0);
                let x25519 = x25519_secret(rng);
                let mut public = dk.encapsulation_key().to_bytes().to_vec();
                debug_assert_eq!(public.len(), MLKEM768_EK_LEN);
                public.extend_from_slice(x25519_dalek::PublicKey::from(&x25519).as_bytes());
                (Private::Hybrid(x25519, Box::new(dk)), public)
            }
            SECP256R1 => {
                let (key, public) = KeyShare::generate(SECP256R1, randomness, rng, crypto)?;
                (Private::P256(Arc::new(Mutex::new(Some(key)))), public)
            }
            _ => return Err(DtlsError::NoCommon("group")),
        };
        Ok((Self { group, private }, public))
    }

    /// The group.
    pub fn group(&self) -> u16 {
        self.group
    }

    /// The shared secret from the server's key_exchange bytes. A P-256 key made by `ring` is
    /// used up by the first valid server share (an invalid one leaves it).
    pub fn finish(&self, server_share: &[u8]) -> Result<Secret, DtlsError> {
        match &self.private {
            Private::X25519(x) => Ok(Secret::new(x25519_agree(x, server_share)?.to_vec())),
            Private::Hybrid(x, dk) => {
                if server_share.len() != MLKEM768_CT_LEN + X25519_LEN {
                    return Err(DtlsError::Invalid("X25519MLKEM768 key share"));
                }
                let (ct, xs) = server_share.split_at(MLKEM768_CT_LEN);
                let ct = Array::try_from(ct)
                    .map_err(|_| DtlsError::Invalid("X25519MLKEM768 key share"))?;
                let k = dk.decapsulate(&ct);
                let mut shared = Vec::with_capacity(64);
                shared.extend_from_slice(k.as_slice());
                shared.extend_from_slice(&x25519_agree(x, xs)?);
                Ok(Secret::new(shared))
            }
            Private::P256(shared) => {
                check_p256(server_share)?;
                let key = {
                    let mut slot = shared
                        .lock()
                        .map_err(|_| DtlsError::Invalid("P-256 key share"))?;
                    match slot.as_ref().and_then(KeyShare::try_clone) {
                        Some(copy) => copy,
                        None => slot.take().ok_or(DtlsError::Invalid("P-256 key used up"))?,
                    }
                };
                p256_agree(key, server_share)
            }
        }
    }
}

/// The server's side with every secret from the generator ([`KeyRandomness::Injected`]): see
/// [`server_share_with`].
pub fn server_share(
    group: u16,
    client_share: &[u8],
    rng: &mut dyn Rng,
) -> Result<(Vec<u8>, Secret), DtlsError> {
    server_share_with(
        group,
        client_share,
        KeyRandomness::Injected,
        rng,
        sansrtc_core::crypto::default_provider(),
    )
}

/// The server's side: from the client's key_exchange bytes for `group`, our key_exchange bytes
/// and the shared secret (our P-256 secret as `randomness` says). An ML-KEM encapsulation key
/// that fails the FIPS 203 input check, a wrong length, a low-order X25519 point or a P-256
/// point that is compressed or not on the curve is refused (illegal_parameter).
pub fn server_share_with(
    group: u16,
    client_share: &[u8],
    randomness: KeyRandomness,
    rng: &mut dyn Rng,
    crypto: &dyn CryptoProvider,
) -> Result<(Vec<u8>, Secret), DtlsError> {
    match group {
        X25519 => {
            let secret = x25519_secret(rng);
            let shared = x25519_agree(&secret, client_share)?;
            let public = x25519_dalek::PublicKey::from(&secret).as_bytes().to_vec();
            Ok((public, Secret::new(shared.to_vec())))
        }
        X25519MLKEM768 => {
            if client_share.len() != MLKEM768_EK_LEN + X25519_LEN {
                return Err(DtlsError::Invalid("X25519MLKEM768 key share"));
            }
            let (ek, x) = client_share.split_at(MLKEM768_EK_LEN);
            let ek =
                Array::try_from(ek).map_err(|_| DtlsError::Invalid("X25519MLKEM768 key share"))?;
            let ek = EncapsulationKey::<MlKem768>::new(&ek)
                .map_err(|_| DtlsError::Invalid("ML-KEM encapsulation key"))?;
            let mut m = [0u8; 32];
            rng.fill(&mut m);
            let (ct, k) = ek.encapsulate_deterministic(&Array::from(m));
            m.fill(0);
            let secret = x25519_secret(rng);
            let x_shared = x25519_agree(&secret, x)?;
            let mut public = ct.to_vec();
            public.extend_from_slice(x25519_dalek::PublicKey::from(&secret).as_bytes());
            let mut shared = Vec::with_capacity(64);
            shared.extend_from_slice(k.as_slice());
            shared.extend_from_slice(&x_shared);
            Ok((public, Secret::new(shared)))
        }
        SECP256R1 => {
            // Checked before we spend a key generation on it.
            check_p256(client_share)?;
            let (key, public) = KeyShare::generate(SECP256R1, randomness, rng, crypto)?;
            Ok((public, p256_agree(key, client_share)?))
        }
        _ => Err(DtlsError::NoCommon("group")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RING: &dyn CryptoProvider = &sansrtc_core::crypto::RING;
    use crate::rng::TestRng;

    #[test]
    fn both_groups_agree() {
        for (group, mode) in crate::negotiated::NamedGroup::DTLS13
            .map(|g| g.id())
            .into_iter()
            .flat_map(|g| [KeyRandomness::Fast, KeyRandomness::Injected].map(|m| (g, m)))
        {
            let mut rng = TestRng::new(u64::from(group));
            let last = *sansrtc_core::crypto::available().last().expect("ring");
            let (client, c_pub) =
                ClientKeyShare::generate_with(group, mode, &mut rng, RING).expect("client");
            let (s_pub, s_secret) =
                server_share_with(group, &c_pub, mode, &mut rng, last).expect("server");
            // A copy (the endpoint keeps one per ServerHello candidate) agrees too.
            let c_secret = client.clone().finish(&s_pub).expect("finish");
            assert_eq!(c_secret, s_secret);
            let (cl, sl, kl) = match group {
                X25519 => (32, 32, 32),
                SECP256R1 => (65, 65, 32),
                _ => (1216, 1120, 64),
            };
            assert_eq!(
                (c_pub.len(), s_pub.len(), s_secret.as_bytes().len()),
                (cl, sl, kl)
            );
        }
    }

    #[test]
    fn hybrid_layout_is_mlkem_first() {
        let mut rng = TestRng::new(5);
        let (client, c_pub) = ClientKeyShare::generate(X25519MLKEM768, &mut rng).expect("client");
        let (s_pub, s_secret) = server_share(X25519MLKEM768, &c_pub, &mut rng).expect("server");
        // The X25519 half alone agrees with the last 32 bytes of each share.
        let Private::Hybrid(x25519, dk) = &client.private else {
            panic!("not hybrid")
        };
        let x_shared = x25519_agree(x25519, &s_pub[MLKEM768_CT_LEN..]).expect("x25519");
        assert_eq!(&s_secret.as_bytes()[32..], &x_shared);
        assert_eq!(
            &c_pub[MLKEM768_EK_LEN..],
            x25519_dalek::PublicKey::from(x25519).as_bytes()
        );
        // The ML-KEM half alone: decapsulating the first 1088 bytes gives the first 32.
        let ct = Array::try_from(&s_pub[..MLKEM768_CT_LEN]).expect("ct");
        assert_eq!(dk.decapsulate(&ct).as_slice(), &s_secret.as_bytes()[..32]);
    }

    #[test]
    fn deterministic_from_the_generator() {
        let run = || {
            let mut rng = TestRng::new(77);
            let (_, c_pub) = ClientKeyShare::generate(X25519MLKEM768, &mut rng).expect("c");
            let (s_pub, s) = server_share(X25519MLKEM768, &c_pub, &mut rng).expect("s");
            (c_pub, s_pub, s)
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn bad_shares_are_refused() {
        let mut rng = TestRng::new(9);
        let (client, c_pub) = ClientKeyShare::generate(X25519MLKEM768, &mut rng).expect("client");
        assert!(server_share(X25519MLKEM768, &c_pub[1..], &mut rng).is_err());
        assert!(server_share(X25519, &[0; 32], &mut rng).is_err());
        assert!(server_share(SECP256R1, &[4; 65], &mut rng).is_err());
        assert!(server_share(0x0018, &[4; 97], &mut rng).is_err());
        // An encapsulation key with a coefficient >= q fails the FIPS 203 modulus check.
        let mut bad = c_pub.clone();
        bad[0] = 0xff;
        bad[1] |= 0x0f;
        assert!(server_share(X25519MLKEM768, &bad, &mut rng).is_err());
        // A low-order X25519 half.
        let mut low = c_pub.clone();
        low[MLKEM768_EK_LEN..].fill(0);
        assert!(server_share(X25519MLKEM768, &low, &mut rng).is_err());
        assert!(client.finish(&[0; 1119]).is_err());
        // A tampered ciphertext decapsulates (implicit rejection) to a different secret.
        let (mut s_pub, s) = server_share(X25519MLKEM768, &c_pub, &mut rng).expect("server");
        s_pub[10] ^= 1;
        assert_ne!(client.finish(&s_pub).expect("implicit rejection"), s);
    }

    #[test]
    fn p256_shares_are_uncompressed_points_and_agree_on_x() {
        let providers = sansrtc_core::crypto::available();
        for mode in [KeyRandomness::Fast, KeyRandomness::Injected] {
            let mut rng = TestRng::new(3);
            let (first, last) = (providers[0], *providers.last().expect("ring"));
            let (client, c_pub) =
                ClientKeyShare::generate_with(SECP256R1, mode, &mut rng, first).expect("client");
            assert_eq!((c_pub.len(), c_pub[0]), (P256_LEN, 4));
            let (s_pub, s) = server_share_with(SECP256R1, &c_pub, mode, &mut rng, last).expect("s");
            // The secret is the x-coordinate of the shared point, as ring computes it.
            let theirs = ring::agreement::EphemeralPrivateKey::generate(
                &ring::agreement::ECDH_P256,
                &ring::rand::SystemRandom::new(),
            )
            .expect("ring key");
            let their_pub = theirs.compute_public_key().expect("pub").as_ref().to_vec();
            let ours = client.finish(&their_pub).expect("agree with ring");
            let ring_secret = ring::agreement::agree_ephemeral(
                theirs,
                &ring::agreement::UnparsedPublicKey::new(&ring::agreement::ECDH_P256, &c_pub),
                |k| k.to_vec(),
            )
            .expect("ring agree");
            assert_eq!(ours.as_bytes(), &ring_secret[..]);
            assert_eq!(s.as_bytes().len(), 32);
            assert_eq!(s_pub.len(), P256_LEN);
        }
    }

    #[test]
    fn injected_p256_shares_are_deterministic() {
        let run = || {
            let mut rng = TestRng::new(8);
            let (_, c_pub) = ClientKeyShare::generate(SECP256R1, &mut rng).expect("c");
            let (s_pub, s) = server_share(SECP256R1, &c_pub, &mut rng).expect("s");
            (c_pub, s_pub, s)
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn bad_p256_shares_are_refused_and_leave_the_key() {
        let mut rng = TestRng::new(11);
        // The last provider: aws-lc-rs when the build has it (it must refuse what ring does).
        let crypto = *sansrtc_core::crypto::available().last().expect("ring");
        for mode in [KeyRandomness::Fast, KeyRandomness::Injected] {
            let (client, c_pub) =
                ClientKeyShare::generate_with(SECP256R1, mode, &mut rng, crypto).expect("client");
            let bad = Err(DtlsError::Invalid("P-256 key share"));
            let mut compressed = c_pub[..33].to_vec();
            compressed[0] = 2 + (c_pub[64] & 1);
            let mut off_curve = c_pub.clone();
            off_curve[64] ^= 1;
            let mut hybrid_tag = c_pub.clone();
            hybrid_tag[0] = 6 + (c_pub[64] & 1);
            for share in [
                &compressed[..],
                &c_pub[..64],
                &off_curve,
                &hybrid_tag,
                &[0u8; 65],
                &[0u8; 1],
                &[],
            ] {
                assert_eq!(
                    server_share_with(SECP256R1, share, mode, &mut rng, crypto).map(|_| ()),
                    bad
                );
                assert_eq!(client.finish(share).map(|_| ()), bad);
            }
            // None of them used up the client's key: a valid share still agrees.
            let (s_pub, s) =
                server_share_with(SECP256R1, &c_pub, mode, &mut rng, crypto).expect("s");
            assert_eq!(client.finish(&s_pub).expect("still usable"), s);
            if mode == KeyRandomness::Fast {
                // ring's key is used once.
                assert!(client.finish(&s_pub).is_err());
            }
        }
    }
}
