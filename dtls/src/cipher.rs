//! Cipher suites, the TLS 1.2 PRF (RFC 5246 section 5), key derivation, and AEAD record
//! protection: AES-GCM with an explicit nonce (RFC 5288) and ChaCha20-Poly1305 (RFC 7905).

use std::sync::Arc;

use sansrtc_core::crypto::{AeadAlgorithm, AeadKey, CryptoProvider, DigestAlgorithm};

use crate::error::DtlsError;
use crate::record::RecordHeader;

/// The cipher suites we speak. All are ECDHE with an AEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CipherSuite {
    /// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (0xC02B), the default.
    EcdheEcdsaAes128GcmSha256,
    /// TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 (0xC02C).
    EcdheEcdsaAes256GcmSha384,
    /// TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 (0xCCA9).
    EcdheEcdsaChacha20Poly1305Sha256,
    /// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (0xC02F).
    EcdheRsaAes128GcmSha256,
    /// TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 (0xC030).
    EcdheRsaAes256GcmSha384,
    /// TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 (0xCCA8).
    EcdheRsaChacha20Poly1305Sha256,
}

/// The bulk cipher of a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bulk {
    /// AES-128-GCM.
    Aes128Gcm,
    /// AES-256-GCM.
    Aes256Gcm,
    /// ChaCha20-Poly1305.
    Chacha20Poly1305,
}

impl Bulk {
    /// The crypto provider's name for this AEAD.
    pub fn algorithm(self) -> AeadAlgorithm {
        match self {
            Self::Aes128Gcm => AeadAlgorithm::Aes128Gcm,
            Self::Aes256Gcm => AeadAlgorithm::Aes256Gcm,
            Self::Chacha20Poly1305 => AeadAlgorithm::Chacha20Poly1305,
        }
    }
}

impl CipherSuite {
    /// Every suite, in our order of preference.
    pub const ALL: [CipherSuite; 6] = [
        Self::EcdheEcdsaAes128GcmSha256,
        Self::EcdheEcdsaAes256GcmSha384,
        Self::EcdheEcdsaChacha20Poly1305Sha256,
        Self::EcdheRsaAes128GcmSha256,
        Self::EcdheRsaAes256GcmSha384,
        Self::EcdheRsaChacha20Poly1305Sha256,
    ];

    /// The IANA value.
    pub fn id(self) -> u16 {
        match self {
            Self::EcdheEcdsaAes128GcmSha256 => 0xC02B,
            Self::EcdheEcdsaAes256GcmSha384 => 0xC02C,
            Self::EcdheEcdsaChacha20Poly1305Sha256 => 0xCCA9,
            Self::EcdheRsaAes128GcmSha256 => 0xC02F,
            Self::EcdheRsaAes256GcmSha384 => 0xC030,
            Self::EcdheRsaChacha20Poly1305Sha256 => 0xCCA8,
        }
    }
    /// From the IANA value.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }
    /// The OpenSSL name of the suite.
    pub fn openssl_name(self) -> &'static str {
        match self {
            Self::EcdheEcdsaAes128GcmSha256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
            Self::EcdheEcdsaAes256GcmSha384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
            Self::EcdheEcdsaChacha20Poly1305Sha256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
            Self::EcdheRsaAes128GcmSha256 => "ECDHE-RSA-AES128-GCM-SHA256",
            Self::EcdheRsaAes256GcmSha384 => "ECDHE-RSA-AES256-GCM-SHA384",
            Self::EcdheRsaChacha20Poly1305Sha256 => "ECDHE-RSA-CHACHA20-POLY1305",
        }
    }
    /// Whether the server authenticates with an ECDSA key (else RSA).
    pub fn is_ecdsa(self) -> bool {
        matches!(
            self,
            Self::EcdheEcdsaAes128GcmSha256
                | Self::EcdheEcdsaAes256GcmSha384
                | Self::EcdheEcdsaChacha20Poly1305Sha256
        )
    }
    /// The bulk cipher.
    pub fn bulk(self) -> Bulk {
        match self {
            Self::EcdheEcdsaAes128GcmSha256 | Self::EcdheRsaAes128GcmSha256 => Bulk::Aes128Gcm,
            Self::EcdheEcdsaAes256GcmSha384 | Self::EcdheRsaAes256GcmSha384 => Bulk::Aes256Gcm,
            _ => Bulk::Chacha20Poly1305,
        }
    }
    /// The PRF / transcript hash.
    pub fn hash(self) -> PrfHash {
        match self.bulk() {
            Bulk::Aes256Gcm => PrfHash::Sha384,
            _ => PrfHash::Sha256,
        }
    }
}

/// The hash of the TLS 1.2 PRF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrfHash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

impl PrfHash {
    fn algorithm(self) -> DigestAlgorithm {
        match self {
            Self::Sha256 => DigestAlgorithm::Sha256,
            Self::Sha384 => DigestAlgorithm::Sha384,
        }
    }
    /// Hashes `data`.
    pub fn digest(self, crypto: &dyn CryptoProvider, data: &[u8]) -> Vec<u8> {
        crypto.digest(self.algorithm(), data).as_ref().to_vec()
    }
}

