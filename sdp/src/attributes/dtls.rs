//! DTLS: `a=fingerprint` (RFC 8122) and `a=setup` (RFC 4145, RFC 8842).

use std::fmt;

use crate::error::AttributeError;

use super::{TypedAttribute, err, is_token, word};

/// A hash function a DTLS certificate fingerprint can use (RFC 8122 section 5, from RFC 4572's
/// registry): the ones both sides of a WebRTC connection can check. `md5` and `md2` are in the
/// registry but broken, and not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FingerprintHash {
    /// `sha-1`, 20-byte digest.
    Sha1,
    /// `sha-224`, 28-byte digest.
    Sha224,
    /// `sha-256`, 32-byte digest.
    Sha256,
    /// `sha-384`, 48-byte digest.
    Sha384,
    /// `sha-512`, 64-byte digest.
    Sha512,
}

impl FingerprintHash {
    /// Every function, weakest first.
    pub const ALL: [FingerprintHash; 5] = [
        FingerprintHash::Sha1,
        FingerprintHash::Sha224,
        FingerprintHash::Sha256,
        FingerprintHash::Sha384,
        FingerprintHash::Sha512,
    ];

    /// The name as written in SDP (lower case).
    pub fn name(self) -> &'static str {
        match self {
            FingerprintHash::Sha1 => "sha-1",
            FingerprintHash::Sha224 => "sha-224",
            FingerprintHash::Sha256 => "sha-256",
            FingerprintHash::Sha384 => "sha-384",
            FingerprintHash::Sha512 => "sha-512",
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            FingerprintHash::Sha1 => 20,
            FingerprintHash::Sha224 => 28,
            FingerprintHash::Sha256 => 32,
            FingerprintHash::Sha384 => 48,
            FingerprintHash::Sha512 => 64,
        }
    }

    /// Recognizes a name, ignoring case (`SHA-256` as some stacks write it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|h| name.eq_ignore_ascii_case(h.name()))
    }
}

impl fmt::Display for FingerprintHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Hash function of a `a=fingerprint` (RFC 8122), as written: one of the usable
/// [`FingerprintHash`]es or any other token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFunction<'a> {
    /// `sha-1`
    Sha1,
    /// `sha-224`
    Sha224,
    /// `sha-256`
    Sha256,
    /// `sha-384`
    Sha384,
    /// `sha-512`
    Sha512,
    /// Another token (`md5`, ...), kept as written. Parsing accepts it; negotiation does not use it.
    Other(&'a str),
}

impl<'a> HashFunction<'a> {
    fn from_name(s: &'a str) -> Self {
        match FingerprintHash::from_name(s) {
            Some(h) => h.into(),
            None => HashFunction::Other(s),
        }
    }

    /// The name as written in SDP.
    pub fn as_str(&self) -> &'a str {
        match self {
            HashFunction::Sha1 => "sha-1",
            HashFunction::Sha224 => "sha-224",
            HashFunction::Sha256 => "sha-256",
            HashFunction::Sha384 => "sha-384",
            HashFunction::Sha512 => "sha-512",
            HashFunction::Other(s) => s,
        }
    }

    /// The function, when it is one a fingerprint can be checked with.
    pub fn usable(&self) -> Option<FingerprintHash> {
        match self {
            HashFunction::Sha1 => Some(FingerprintHash::Sha1),
            HashFunction::Sha224 => Some(FingerprintHash::Sha224),
            HashFunction::Sha256 => Some(FingerprintHash::Sha256),
            HashFunction::Sha384 => Some(FingerprintHash::Sha384),
            HashFunction::Sha512 => Some(FingerprintHash::Sha512),
            HashFunction::Other(_) => None,
        }
    }

    /// Digest length in bytes, for the known functions.
    pub fn digest_len(&self) -> Option<usize> {
        self.usable().map(FingerprintHash::digest_len)
    }
}

