//! The four SRTP protection profiles a WebRTC endpoint negotiates and their parameters.

/// An SRTP protection profile (RFC 5764 section 4.1.2, RFC 7714 section 14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80`: AES-128 counter mode, 80-bit HMAC-SHA1 tag.
    Aes128CmHmacSha1_80,
    /// `SRTP_AES128_CM_HMAC_SHA1_32`: AES-128 counter mode, 32-bit HMAC-SHA1 tag for SRTP
    /// (SRTCP still carries an 80-bit tag).
    Aes128CmHmacSha1_32,
    /// `SRTP_AEAD_AES_128_GCM`: AES-128-GCM with a 16-byte tag.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM`: AES-256-GCM with a 16-byte tag.
    AeadAes256Gcm,
}

impl Profile {
    /// Every profile, in preference order for a WebRTC offer.
    pub const ALL: [Profile; 4] = [
        Self::AeadAes128Gcm,
        Self::AeadAes256Gcm,
        Self::Aes128CmHmacSha1_80,
        Self::Aes128CmHmacSha1_32,
    ];

    /// Master (and session) key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            Self::AeadAes256Gcm => 32,
            _ => 16,
        }
    }

    /// Master (and session) salt length in bytes: 14 for AES-CM, 12 for AES-GCM.
    pub const fn salt_len(self) -> usize {
        if self.is_aead() { 12 } else { 14 }
    }

    /// Whether this is one of the AEAD (GCM) profiles.
    pub const fn is_aead(self) -> bool {
        matches!(self, Self::AeadAes128Gcm | Self::AeadAes256Gcm)
    }

    /// Authentication tag length of an SRTP packet.
    pub const fn rtp_tag_len(self) -> usize {
        match self {
            Self::Aes128CmHmacSha1_80 => 10,
            Self::Aes128CmHmacSha1_32 => 4,
            Self::AeadAes128Gcm | Self::AeadAes256Gcm => 16,
        }
    }

    /// Authentication tag length of an SRTCP packet (80 bits for both AES-CM profiles).
    pub const fn rtcp_tag_len(self) -> usize {
        if self.is_aead() { 16 } else { 10 }
    }

    /// Bytes protecting an RTP packet adds: the tailroom [`Context::protect_rtp`] needs.
    ///
    /// [`Context::protect_rtp`]: crate::Context::protect_rtp
    pub const fn rtp_overhead(self) -> usize {
        self.rtp_tag_len()
    }

    /// Bytes protecting an RTCP packet adds: the tag and the 4-byte E flag and SRTCP index.
    pub const fn rtcp_overhead(self) -> usize {
        self.rtcp_tag_len() + 4
    }

    /// The DTLS-SRTP protection profile identifier (RFC 5764, RFC 7714).
    pub const fn dtls_id(self) -> u16 {
        match self {
            Self::Aes128CmHmacSha1_80 => 0x0001,
            Self::Aes128CmHmacSha1_32 => 0x0002,
            Self::AeadAes128Gcm => 0x0007,
            Self::AeadAes256Gcm => 0x0008,
        }
    }

    /// The profile with this DTLS-SRTP identifier, if it is one of the four.
    pub const fn from_dtls_id(id: u16) -> Option<Self> {
        match id {
            0x0001 => Some(Self::Aes128CmHmacSha1_80),
            0x0002 => Some(Self::Aes128CmHmacSha1_32),
            0x0007 => Some(Self::AeadAes128Gcm),
            0x0008 => Some(Self::AeadAes256Gcm),
            _ => None,
        }
    }

    /// Length of the DTLS exporter output this profile needs: two keys and two salts
    /// (RFC 5764 section 4.2).
    pub const fn keying_material_len(self) -> usize {
        2 * (self.key_len() + self.salt_len())
    }

    /// Session authentication key length (HMAC-SHA1: 20 bytes; none for AEAD).
    pub(crate) const fn auth_key_len(self) -> usize {
        if self.is_aead() { 0 } else { 20 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for p in Profile::ALL {
            assert_eq!(Profile::from_dtls_id(p.dtls_id()), Some(p));
        }
        assert_eq!(Profile::from_dtls_id(3), None);
    }

    #[test]
    fn lengths() {
        assert_eq!(Profile::Aes128CmHmacSha1_80.keying_material_len(), 60);
        assert_eq!(Profile::AeadAes128Gcm.keying_material_len(), 56);
        assert_eq!(Profile::AeadAes256Gcm.keying_material_len(), 88);
        assert_eq!(Profile::Aes128CmHmacSha1_32.rtcp_overhead(), 14);
    }
}