/// The TLS 1.2 PRF: P_hash(secret, label || seed), `out.len()` bytes.
pub fn prf(
    crypto: &dyn CryptoProvider,
    hash: PrfHash,
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    out: &mut [u8],
) {
    let key = crypto.hmac_key(hash.algorithm(), secret);
    // A(1) = HMAC(secret, label || seed); A(i) = HMAC(secret, A(i-1)).
    let mut a = key.sign(&[label, seed]);
    let mut written = 0;
    while written < out.len() {
        let block = key.sign(&[a.as_ref(), label, seed]);
        let n = (out.len() - written).min(block.as_ref().len());
        out[written..written + n].copy_from_slice(&block.as_ref()[..n]);
        written += n;
        a = key.sign(&[a.as_ref()]);
    }
}

/// The SRTP protection profiles of RFC 5764 / RFC 7714: the one definition in `sansrtc-core`,
/// re-exported here and at the crate root.
pub use sansrtc_core::SrtpProfile;

/// The keys derived from the master secret for one direction pair.
#[derive(Debug, Clone)]
pub struct KeyBlock {
    /// client_write_key.
    pub client_key: Vec<u8>,
    /// server_write_key.
    pub server_key: Vec<u8>,
    /// client_write_IV (4 bytes salt for GCM, 12 for ChaCha).
    pub client_iv: Vec<u8>,
    /// server_write_IV.
    pub server_iv: Vec<u8>,
}

/// Derives the key block (RFC 5246 6.3): PRF(master, "key expansion", server_random + client_random).
pub fn key_block(
    crypto: &dyn CryptoProvider,
    suite: CipherSuite,
    master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> KeyBlock {
    let (key_len, iv_len) = match suite.bulk() {
        Bulk::Aes128Gcm => (16, 4),
        Bulk::Aes256Gcm => (32, 4),
        Bulk::Chacha20Poly1305 => (32, 12),
    };
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(server_random);
    seed[32..].copy_from_slice(client_random);
    let mut out = vec![0u8; 2 * key_len + 2 * iv_len];
    prf(
        crypto,
        suite.hash(),
        master,
        b"key expansion",
        &seed,
        &mut out,
    );
    let (ck, rest) = out.split_at(key_len);
    let (sk, rest) = rest.split_at(key_len);
    let (civ, siv) = rest.split_at(iv_len);
    KeyBlock {
        client_key: ck.to_vec(),
        server_key: sk.to_vec(),
        client_iv: civ.to_vec(),
        server_iv: siv.to_vec(),
    }
}

/// The explicit nonce length of GCM records.
const EXPLICIT_NONCE: usize = 8;
/// The AEAD tag length.
const TAG: usize = 16;

/// AEAD protection for one direction of one epoch.
#[derive(Clone)]
pub struct RecordCipher {
    key: Arc<dyn AeadKey>,
    iv: [u8; 12],
    explicit_nonce: bool,
}

impl std::fmt::Debug for RecordCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCipher")
            .field("explicit_nonce", &self.explicit_nonce)
            .finish_non_exhaustive()
    }
}

impl RecordCipher {
    /// A cipher from the suite's bulk algorithm, a key and its write IV, on `crypto`'s AEAD.
    pub fn new(
        crypto: &dyn CryptoProvider,
        bulk: Bulk,
        key: &[u8],
        iv: &[u8],
    ) -> Result<Self, DtlsError> {
        let key = crypto
            .aead_key(bulk.algorithm(), key)
            .map_err(|_| DtlsError::Crypto("AEAD key length"))?;
        let mut fixed = [0u8; 12];
        let explicit_nonce = bulk != Bulk::Chacha20Poly1305;
        if iv.len() > 12 {
            return Err(DtlsError::Crypto("IV length"));
        }
        fixed[..iv.len()].copy_from_slice(iv);
        Ok(Self {
            key,
            iv: fixed,
            explicit_nonce,
        })
    }

    /// Bytes a protected record adds to its plaintext.
    pub fn overhead(&self) -> usize {
        TAG + if self.explicit_nonce {
            EXPLICIT_NONCE
        } else {
            0
        }
    }

    fn nonce(&self, seq64: u64) -> [u8; 12] {
        let mut n = self.iv;
        if self.explicit_nonce {
            n[4..].copy_from_slice(&seq64.to_be_bytes());
        } else {
            for (b, s) in n[4..].iter_mut().zip(seq64.to_be_bytes()) {
                *b ^= s;
            }
        }
        n
    }

    fn aad(header: &RecordHeader, len: usize) -> [u8; 13] {
        let mut a = [0u8; 13];
        a[..8].copy_from_slice(&header.seq64().to_be_bytes());
        a[8] = header.content_type.to_u8();
        a[9..11].copy_from_slice(&header.version.to_be_bytes());
        a[11..13].copy_from_slice(&(len as u16).to_be_bytes());
        a
    }

