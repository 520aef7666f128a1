//! Writing RTP packets: [`RtpPacketBuilder`] serializes a header, header extensions and payload
//! into a caller-supplied buffer without allocating. Header extension elements are collected in
//! an [`ExtensionsBuilder`], which a sender keeps and reuses from packet to packet.

use crate::error::RtpError;
use crate::extension::{ExtensionValue, ONE_BYTE_PROFILE, TWO_BYTE_PROFILE};
use crate::packet::{FIXED_HEADER_LEN, RtpPacket};

/// Most header extension elements one [`ExtensionsBuilder`] holds.
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

/// The header extension elements of a packet to write (RFC 8285).
///
/// ```
/// use sansrtc_rtp::builder::ExtensionsBuilder;
/// use sansrtc_rtp::extension::{AudioLevel, Mid};
/// let mut ext = ExtensionsBuilder::new();
/// ext.push_value(1, &AudioLevel { voice_activity: true, level: 30 })?;
/// ext.push_value(4, &Mid("0"))?;
/// assert_eq!(ext.len(), 2);
/// # Ok::<(), sansrtc_rtp::RtpError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ExtensionsBuilder<'a> {
    elements: [(u8, ElementData<'a>); MAX_BUILDER_EXTENSIONS],
    count: usize,
    encoding: ExtensionEncoding,
}

impl Default for ExtensionsBuilder<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> ExtensionsBuilder<'a> {
    /// No elements, automatic form.
    pub fn new() -> Self {
        ExtensionsBuilder {
            elements: [(0, ElementData::Borrowed(&[])); MAX_BUILDER_EXTENSIONS],
            count: 0,
            encoding: ExtensionEncoding::Auto,
        }
    }

    /// Chooses the form; see [`ExtensionEncoding`].
    pub fn encoding(&mut self, encoding: ExtensionEncoding) -> &mut Self {
        self.encoding = encoding;
        self
    }

    /// Adds an element with raw data (id 1..=255, at most 255 bytes).
    pub fn push(&mut self, id: u8, data: &'a [u8]) -> Result<&mut Self, RtpError> {
        self.push_element(id, ElementData::Borrowed(data))
    }

    /// Adds a typed element, encoded inline (values up to 16 bytes).
    pub fn push_value<'v, T: ExtensionValue<'v>>(
        &mut self,
        id: u8,
        value: &T,
    ) -> Result<&mut Self, RtpError> {
        let len = value.encoded_len();
        if len > 16 {
            return Err(RtpError::FieldOverflow(
                "inline extension value over 16 bytes",
            ));
        }
        let mut buf = [0u8; 16];
        value.encode(&mut buf[..len]);
        self.push_element(id, ElementData::Inline(buf, len as u8))
    }

    fn push_element(&mut self, id: u8, data: ElementData<'a>) -> Result<&mut Self, RtpError> {
        if id == 0 || data.bytes().len() > 255 {
            return Err(RtpError::FieldOverflow(
                "extension id 0 or data over 255 bytes",
            ));
        }
        if self.count == MAX_BUILDER_EXTENSIONS {
            return Err(RtpError::FieldOverflow(
                "too many header extension elements",
            ));
        }
        self.elements[self.count] = (id, data);
        self.count += 1;
        Ok(self)
    }

    /// Removes every element (keeps the encoding), to reuse the builder for the next packet.
    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn elements(&self) -> &[(u8, ElementData<'a>)] {
        &self.elements[..self.count]
    }

    fn one_byte_form(&self) -> bool {
        self.encoding == ExtensionEncoding::Auto
            && self
                .elements()
                .iter()
                .all(|(id, d)| (1..=14).contains(id) && (1..=16).contains(&d.bytes().len()))
    }

    /// The profile value and the padded data length this block is written with.
    fn layout(&self) -> (u16, usize) {
        let one_byte = self.one_byte_form();
        let per_element = if one_byte { 1 } else { 2 };
        let len: usize = self
            .elements()
            .iter()
            .map(|(_, d)| per_element + d.bytes().len())
            .sum();
        (
            if one_byte {
                ONE_BYTE_PROFILE
            } else {
                TWO_BYTE_PROFILE
            },
            len.div_ceil(4) * 4,
        )
    }

    /// Writes the elements and zero padding into `out` (exactly the padded length).
    fn write(&self, one_byte: bool, out: &mut [u8]) {
        let mut at = 0;
        for (id, data) in self.elements() {
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
        out[at..].fill(0);
    }
}

/// Where a builder's header extension block comes from.
#[derive(Clone, Copy, Debug)]
enum ExtensionSource<'a> {
    None,
    Raw(u16, &'a [u8]),
    Elements(&'a ExtensionsBuilder<'a>),
}

/// Where a builder's CSRCs come from.
#[derive(Clone, Copy, Debug)]
enum Csrcs<'a> {
    List(&'a [u32]),
    Wire(&'a [u8]),
}

/// Builds an RTP packet. Small and cheap to create: one per packet.
///
/// ```
/// use sansrtc_rtp::{RtpPacket, RtpPacketBuilder, builder::ExtensionsBuilder, extension::AudioLevel};
/// let payload = [0xF8, 0xFF, 0xFE];
/// let mut ext = ExtensionsBuilder::new();
/// ext.push_value(1, &AudioLevel { voice_activity: true, level: 30 })?;
/// let mut builder = RtpPacketBuilder::new(111, 7, 960, 0x1234_5678);
/// builder.marker(true).payload(&payload).extensions(&ext);
/// let mut buf = [0u8; 1500];
/// let len = builder.write(&mut buf)?;
/// let packet = RtpPacket::parse(&buf[..len])?;
/// assert_eq!(packet.sequence_number(), 7);
/// assert_eq!(packet.extensions().unwrap().get(1), Some(&[0x80 | 30][..]));
/// assert_eq!(packet.payload(), &payload);
/// # Ok::<(), sansrtc_rtp::RtpError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RtpPacketBuilder<'a> {
    marker: bool,
    payload_type: u8,
    padding: u8,
    sequence_number: u16,
    timestamp: u32,
    ssrc: u32,
    csrcs: Csrcs<'a>,
    extension: ExtensionSource<'a>,
    payload: &'a [u8],
}

impl<'a> RtpPacketBuilder<'a> {
    /// A packet with the given payload type, sequence number, timestamp and SSRC, no marker, no
    /// CSRCs, no extensions, no payload.
    #[inline]
    pub fn new(payload_type: u8, sequence_number: u16, timestamp: u32, ssrc: u32) -> Self {
        RtpPacketBuilder {
            marker: false,
            payload_type,
            padding: 0,
            sequence_number,
            timestamp,
            ssrc,
            csrcs: Csrcs::List(&[]),
            extension: ExtensionSource::None,
            payload: &[],
        }
    }

    /// A builder that rewrites `packet` as it is (CSRCs and header extension block copied
    /// verbatim, padding kept), e.g. to change its SSRC or payload type when forwarding.
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
        let csrc_end = FIXED_HEADER_LEN + 4 * packet.csrc_count() as usize;
        b.csrcs = Csrcs::Wire(&packet.as_bytes()[FIXED_HEADER_LEN..csrc_end]);
        if let Some(ext) = packet.extensions() {
            b.extension = ExtensionSource::Raw(ext.profile(), ext.raw());
        }
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
    pub fn csrcs(&mut self, csrcs: &'a [u32]) -> Result<&mut Self, RtpError> {
        if csrcs.len() > 15 {
            return Err(RtpError::FieldOverflow("more than 15 CSRCs"));
        }
        self.csrcs = Csrcs::List(csrcs);
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

    /// Writes these header extension elements (none are written if it is empty).
    pub fn extensions(&mut self, extensions: &'a ExtensionsBuilder<'a>) -> &mut Self {
        self.extension = ExtensionSource::Elements(extensions);
        self
    }

    /// Sets an opaque extension block (profile value and data, a multiple of 4 bytes), e.g. for
    /// non-RFC 8285 extensions or a block encoded ahead of time.
    pub fn raw_extension(&mut self, profile: u16, data: &'a [u8]) -> Result<&mut Self, RtpError> {
        if data.len() % 4 != 0 || data.len() > 4 * u16::MAX as usize {
            return Err(RtpError::FieldOverflow(
                "raw extension length not a multiple of 4",
            ));
        }
        self.extension = ExtensionSource::Raw(profile, data);
        Ok(self)
    }

    fn csrc_len(&self) -> usize {
        match self.csrcs {
            Csrcs::List(list) => 4 * list.len(),
            Csrcs::Wire(bytes) => bytes.len(),
        }
    }

    /// The extension block's profile and padded data length, if there is one.
    fn extension_layout(&self) -> Option<(u16, usize)> {
        match self.extension {
            ExtensionSource::None => None,
            ExtensionSource::Raw(profile, data) => Some((profile, data.len())),
            ExtensionSource::Elements(e) if e.is_empty() => None,
            ExtensionSource::Elements(e) => Some(e.layout()),
        }
    }

    fn len_with(&self, extension: Option<(u16, usize)>) -> usize {
        FIXED_HEADER_LEN
            + self.csrc_len()
            + extension.map_or(0, |(_, l)| 4 + l)
            + self.payload.len()
            + self.padding as usize
    }

    /// Bytes the packet takes when written.
    pub fn encoded_len(&self) -> usize {
        self.len_with(self.extension_layout())
    }

    /// Length of the header this builder writes: fixed part, CSRCs and extension block.
    pub fn header_len(&self) -> usize {
        self.len_with(self.extension_layout()) - self.payload.len() - self.padding as usize
    }

    /// Writes the packet into `out`, returning its length.
    #[inline]
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        let extension = self.extension_layout();
        let needed = self.len_with(extension);
        let header_len = needed - self.payload.len() - self.padding as usize;
        self.check(extension, needed, out.len())?;
        self.write_header(extension, &mut out[..header_len]);
        out[header_len..header_len + self.payload.len()].copy_from_slice(self.payload);
        self.write_padding(&mut out[header_len + self.payload.len()..needed]);
        Ok(needed)
    }

    /// Zero-copy writing: the caller has already put `payload_len` payload bytes at
    /// `buf[self.header_len()..]` (a packetizer writes straight into the send buffer); this writes
    /// the header in front of them and the padding after them, and returns the packet length. The
    /// builder's own payload is ignored.
    ///
    /// ```
    /// use sansrtc_rtp::{RtpPacket, RtpPacketBuilder};
    /// let builder = RtpPacketBuilder::new(96, 1, 2, 3);
    /// let mut buf = [0u8; 1500];
    /// let at = builder.header_len();
    /// buf[at..at + 4].copy_from_slice(b"data"); // the packetizer's output
    /// let len = builder.write_in_place(&mut buf, 4)?;
    /// assert_eq!(RtpPacket::parse(&buf[..len])?.payload(), b"data");
    /// # Ok::<(), sansrtc_rtp::RtpError>(())
    /// ```
    #[inline]
    pub fn write_in_place(&self, buf: &mut [u8], payload_len: usize) -> Result<usize, RtpError> {
        let extension = self.extension_layout();
        let header_len = self.len_with(extension) - self.payload.len() - self.padding as usize;
        let needed = header_len + payload_len + self.padding as usize;
        self.check(extension, needed, buf.len())?;
        self.write_header(extension, &mut buf[..header_len]);
        self.write_padding(&mut buf[header_len + payload_len..needed]);
        Ok(needed)
    }

    fn check(
        &self,
        extension: Option<(u16, usize)>,
        needed: usize,
        available: usize,
    ) -> Result<(), RtpError> {
        if available < needed {
            return Err(RtpError::BufferTooSmall { needed, available });
        }
        if self.payload_type > 127 {
            return Err(RtpError::FieldOverflow("payload type above 127"));
        }
        if extension.is_some_and(|(_, l)| l > 4 * u16::MAX as usize) {
            return Err(RtpError::FieldOverflow("header extension too long"));
        }
        Ok(())
    }

    /// Writes the header into `out`, exactly the header length.
    fn write_header(&self, extension: Option<(u16, usize)>, out: &mut [u8]) {
        let csrc_len = self.csrc_len();
        out[0] = 0x80
            | (u8::from(self.padding > 0) << 5)
            | (u8::from(extension.is_some()) << 4)
            | (csrc_len / 4) as u8;
        out[1] = (u8::from(self.marker) << 7) | self.payload_type;
        out[2..4].copy_from_slice(&self.sequence_number.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut at = FIXED_HEADER_LEN;
        match self.csrcs {
            Csrcs::List(list) => {
                for csrc in list {
                    out[at..at + 4].copy_from_slice(&csrc.to_be_bytes());
                    at += 4;
                }
            }
            Csrcs::Wire(bytes) => {
                out[at..at + bytes.len()].copy_from_slice(bytes);
                at += bytes.len();
            }
        }
        if let Some((profile, ext_len)) = extension {
            out[at..at + 2].copy_from_slice(&profile.to_be_bytes());
            out[at + 2..at + 4].copy_from_slice(&((ext_len / 4) as u16).to_be_bytes());
            at += 4;
            let block = &mut out[at..at + ext_len];
            match self.extension {
                ExtensionSource::Raw(_, data) => block.copy_from_slice(data),
                ExtensionSource::Elements(e) => e.write(profile == ONE_BYTE_PROFILE, block),
                ExtensionSource::None => {}
            }
        }
    }

    /// Writes the padding (zeros, then the count) into `out`, exactly the padding length.
    fn write_padding(&self, out: &mut [u8]) {
        if let Some((last, zeros)) = out.split_last_mut() {
            zeros.fill(0);
            *last = self.padding;
        }
    }

    /// Appends the packet to `out` (the layout computed once, the payload copied without
    /// zeroing its room first).
    pub fn write_vec(&self, out: &mut Vec<u8>) -> Result<usize, RtpError> {
        let extension = self.extension_layout();
        let needed = self.len_with(extension);
        let header_len = needed - self.payload.len() - self.padding as usize;
        self.check(extension, needed, needed)?;
        let start = out.len();
        out.reserve(needed);
        out.resize(start + header_len, 0);
        self.write_header(extension, &mut out[start..]);
        out.extend_from_slice(self.payload);
        let padding_start = out.len();
        out.resize(padding_start + self.padding as usize, 0);
        self.write_padding(&mut out[padding_start..]);
        Ok(needed)
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
        let mut ext = ExtensionsBuilder::new();
        ext.push(1, &big).unwrap();
        ext.push_value(2, &TransportSequence(9)).unwrap();
        let bytes = RtpPacketBuilder::new(96, 1, 2, 3)
            .extensions(&ext)
            .to_vec()
            .unwrap();
        let p = RtpPacket::parse(&bytes).unwrap();
        let ext = p.extensions().unwrap();
        assert_eq!(ext.form(), ExtensionForm::TwoByte { appbits: 0 });
        assert_eq!(ext.get(1), Some(&big[..]));
        assert_eq!(ext.get(2), Some(&[0, 9][..]));
    }

    #[test]
    fn one_byte_form_and_round_trip_through_from_packet() {
        let mut ext = ExtensionsBuilder::new();
        ext.push_value(3, &AbsSendTime(0xABCDEF)).unwrap();
        ext.push_value(4, &Mid("0")).unwrap();
        let csrcs = [1, 2, 3];
        let mut b = RtpPacketBuilder::new(100, 65535, 0xFFFF_FFFF, 42);
        b.csrcs(&csrcs)
            .unwrap()
            .padding(4)
            .payload(b"hello")
            .extensions(&ext);
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
    fn empty_extensions_write_no_block() {
        let ext = ExtensionsBuilder::new();
        let bytes = RtpPacketBuilder::new(1, 2, 3, 4)
            .extensions(&ext)
            .to_vec()
            .unwrap();
        assert_eq!(bytes.len(), 12);
        assert!(!RtpPacket::parse(&bytes).unwrap().has_extension());
    }

    #[test]
    fn errors() {
        let mut b = RtpPacketBuilder::new(128, 0, 0, 0);
        assert!(matches!(b.to_vec(), Err(RtpError::FieldOverflow(_))));
        b.payload_type(1);
        assert!(b.csrcs(&[0; 16]).is_err());
        assert!(ExtensionsBuilder::new().push(0, &[1]).is_err());
        assert!(b.raw_extension(0xBEDE, &[1, 2, 3]).is_err());
        let mut small = [0u8; 11];
        assert_eq!(
            b.write(&mut small),
            Err(RtpError::BufferTooSmall {
                needed: 12,
                available: 11
            })
        );
    }
}