impl From<FingerprintHash> for HashFunction<'_> {
    fn from(h: FingerprintHash) -> Self {
        match h {
            FingerprintHash::Sha1 => HashFunction::Sha1,
            FingerprintHash::Sha224 => HashFunction::Sha224,
            FingerprintHash::Sha256 => HashFunction::Sha256,
            FingerprintHash::Sha384 => HashFunction::Sha384,
            FingerprintHash::Sha512 => HashFunction::Sha512,
        }
    }
}

/// A certificate fingerprint that can be checked: a [`FingerprintHash`] and a digest of exactly
/// its length. This is what negotiation hands to DTLS
/// ([`Negotiated::remote_fingerprints`](crate::jsep::Negotiated::remote_fingerprints)); the
/// constructors make a mismatched pair unrepresentable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertificateFingerprint {
    hash: FingerprintHash,
    digest: Vec<u8>,
}

impl CertificateFingerprint {
    /// The pair, when `digest` has `hash`'s length.
    pub fn new(hash: FingerprintHash, digest: Vec<u8>) -> Option<Self> {
        (digest.len() == hash.digest_len()).then_some(Self { hash, digest })
    }

    /// The hash function.
    pub fn hash(&self) -> FingerprintHash {
        self.hash
    }

    /// The digest (`hash().digest_len()` bytes).
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// Reads an `a=fingerprint` value: `Some` when it is well formed, names a [`FingerprintHash`]
    /// (any case) and has a digest of its length; `None` otherwise (`md5`, unknown names, wrong
    /// lengths, bad hex).
    pub fn from_attribute(value: &str) -> Option<Self> {
        let f = Fingerprint::parse(value).ok()?;
        Self::new(f.hash.usable()?, f.digest())
    }

    /// Splits into the hash function and the digest.
    pub fn into_parts(self) -> (FingerprintHash, Vec<u8>) {
        (self.hash, self.digest)
    }
}

impl fmt::Display for CertificateFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.hash.name(),
            Fingerprint::format_digest(&self.digest)
        )
    }
}

/// `a=fingerprint:<hash-func> <hex:pairs>` (RFC 8122).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint<'a> {
    /// The hash function.
    pub hash: HashFunction<'a>,
    /// Colon-separated uppercase or lowercase hex pairs, as written.
    pub value: &'a str,
}

impl<'a> Fingerprint<'a> {
    /// Parses the attribute value; a known hash function must have a digest of its length.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (hash, value) = word(v);
        if !is_token(hash) {
            return Err(err("fingerprint", "missing hash function"));
        }
        let hash = HashFunction::from_name(hash);
        let value = value.trim_ascii_end();
        // `XX:XX:...:XX`: 3n - 1 bytes, hex pairs at 3i, colons at 3i + 2.
        let b = value.as_bytes();
        let well_formed = (b.len() + 1) % 3 == 0
            && b.chunks(3).all(|c| {
                c[0].is_ascii_hexdigit()
                    && c.get(1).is_some_and(u8::is_ascii_hexdigit)
                    && c.get(2).is_none_or(|&colon| colon == b':')
            });
        if !well_formed {
            return Err(err(
                "fingerprint",
                "fingerprint is not colon-separated hex pairs",
            ));
        }
        let n = (b.len() + 1) / 3;
        if hash.digest_len().is_some_and(|len| len != n) {
            return Err(err(
                "fingerprint",
                "fingerprint length does not match the hash function",
            ));
        }
        Ok(Self { hash, value })
    }

    /// The digest bytes.
    pub fn digest(&self) -> Vec<u8> {
        fn hex(b: u8) -> u8 {
            match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => 0,
            }
        }
        self.value
            .split(':')
            .filter_map(|p| {
                let b = p.as_bytes();
                (b.len() == 2).then(|| hex(b[0]) << 4 | hex(b[1]))
            })
            .collect()
    }

    /// Formats `digest` as uppercase colon-separated hex, as browsers write it.
    pub fn format_digest(digest: &[u8]) -> String {
        let mut s = String::with_capacity(digest.len() * 3);
        for (i, b) in digest.iter().enumerate() {
            if i > 0 {
                s.push(':');
            }
            s.push_str(&format!("{b:02X}"));
        }
        s
    }
}

