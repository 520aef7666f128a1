//! The SRTP protection profiles: one definition, [`sansrtc_core::SrtpProfile`], shared with DTLS
//! (which negotiates them in `use_srtp`). What only SRTP needs of a profile (the bytes protection
//! adds, the length of the DTLS exporter output) is [`ProfileExt`].

pub use sansrtc_core::SrtpProfile as Profile;

/// What protecting with a [`Profile`] costs and needs, beyond the profile's key, salt and tag
/// lengths (which [`Profile`] itself gives).
///
/// ```
/// use sansrtc_srtp::{Profile, ProfileExt};
///
/// assert_eq!(Profile::AeadAes128Gcm.rtp_overhead(), 16);
/// assert_eq!(Profile::Aes128CmHmacSha1_80.keying_material_len(), 60);
/// ```
pub trait ProfileExt: Copy {
    /// Bytes protecting an RTP packet adds: the tailroom [`Context::protect_rtp`] needs.
    ///
    /// [`Context::protect_rtp`]: crate::Context::protect_rtp
    fn rtp_overhead(self) -> usize;

    /// Bytes protecting an RTCP packet adds: the tag and the 4-byte E flag and SRTCP index.
    fn rtcp_overhead(self) -> usize;

    /// Length of the DTLS exporter output this profile needs: two keys and two salts
    /// (RFC 5764 section 4.2).
    fn keying_material_len(self) -> usize;
}

impl ProfileExt for Profile {
    #[inline]
    fn rtp_overhead(self) -> usize {
        self.rtp_tag_len()
    }

    #[inline]
    fn rtcp_overhead(self) -> usize {
        self.rtcp_tag_len() + 4
    }

    #[inline]
    fn keying_material_len(self) -> usize {
        2 * (self.key_len() + self.salt_len())
    }
}

/// Session authentication key length (HMAC-SHA1: 20 bytes; none for AEAD).
pub(crate) const fn auth_key_len(profile: Profile) -> usize {
    if profile.is_aead() { 0 } else { 20 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for p in Profile::ALL {
            assert_eq!(Profile::from_id(p.id()), Some(p));
        }
        assert_eq!(Profile::from_id(3), None);
    }

    #[test]
    fn lengths() {
        assert_eq!(Profile::Aes128CmHmacSha1_80.keying_material_len(), 60);
        assert_eq!(Profile::AeadAes128Gcm.keying_material_len(), 56);
        assert_eq!(Profile::AeadAes256Gcm.keying_material_len(), 88);
        assert_eq!(Profile::Aes128CmHmacSha1_32.rtcp_overhead(), 14);
        assert_eq!(Profile::Aes128CmHmacSha1_32.rtp_overhead(), 4);
        assert_eq!(auth_key_len(Profile::AeadAes256Gcm), 0);
        assert_eq!(auth_key_len(Profile::Aes128CmHmacSha1_80), 20);
    }
}
