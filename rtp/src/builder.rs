//! Writing RTP packets: [`RtpPacketBuilder`] serializes a header, extensions and payload into a
//! caller-supplied buffer without allocating.

use crate::error::RtpError;
use crate::extension::{ExtensionValue, ONE_BYTE_PROFILE, TWO_BYTE_PROFILE};
use crate::packet::{FIXED_HEADER_LEN, RtpPacket};

/// Most header extension elements one builder holds.
pub const MAX_BUILDER_EXTENSIONS: usize = 16;

/// Element data: borrowed, or a small typed value encoded inline.
#[derive(Clone, Copy, Debug)]
enum ElementData<'a> {
    Borrowed(&'a [u8]),
    Inline([u8; 16], u8),
}

impl ElementData<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            ElementData::Borrowed(b) => b,
            ElementData::Inline(buf, len) => &buf[..*len as usize],
        }
    }
}

/// How the header extension block is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtensionEncoding {
    /// One-byte form when every element fits it (ids 1..=14, 1..=16 bytes), two-byte otherwise.
    Auto,
    /// Always the two-byte form (needs `a=extmap-allow-mixed` or a two-byte-only peer).
    TwoByte,
}

/// Builds an RTP packet.
///
/// ```
/// use sansrtc_rtp::{RtpPacket, RtpPacketBuilder, extension::AudioLevel};
/// let payload = [0xF8, 0xFF, 0xFE];
/// let mut builder = RtpPacketBuilder::new(111, 7, 960, 0x1234_5678);
/// builder.marker(true).payload(&payload);
/// builder.extension_value(1, &AudioLevel { voice_activity: true, level: 30 })?;
/// let mut buf = [0u8; 1500];
/// let len = builder.write(&mut buf)?;
/// let packet = RtpPacket::parse(&buf[..len])?;
/// assert_eq!(packet.sequence_number(), 7);
/// assert_eq!(packet.extensions().unwrap().get(1), Some(&[0x80 | 30][..]));
/// assert_eq!(packet.payload(), &payload);
/// # Ok::<(), sansrtc_rtp::RtpError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RtpPacketBuilder<'a> {
    marker: bool,
    payload_type: u8,
    sequence_number: u16,
    timestamp: u32,
    ssrc: u32,
    csrcs: [u32; 15],
    csrc_count: usize,
    elements: [(u8, ElementData<'a>); MAX_BUILDER_EXTENSIONS],
    element_count: usize,
    raw_extension: Option<(u16, &'a [u8])>,
    encoding: ExtensionEncoding,
    payload: &'a [u8],
    padding: u8,
}

impl<'a> RtpPacketBuilder<'a> {
    /// A packet with the given payload type, sequence number, timestamp and SSRC, no marker, no
    /// CSRCs, no extensions, no payload.
    pub fn new(payload_type: u8, sequence_number: u16, timestamp: u32, ssrc: u32) -> Self {
        RtpPacketBuilder {
            marker: false,
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            csrcs: [0; 15],
            csrc_count: 0,
            elements: [(0, ElementData::Borrowed(&[])); MAX_BUILDER_EXTENSIONS],
            element_count: 0,
            raw_extension: None,
            encoding: ExtensionEncoding::Auto,
            payload: &[],
            padding: 0,
        }
    }

    /// A builder that rewrites `packet` as it is (header extension block copied verbatim, padding
    /// kept), e.g. to change its SSRC or payload type when forwarding.
    pub fn from_packet(packet: &RtpPacket<'a>) -> Self {
        let mut b = RtpPacketBuilder::new(
            packet.payload_type(),
            packet.sequence_number(),
            packet.timestamp(),
            packet.ssrc(),
        );
        b.marker = packet.marker();
        b.payload = packet.payload();
        b.padding = packet.padding_len().min(255) as u8;
        if let Some(ext) = packet.extensions() {
            b.raw_extension = Some((ext.profile(), ext.raw()));
        }
        for (slot, csrc) in b.csrcs.iter_mut().zip(packet.csrcs()) {
            *slot = csrc;
        }
        b.csrc_count = packet.csrc_count() as usize;
        b
    }

    /// Sets the marker bit.
    pub fn marker(&mut self, marker: bool) -> &mut Self {
        self.marker = marker;
        self
    }

    /// Sets the payload type (must be 0..=127 when written).
    pub fn payload_type(&mut self, payload_type: u8) -> &mut Self {
        self.payload_type = payload_type;
        self
    }

    /// Sets the sequence number.
    pub fn sequence_number(&mut self, sequence_number: u16) -> &mut Self {
        self.sequence_number = sequence_number;
        self
    }

    /// Sets the timestamp.
    pub fn timestamp(&mut self, timestamp: u32) -> &mut Self {
        self.timestamp = timestamp;
        self
    }

    /// Sets the SSRC.
    pub fn ssrc(&mut self, ssrc: u32) -> &mut Self {
        self.ssrc = ssrc;
        self
    }

    /// Sets the contributing sources (at most 15).
    pub fn csrcs(&mut self, csrcs: &[u32]) -> Result<&mut Self, RtpError> {
        if csrcs.len() > 15 {
            return Err(RtpError::FieldOverflow("more than 15 CSRCs"));
        }
        self.csrcs[..csrcs.len()].copy_from_slice(csrcs);
        self.csrc_count = csrcs.len();
        Ok(self)
    }

    /// Sets the payload.
    pub fn payload(&mut self, payload: &'a [u8]) -> &mut Self {
        self.payload = payload;
        self
    }

    /// Pads the packet with `padding` bytes (0 for none; the last byte holds the count).
    pub fn padding(&mut self, padding: u8) -> &mut Self {
        self.padding = padding;
        self
    }

    /// Chooses the extension form; see [`ExtensionEncoding`].
    pub fn extension_encoding(&mut self, encoding: ExtensionEncoding) -> &mut Self {
        self.encoding = encoding;
        self
    }

    /// Adds a header extension element with raw data. Replaces a raw block set by
    /// [`from_packet`](Self::from_packet) or [`raw_extension`](Self::raw_extension).
    pub fn extension(&mut self, id: u8, data: &'a [u8]) -> Result<&mut Self, RtpError> {
        self.push_element(id, ElementData::Borrowed(data))
    }

    /// Adds a typed header extension element, encoded inline (values up to 16 bytes).
    pub fn extension_value<'v, T: ExtensionValue<'v>>(
        &mut self,
        id: u8,
        value: &T,
    ) -> Result<&mut Self, RtpError> {
        let len = value.encoded_len();
        if len > 16 {
            return Err(RtpError::FieldOverflow("inline extension value over 16 bytes"));
        }
        let mut buf = [0u8; 16];
        value.encode(&mut buf[..len]);
        self.push_element(id, ElementData::Inline(buf, len as u8))
    }

    /// Sets an opaque extension block (profile value and data, a multiple of 4 bytes), for
    /// non-RFC 8285 extensions. Replaces any elements added before.
    pub fn raw_extension(&mut self, profile: u16, data: &'a [u8]) -> Result<&mut Self, RtpError> {
        if data.len() % 4 != 0 || data.len() > 4 * u16::MAX as usize {
            return Err(RtpError::FieldOverflow("raw extension length not a multiple of 4"));
        }
        self.element_count = 0;
        self.raw_extension = Some((profile, data));
        Ok(self)
    }

    fn push_element(&mut self, id: u8, data: ElementData<'a>) -> Result<&mut Self, RtpError> {
        if id == 0 || data.bytes().len() > 255 {
            return Err(RtpError::FieldOverflow("extension id 0 or data over 255 bytes"));
        }
        if self.element_count == MAX_BUILDER_EXTENSIONS {
            return Err(RtpError::FieldOverflow("too many header extension elements"));
        }
        self.raw_extension = None;
        self.elements[self.element_count] = (id, data);
        self.element_count += 1;
        Ok(self)
    }

    fn one_byte_form(&self) -> bool {
        self.encoding == ExtensionEncoding::Auto
            && self.elements[..self.element_count]
                .iter()
                .all(|(id, d)| (1..=14).contains(id) && (1..=16).contains(&d.bytes().len()))
    }

    /// Length of the extension block data (after its 4-byte header), padded to 4 bytes.
    fn extension_data_len(&self) -> Option<usize> {
        if let Some((_, raw)) = self.raw_extension {
            return Some(raw.len());
        }
        if self.element_count == 0 {
            return None;
        }
        let per_element = if self.one_byte_form() { 1 } else { 2 };
        let len: usize =
            self.elements[..self.element_count].iter().map(|(_, d)| per_element + d.bytes().len()).sum();
        Some(len.div_ceil(4) * 4)
    }

    /// Bytes the packet takes when written.
    pub fn encoded_len(&self) -> usize {
        FIXED_HEADER_LEN
            + 4 * self.csrc_count
            + self.extension_data_len().map_or(0, |l| 4 + l)
            + self.payload.len()
            + self.padding as usize
    }

    /// Writes the packet into `out`, returning its length.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        let needed = self.encoded_len();
        if out.len() < needed {
            return Err(RtpError::BufferTooSmall { needed, available: out.len() });
        }
        if self.payload_type > 127 {
            return Err(RtpError::FieldOverflow("payload type above 127"));
        }
        let ext_len = self.extension_data_len();
        if ext_len.is_some_and(|l| l > 4 * u16::MAX as usize) {
            return Err(RtpError::FieldOverflow("header extension too long"));
        }
        out[0] = 0x80
            | (u8::from(self.padding > 0) << 5)
            | (u8::from(ext_len.is_some()) << 4)
            | self.csrc_count as u8;
        out[1] = (u8::from(self.marker) << 7) | self.payload_type;
        out[2..4].copy_from_slice(&self.sequence_number.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut at = FIXED_HEADER_LEN;
        for csrc in &self.csrcs[..self.csrc_count] {
            out[at..at + 4].copy_from_slice(&csrc.to_be_bytes());
            at += 4;
        }
        if let Some(ext_len) = ext_len {
            let profile = match self.raw_extension {
                Some((profile, _)) => profile,
                None if self.one_byte_form() => ONE_BYTE_PROFILE,
                None => TWO_BYTE_PROFILE,
            };
            out[at..at + 2].copy_from_slice(&profile.to_be_bytes());
            out[at + 2..at + 4].copy_from_slice(&((ext_len / 4) as u16).to_be_bytes());
            at += 4;
            let end = at + ext_len;
            if let Some((_, raw)) = self.raw_extension {
                out[at..end].copy_from_slice(raw);
            } else {
                let one_byte = profile == ONE_BYTE_PROFILE;
                for (id, data) in &self.elements[..self.element_count] {
                    let data = data.bytes();
                    if one_byte {
                        out[at] = (id << 4) | (data.len() as u8 - 1);
                        at += 1;
                    } else {
                        out[at] = *id;
                        out[at + 1] = data.len() as u8;
                        at += 2;
                    }
                    out[at..at + data.len()].copy_from_slice(data);
                    at += data.len();
                }
                out[at..end].fill(0);
            }
            at = end;
        }
        out[at..at + self.payload.len()].copy_from_slice(self.payload);
        at += self.payload.len();
        if self.padding > 0 {
            let end = at + self.padding as usize;
            out[at..end - 1].fill(0);
            out[end - 1] = self.padding;
            at = end;
        }
        Ok(at)
    }

    /// Appends the packet to `out`.
    pub fn write_vec(&self, out: &mut Vec<u8>) -> Result<usize, RtpError> {
        let start = out.len();
        out.resize(start + self.encoded_len(), 0);
        let result = self.write(&mut out[start..]);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// The packet as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, RtpError> {
        let mut out = Vec::new();
        self.write_vec(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extension::{AbsSendTime, ExtensionForm, Mid, TransportSequence};

    #[test]
    fn two_byte_form_when_needed() {
        let big = [7u8; 20];
        let mut b = RtpPacketBuilder::new(96, 1, 2, 3);
        b.extension(1, &big).unwrap();
        b.extension_value(2, &TransportSequence(9)).unwrap();
        let bytes = b.to_vec().unwrap();
        let p = RtpPacket::parse(&bytes).unwrap();
        let ext = p.extensions().unwrap();
        assert_eq!(ext.form(), ExtensionForm::TwoByte { appbits: 0 });
        assert_eq!(ext.get(1), Some(&big[..]));
        assert_eq!(ext.get(2), Some(&[0, 9][..]));
    }

    #[test]
    fn one_byte_form_and_round_trip_through_from_packet() {
        let mut b = RtpPacketBuilder::new(100, 65535, 0xFFFF_FFFF, 42);
        b.csrcs(&[1, 2, 3]).unwrap().padding(4).payload(b"hello");
        b.extension_value(3, &AbsSendTime(0xABCDEF)).unwrap();
        b.extension_value(4, &Mid("0")).unwrap();
        let bytes = b.to_vec().unwrap();
        let p = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(p.extensions().unwrap().form(), ExtensionForm::OneByte);
        assert_eq!(p.payload(), b"hello");
        assert_eq!(p.padding_len(), 4);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![1, 2, 3]);
        let again = RtpPacketBuilder::from_packet(&p).to_vec().unwrap();
        assert_eq!(again, bytes);
    }

    #[test]
    fn errors() {
        let mut b = RtpPacketBuilder::new(128, 0, 0, 0);
        assert!(matches!(b.to_vec(), Err(RtpError::FieldOverflow(_))));
        b.payload_type(1);
        assert!(b.csrcs(&[0; 16]).is_err());
        assert!(b.extension(0, &[1]).is_err());
        let mut small = [0u8; 11];
        assert_eq!(b.write(&mut small), Err(RtpError::BufferTooSmall { needed: 12, available: 11 }));
    }
}
