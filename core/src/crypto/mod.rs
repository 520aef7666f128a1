//! The crypto provider: one trait for the primitives SRTP and DTLS need (AEAD, DTLS 1.3 record
//! number protection, hashes, HMAC and HKDF, ECDHE, ECDSA signing, signature verification), in
//! the style of rustls's `CryptoProvider`, with two implementations over the same code:
//! [`RING`] (the default) and, behind the `aws-lc-rs` cargo feature, `AWS_LC_RS`.
//!
//! Keys are made once per session (a boxed key object) and used per packet through the trait,
//! so the media path pays one indirect call per packet, not a key schedule.
//!
//! As in rustls, a provider is chosen per configuration (`sansrtc_srtp::Config::crypto`,
//! `sansrtc_dtls::Config::crypto`) or once per process with [`install_default`] (what a peer
//! connection uses); [`default_provider`] is the installed one, else [`RING`]. The
//! `aws-lc-rs` feature only adds `AWS_LC_RS` (it builds AWS-LC's C sources), so enabling it
//! anywhere in a build changes no behaviour by itself:
//!
//! ```
//! # #[cfg(feature = "aws-lc-rs")]
//! let _ = sansrtc_core::crypto::install_default(&sansrtc_core::crypto::AWS_LC_RS);
//! ```
//!
//! ```
//! use sansrtc_core::crypto::{AeadAlgorithm, default_provider};
//!
//! let key = default_provider().aead_key(AeadAlgorithm::Aes128Gcm, &[7; 16]).unwrap();
//! let mut data = *b"hello";
//! let tag = key.seal_in_place(&[0; 12], b"header", &mut data).unwrap();
//! assert_ne!(&data, b"hello");
//! let mut sealed = [&data[..], &tag[..]].concat();
//! let plain = key.open_in_place(&[0; 12], b"header", &mut sealed).unwrap();
//! assert_eq!(plain, b"hello");
//! ```

use std::fmt;
use std::sync::{Arc, OnceLock};

mod backend;

#[cfg(feature = "aws-lc-rs")]
pub use backend::aws_lc_rs_provider::Provider as AwsLcRsProvider;
pub use backend::ring_provider::Provider as RingProvider;

/// The provider over `ring`.
pub static RING: RingProvider = RingProvider;

/// The provider over `aws-lc-rs` (AWS-LC): faster AES-GCM on CPUs with VAES/AVX-512.
#[cfg(feature = "aws-lc-rs")]
pub static AWS_LC_RS: AwsLcRsProvider = AwsLcRsProvider;

static INSTALLED: OnceLock<&'static dyn CryptoProvider> = OnceLock::new();

/// The provider configurations use unless they name one: the one given to
/// [`install_default`], else [`RING`].
pub fn default_provider() -> &'static dyn CryptoProvider {
    INSTALLED.get().copied().unwrap_or(&RING)
}

/// Every provider this build has: [`RING`], and `AWS_LC_RS` with the `aws-lc-rs` feature.
pub fn available() -> &'static [&'static dyn CryptoProvider] {
    static AVAILABLE: &[&dyn CryptoProvider] = &[
        &RING,
        #[cfg(feature = "aws-lc-rs")]
        &AWS_LC_RS,
    ];
    AVAILABLE
}

/// Makes `provider` the process default. Only the first call takes effect; a later one returns
/// the provider already installed as its error.
pub fn install_default(
    provider: &'static dyn CryptoProvider,
) -> Result<(), &'static dyn CryptoProvider> {
    INSTALLED.set(provider)?;
    Ok(())
}

/// A cryptographic operation failed or was given a malformed input (a wrong key length, a
/// forged tag, an invalid public key or signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("crypto: {0}")]
pub struct CryptoError(pub &'static str);

/// An AEAD algorithm (all take 12-byte nonces and produce 16-byte tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AeadAlgorithm {
    /// AES-128-GCM.
    Aes128Gcm,
    /// AES-256-GCM.
    Aes256Gcm,
    /// ChaCha20-Poly1305.
    Chacha20Poly1305,
}

impl AeadAlgorithm {
    /// The key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128Gcm => 16,
            Self::Aes256Gcm | Self::Chacha20Poly1305 => 32,
        }
    }
}

/// Length of every AEAD tag here.
pub const TAG_LEN: usize = 16;

/// Length of every AEAD nonce here.
pub const NONCE_LEN: usize = 12;

/// A hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-1 (certificate fingerprints only).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// The output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// A hash or MAC output of up to 64 bytes, kept inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Output {
    bytes: [u8; 64],
    len: u8,
}

impl Output {
    /// The first `bytes.len()` (at most 64) bytes given.
    pub fn new(bytes: &[u8]) -> Self {
        let mut out = Self {
            bytes: [0; 64],
            len: bytes.len().min(64) as u8,
        };
        out.bytes[..out.len as usize].copy_from_slice(&bytes[..out.len as usize]);
        out
    }
}

impl AsRef<[u8]> for Output {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Output({} bytes)", self.len)
    }
}

/// An ECDHE group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EcdhGroup {
    /// X25519.
    X25519,
    /// NIST P-256 (secp256r1), uncompressed points.
    P256,
    /// NIST P-384 (secp384r1), uncompressed points.
    P384,
}

