//! The SRTP protection profiles a WebRTC endpoint negotiates in DTLS `use_srtp` (RFC 5764 4.1.2,
//! RFC 7714 14.2) and their parameters.

/// An SRTP protection profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpProfile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (0x0001): AES-128 counter mode, 80-bit HMAC-SHA1 tag.
    Aes128CmHmacSha1_80,
    /// `SRTP_AES128_CM_HMAC_SHA1_32` (0x0002): AES-128 counter mode, 32-bit HMAC-SHA1 tag for
    /// SRTP (SRTCP still carries an 80-bit tag).
    Aes128CmHmacSha1_32,
    /// `SRTP_AEAD_AES_128_GCM` (0x0007): AES-128-GCM with a 16-byte tag.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM` (0x0008): AES-256-GCM with a 16-byte tag.
    AeadAes256Gcm,
}

impl SrtpProfile {
    /// Every profile, in our order of preference (what we offer, first choice first).
    pub const ALL: [SrtpProfile; 4] = [
        Self::AeadAes128Gcm,
        Self::Aes128CmHmacSha1_80,
        Self::AeadAes256Gcm,
        Self::Aes128CmHmacSha1_32,
    ];

    /// The IANA value in `use_srtp`.
    pub const fn id(self) -> u16 {
        match self {
            Self::Aes128CmHmacSha1_80 => 0x0001,
            Self::Aes128CmHmacSha1_32 => 0x0002,
            Self::AeadAes128Gcm => 0x0007,
            Self::AeadAes256Gcm => 0x0008,
        }
    }

    /// The profile with IANA value `id`.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.id() == id)
    }

    /// The name OpenSSL uses (`-use_srtp`).
    pub const fn openssl_name(self) -> &'static str {
        match self {
            Self::Aes128CmHmacSha1_80 => "SRTP_AES128_CM_SHA1_80",
            Self::Aes128CmHmacSha1_32 => "SRTP_AES128_CM_SHA1_32",
            Self::AeadAes128Gcm => "SRTP_AEAD_AES_128_GCM",
            Self::AeadAes256Gcm => "SRTP_AEAD_AES_256_GCM",
        }
    }

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

    /// (master key length, master salt length) in bytes.
    pub const fn key_salt_len(self) -> (usize, usize) {
        (self.key_len(), self.salt_len())
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_lengths_match_the_rfcs() {
        for p in SrtpProfile::ALL {
            assert_eq!(SrtpProfile::from_id(p.id()), Some(p));
        }
        assert_eq!(SrtpProfile::from_id(3), None);
        assert_eq!(SrtpProfile::AeadAes256Gcm.key_salt_len(), (32, 12));
        assert_eq!(SrtpProfile::Aes128CmHmacSha1_32.key_salt_len(), (16, 14));
        assert_eq!(SrtpProfile::Aes128CmHmacSha1_32.rtp_tag_len(), 4);
        assert_eq!(SrtpProfile::Aes128CmHmacSha1_32.rtcp_tag_len(), 10);
    }
}
