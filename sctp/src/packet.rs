//! The SCTP common header and packet (RFC 9260 3.1), CRC32c checksum (RFC 9260 appendix A) and
//! zero checksum (RFC 9653).

use crate::chunk::Chunk;
use crate::error::ParseError;

/// Length of the common header.
pub const COMMON_HEADER_LEN: usize = 12;

/// The CRC32c of a packet, computed with the checksum field taken as zero.
pub fn checksum(packet: &[u8]) -> u32 {
    if packet.len() < COMMON_HEADER_LEN {
        return crc32c::crc32c(packet);
    }
    let c = crc32c::crc32c(&packet[..8]);
    let c = crc32c::crc32c_append(c, &[0, 0, 0, 0]);
    crc32c::crc32c_append(c, &packet[COMMON_HEADER_LEN..])
}

/// A parsed SCTP packet borrowing the caller's buffer; the chunks were validated at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SctpPacket<'a> {
    buf: &'a [u8],
}

impl<'a> SctpPacket<'a> {
    /// Parses and checks a packet: header, CRC32c, and the framing of every chunk.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        Self::parse_inner(buf, true)
    }

    /// Parses a packet, accepting an all-zero checksum field without checking it (RFC 9653,
    /// once zero checksum was negotiated); any other value is still verified.
    pub fn parse_zero_checksum_ok(buf: &'a [u8]) -> Result<Self, ParseError> {
        Self::parse_inner(buf, false)
    }

    fn parse_inner(buf: &'a [u8], require_crc: bool) -> Result<Self, ParseError> {
        if buf.len() < COMMON_HEADER_LEN {
            return Err(ParseError::Truncated {
                what: "common header",
                needed: COMMON_HEADER_LEN,
                available: buf.len(),
            });
        }
        let received = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
        if require_crc || received != 0 {
            let computed = checksum(buf);
            if computed != received {
                return Err(ParseError::BadChecksum { received, computed });
            }
        }
        let mut rest = &buf[COMMON_HEADER_LEN..];
        while !rest.is_empty() {
            let (_, used) = Chunk::parse(rest)?;
            rest = &rest[used..];
        }
        Ok(SctpPacket { buf })
    }

    /// Source port.
    pub fn source_port(&self) -> u16 {
        u16::from_be_bytes([self.buf[0], self.buf[1]])
    }

    /// Destination port.
    pub fn destination_port(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// Verification tag.
    pub fn verification_tag(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }

    /// The checksum field (little-endian on the wire, as the CRC32c is defined).
    pub fn checksum_field(&self) -> u32 {
        u32::from_le_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]])
    }

    /// Iterates the chunks.
    pub fn chunks(&self) -> ChunkIter<'a> {
        ChunkIter {
            rest: &self.buf[COMMON_HEADER_LEN..],
        }
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// Iterator over the chunks of a parsed packet.
#[derive(Debug, Clone)]
pub struct ChunkIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ChunkIter<'a> {
    type Item = Chunk<'a>;
    fn next(&mut self) -> Option<Chunk<'a>> {
        let (c, used) = Chunk::parse(self.rest).ok()?;
        self.rest = &self.rest[used..];
        Some(c)
    }
}

/// Starts a packet in `out` (cleared first): the common header with a zero checksum field.
pub fn begin_packet(out: &mut Vec<u8>, source_port: u16, destination_port: u16, vtag: u32) {
    out.clear();
    out.extend_from_slice(&source_port.to_be_bytes());
    out.extend_from_slice(&destination_port.to_be_bytes());
    out.extend_from_slice(&vtag.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
}

/// Fills in the checksum of a packet started with [`begin_packet`] (or leaves it zero when
/// `zero_checksum` is set, RFC 9653).
pub fn finish_packet(out: &mut [u8], zero_checksum: bool) {
    if out.len() < COMMON_HEADER_LEN {
        return;
    }
    let c = if zero_checksum { 0 } else { checksum(out) };
    out[8..12].copy_from_slice(&c.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{chunk_type, write_data};
    use proptest::prelude::*;

    #[test]
    fn crc32c_known_vector() {
        // RFC 3720 B.4: 32 bytes of zeros.
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8A91_36AA);
    }

    #[test]
    fn build_and_parse() {
        let mut out = Vec::new();
        begin_packet(&mut out, 5000, 5000, 0xDEAD_BEEF);
        write_data(&mut out, 3, 10, 1, 0, 51, b"hello");
        out.extend_from_slice(&[chunk_type::COOKIE_ACK, 0, 0, 4]);
        finish_packet(&mut out, false);
        let p = SctpPacket::parse(&out).unwrap();
        assert_eq!(p.source_port(), 5000);
        assert_eq!(p.verification_tag(), 0xDEAD_BEEF);
        let chunks: Vec<_> = p.chunks().collect();
        assert_eq!(chunks.len(), 2);
        match chunks[0] {
            Chunk::Data(d) => assert_eq!(d.payload, b"hello"),
            _ => panic!("not data"),
        }
        out[20] ^= 1;
        assert!(matches!(
            SctpPacket::parse(&out),
            Err(ParseError::BadChecksum { .. })
        ));
    }

    #[test]
    fn zero_checksum() {
        let mut out = Vec::new();
        begin_packet(&mut out, 1, 2, 3);
        out.extend_from_slice(&[chunk_type::COOKIE_ACK, 0, 0, 4]);
        finish_packet(&mut out, true);
        assert!(SctpPacket::parse(&out).is_err());
        assert!(SctpPacket::parse_zero_checksum_ok(&out).is_ok());
    }

    proptest! {
        #[test]
        fn parse_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            finish_packet(&mut bytes, false);
            if let Ok(p) = SctpPacket::parse(&bytes) {
                for c in p.chunks() {
                    let _ = c.encoded_len();
                }
            }
        }
    }
}
