//! The per-key packet transforms: AES-CM + HMAC-SHA1 (RFC 3711 sections 4.1.1 and 4.2) and AES-GCM
//! (RFC 7714 sections 8 and 9), with key schedules and HMAC state computed once per key.
//!
//! AES-GCM comes from the configured crypto provider ([`sansrtc_core::crypto`]: ring, or
//! aws-lc-rs with its feature); AES-CTR from RustCrypto `aes` + `ctr` and HMAC-SHA1 from
//! RustCrypto `hmac` + `sha1` with either provider: on this project's machines they are faster
//! than both providers' (measured; see STATUS.md).

use aes::cipher::{InnerIvInit, KeyInit, StreamCipher};
use hmac::Mac;
use std::sync::Arc;

use sansrtc_core::crypto::{AeadAlgorithm, AeadKey, CryptoProvider};
use subtle::ConstantTimeEq;

use crate::error::Error;
use crate::kdf::{self, Label};
use crate::profile::{Profile, auth_key_len};

/// AES-128 in counter mode over a borrowed key schedule: nothing is expanded per packet.
type AesCtr<'a> = ctr::Ctr128BE<&'a aes::Aes128Enc>;

/// HMAC-SHA1 from RustCrypto: its SHA-1 uses the SHA extensions where the CPU has them, about
/// four times faster than ring's portable SHA-1 on 1200-byte packets (measured; see STATUS.md).
/// The keyed state (inner and outer pads already hashed) is computed once and cloned per packet.
type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// E flag of the SRTCP trailer: the packet is encrypted.
const E_FLAG: u32 = 1 << 31;

/// The AES-CM profile's keys: the AES key schedule and the keyed HMAC state.
#[derive(Clone)]
pub(crate) struct CmKeys {
    aes: aes::Aes128Enc,
    salt: [u8; 14],
    hmac: HmacSha1,
    tag_len: usize,
}

impl CmKeys {
    /// The AES key schedule, the session salt, the keyed HMAC and the tag length.
    fn parts(&self) -> (&aes::Aes128Enc, &[u8; 14], &HmacSha1, &usize) {
        (&self.aes, &self.salt, &self.hmac, &self.tag_len)
    }
}

/// One direction's keys for SRTP or for SRTCP. Both variants keep their key state on the heap
/// (boxed, or in the provider's `Arc`), so a GCM transform does not also reserve the room of
/// the much larger AES-CM state (2 KB per media connection); the pointer is followed once per
/// packet.
#[derive(Clone)]
pub(crate) enum Transform {
    /// AES-128-CM with HMAC-SHA1.
    Cm(Box<CmKeys>),
    /// AES-GCM (128 or 256).
    Gcm {
        key: Arc<dyn AeadKey>,
        salt: [u8; 12],
    },
}

impl Transform {
    /// Derives the session keys for SRTP (`rtcp == false`) or SRTCP from the master key and salt,
    /// whose lengths the caller checked against the profile.
    pub(crate) fn derive(
        profile: Profile,
        master_key: &[u8],
        master_salt: &[u8],
        rtcp: bool,
        crypto: &dyn CryptoProvider,
    ) -> Self {
        let (enc_label, auth_label, salt_label) = if rtcp {
            (
                Label::RtcpEncryption,
                Label::RtcpAuthentication,
                Label::RtcpSalt,
            )
        } else {
            (
                Label::RtpEncryption,
                Label::RtpAuthentication,
                Label::RtpSalt,
            )
        };
        let mut key = [0u8; 32];
        let key = &mut key[..profile.key_len()];
        kdf::derive(master_key, master_salt, enc_label, key);
        let mut salt = [0u8; 14];
        let salt = &mut salt[..profile.salt_len()];
        kdf::derive(master_key, master_salt, salt_label, salt);
        let mut auth = [0u8; 20];
        let auth = &mut auth[..auth_key_len(profile)];
        kdf::derive(master_key, master_salt, auth_label, auth);
        let t = Self::from_session_keys(profile, key, salt, auth, rtcp, crypto);
        key.fill(0);
        auth.fill(0);
        t
    }

    /// A transform from session keys (lengths as the profile says).
    pub(crate) fn from_session_keys(
        profile: Profile,
        key: &[u8],
        salt: &[u8],
        auth: &[u8],
        rtcp: bool,
        crypto: &dyn CryptoProvider,
    ) -> Self {
        match profile {
            Profile::Aes128CmHmacSha1_80 | Profile::Aes128CmHmacSha1_32 => {
                Self::Cm(Box::new(CmKeys {
                    aes: aes::Aes128Enc::new(key.into()),
                    salt: salt.try_into().expect("AES-CM session salt is 14 bytes"),
                    hmac: <HmacSha1 as Mac>::new_from_slice(auth)
                        .expect("HMAC takes any key length"),
                    tag_len: if rtcp {
                        profile.rtcp_tag_len()
                    } else {
                        profile.rtp_tag_len()
                    },
                }))
            }
            Profile::AeadAes128Gcm | Profile::AeadAes256Gcm => {
                let alg = if profile == Profile::AeadAes128Gcm {
                    AeadAlgorithm::Aes128Gcm
                } else {
                    AeadAlgorithm::Aes256Gcm
                };
                Self::Gcm {
                    key: crypto
                        .aead_key(alg, key)
                        .expect("GCM key length matches the profile"),
                    salt: salt.try_into().expect("GCM session salt is 12 bytes"),
                }
            }
        }
    }

