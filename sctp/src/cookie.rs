//! The state cookie (RFC 9260 5.1.3): everything the listener needs to create the association,
//! authenticated with HMAC-SHA256 so the listener keeps no state between INIT and COOKIE-ECHO.

use ring::hmac;

/// Length of the cookie body before its MAC.
const BODY_LEN: usize = 33;
/// Length of the whole cookie.
pub(crate) const COOKIE_LEN: usize = BODY_LEN + 32;

/// The association parameters carried in a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CookieParams {
    /// Milliseconds since the association object's epoch when the cookie was made.
    pub(crate) created_ms: u64,
    pub(crate) local_tag: u32,
    pub(crate) peer_tag: u32,
    pub(crate) local_initial_tsn: u32,
    pub(crate) peer_initial_tsn: u32,
    pub(crate) peer_rwnd: u32,
    pub(crate) peer_outbound_streams: u16,
    pub(crate) peer_inbound_streams: u16,
    /// Bit 0: forward-TSN, bit 1: RE-CONFIG, bit 2: zero checksum.
    pub(crate) peer_features: u8,
}

impl CookieParams {
    pub(crate) fn seal(&self, key: &hmac::Key) -> [u8; COOKIE_LEN] {
        let mut out = [0u8; COOKIE_LEN];
        out[0..8].copy_from_slice(&self.created_ms.to_be_bytes());
        out[8..12].copy_from_slice(&self.local_tag.to_be_bytes());
        out[12..16].copy_from_slice(&self.peer_tag.to_be_bytes());
        out[16..20].copy_from_slice(&self.local_initial_tsn.to_be_bytes());
        out[20..24].copy_from_slice(&self.peer_initial_tsn.to_be_bytes());
        out[24..28].copy_from_slice(&self.peer_rwnd.to_be_bytes());
        out[28..30].copy_from_slice(&self.peer_outbound_streams.to_be_bytes());
        out[30..32].copy_from_slice(&self.peer_inbound_streams.to_be_bytes());
        out[32] = self.peer_features;
        let tag = hmac::sign(key, &out[..BODY_LEN]);
        out[BODY_LEN..].copy_from_slice(tag.as_ref());
        out
    }

    /// Verifies the MAC (in constant time) and decodes the cookie.
    pub(crate) fn open(key: &hmac::Key, cookie: &[u8]) -> Option<CookieParams> {
        if cookie.len() != COOKIE_LEN {
            return None;
        }
        hmac::verify(key, &cookie[..BODY_LEN], &cookie[BODY_LEN..]).ok()?;
        let u32_at =
            |i: usize| u32::from_be_bytes([cookie[i], cookie[i + 1], cookie[i + 2], cookie[i + 3]]);
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&cookie[0..8]);
        Some(CookieParams {
            created_ms: u64::from_be_bytes(ms),
            local_tag: u32_at(8),
            peer_tag: u32_at(12),
            local_initial_tsn: u32_at(16),
            peer_initial_tsn: u32_at(20),
            peer_rwnd: u32_at(24),
            peer_outbound_streams: u16::from_be_bytes([cookie[28], cookie[29]]),
            peer_inbound_streams: u16::from_be_bytes([cookie[30], cookie[31]]),
            peer_features: cookie[32],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]);
        let p = CookieParams {
            created_ms: 5,
            local_tag: 1,
            peer_tag: 2,
            local_initial_tsn: 3,
            peer_initial_tsn: 4,
            peer_rwnd: 5,
            peer_outbound_streams: 6,
            peer_inbound_streams: 7,
            peer_features: 3,
        };
        let mut c = p.seal(&key);
        assert_eq!(CookieParams::open(&key, &c), Some(p));
        c[9] ^= 1;
        assert_eq!(CookieParams::open(&key, &c), None);
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[8u8; 32]);
        assert_eq!(CookieParams::open(&other, &p.seal(&key)), None);
    }
}
