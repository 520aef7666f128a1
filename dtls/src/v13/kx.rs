//! DTLS 1.3 key shares (RFC 8446 4.2.8): X25519 (RFC 7748, `x25519-dalek`) and the hybrid
//! X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem, codepoint 0x11EC) with ML-KEM-768 (FIPS 203,
//! RustCrypto `ml-kem`). Every secret comes from the injected [`Rng`], so a seeded endpoint stays
//! deterministic.
//!
//! X25519MLKEM768 on the wire, ML-KEM first:
//! - client share: ML-KEM-768 encapsulation key (1184 bytes) || X25519 public key (32 bytes);
//! - server share: ML-KEM-768 ciphertext (1088 bytes) || X25519 public key (32 bytes);
//! - shared secret: ML-KEM shared secret (32 bytes) || X25519 shared secret (32 bytes).

use ml_kem::{Decapsulate, DecapsulationKey, EncapsulationKey, KeyExport, MlKem768, array::Array};

use super::key_schedule::Secret;
use crate::error::DtlsError;
use crate::rng::Rng;

/// The X25519 group (0x001D).
pub const X25519: u16 = 0x001D;
/// The X25519MLKEM768 hybrid group (0x11EC).
pub const X25519MLKEM768: u16 = 0x11EC;
/// Bytes of an ML-KEM-768 encapsulation key.
pub const MLKEM768_EK_LEN: usize = 1184;
/// Bytes of an ML-KEM-768 ciphertext.
pub const MLKEM768_CT_LEN: usize = 1088;
/// Bytes of an X25519 public key.
pub const X25519_LEN: usize = 32;

/// The groups we offer, in our order of preference.
pub const GROUPS: [u16; 2] = [X25519MLKEM768, X25519];

fn x25519_secret(rng: &mut dyn Rng) -> x25519_dalek::StaticSecret {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes);
    x25519_dalek::StaticSecret::from(bytes)
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

/// A client's key share for one group, kept until the ServerHello.
#[derive(Clone)]
pub struct ClientKeyShare {
    group: u16,
    x25519: x25519_dalek::StaticSecret,
    mlkem: Option<Box<DecapsulationKey<MlKem768>>>,
}

impl std::fmt::Debug for ClientKeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKeyShare")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl ClientKeyShare {
    /// Makes a share for `group` from the generator; returns it with the key_exchange bytes to
    /// send.
    pub fn generate(group: u16, rng: &mut dyn Rng) -> Result<(Self, Vec<u8>), DtlsError> {
        match group {
            X25519 => {
                let x25519 = x25519_secret(rng);
                let public = x25519_dalek::PublicKey::from(&x25519).as_bytes().to_vec();
                Ok((
                    Self {
                        group,
                        x25519,
                        mlkem: None,
                    },
                    public,
                ))
            }
            X25519MLKEM768 => {
                let mut seed = [0u8; 64];
                rng.fill(&mut seed);
                let dk = DecapsulationKey::<MlKem768>::from_seed(Array::from(seed));
                seed.iter_mut().for_each(|b| *b = 0);
                let x25519 = x25519_secret(rng);
                let mut public = dk.encapsulation_key().to_bytes().to_vec();
                debug_assert_eq!(public.len(), MLKEM768_EK_LEN);
                public.extend_from_slice(x25519_dalek::PublicKey::from(&x25519).as_bytes());
                Ok((
                    Self {
                        group,
                        x25519,
                        mlkem: Some(Box::new(dk)),
                    },
                    public,
                ))
            }
            _ => Err(DtlsError::NoCommon("group")),
        }
    }

    /// The group.
    pub fn group(&self) -> u16 {
        self.group
    }

    /// The shared secret from the server's key_exchange bytes.
    pub fn finish(&self, server_share: &[u8]) -> Result<Secret, DtlsError> {
        match &self.mlkem {
            None => Ok(Secret::new(
                x25519_agree(&self.x25519, server_share)?.to_vec(),
            )),
            Some(dk) => {
                if server_share.len() != MLKEM768_CT_LEN + X25519_LEN {
                    return Err(DtlsError::Invalid("X25519MLKEM768 key share"));
                }
                let (ct, x) = server_share.split_at(MLKEM768_CT_LEN);
                let ct = Array::try_from(ct)
                    .map_err(|_| DtlsError::Invalid("X25519MLKEM768 key share"))?;
                let k = dk.decapsulate(&ct);
                let mut shared = Vec::with_capacity(64);
                shared.extend_from_slice(k.as_slice());
                shared.extend_from_slice(&x25519_agree(&self.x25519, x)?);
                Ok(Secret::new(shared))
            }
        }
    }
}

/// The server's side: from the client's key_exchange bytes for `group`, our key_exchange bytes
/// and the shared secret. An ML-KEM encapsulation key that fails the FIPS 203 input check, a
/// wrong length or a low-order X25519 point is refused (illegal_parameter).
pub fn server_share(
    group: u16,
    client_share: &[u8],
    rng: &mut dyn Rng,
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
            m.iter_mut().for_each(|b| *b = 0);
            let secret = x25519_secret(rng);
            let x_shared = x25519_agree(&secret, x)?;
            let mut public = ct.to_vec();
            public.extend_from_slice(x25519_dalek::PublicKey::from(&secret).as_bytes());
            let mut shared = Vec::with_capacity(64);
            shared.extend_from_slice(k.as_slice());
            shared.extend_from_slice(&x_shared);
            Ok((public, Secret::new(shared)))
        }
        _ => Err(DtlsError::NoCommon("group")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::TestRng;

    #[test]
    fn both_groups_agree() {
        for group in GROUPS {
            let mut rng = TestRng::new(u64::from(group));
            let (client, c_pub) = ClientKeyShare::generate(group, &mut rng).expect("client");
            let (s_pub, s_secret) = server_share(group, &c_pub, &mut rng).expect("server");
            let c_secret = client.finish(&s_pub).expect("finish");
            assert_eq!(c_secret, s_secret);
            let (cl, sl, kl) = match group {
                X25519 => (32, 32, 32),
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
        let x_shared = x25519_agree(&client.x25519, &s_pub[MLKEM768_CT_LEN..]).expect("x25519");
        assert_eq!(&s_secret.as_bytes()[32..], &x_shared);
        assert_eq!(
            &c_pub[MLKEM768_EK_LEN..],
            x25519_dalek::PublicKey::from(&client.x25519).as_bytes()
        );
        // The ML-KEM half alone: decapsulating the first 1088 bytes gives the first 32.
        let dk = client.mlkem.as_ref().expect("hybrid");
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
        assert!(server_share(0x0017, &[4; 65], &mut rng).is_err());
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
}