    /// Encrypts `buf[header_len..end]` and writes the tag into `buf[end..]`, which is exactly the
    /// tag's length. `index` is the 48-bit packet index.
    #[inline]
    pub(crate) fn protect_rtp(
        &self,
        buf: &mut [u8],
        header_len: usize,
        end: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<(), Error> {
        match self {
            Self::Cm(keys) => {
                let (aes, salt, hmac, tag_len) = keys.parts();
                let (packet, tag) = buf.split_at_mut(end);
                cm_apply(aes, &cm_iv(salt, ssrc, index), &mut packet[header_len..]);
                let mac = cm_mac(hmac, packet, Some((index >> 16) as u32));
                tag.copy_from_slice(&mac[..*tag_len]);
                Ok(())
            }
            Self::Gcm { key, salt } => {
                let (header, rest) = buf.split_at_mut(header_len);
                let (body, tag_out) = rest.split_at_mut(end - header_len);
                let nonce = gcm_rtp_nonce(salt, ssrc, index);
                let tag = key
                    .seal_in_place(&nonce, header, body)
                    .map_err(|_| too_long())?;
                tag_out.copy_from_slice(&tag);
                Ok(())
            }
        }
    }

    /// Authenticates and decrypts the SRTP packet `buf` (tag included) in place; returns the
    /// plaintext length. On failure a GCM buffer's payload is unspecified.
    #[inline]
    pub(crate) fn unprotect_rtp(
        &self,
        buf: &mut [u8],
        header_len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<usize, Error> {
        match self {
            Self::Cm(keys) => {
                let (aes, salt, hmac, tag_len) = keys.parts();
                let end = buf.len() - tag_len;
                let (packet, tag) = buf.split_at_mut(end);
                let mac = cm_mac(hmac, packet, Some((index >> 16) as u32));
                if !bool::from(mac[..*tag_len].ct_eq(tag)) {
                    return Err(Error::AuthenticationFailed);
                }
                cm_apply(aes, &cm_iv(salt, ssrc, index), &mut packet[header_len..]);
                Ok(end)
            }
            Self::Gcm { key, salt } => {
                let (header, rest) = buf.split_at_mut(header_len);
                let nonce = gcm_rtp_nonce(salt, ssrc, index);
                let plain = key
                    .open_in_place(&nonce, header, rest)
                    .map_err(|_| Error::AuthenticationFailed)?;
                Ok(header_len + plain.len())
            }
        }
    }

    /// Encrypts the RTCP packet `buf[..len]` after its first 8 bytes and appends tag and trailer
    /// (E flag set, `index`) into the rest of `buf`, which is exactly the profile's overhead.
    #[inline]
    pub(crate) fn protect_rtcp(
        &self,
        buf: &mut [u8],
        len: usize,
        ssrc: u32,
        index: u32,
    ) -> Result<(), Error> {
        let trailer = (E_FLAG | index).to_be_bytes();
        match self {
            Self::Cm(keys) => {
                let (aes, salt, hmac, tag_len) = keys.parts();
                cm_apply(aes, &cm_iv(salt, ssrc, u64::from(index)), &mut buf[8..len]);
                buf[len..len + 4].copy_from_slice(&trailer);
                let (authenticated, tag) = buf.split_at_mut(len + 4);
                let mac = cm_mac(hmac, authenticated, None);
                tag.copy_from_slice(&mac[..*tag_len]);
                Ok(())
            }
            Self::Gcm { key, salt } => {
                let mut aad = [0u8; 12];
                aad[..8].copy_from_slice(&buf[..8]);
                aad[8..].copy_from_slice(&trailer);
                let (packet, out) = buf.split_at_mut(len);
                let nonce = gcm_rtcp_nonce(salt, ssrc, index);
                let tag = key
                    .seal_in_place(&nonce, &aad, &mut packet[8..])
                    .map_err(|_| too_long())?;
                out[..16].copy_from_slice(&tag);
                out[16..20].copy_from_slice(&trailer);
                Ok(())
            }
        }
    }

    /// Authenticates and (when `encrypted`) decrypts the SRTCP packet `buf` in place; returns the
    /// RTCP length. `index` and `encrypted` come from the packet's trailer.
    #[inline]
    pub(crate) fn unprotect_rtcp(
        &self,
        buf: &mut [u8],
        ssrc: u32,
        index: u32,
        encrypted: bool,
    ) -> Result<usize, Error> {
        let n = buf.len();
        match self {
            Self::Cm(keys) => {
                let (aes, salt, hmac, tag_len) = keys.parts();
                let (authenticated, tag) = buf.split_at_mut(n - tag_len);
                let mac = cm_mac(hmac, authenticated, None);
                if !bool::from(mac[..*tag_len].ct_eq(tag)) {
                    return Err(Error::AuthenticationFailed);
                }
                let end = n - tag_len - 4;
                if encrypted {
                    cm_apply(aes, &cm_iv(salt, ssrc, u64::from(index)), &mut buf[8..end]);
                }
                Ok(end)
            }
            Self::Gcm { key, salt } => {
                let nonce = gcm_rtcp_nonce(salt, ssrc, index);
                let end = n - 20;
                if encrypted {
                    let mut aad = [0u8; 12];
                    aad[..8].copy_from_slice(&buf[..8]);
                    aad[8..].copy_from_slice(&buf[n - 4..]);
                    key.open_in_place(&nonce, &aad, &mut buf[8..n - 4])
                        .map_err(|_| Error::AuthenticationFailed)?;
                } else {
                    // RFC 7714 section 9.2: the whole packet and the trailer are associated data.
                    // Move the trailer in front of the tag so both are contiguous.
                    buf[end..].rotate_right(4);
                    let (aad, tag) = buf.split_at_mut(n - 16);
                    if key.open_in_place(&nonce, aad, tag).is_err() {
                        buf[end..].rotate_left(4);
                        return Err(Error::AuthenticationFailed);
                    }
                }
                Ok(end)
            }
        }
    }
}

fn too_long() -> Error {
    Error::Malformed("packet too long for AES-GCM")
}

/// The AES-CM IV (RFC 3711 section 4.1.1): (salt << 16) XOR (SSRC << 64) XOR (index << 16).
#[inline]
fn cm_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= s;
    }
    for (b, i) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *b ^= i;
    }
    iv
}

