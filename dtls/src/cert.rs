//! Our self-signed certificate (generated with `rcgen`), certificate fingerprints as SDP carries
//! them (RFC 8122), the peer's public key (extracted with `x509-parser`) and the signatures made
//! and checked with the crypto provider (signatures made with injected randomness: RustCrypto
//! `p256`).

use std::sync::OnceLock;

use p256::pkcs8::DecodePrivateKey as _;
use sansrtc_core::crypto::{CryptoProvider, SignatureAlgorithm, SigningKey};

use crate::error::DtlsError;
use crate::message::sig;
use crate::rng::{RandCore, Rng};

/// Our certificate and its ECDSA P-256 private key.
pub struct Certificate {
    der: Vec<u8>,
    key_pkcs8: Vec<u8>,
    key: Box<dyn SigningKey>,
    /// The same key for RustCrypto, which signs with injected randomness: parsed from
    /// `key_pkcs8` at the first [`Certificate::sign_with_rng`] (RustCrypto checks the public key
    /// with a scalar multiplication 3-4 times slower than ring's: not spent by certificates that
    /// never sign that way, such as every one made by default).
    signing_key: OnceLock<Option<p256::ecdsa::SigningKey>>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("fingerprint", &self.fingerprint(HashAlgorithm::Sha256))
            .finish()
    }
}

