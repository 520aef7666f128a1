//! Zero-copy view of an RTP packet (RFC 3550 section 5.1).

use crate::error::RtpError;
use crate::extension::Extensions;

/// Length of the fixed RTP header, before CSRCs and extensions.
pub const FIXED_HEADER_LEN: usize = 12;

/// A parsed RTP packet borrowing the caller's buffer.
///
/// [`RtpPacket::parse`] checks every length once (version, CSRC list, header extension, padding);
/// afterwards every accessor reads straight from the buffer and cannot fail.
///
/// ```
/// use sansrtc_rtp::RtpPacket;
/// let bytes = [0x80, 0xE0, 0x12, 0x34, 0, 0, 0x03, 0xE8, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3];
/// let p = RtpPacket::parse(&bytes)?;
/// assert!(p.marker());
/// assert_eq!(p.payload_type(), 96);
/// assert_eq!(p.sequence_number(), 0x1234);
/// assert_eq!(p.timestamp(), 1000);
/// assert_eq!(p.ssrc(), 0xDEAD_BEEF);
/// assert_eq!(p.payload(), &[1, 2, 3]);
/// # Ok::<(), sansrtc_rtp::RtpError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    header_len: usize,
    payload_end: usize,
}

impl<'a> RtpPacket<'a> {
    /// Parses and validates an RTP packet.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let header_len = header_len(buf)?;
        let len = buf.len();
        let mut payload_end = len;
        if buf[0] & 0x20 != 0 {
            let padding = buf[len - 1] as usize;
            let available = len - header_len;
            if padding == 0 || padding > available {
                return Err(RtpError::BadPadding { padding, available });
            }
            payload_end -= padding;
        }
        Ok(RtpPacket { buf, header_len, payload_end })
    }

    /// The whole packet as received, padding included.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The RTP version (always 2 for a parsed packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buf[0] >> 6
    }

    /// Whether the padding bit is set.
    #[inline]
    pub fn has_padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// Whether the header-extension bit is set.
    #[inline]
    pub fn has_extension(&self) -> bool {
        self.buf[0] & 0x10 != 0
    }

    /// Number of CSRC identifiers (0..=15).
    #[inline]
    pub fn csrc_count(&self) -> u8 {
        self.buf[0] & 0x0F
    }

    /// The marker bit.
    #[inline]
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// The payload type (0..=127).
    #[inline]
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7F
    }

    /// The 16-bit sequence number.
    #[inline]
    pub fn sequence_number(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// The 32-bit media timestamp.
    #[inline]
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }

    /// The synchronization source identifier.
    #[inline]
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]])
    }

    /// The contributing source identifiers.
    pub fn csrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let end = FIXED_HEADER_LEN + 4 * self.csrc_count() as usize;
        self.buf[FIXED_HEADER_LEN..end]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The header extension block, when the extension bit is set.
    pub fn extensions(&self) -> Option<Extensions<'a>> {
        if !self.has_extension() {
            return None;
        }
        let start = FIXED_HEADER_LEN + 4 * self.csrc_count() as usize;
        let profile = u16::from_be_bytes([self.buf[start], self.buf[start + 1]]);
        Some(Extensions::new(profile, &self.buf[start + 4..self.header_len]))
    }

    /// Length of the header: fixed part, CSRCs and header extension.
    #[inline]
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The payload, with any padding removed.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..self.payload_end]
    }

    /// Number of padding bytes at the end (0 when the padding bit is clear).
    #[inline]
    pub fn padding_len(&self) -> usize {
        self.buf.len() - self.payload_end
    }
}

impl core::fmt::Debug for RtpPacket<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RtpPacket")
            .field("marker", &self.marker())
            .field("payload_type", &self.payload_type())
            .field("sequence_number", &self.sequence_number())
            .field("timestamp", &self.timestamp())
            .field("ssrc", &self.ssrc())
            .field("csrc_count", &self.csrc_count())
            .field("extension", &self.has_extension())
            .field("payload_len", &self.payload().len())
            .field("padding_len", &self.padding_len())
            .finish()
    }
}

/// Length of the RTP header (fixed part, CSRCs, header extension) at the start of `buf`, checking
/// the version and that the header fits. Padding is not examined.
///
/// This is what SRTP needs to find where the encrypted payload starts.
#[inline]
pub fn header_len(buf: &[u8]) -> Result<usize, RtpError> {
    let available = buf.len();
    if available < FIXED_HEADER_LEN {
        return Err(RtpError::Truncated { needed: FIXED_HEADER_LEN, available });
    }
    let b0 = buf[0];
    if b0 >> 6 != 2 {
        return Err(RtpError::BadVersion(b0 >> 6));
    }
    let mut len = FIXED_HEADER_LEN + 4 * (b0 & 0x0F) as usize;
    if b0 & 0x10 != 0 {
        if available < len + 4 {
            return Err(RtpError::Truncated { needed: len + 4, available });
        }
        let words = u16::from_be_bytes([buf[len + 2], buf[len + 3]]) as usize;
        len += 4 + 4 * words;
    }
    if available < len {
        return Err(RtpError::Truncated { needed: len, available });
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_short_and_wrong_version() {
        assert_eq!(
            RtpPacket::parse(&[0x80; 11]),
            Err(RtpError::Truncated { needed: 12, available: 11 })
        );
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::BadVersion(1)));
    }

    #[test]
    fn csrcs_and_truncated_csrc_list() {
        let mut p = vec![0x82, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
        p.extend_from_slice(&[0, 0, 0, 7]);
        assert_eq!(
            RtpPacket::parse(&p),
            Err(RtpError::Truncated { needed: 20, available: 16 })
        );
        p.extend_from_slice(&[0, 0, 0, 9, 0xFF]);
        let parsed = RtpPacket::parse(&p).unwrap();
        assert_eq!(parsed.csrcs().collect::<Vec<_>>(), vec![7, 9]);
        assert_eq!(parsed.payload(), &[0xFF]);
    }

    #[test]
    fn padding_is_removed_and_checked() {
        let mut p = vec![0xA0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 0, 0, 3];
        let parsed = RtpPacket::parse(&p).unwrap();
        assert_eq!(parsed.payload(), &[1, 2]);
        assert_eq!(parsed.padding_len(), 3);
        *p.last_mut().unwrap() = 0;
        assert!(matches!(RtpPacket::parse(&p), Err(RtpError::BadPadding { .. })));
        *p.last_mut().unwrap() = 6;
        assert!(matches!(RtpPacket::parse(&p), Err(RtpError::BadPadding { .. })));
        // padding that exactly covers the payload is allowed
        *p.last_mut().unwrap() = 5;
        assert_eq!(RtpPacket::parse(&p).unwrap().payload(), &[]);
    }

    #[test]
    fn extension_length_beyond_packet() {
        let p = [0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE, 0xDE, 0, 2, 0x10, 0xAA, 0, 0];
        assert_eq!(
            RtpPacket::parse(&p),
            Err(RtpError::Truncated { needed: 24, available: 20 })
        );
    }
}