#[inline]
fn cm_apply(aes: &aes::Aes128Enc, iv: &[u8; 16], data: &mut [u8]) {
    let core =
        ctr::CtrCore::<&aes::Aes128Enc, ctr::flavors::Ctr128BE>::inner_iv_init(aes, iv.into());
    AesCtr::from_core(core).apply_keystream(data);
}

#[inline]
fn cm_mac(key: &HmacSha1, authenticated: &[u8], roc: Option<u32>) -> [u8; 20] {
    let mut mac = key.clone();
    mac.update(authenticated);
    if let Some(roc) = roc {
        mac.update(&roc.to_be_bytes());
    }
    mac.finalize().into_bytes().into()
}

/// RFC 7714 section 8.1: salt XOR (00 00 || SSRC || ROC || SEQ).
#[inline]
fn gcm_rtp_nonce(salt: &[u8; 12], ssrc: u32, index: u64) -> [u8; 12] {
    let mut iv = *salt;
    for (b, x) in iv[2..6].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= x;
    }
    for (b, x) in iv[6..12].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *b ^= x;
    }
    iv
}

/// RFC 7714 section 9.1: salt XOR (00 00 || SSRC || 00 00 || 0 || SRTCP index).
#[inline]
fn gcm_rtcp_nonce(salt: &[u8; 12], ssrc: u32, index: u32) -> [u8; 12] {
    let mut iv = *salt;
    for (b, x) in iv[2..6].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= x;
    }
    for (b, x) in iv[8..12].iter_mut().zip(index.to_be_bytes()) {
        *b ^= x;
    }
    iv
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// RFC 3711 Appendix B.2: the AES-CM keystream for SSRC 0, index 0, over the whole segment.
    #[test]
    fn rfc3711_b2_keystream() {
        let t = Transform::from_session_keys(
            Profile::Aes128CmHmacSha1_80,
            &hex("2B7E151628AED2A6ABF7158809CF4F3C"),
            &hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"),
            &[0; 20],
            false,
            &sansrtc_core::crypto::RING,
        );
        let blocks = 65282;
        let mut buf = vec![0u8; 12 + blocks * 16 + 10];
        buf[0] = 0x80;
        let end = buf.len() - 10;
        t.protect_rtp(&mut buf, 12, end, 0, 0).unwrap();
        let ks = &buf[12..end];
        assert_eq!(
            ks[..48].to_vec(),
            hex(
                "E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB 41E95B3BB0A2E8DD477901E4FCA894C0"
            )
        );
        assert_eq!(
            ks[ks.len() - 48..].to_vec(),
            hex(
                "EC8CDF7398607CB0F2D21675EA9EA1E4 362B7C3C6773516318A077D7FC5073AE 6A2CC3787889374FBEB4C81B17BA6C44"
            )
        );
    }

    const GCM_KEY_128: &str = "000102030405060708090a0b0c0d0e0f";
    const GCM_KEY_256: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const GCM_SALT: &str = "517569642070726f2071756f";
    const RTP: &str = "8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573";
    const RTCP: &str = "81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61deadbeefdeadbeefdeadbeefdeadbeefdeadbeef";

    fn gcm(profile: Profile, key: &str, crypto: &dyn CryptoProvider) -> Transform {
        Transform::from_session_keys(profile, &hex(key), &hex(GCM_SALT), &[], false, crypto)
    }

    /// RFC 7714 sections 16.1 and 16.2: SRTP with both GCM key sizes, ROC 0, every provider.
    #[test]
    fn rfc7714_srtp_vectors() {
        for &crypto in sansrtc_core::crypto::available() {
            rfc7714_srtp_vectors_with(crypto)
        }
    }

    fn rfc7714_srtp_vectors_with(crypto: &dyn CryptoProvider) {
        for (profile, key, expected) in [
            (
                Profile::AeadAes128Gcm,
                GCM_KEY_128,
                "8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce",
            ),
            (
                Profile::AeadAes256Gcm,
                GCM_KEY_256,
                "8040f17b8041f8d35501a0b232b1de78a822fe12ef9f78fa332e33aab18012389a58e2f3b50b2a0276ffae0f1ba63799b87b7aa3db36dfffd6b0f9bb7878d7a76c13",
            ),
        ] {
            let t = gcm(profile, key, crypto);
            let plain = hex(RTP);
            let mut buf = plain.clone();
            buf.resize(plain.len() + 16, 0);
            t.protect_rtp(&mut buf, 12, plain.len(), 0x5501a0b2, 0xf17b)
                .unwrap();
            assert_eq!(buf, hex(expected), "{profile:?}");
            let n = t.unprotect_rtp(&mut buf, 12, 0x5501a0b2, 0xf17b).unwrap();
            assert_eq!(buf[..n], plain[..]);
            let mut bad = hex(expected);
            assert_eq!(
                t.unprotect_rtp(&mut bad, 12, 0x5501a0b2, 0x1_f17b),
                Err(Error::AuthenticationFailed)
            );
        }
    }

    /// RFC 7714 sections 17.1 to 17.3: SRTCP, SRTCP index 0x5d4, encrypted and tag-only, every
    /// provider.
    #[test]
    fn rfc7714_srtcp_vectors() {
        for &crypto in sansrtc_core::crypto::available() {
            rfc7714_srtcp_vectors_with(crypto)
        }
    }

    fn rfc7714_srtcp_vectors_with(crypto: &dyn CryptoProvider) {
        for (profile, key, expected) in [
            (
                Profile::AeadAes128Gcm,
                GCM_KEY_128,
                "81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32dc676a5f1730d6fda4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf87245d9eade800005d4",
            ),
            (
                Profile::AeadAes256Gcm,
                GCM_KEY_256,
                "81c8000d4d617273d50ae4d1f5ce5d304ba297e47d470c282c3ece5dbffe0a50a2eaa5c1110555be8415f658c61de0476f1b6fad1d1eb30c4446839f57ff6f6cb26ac3be800005d4",
            ),
        ] {
            let t = gcm(profile, key, crypto);
            let plain = hex(RTCP);
            let mut buf = plain.clone();
            buf.resize(plain.len() + 20, 0);
            t.protect_rtcp(&mut buf, plain.len(), 0x4d617273, 0x5d4)
                .unwrap();
            assert_eq!(buf, hex(expected), "{profile:?}");
            let n = t.unprotect_rtcp(&mut buf, 0x4d617273, 0x5d4, true).unwrap();
            assert_eq!(buf[..n], plain[..]);
        }
        let tag_only = "81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61deadbeefdeadbeefdeadbeefdeadbeefdeadbeef841dd9683dd78ec92ae58790125f62b3000005d4";
        let t = gcm(Profile::AeadAes128Gcm, GCM_KEY_128, crypto);
        let mut buf = hex(tag_only);
        let n = t
            .unprotect_rtcp(&mut buf, 0x4d617273, 0x5d4, false)
            .unwrap();
        assert_eq!(buf[..n], hex(RTCP)[..]);
        let mut bad = hex(tag_only);
        bad[9] ^= 1;
        assert_eq!(
            t.unprotect_rtcp(&mut bad, 0x4d617273, 0x5d4, false),
            Err(Error::AuthenticationFailed)
        );
        assert_eq!(
            bad[..],
            {
                let mut b = hex(tag_only);
                b[9] ^= 1;
                b
            }[..]
        );
    }
}