/// A signature algorithm a peer's signature can be checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// ECDSA over P-256 with SHA-256, ASN.1 DER signature.
    EcdsaP256Sha256,
    /// ECDSA over P-256 with SHA-384.
    EcdsaP256Sha384,
    /// ECDSA over P-384 with SHA-256.
    EcdsaP384Sha256,
    /// ECDSA over P-384 with SHA-384.
    EcdsaP384Sha384,
    /// RSA PKCS#1 v1.5 with SHA-256 (2048-8192 bit keys).
    RsaPkcs1Sha256,
    /// RSA PKCS#1 v1.5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSA-PSS with SHA-256.
    RsaPssSha256,
    /// RSA-PSS with SHA-384.
    RsaPssSha384,
    /// RSA-PSS with SHA-512.
    RsaPssSha512,
}

/// A source of every primitive SRTP and DTLS use. Implementations are stateless statics;
/// keys are objects they make.
pub trait CryptoProvider: Send + Sync + fmt::Debug + 'static {
    /// A short name ("ring", "aws-lc-rs"); two providers are equal when their names are.
    fn name(&self) -> &'static str;

    /// An AEAD key; fails when `key` is not `alg.key_len()` bytes.
    fn aead_key(&self, alg: AeadAlgorithm, key: &[u8]) -> Result<Arc<dyn AeadKey>, CryptoError>;

    /// The QUIC-style header protection key of the AEAD's cipher (DTLS 1.3 record number
    /// encryption, RFC 9147 section 4.2.3).
    fn header_protection_key(
        &self,
        alg: AeadAlgorithm,
        key: &[u8],
    ) -> Result<Arc<dyn HeaderProtectionKey>, CryptoError>;

    /// An incremental hash.
    fn hash(&self, alg: DigestAlgorithm) -> Box<dyn HashContext>;

    /// An HMAC key.
    fn hmac_key(&self, alg: DigestAlgorithm, key: &[u8]) -> Box<dyn HmacKey>;

    /// HKDF-Expand (RFC 5869) of the pseudorandom key `prk` with the concatenation of `info`
    /// into `out`; fails when `out` is longer than 255 hash outputs.
    fn hkdf_expand(
        &self,
        alg: DigestAlgorithm,
        prk: &[u8],
        info: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// A fresh ephemeral key pair from the operating system's randomness.
    fn ecdhe(&self, group: EcdhGroup) -> Result<Box<dyn EphemeralKey>, CryptoError>;

    /// An ECDSA P-256 / SHA-256 signing key from its PKCS#8 DER.
    fn ecdsa_p256_signing_key(&self, pkcs8: &[u8]) -> Result<Box<dyn SigningKey>, CryptoError>;

    /// Checks `signature` over `message` with `public_key` (an uncompressed EC point, or an RSA
    /// key's PKCS#1 DER).
    fn verify(
        &self,
        alg: SignatureAlgorithm,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError>;

    /// The hash of `data` in one call.
    fn digest(&self, alg: DigestAlgorithm, data: &[u8]) -> Output {
        let mut h = self.hash(alg);
        h.update(data);
        h.finish()
    }

    /// HKDF-Extract (RFC 5869): HMAC keyed with `salt` over `ikm`.
    fn hkdf_extract(&self, alg: DigestAlgorithm, salt: &[u8], ikm: &[u8]) -> Output {
        self.hmac_key(alg, salt).sign(&[ikm])
    }
}

impl PartialEq for dyn CryptoProvider {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for dyn CryptoProvider {}

/// An AEAD key, expanded once (shared: copies of a context share it through an `Arc`).
pub trait AeadKey: Send + Sync {
    /// Encrypts `in_out` in place and returns the tag.
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError>;

    /// Checks the tag at the end of `in_out` and decrypts the rest in place, returning the
    /// plaintext; on a forged tag nothing is returned.
    fn open_in_place<'a>(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &'a mut [u8],
    ) -> Result<&'a mut [u8], CryptoError>;
}

/// A header protection key: the mask from a ciphertext sample.
pub trait HeaderProtectionKey: Send + Sync {
    /// Five mask bytes from a 16-byte `sample`.
    fn mask(&self, sample: &[u8]) -> Result<[u8; 5], CryptoError>;
}

/// An incremental hash.
pub trait HashContext: Send + Sync {
    /// Adds `data`.
    fn update(&mut self, data: &[u8]);
    /// The hash of everything added.
    fn finish(self: Box<Self>) -> Output;
    /// A copy of the state.
    fn box_clone(&self) -> Box<dyn HashContext>;
}

impl Clone for Box<dyn HashContext> {
    fn clone(&self) -> Self {
        (**self).box_clone()
    }
}

/// An HMAC key.
pub trait HmacKey: Send + Sync {
    /// The MAC of the concatenation of `data`.
    fn sign(&self, data: &[&[u8]]) -> Output;
    /// Whether `tag` is the MAC of the concatenation of `data` (compared in constant time).
    fn verify(&self, data: &[&[u8]], tag: &[u8]) -> bool;
}

/// One side of an ephemeral key exchange.
pub trait EphemeralKey: Send + Sync {
    /// Our public key (an uncompressed point, or 32 bytes for X25519).
    fn public_key(&self) -> &[u8];
    /// The shared secret with the peer's public key; fails on an invalid point.
    fn agree(self: Box<Self>, peer: &[u8]) -> Result<Vec<u8>, CryptoError>;
}

/// A private signing key.
pub trait SigningKey: Send + Sync {
    /// Our public key (an uncompressed point).
    fn public_key(&self) -> &[u8];
    /// The ASN.1 DER signature of `message`, with a nonce from the operating system.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError>;
}

#[cfg(test)]
mod tests;