impl fmt::Display for Fingerprint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.hash.as_str(), self.value)
    }
}

impl TypedAttribute for Fingerprint<'_> {
    const NAME: &'static str = "fingerprint";
}

/// `a=setup:` DTLS role (RFC 4145, RFC 8842).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    /// Will initiate the connection (DTLS client).
    Active,
    /// Will accept the connection (DTLS server).
    Passive,
    /// Either; offers use this.
    ActPass,
    /// Does not want a connection now.
    HoldConn,
}

impl Setup {
    /// Parses the attribute value, ignoring case.
    pub fn parse(v: &str) -> Result<Self, AttributeError> {
        let v = v.trim_ascii();
        [
            Setup::Active,
            Setup::Passive,
            Setup::ActPass,
            Setup::HoldConn,
        ]
        .into_iter()
        .find(|s| v.eq_ignore_ascii_case(s.as_str()))
        .ok_or_else(|| err("setup", "not active, passive, actpass or holdconn"))
    }

    /// The value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::ActPass => "actpass",
            Setup::HoldConn => "holdconn",
        }
    }
}

impl fmt::Display for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TypedAttribute for Setup {
    const NAME: &'static str = "setup";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint() {
        let v = "sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F";
        let f = Fingerprint::parse(v).unwrap();
        assert_eq!(f.hash, HashFunction::Sha256);
        assert_eq!(f.digest().len(), 32);
        assert_eq!(f.digest()[0], 0xD2);
        assert_eq!(f.to_string(), v);
        assert_eq!(Fingerprint::format_digest(&f.digest()), f.value);
        assert!(Fingerprint::parse("sha-1 D2:FA").is_err());
        assert!(Fingerprint::parse("sha-256 zz").is_err());
        let sha1 =
            Fingerprint::parse("SHA-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB")
                .unwrap();
        assert_eq!(sha1.hash, HashFunction::Sha1);
        for (name, len) in [("sha-224", 28), ("sha-384", 48), ("sha-512", 64)] {
            let digest = Fingerprint::format_digest(&vec![0xAB; len]);
            assert_eq!(
                Fingerprint::parse(&format!("{name} {digest}"))
                    .unwrap()
                    .digest()
                    .len(),
                len
            );
        }
    }

    #[test]
    fn certificate_fingerprints_need_a_usable_hash_and_its_length() {
        for h in FingerprintHash::ALL {
            assert_eq!(FingerprintHash::from_name(h.name()), Some(h));
            assert_eq!(
                FingerprintHash::from_name(&h.name().to_ascii_uppercase()),
                Some(h)
            );
            let digest = vec![0x5A; h.digest_len()];
            let value = format!("{} {}", h.name(), Fingerprint::format_digest(&digest));
            let f = CertificateFingerprint::from_attribute(&value).unwrap();
            assert_eq!((f.hash(), f.digest()), (h, digest.as_slice()));
            assert_eq!(f.to_string(), value);
            assert_eq!(Fingerprint::parse(&value).unwrap().hash.usable(), Some(h));
            assert!(CertificateFingerprint::new(h, vec![0; h.digest_len() + 1]).is_none());
        }
        assert_eq!(FingerprintHash::from_name("md5"), None);
        // Unknown names still parse as attributes, but are not usable.
        let md5 =
            Fingerprint::parse("md5 01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10").unwrap();
        assert_eq!(md5.hash, HashFunction::Other("md5"));
        assert_eq!(md5.hash.usable(), None);
        assert_eq!(md5.hash.digest_len(), None);
        for bad in [
            "md5 01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10",
            "foo AB:CD",
            "sha-256 AB:CD",
            "sha-1 zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz",
            "",
        ] {
            assert_eq!(CertificateFingerprint::from_attribute(bad), None, "{bad}");
        }
    }

    #[test]
    fn setup() {
        assert_eq!(Setup::parse("ACTPASS").unwrap(), Setup::ActPass);
        assert!(Setup::parse("both").is_err());
    }
}