    /// Appends the complete protected record (header and fragment) for `plaintext` to `out`.
    pub fn seal(&self, header: &RecordHeader, plaintext: &[u8], out: &mut Vec<u8>) {
        let frag_len = plaintext.len() + self.overhead();
        header.write(frag_len, out);
        if self.explicit_nonce {
            out.extend_from_slice(&header.seq64().to_be_bytes());
        }
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place(
                &self.nonce(header.seq64()),
                &Self::aad(header, plaintext.len()),
                &mut out[start..],
            )
            .expect("a record is far below the AEAD length limit");
        out.extend_from_slice(&tag);
    }

    /// Opens a protected fragment into a new buffer holding exactly the plaintext: only the
    /// ciphertext and tag are copied (not the explicit nonce), and the buffer is opened in place,
    /// so nothing is moved afterwards.
    pub fn open_to_vec(
        &self,
        header: &RecordHeader,
        fragment: &[u8],
    ) -> Result<Vec<u8>, DtlsError> {
        let mut out = Vec::new();
        self.open_into(header, fragment, &mut out)?;
        Ok(out)
    }

    /// Opens a protected fragment into `out` (cleared first), which then holds exactly the
    /// plaintext: the ciphertext and tag are copied once and opened in place, so a reused `out`
    /// with the capacity allocates nothing. On failure `out` is left empty.
    pub fn open_into(
        &self,
        header: &RecordHeader,
        fragment: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DtlsError> {
        out.clear();
        if fragment.len() < self.overhead() {
            return Err(DtlsError::BadRecordMac);
        }
        let (nonce, body) = if self.explicit_nonce {
            let (explicit, body) = fragment.split_at(EXPLICIT_NONCE);
            let mut n = self.iv;
            n[4..].copy_from_slice(explicit);
            (n, body)
        } else {
            (self.nonce(header.seq64()), fragment)
        };
        let plain_len = body.len() - TAG;
        out.extend_from_slice(body);
        if self
            .key
            .open_in_place(&nonce, &Self::aad(header, plain_len), out)
            .is_err()
        {
            out.clear();
            return Err(DtlsError::BadRecordMac);
        }
        out.truncate(plain_len);
        Ok(())
    }

    /// Opens a protected fragment in place; returns the plaintext slice.
    pub fn open<'b>(
        &self,
        header: &RecordHeader,
        fragment: &'b mut [u8],
    ) -> Result<&'b mut [u8], DtlsError> {
        if fragment.len() < self.overhead() {
            return Err(DtlsError::BadRecordMac);
        }
        let (nonce, body) = if self.explicit_nonce {
            let (explicit, body) = fragment.split_at_mut(EXPLICIT_NONCE);
            let mut n = self.iv;
            n[4..].copy_from_slice(explicit);
            (n, body)
        } else {
            (self.nonce(header.seq64()), fragment)
        };
        let plain_len = body.len() - TAG;
        self.key
            .open_in_place(&nonce, &Self::aad(header, plain_len), body)
            .map_err(|_| DtlsError::BadRecordMac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ContentType, DTLS_1_2, parse_datagram};

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The widely published TLS 1.2 PRF-SHA256 test vector (from the IETF TLS mailing list).
    #[test]
    fn prf_sha256_vector() {
        let secret = hex("9bbe436ba940f017b17652849a71db35");
        let seed = hex("a0ba9f936cda311827a6f796ffd5198c");
        let mut out = [0u8; 100];
        for &crypto in sansrtc_core::crypto::available() {
            prf(
                crypto,
                PrfHash::Sha256,
                &secret,
                b"test label",
                &seed,
                &mut out,
            );
            assert_eq!(&out[..], &expected()[..], "{crypto:?}");
        }
    }

    fn expected() -> Vec<u8> {
        hex(concat!(
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af",
            "0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701",
            "87347b66"
        ))
    }

    #[test]
    fn seal_open_every_bulk_and_tamper() {
        for bulk in [Bulk::Aes128Gcm, Bulk::Aes256Gcm, Bulk::Chacha20Poly1305] {
            let key_len = if bulk == Bulk::Aes128Gcm { 16 } else { 32 };
            let iv_len = if bulk == Bulk::Chacha20Poly1305 {
                12
            } else {
                4
            };
            let c = RecordCipher::new(
                &sansrtc_core::crypto::RING,
                bulk,
                &vec![7; key_len],
                &vec![3; iv_len],
            )
            .unwrap();
            let h = RecordHeader {
                content_type: ContentType::ApplicationData,
                version: DTLS_1_2,
                epoch: 1,
                sequence: 42,
            };
            let mut out = Vec::new();
            c.seal(&h, b"hello dtls", &mut out);
            let rec = parse_datagram(&out).next().unwrap().unwrap();
            assert_eq!(rec.header, h);
            let mut frag = rec.fragment.to_vec();
            assert_eq!(c.open(&h, &mut frag).unwrap(), b"hello dtls");
            let mut bad = rec.fragment.to_vec();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert_eq!(c.open(&h, &mut bad), Err(DtlsError::BadRecordMac));
            let other = RecordHeader { sequence: 43, ..h };
            let mut frag = rec.fragment.to_vec();
            assert!(
                c.open(&other, &mut frag).is_err(),
                "the sequence number is authenticated"
            );
        }
    }
}
