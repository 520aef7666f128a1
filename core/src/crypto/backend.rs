//! The two providers, written once: `ring` and `aws-lc-rs` share one API shape (aws-lc-rs began
//! as ring's API over AWS-LC), so one macro implements [`CryptoProvider`] over either crate. The
//! two places their APIs differ (loading an ECDSA key, finishing a key agreement) are the
//! `ecdsa_from_pkcs8` and `agree` arguments.

macro_rules! provider {
    (
        $module:ident, $lib:ident, $name:literal,
        ecdsa_from_pkcs8: $from_pkcs8:expr,
        agree: $agree:expr $(,)?
    ) => {
        #[doc = concat!("The provider over `", $name, "`.")]
        pub(crate) mod $module {
            use std::sync::Arc;

            use subtle::ConstantTimeEq as _;
            use $lib::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, quic};
            use $lib::signature::{self as s, KeyPair as _};
            use $lib::{agreement, digest, hkdf, hmac};

            use crate::crypto::{
                AeadAlgorithm, CryptoError, CryptoProvider, DigestAlgorithm, EcdhGroup,
                EphemeralKey, HashContext, HeaderProtectionKey, HmacKey, NONCE_LEN, Output,
                SignatureAlgorithm, SigningKey, TAG_LEN,
            };

            #[doc = concat!("Every primitive from `", $name, "`.")]
            #[derive(Debug, Clone, Copy, Default)]
            pub struct Provider;

            fn digest_alg(alg: DigestAlgorithm) -> &'static digest::Algorithm {
                match alg {
                    DigestAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
                    DigestAlgorithm::Sha256 => &digest::SHA256,
                    DigestAlgorithm::Sha384 => &digest::SHA384,
                    DigestAlgorithm::Sha512 => &digest::SHA512,
                }
            }

            fn hmac_alg(alg: DigestAlgorithm) -> hmac::Algorithm {
                match alg {
                    DigestAlgorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
                    DigestAlgorithm::Sha256 => hmac::HMAC_SHA256,
                    DigestAlgorithm::Sha384 => hmac::HMAC_SHA384,
                    DigestAlgorithm::Sha512 => hmac::HMAC_SHA512,
                }
            }

            fn hkdf_alg(alg: DigestAlgorithm) -> hkdf::Algorithm {
                match alg {
                    DigestAlgorithm::Sha1 => hkdf::HKDF_SHA1_FOR_LEGACY_USE_ONLY,
                    DigestAlgorithm::Sha256 => hkdf::HKDF_SHA256,
                    DigestAlgorithm::Sha384 => hkdf::HKDF_SHA384,
                    DigestAlgorithm::Sha512 => hkdf::HKDF_SHA512,
                }
            }

            fn agreement_alg(group: EcdhGroup) -> &'static agreement::Algorithm {
                match group {
                    EcdhGroup::X25519 => &agreement::X25519,
                    EcdhGroup::P256 => &agreement::ECDH_P256,
                    EcdhGroup::P384 => &agreement::ECDH_P384,
                }
            }

            struct Aead(LessSafeKey);

            impl crate::crypto::AeadKey for Aead {
                #[inline]
                fn seal_in_place(
                    &self,
                    nonce: &[u8; NONCE_LEN],
                    aad: &[u8],
                    in_out: &mut [u8],
                ) -> Result<[u8; TAG_LEN], CryptoError> {
                    let tag = self
                        .0
                        .seal_in_place_separate_tag(
                            Nonce::assume_unique_for_key(*nonce),
                            Aad::from(aad),
                            in_out,
                        )
                        .map_err(|_| CryptoError("AEAD input too long"))?;
                    let mut out = [0; TAG_LEN];
                    out.copy_from_slice(tag.as_ref());
                    Ok(out)
                }

                #[inline]
                fn open_in_place<'a>(
                    &self,
                    nonce: &[u8; NONCE_LEN],
                    aad: &[u8],
                    in_out: &'a mut [u8],
                ) -> Result<&'a mut [u8], CryptoError> {
                    self.0
                        .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), in_out)
                        .map_err(|_| CryptoError("AEAD tag does not authenticate"))
                }
            }

            struct HeaderProtection(quic::HeaderProtectionKey);

            impl HeaderProtectionKey for HeaderProtection {
                fn mask(&self, sample: &[u8]) -> Result<[u8; 5], CryptoError> {
                    self.0
                        .new_mask(sample)
                        .map_err(|_| CryptoError("header protection sample"))
                }
            }

            #[derive(Clone)]
            struct Hash(digest::Context);

            impl HashContext for Hash {
                fn update(&mut self, data: &[u8]) {
                    self.0.update(data)
                }
                fn finish(self: Box<Self>) -> Output {
                    Output::new(self.0.finish().as_ref())
                }
                fn box_clone(&self) -> Box<dyn HashContext> {
                    Box::new(self.clone())
                }
            }

            struct Hmac(hmac::Key);

            impl HmacKey for Hmac {
                fn sign(&self, data: &[&[u8]]) -> Output {
                    let mut ctx = hmac::Context::with_key(&self.0);
                    for part in data {
                        ctx.update(part);
                    }
                    Output::new(ctx.sign().as_ref())
                }
                fn verify(&self, data: &[&[u8]], tag: &[u8]) -> bool {
                    self.sign(data).as_ref().ct_eq(tag).into()
                }
            }

            struct Len(usize);

            impl hkdf::KeyType for Len {
                fn len(&self) -> usize {
                    self.0
                }
            }

            struct Ephemeral {
                key: agreement::EphemeralPrivateKey,
                alg: &'static agreement::Algorithm,
                public: Vec<u8>,
            }

            impl EphemeralKey for Ephemeral {
                fn public_key(&self) -> &[u8] {
                    &self.public
                }
                fn agree(self: Box<Self>, peer: &[u8]) -> Result<Vec<u8>, CryptoError> {
                    let agree = $agree;
                    agree(self.key, agreement::UnparsedPublicKey::new(self.alg, peer))
                        .map_err(|_| CryptoError("invalid peer public key"))
                }
            }

            struct Signing(s::EcdsaKeyPair);

            impl SigningKey for Signing {
                fn public_key(&self) -> &[u8] {
                    self.0.public_key().as_ref()
                }
                fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
                    let rng = $lib::rand::SystemRandom::new();
                    let sig = self
                        .0
                        .sign(&rng, message)
                        .map_err(|_| CryptoError("signing"))?;
                    Ok(sig.as_ref().to_vec())
                }
            }

            impl CryptoProvider for Provider {
                fn name(&self) -> &'static str {
                    $name
                }

                fn aead_key(
                    &self,
                    alg: AeadAlgorithm,
                    key: &[u8],
                ) -> Result<Arc<dyn crate::crypto::AeadKey>, CryptoError> {
                    let alg = match alg {
                        AeadAlgorithm::Aes128Gcm => &aead::AES_128_GCM,
                        AeadAlgorithm::Aes256Gcm => &aead::AES_256_GCM,
                        AeadAlgorithm::Chacha20Poly1305 => &aead::CHACHA20_POLY1305,
                    };
                    let key =
                        UnboundKey::new(alg, key).map_err(|_| CryptoError("AEAD key length"))?;
                    Ok(Arc::new(Aead(LessSafeKey::new(key))))
                }

                fn header_protection_key(
                    &self,
                    alg: AeadAlgorithm,
                    key: &[u8],
                ) -> Result<Arc<dyn HeaderProtectionKey>, CryptoError> {
                    let alg = match alg {
                        AeadAlgorithm::Aes128Gcm => &quic::AES_128,
                        AeadAlgorithm::Aes256Gcm => &quic::AES_256,
                        AeadAlgorithm::Chacha20Poly1305 => &quic::CHACHA20,
                    };
                    let key = quic::HeaderProtectionKey::new(alg, key)
                        .map_err(|_| CryptoError("header protection key length"))?;
                    Ok(Arc::new(HeaderProtection(key)))
                }

                fn hash(&self, alg: DigestAlgorithm) -> Box<dyn HashContext> {
                    Box::new(Hash(digest::Context::new(digest_alg(alg))))
                }

                fn hmac_key(&self, alg: DigestAlgorithm, key: &[u8]) -> Box<dyn HmacKey> {
                    Box::new(Hmac(hmac::Key::new(hmac_alg(alg), key)))
                }

                fn hkdf_expand(
                    &self,
                    alg: DigestAlgorithm,
                    prk: &[u8],
                    info: &[&[u8]],
                    out: &mut [u8],
                ) -> Result<(), CryptoError> {
                    let too_long = |_| CryptoError("HKDF output too long");
                    hkdf::Prk::new_less_safe(hkdf_alg(alg), prk)
                        .expand(info, Len(out.len()))
                        .map_err(too_long)?
                        .fill(out)
                        .map_err(too_long)
                }

                fn ecdhe(&self, group: EcdhGroup) -> Result<Box<dyn EphemeralKey>, CryptoError> {
                    let alg = agreement_alg(group);
                    let rng = $lib::rand::SystemRandom::new();
                    let key = agreement::EphemeralPrivateKey::generate(alg, &rng)
                        .map_err(|_| CryptoError("key generation"))?;
                    let public = key
                        .compute_public_key()
                        .map_err(|_| CryptoError("key generation"))?
                        .as_ref()
                        .to_vec();
                    Ok(Box::new(Ephemeral { key, alg, public }))
                }

                fn ecdsa_p256_signing_key(
                    &self,
                    pkcs8: &[u8],
                ) -> Result<Box<dyn SigningKey>, CryptoError> {
                    let from_pkcs8 = $from_pkcs8;
                    let key = from_pkcs8(&s::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8)
                        .map_err(|_| CryptoError("PKCS#8 ECDSA P-256 key"))?;
                    Ok(Box::new(Signing(key)))
                }

                fn verify(
                    &self,
                    alg: SignatureAlgorithm,
                    public_key: &[u8],
                    message: &[u8],
                    signature: &[u8],
                ) -> Result<(), CryptoError> {
                    let alg: &'static dyn s::VerificationAlgorithm = match alg {
                        SignatureAlgorithm::EcdsaP256Sha256 => &s::ECDSA_P256_SHA256_ASN1,
                        SignatureAlgorithm::EcdsaP256Sha384 => &s::ECDSA_P256_SHA384_ASN1,
                        SignatureAlgorithm::EcdsaP384Sha256 => &s::ECDSA_P384_SHA256_ASN1,
                        SignatureAlgorithm::EcdsaP384Sha384 => &s::ECDSA_P384_SHA384_ASN1,
                        SignatureAlgorithm::RsaPkcs1Sha256 => &s::RSA_PKCS1_2048_8192_SHA256,
                        SignatureAlgorithm::RsaPkcs1Sha384 => &s::RSA_PKCS1_2048_8192_SHA384,
                        SignatureAlgorithm::RsaPssSha256 => &s::RSA_PSS_2048_8192_SHA256,
                        SignatureAlgorithm::RsaPssSha384 => &s::RSA_PSS_2048_8192_SHA384,
                        SignatureAlgorithm::RsaPssSha512 => &s::RSA_PSS_2048_8192_SHA512,
                    };
                    s::UnparsedPublicKey::new(alg, public_key)
                        .verify(message, signature)
                        .map_err(|_| CryptoError("signature does not verify"))
                }
            }
        }
    };
}

provider!(
    ring_provider, ring, "ring",
    ecdsa_from_pkcs8: |alg, pkcs8: &[u8]| {
        s::EcdsaKeyPair::from_pkcs8(alg, pkcs8, &ring::rand::SystemRandom::new())
    },
    agree: |key, peer: agreement::UnparsedPublicKey<&[u8]>| {
        agreement::agree_ephemeral(key, &peer, |secret| secret.to_vec())
    },
);

#[cfg(feature = "aws-lc-rs")]
provider!(
    aws_lc_rs_provider, aws_lc_rs, "aws-lc-rs",
    ecdsa_from_pkcs8: |alg, pkcs8: &[u8]| s::EcdsaKeyPair::from_pkcs8(alg, pkcs8),
    agree: |key, peer: agreement::UnparsedPublicKey<&[u8]>| {
        agreement::agree_ephemeral(key, peer, aws_lc_rs::error::Unspecified, |secret| {
            Ok(secret.to_vec())
        })
    },
);
