//! What a handshake negotiated, typed for both versions: the protocol version, the cipher suite
//! (a DTLS 1.2 [`CipherSuite`] or a DTLS 1.3 [`Suite13`]) and the key exchange group.

use std::fmt;

use crate::cipher::CipherSuite;
use crate::v13::key_schedule::Suite13;

/// A DTLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// DTLS 1.2 (RFC 6347), 0xFEFD on the wire.
    Dtls12,
    /// DTLS 1.3 (RFC 9147), 0xFEFC on the wire.
    Dtls13,
}

impl ProtocolVersion {
    /// The version's wire value (0xFEFD or 0xFEFC; what browsers' getStats `tlsVersion` shows
    /// in hex).
    pub fn wire(self) -> u16 {
        match self {
            Self::Dtls12 => crate::record::DTLS_1_2,
            Self::Dtls13 => crate::v13::DTLS_1_3,
        }
    }
    /// From the wire value.
    pub fn from_wire(v: u16) -> Option<Self> {
        [Self::Dtls12, Self::Dtls13]
            .into_iter()
            .find(|x| x.wire() == v)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dtls12 => "DTLS 1.2",
            Self::Dtls13 => "DTLS 1.3",
        })
    }
}

/// The negotiated cipher suite of either version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Suite {
    /// A DTLS 1.2 suite (ECDHE, AEAD).
    Dtls12(CipherSuite),
    /// A DTLS 1.3 suite (AEAD and hash only; the key exchange is the group).
    Dtls13(Suite13),
}

impl Suite {
    /// The IANA value (e.g. 0xC02B, 0x1301).
    pub fn id(self) -> u16 {
        match self {
            Self::Dtls12(s) => s.id(),
            Self::Dtls13(s) => s.id(),
        }
    }
    /// The IANA name (e.g. `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`, `TLS_AES_128_GCM_SHA256`),
    /// as browsers' getStats `dtlsCipher` reports it.
    pub fn name(self) -> &'static str {
        use CipherSuite as C;
        match self {
            Self::Dtls12(C::EcdheEcdsaAes128GcmSha256) => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            Self::Dtls12(C::EcdheEcdsaAes256GcmSha384) => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            Self::Dtls12(C::EcdheEcdsaChacha20Poly1305Sha256) => {
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            }
            Self::Dtls12(C::EcdheRsaAes128GcmSha256) => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            Self::Dtls12(C::EcdheRsaAes256GcmSha384) => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            Self::Dtls12(C::EcdheRsaChacha20Poly1305Sha256) => {
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
            }
            Self::Dtls13(Suite13::Aes128GcmSha256) => "TLS_AES_128_GCM_SHA256",
            Self::Dtls13(Suite13::Aes256GcmSha384) => "TLS_AES_256_GCM_SHA384",
            Self::Dtls13(Suite13::Chacha20Poly1305Sha256) => "TLS_CHACHA20_POLY1305_SHA256",
        }
    }
    /// The protocol version the suite belongs to.
    pub fn version(self) -> ProtocolVersion {
        match self {
            Self::Dtls12(_) => ProtocolVersion::Dtls12,
            Self::Dtls13(_) => ProtocolVersion::Dtls13,
        }
    }
    /// The DTLS 1.2 suite, if this is one.
    pub fn dtls12(self) -> Option<CipherSuite> {
        match self {
            Self::Dtls12(s) => Some(s),
            Self::Dtls13(_) => None,
        }
    }
    /// The DTLS 1.3 suite, if this is one.
    pub fn dtls13(self) -> Option<Suite13> {
        match self {
            Self::Dtls13(s) => Some(s),
            Self::Dtls12(_) => None,
        }
    }
}

impl From<CipherSuite> for Suite {
    fn from(s: CipherSuite) -> Self {
        Self::Dtls12(s)
    }
}

impl From<Suite13> for Suite {
    fn from(s: Suite13) -> Self {
        Self::Dtls13(s)
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A key exchange group (RFC 8446 4.2.7; IANA TLS Supported Groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NamedGroup {
    /// secp256r1 (23).
    Secp256r1,
    /// secp384r1 (24).
    Secp384r1,
    /// x25519 (29).
    X25519,
    /// X25519MLKEM768 (0x11EC), the post-quantum hybrid (DTLS 1.3 only).
    X25519Mlkem768,
}

impl NamedGroup {
    /// Every group we know.
    pub const ALL: [NamedGroup; 4] = [
        Self::Secp256r1,
        Self::Secp384r1,
        Self::X25519,
        Self::X25519Mlkem768,
    ];
    /// The DTLS 1.3 groups we implement, in our default preference order (the default of
    /// [`Config::groups13`](crate::Config::groups13)): X25519MLKEM768, X25519, P-256.
    pub const DTLS13: [NamedGroup; 3] = [Self::X25519Mlkem768, Self::X25519, Self::Secp256r1];
    /// Whether we implement this group in DTLS 1.3 (P-384 is a DTLS 1.2 group here).
    pub fn in_dtls13(self) -> bool {
        Self::DTLS13.contains(&self)
    }
    /// The IANA value.
    pub fn id(self) -> u16 {
        match self {
            Self::Secp256r1 => crate::message::group::SECP256R1,
            Self::Secp384r1 => crate::message::group::SECP384R1,
            Self::X25519 => crate::message::group::X25519,
            Self::X25519Mlkem768 => crate::v13::kx::X25519MLKEM768,
        }
    }
    /// From the IANA value.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.id() == id)
    }
    /// The IANA name (`secp256r1`, `x25519`, `X25519MLKEM768`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Secp256r1 => "secp256r1",
            Self::Secp384r1 => "secp384r1",
            Self::X25519 => "x25519",
            Self::X25519Mlkem768 => "X25519MLKEM768",
        }
    }
}

impl fmt::Display for NamedGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_names_and_versions_round_trip() {
        assert_eq!(ProtocolVersion::Dtls13.wire(), 0xFEFC);
        assert_eq!(ProtocolVersion::Dtls12.wire(), 0xFEFD);
        assert_eq!(
            ProtocolVersion::from_wire(0xFEFC),
            Some(ProtocolVersion::Dtls13)
        );
        assert_eq!(ProtocolVersion::from_wire(0xFEFF), None);
        let s13 = Suite::from(Suite13::Aes256GcmSha384);
        assert_eq!((s13.id(), s13.name()), (0x1302, "TLS_AES_256_GCM_SHA384"));
        assert_eq!(s13.version(), ProtocolVersion::Dtls13);
        assert_eq!(s13.dtls12(), None);
        let s12 = Suite::from(CipherSuite::EcdheRsaChacha20Poly1305Sha256);
        assert_eq!(s12.id(), 0xCCA8);
        assert_eq!(s12.version(), ProtocolVersion::Dtls12);
        assert_eq!(s12.dtls13(), None);
        for s in CipherSuite::ALL {
            assert!(Suite::from(s).name().starts_with("TLS_ECDHE_"), "{s:?}");
        }
        for g in NamedGroup::ALL {
            assert_eq!(NamedGroup::from_id(g.id()), Some(g));
        }
        assert_eq!(
            NamedGroup::from_id(0x11EC),
            Some(NamedGroup::X25519Mlkem768)
        );
        assert_eq!(NamedGroup::from_id(0x0200), None);
        assert_eq!(NamedGroup::X25519Mlkem768.to_string(), "X25519MLKEM768");
    }
}