impl Certificate {
    /// Generates a fresh self-signed ECDSA P-256 certificate (one per connection in WebRTC).
    pub fn generate() -> Result<Self, DtlsError> {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|_| DtlsError::Crypto("key generation"))?;
        let params = rcgen::CertificateParams::new(vec!["sansrtc".to_string()])
            .map_err(|_| DtlsError::Crypto("cert params"))?;
        let cert = params
            .self_signed(&key_pair)
            .map_err(|_| DtlsError::Crypto("self-signing"))?;
        Self::from_der(cert.der().to_vec(), key_pair.serialize_der())
    }

    /// A certificate from its DER and the PKCS#8 DER of its ECDSA P-256 key, signing with the
    /// default crypto provider.
    pub fn from_der(der: Vec<u8>, key_pkcs8: Vec<u8>) -> Result<Self, DtlsError> {
        Self::from_der_with(der, key_pkcs8, sansrtc_core::crypto::default_provider())
    }

    /// A certificate from its DER and the PKCS#8 DER of its ECDSA P-256 key, signing with
    /// `crypto`.
    pub fn from_der_with(
        der: Vec<u8>,
        key_pkcs8: Vec<u8>,
        crypto: &dyn CryptoProvider,
    ) -> Result<Self, DtlsError> {
        let key = crypto
            .ecdsa_p256_signing_key(&key_pkcs8)
            .map_err(|_| DtlsError::Crypto("PKCS#8 ECDSA P-256 key"))?;
        Ok(Self {
            der,
            key_pkcs8,
            key,
            signing_key: OnceLock::new(),
        })
    }

    /// The certificate DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate in PEM.
    pub fn pem(&self) -> String {
        pem("CERTIFICATE", &self.der)
    }

    /// The private key in PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        pem("PRIVATE KEY", &self.key_pkcs8)
    }

    /// The fingerprint of the certificate.
    pub fn fingerprint(&self, alg: HashAlgorithm) -> Fingerprint {
        Fingerprint::of(alg, &self.der)
    }

    /// The signature scheme our key signs with.
    pub fn scheme(&self) -> u16 {
        sig::ECDSA_SECP256R1_SHA256
    }

    /// Signs `msg` with ECDSA P-256 / SHA-256 (ASN.1 DER signature), with the crypto provider:
    /// the nonce comes from the operating system's randomness (neither provider accepts
    /// another source).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, DtlsError> {
        self.key.sign(msg).map_err(|_| DtlsError::Crypto("signing"))
    }

    /// Signs `msg` with ECDSA P-256 / SHA-256 (ASN.1 DER signature) without the operating
    /// system: the nonce is RFC 6979's deterministic one, hedged with 32 bytes drawn from `rng`
    /// (RFC 6979 3.6 additional data; RustCrypto `p256`), so the same key, message and `rng`
    /// state give the same signature, and a weak `rng` still gives a safe nonce. About ten times
    /// slower than [`Certificate::sign`].
    pub fn sign_with_rng(&self, msg: &[u8], rng: &mut dyn Rng) -> Result<Vec<u8>, DtlsError> {
        use p256::ecdsa::signature::RandomizedSigner as _;
        let key = self
            .signing_key
            .get_or_init(|| p256::ecdsa::SigningKey::from_pkcs8_der(&self.key_pkcs8).ok())
            .as_ref()
            .ok_or(DtlsError::Crypto("PKCS#8 ECDSA P-256 key"))?;
        let signature: p256::ecdsa::DerSignature = key
            .try_sign_with_rng(&mut RandCore(rng), msg)
            .map_err(|_| DtlsError::Crypto("signing"))?;
        Ok(signature.as_bytes().to_vec())
    }

    /// Our public key point.
    pub fn public_key(&self) -> &[u8] {
        self.key.public_key()
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The hash functions of SDP `a=fingerprint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// sha-1.
    Sha1,
    /// sha-224 (RFC 8122 lists it; ring lacks it, so RustCrypto `sha2` computes it).
    Sha224,
    /// sha-256.
    Sha256,
    /// sha-384.
    Sha384,
    /// sha-512.
    Sha512,
}

impl HashAlgorithm {
    /// The SDP name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha-1",
            Self::Sha224 => "sha-224",
            Self::Sha256 => "sha-256",
            Self::Sha384 => "sha-384",
            Self::Sha512 => "sha-512",
        }
    }
    /// Every hash function, strongest last.
    pub const ALL: [Self; 5] = [
        Self::Sha1,
        Self::Sha224,
        Self::Sha256,
        Self::Sha384,
        Self::Sha512,
    ];

    /// The digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha224 => 28,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        use sansrtc_core::crypto::DigestAlgorithm as D;
        let alg = match self {
            Self::Sha1 => D::Sha1,
            Self::Sha224 => {
                use sha2::Digest;
                return sha2::Sha224::digest(data).to_vec();
            }
            Self::Sha256 => D::Sha256,
            Self::Sha384 => D::Sha384,
            Self::Sha512 => D::Sha512,
        };
        sansrtc_core::crypto::default_provider()
            .digest(alg, data)
            .as_ref()
            .to_vec()
    }
}

/// A certificate fingerprint: hash algorithm and digest of the DER.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// The hash function.
    pub algorithm: HashAlgorithm,
    /// The digest.
    pub value: Vec<u8>,
}

impl Fingerprint {
    /// The fingerprint of `der` with `algorithm`.
    pub fn of(algorithm: HashAlgorithm, der: &[u8]) -> Self {
        Self {
            algorithm,
            value: algorithm.digest(der),
        }
    }

    /// Parses the SDP form `sha-256 AB:CD:...` (hash name case-insensitive).
    pub fn parse(s: &str) -> Result<Self, DtlsError> {
        let (name, hex) = s
            .trim()
            .split_once(' ')
            .ok_or(DtlsError::Invalid("fingerprint"))?;
        let algorithm = HashAlgorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
            .ok_or(DtlsError::Invalid("fingerprint hash"))?;
        let value = hex
            .trim()
            .split(':')
            .map(|h| u8::from_str_radix(h, 16).map_err(|_| DtlsError::Invalid("fingerprint hex")))
            .collect::<Result<Vec<u8>, _>>()?;
        if value.len() != algorithm.output_len() {
            return Err(DtlsError::Invalid("fingerprint length"));
        }
        Ok(Self { algorithm, value })
    }

    /// Whether `der` has this fingerprint (constant-time comparison).
    pub fn matches(&self, der: &[u8]) -> bool {
        let other = Self::of(self.algorithm, der);
        crate::codec::ct_eq(&self.value, &other.value)
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ", self.algorithm.name())?;
        for (i, b) in self.value.iter().enumerate() {
            if i > 0 {
                write!(f, ":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// The public key of a peer certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerKey {
    /// An uncompressed P-256 point.
    EcdsaP256(Vec<u8>),
    /// An uncompressed P-384 point.
    EcdsaP384(Vec<u8>),
    /// A DER RSAPublicKey.
    Rsa(Vec<u8>),
}

impl PeerKey {
    /// Extracts the public key of a DER certificate.
    pub fn from_certificate(der: &[u8]) -> Result<Self, DtlsError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|_| DtlsError::BadCertificate("unparseable X.509"))?;
        let spki = cert.public_key();
        let key: &[u8] = spki.subject_public_key.data.as_ref();
        match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.2.840.10045.2.1" => match key.len() {
                65 if key[0] == 4 => Ok(Self::EcdsaP256(key.to_vec())),
                97 if key[0] == 4 => Ok(Self::EcdsaP384(key.to_vec())),
                _ => Err(DtlsError::BadCertificate("unsupported EC key")),
            },
            "1.2.840.113549.1.1.1" => Ok(Self::Rsa(key.to_vec())),
            _ => Err(DtlsError::BadCertificate("unsupported key algorithm")),
        }
    }

    /// Whether this key suits a cipher suite's authentication (ECDSA or RSA).
    pub fn is_ecdsa(&self) -> bool {
        !matches!(self, Self::Rsa(_))
    }

    /// Verifies `signature` over `msg` with `scheme`, with the default crypto provider.
    pub fn verify(&self, scheme: u16, msg: &[u8], signature: &[u8]) -> Result<(), DtlsError> {
        self.verify_with(
            sansrtc_core::crypto::default_provider(),
            scheme,
            msg,
            signature,
        )
    }

    /// Verifies `signature` over `msg` with `scheme`, with `crypto`.
    pub fn verify_with(
        &self,
        crypto: &dyn CryptoProvider,
        scheme: u16,
        msg: &[u8],
        signature: &[u8],
    ) -> Result<(), DtlsError> {
        use SignatureAlgorithm as A;
        let (alg, key) = match (self, scheme) {
            (Self::EcdsaP256(k), sig::ECDSA_SECP256R1_SHA256) => (A::EcdsaP256Sha256, k),
            (Self::EcdsaP256(k), sig::ECDSA_SECP384R1_SHA384) => (A::EcdsaP256Sha384, k),
            (Self::EcdsaP384(k), sig::ECDSA_SECP256R1_SHA256) => (A::EcdsaP384Sha256, k),
            (Self::EcdsaP384(k), sig::ECDSA_SECP384R1_SHA384) => (A::EcdsaP384Sha384, k),
            (Self::Rsa(k), sig::RSA_PKCS1_SHA256) => (A::RsaPkcs1Sha256, k),
            (Self::Rsa(k), sig::RSA_PKCS1_SHA384) => (A::RsaPkcs1Sha384, k),
            (Self::Rsa(k), sig::RSA_PSS_RSAE_SHA256) => (A::RsaPssSha256, k),
            (Self::Rsa(k), sig::RSA_PSS_RSAE_SHA384) => (A::RsaPssSha384, k),
            (Self::Rsa(k), sig::RSA_PSS_RSAE_SHA512) => (A::RsaPssSha512, k),
            _ => return Err(DtlsError::BadSignature),
        };
        crypto
            .verify(alg, key, msg, signature)
            .map_err(|_| DtlsError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_sign_verify_fingerprint() {
        let c = Certificate::generate().unwrap();
        let key = PeerKey::from_certificate(c.der()).unwrap();
        assert_eq!(key, PeerKey::EcdsaP256(c.public_key().to_vec()));
        let s = c.sign(b"message").unwrap();
        key.verify(sig::ECDSA_SECP256R1_SHA256, b"message", &s)
            .unwrap();
        // With injected randomness: verifies with ring, the same seed gives the same signature.
        let mut rng = crate::rng::TestRng::new(3);
        let d = c.sign_with_rng(b"message", &mut rng).unwrap();
        key.verify(sig::ECDSA_SECP256R1_SHA256, b"message", &d)
            .unwrap();
        assert_eq!(
            c.sign_with_rng(b"message", &mut crate::rng::TestRng::new(3))
                .unwrap(),
            d
        );
        assert_ne!(c.sign_with_rng(b"message", &mut rng).unwrap(), d);
        assert_eq!(
            key.verify(sig::ECDSA_SECP256R1_SHA256, b"messagf", &s),
            Err(DtlsError::BadSignature)
        );
        assert_eq!(
            key.verify(sig::RSA_PKCS1_SHA256, b"message", &s),
            Err(DtlsError::BadSignature)
        );
        for alg in HashAlgorithm::ALL {
            let fp = c.fingerprint(alg);
            let parsed = Fingerprint::parse(&fp.to_string()).unwrap();
            assert_eq!(parsed, fp);
            assert!(parsed.matches(c.der()));
            let other = Certificate::generate().unwrap();
            assert!(!parsed.matches(other.der()));
        }
        assert!(c.pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(Fingerprint::parse("sha-256 AB:CD").is_err());
        // FIPS 180-4 / NIST example: SHA-224("abc").
        assert_eq!(
            Fingerprint::of(HashAlgorithm::Sha224, b"abc").to_string(),
            "sha-224 23:09:7D:22:34:05:D8:22:86:42:A4:77:BD:A2:55:B3:2A:AD:BC:E4:BD:A0:B3:F7:E3:6C:9D:A7"
        );
        let fp = Fingerprint::parse(&c.fingerprint(HashAlgorithm::Sha224).to_string()).unwrap();
        assert_eq!(fp.algorithm, HashAlgorithm::Sha224);
        assert_eq!(fp.value.len(), 28);
        assert!(Fingerprint::parse("SHA-224 AB:CD").is_err());
        assert!(PeerKey::from_certificate(&[0x30, 0x03, 1, 2, 3]).is_err());
    }

    /// Every provider checks RSA (PKCS#1 v1.5 and PSS) and ECDSA P-256/P-384 signatures made by
    /// ring, and refuses them over other bytes or under another scheme; our certificate signs
    /// with every provider.
    #[test]
    fn every_provider_checks_every_scheme() {
        use ring::signature::{self as rs, KeyPair as _};
        let rng = ring::rand::SystemRandom::new();
        let rsa = rs::RsaKeyPair::from_der(include_bytes!("endpoint/tls13/testdata/rsa2048.der"))
            .unwrap();
        let rsa_key = PeerKey::Rsa(rsa.public_key().as_ref().to_vec());
        let rsa_sign = |padding: &'static dyn rs::RsaEncoding, msg: &[u8]| {
            let mut out = vec![0; rsa.public().modulus_len()];
            rsa.sign(padding, &rng, msg, &mut out).unwrap();
            out
        };
        let p384 =
            rs::EcdsaKeyPair::generate_pkcs8(&rs::ECDSA_P384_SHA384_ASN1_SIGNING, &rng).unwrap();
        let p384 =
            rs::EcdsaKeyPair::from_pkcs8(&rs::ECDSA_P384_SHA384_ASN1_SIGNING, p384.as_ref(), &rng)
                .unwrap();
        let p384_key = PeerKey::EcdsaP384(p384.public_key().as_ref().to_vec());
        let cert = Certificate::generate().unwrap();
        let p256_key = PeerKey::EcdsaP256(cert.public_key().to_vec());
        let rsa_schemes: [(u16, &'static dyn rs::RsaEncoding); 5] = [
            (sig::RSA_PKCS1_SHA256, &rs::RSA_PKCS1_SHA256),
            (sig::RSA_PKCS1_SHA384, &rs::RSA_PKCS1_SHA384),
            (sig::RSA_PSS_RSAE_SHA256, &rs::RSA_PSS_SHA256),
            (sig::RSA_PSS_RSAE_SHA384, &rs::RSA_PSS_SHA384),
            (sig::RSA_PSS_RSAE_SHA512, &rs::RSA_PSS_SHA512),
        ];
        let mut cases: Vec<(&PeerKey, u16, Vec<u8>)> = rsa_schemes
            .iter()
            .map(|&(scheme, padding)| (&rsa_key, scheme, rsa_sign(padding, b"msg")))
            .collect();
        let p384_signature = p384.sign(&rng, b"msg").unwrap().as_ref().to_vec();
        cases.push((&p384_key, sig::ECDSA_SECP384R1_SHA384, p384_signature));
        cases.push((
            &p256_key,
            sig::ECDSA_SECP256R1_SHA256,
            cert.sign(b"msg").unwrap(),
        ));
        for &crypto in sansrtc_core::crypto::available() {
            for (key, scheme, signature) in &cases {
                let name = crypto.name();
                assert_eq!(
                    key.verify_with(crypto, *scheme, b"msg", signature),
                    Ok(()),
                    "{name} {scheme:#06x}"
                );
                assert_eq!(
                    key.verify_with(crypto, *scheme, b"other", signature),
                    Err(DtlsError::BadSignature),
                    "{name} {scheme:#06x}"
                );
            }
            // A PKCS#1 signature presented as PSS.
            let (key, _, pkcs1) = &cases[0];
            assert!(
                key.verify_with(crypto, sig::RSA_PSS_RSAE_SHA256, b"msg", pkcs1)
                    .is_err()
            );
            // Our certificate's key, loaded into this provider, signs for every provider.
            let ours = Certificate::from_der_with(
                cert.der().to_vec(),
                rcgen::KeyPair::from_pem(&cert.key_pem())
                    .unwrap()
                    .serialize_der(),
                crypto,
            )
            .unwrap();
            assert_eq!(ours.public_key(), cert.public_key());
            let signature = ours.sign(b"msg").unwrap();
            for &other in sansrtc_core::crypto::available() {
                assert_eq!(
                    p256_key.verify_with(other, sig::ECDSA_SECP256R1_SHA256, b"msg", &signature),
                    Ok(())
                );
            }
        }
    }
}
