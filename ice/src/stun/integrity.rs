//! MESSAGE-INTEGRITY (HMAC-SHA1), MESSAGE-INTEGRITY-SHA256 and FINGERPRINT (CRC-32).
//!
//! Both are computed over the message prefix up to the attribute, with the header's length field
//! replaced by the length the message has when that attribute is its last one. The prefix is fed to
//! the hash in three pieces (type, adjusted length, rest), so nothing is copied.

use ::hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use ring::hmac as ring_hmac;
use sha1::Sha1;

use crate::stun::FINGERPRINT_XOR;

/// A STUN integrity key, with its HMAC-SHA1 and HMAC-SHA256 forms prepared once (the inner and
/// outer pad states are hashed at construction, so a check costs only the message's blocks).
///
/// HMAC-SHA256 comes from `ring`. HMAC-SHA1 comes from RustCrypto's `hmac` and `sha1`, which use
/// the CPU's SHA extensions when present; `ring`'s SHA-1 is portable code and made integrity
/// checks about three times slower.
///
/// Short-term credentials (ICE) use the password itself; long-term credentials (TURN) use
/// MD5("username:realm:password") or, with PASSWORD-ALGORITHM SHA-256, its SHA-256 form. Passwords
/// are used as given (the caller applies OpaqueString/SASLprep if it needs to).
#[derive(Clone)]
pub struct IntegrityKey {
    sha1: Hmac<Sha1>,
    sha256: ring_hmac::Key,
}

impl std::fmt::Debug for IntegrityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntegrityKey(..)")
    }
}

impl IntegrityKey {
    /// A key from raw key bytes.
    pub fn from_bytes(key: &[u8]) -> Self {
        IntegrityKey {
            sha1: Hmac::<Sha1>::new_from_slice(key).expect("HMAC accepts keys of any length"),
            sha256: ring_hmac::Key::new(ring_hmac::HMAC_SHA256, key),
        }
    }

    /// A short-term credential key (RFC 8489 9.1.1): the password bytes.
    pub fn short_term(password: &str) -> Self {
        Self::from_bytes(password.as_bytes())
    }

    /// A long-term credential key with the MD5 password algorithm (RFC 8489 9.2.2):
    /// MD5(username ":" realm ":" password).
    pub fn long_term_md5(username: &str, realm: &str, password: &str) -> Self {
        Self::from_bytes(&long_term_md5_bytes(username, realm, password))
    }

    /// A long-term credential key with the SHA-256 password algorithm (RFC 8489 9.2.2):
    /// SHA-256(username ":" realm ":" password).
    pub fn long_term_sha256(username: &str, realm: &str, password: &str) -> Self {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [
            username.as_bytes(),
            b":",
            realm.as_bytes(),
            b":",
            password.as_bytes(),
        ] {
            ctx.update(part);
        }
        Self::from_bytes(ctx.finish().as_ref())
    }

    /// HMAC-SHA1 of a message prefix whose length field is replaced by `adjusted_len`.
    pub(crate) fn sha1_over(&self, prefix: &[u8], adjusted_len: u16) -> [u8; 20] {
        let mut ctx = self.sha1.clone();
        feed(prefix, adjusted_len, |b| ctx.update(b));
        ctx.finalize().into_bytes().into()
    }

    /// HMAC-SHA256 of a message prefix whose length field is replaced by `adjusted_len`.
    pub(crate) fn sha256_over(&self, prefix: &[u8], adjusted_len: u16) -> ring_hmac::Tag {
        let mut ctx = ring_hmac::Context::with_key(&self.sha256);
        feed(prefix, adjusted_len, |b| ctx.update(b));
        ctx.sign()
    }
}

/// The 16-byte MD5 long-term key, MD5(username ":" realm ":" password).
pub fn long_term_md5_bytes(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut h = Md5::new();
    for part in [
        username.as_bytes(),
        b":",
        realm.as_bytes(),
        b":",
        password.as_bytes(),
    ] {
        h.update(part);
    }
    h.finalize().into()
}

/// Feeds a message prefix (at least the 20-byte header) with its length field replaced.
fn feed(prefix: &[u8], adjusted_len: u16, mut update: impl FnMut(&[u8])) {
    update(&prefix[..2]);
    update(&adjusted_len.to_be_bytes());
    update(&prefix[4..]);
}

/// FINGERPRINT value of a message prefix whose length field is replaced by `adjusted_len`.
pub(crate) fn fingerprint_over(prefix: &[u8], adjusted_len: u16) -> u32 {
    let mut h = crc32fast::Hasher::new();
    feed(prefix, adjusted_len, |b| h.update(b));
    h.finalize() ^ FINGERPRINT_XOR
}

/// Constant-time comparison of a received MAC with (a prefix of) the computed one.
pub(crate) fn mac_matches(computed: &[u8], received: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    received.len() <= computed.len() && bool::from(computed[..received.len()].ct_eq(received))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_term_key_rfc5769() {
        // RFC 5769 2.4: username "<U+30DE><U+30C8><U+30EA><U+30C3><U+30AF><U+30B9>",
        // password "TheMatrIX" (after SASLprep), realm "example.org".
        let key = long_term_md5_bytes(
            "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}",
            "example.org",
            "TheMatrIX",
        );
        let mut h = Md5::new();
        h.update(
            "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}:example.org:TheMatrIX".as_bytes(),
        );
        let expect: [u8; 16] = h.finalize().into();
        assert_eq!(key, expect);
    }

    #[test]
    fn mac_compare() {
        assert!(mac_matches(&[1, 2, 3, 4], &[1, 2, 3, 4]));
        assert!(mac_matches(&[1, 2, 3, 4], &[1, 2]));
        assert!(!mac_matches(&[1, 2, 3, 4], &[1, 3]));
        assert!(!mac_matches(&[1, 2], &[1, 2, 3]));
    }
}
