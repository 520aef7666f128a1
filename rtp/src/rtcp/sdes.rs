//! Source description packets (RFC 3550 6.5).

use super::list::{List, WireItem, take_u32};
use super::{Body, malformed, packet_type, pad4};
use crate::error::RtcpError;

/// The type of an SDES item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdesType {
    /// CNAME: canonical end-point identifier.
    Cname,
    /// NAME: user name.
    Name,
    /// EMAIL.
    Email,
    /// PHONE.
    Phone,
    /// LOC: geographic location.
    Location,
    /// TOOL: application or tool name.
    Tool,
    /// NOTE: notice/status.
    Note,
    /// PRIV: private extension (prefix length, prefix and value kept in the text).
    Private,
    /// Any other non-zero type.
    Other(u8),
}

impl SdesType {
    fn from_u8(b: u8) -> Self {
        match b {
            1 => SdesType::Cname,
            2 => SdesType::Name,
            3 => SdesType::Email,
            4 => SdesType::Phone,
            5 => SdesType::Location,
            6 => SdesType::Tool,
            7 => SdesType::Note,
            8 => SdesType::Private,
            other => SdesType::Other(other),
        }
    }

    /// The type byte.
    pub fn to_u8(self) -> u8 {
        match self {
            SdesType::Cname => 1,
            SdesType::Name => 2,
            SdesType::Email => 3,
            SdesType::Phone => 4,
            SdesType::Location => 5,
            SdesType::Tool => 6,
            SdesType::Note => 7,
            SdesType::Private => 8,
            SdesType::Other(b) => b,
        }
    }
}

/// One SDES item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// The item type (never the terminating type 0).
    pub kind: SdesType,
    /// The item text (at most 255 bytes).
    pub text: &'a [u8],
}

impl<'a> WireItem<'a> for SdesItem<'a> {
    fn decode(buf: &mut &'a [u8]) -> Option<Self> {
        let (&[kind, len], rest) = buf.split_first_chunk::<2>()?;
        if kind == 0 || rest.len() < len as usize {
            return None;
        }
        let (text, rest) = rest.split_at(len as usize);
        *buf = rest;
        Some(SdesItem {
            kind: SdesType::from_u8(kind),
            text,
        })
    }
    fn encoded_len(&self) -> usize {
        2 + self.text.len()
    }
    fn encode(&self, out: &mut [u8]) -> usize {
        out[0] = self.kind.to_u8();
        out[1] = self.text.len() as u8;
        out[2..2 + self.text.len()].copy_from_slice(self.text);
        2 + self.text.len()
    }
}

/// The items describing one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    /// The source described.
    pub ssrc: u32,
    /// Its items.
    pub items: List<'a, SdesItem<'a>>,
}

impl<'a> SdesChunk<'a> {
    /// The CNAME item's text, if present.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items
            .iter()
            .find(|i| i.kind == SdesType::Cname)
            .map(|i| i.text)
    }
}

impl<'a> WireItem<'a> for SdesChunk<'a> {
    fn decode(buf: &mut &'a [u8]) -> Option<Self> {
        let start = *buf;
        let mut rest = start;
        let ssrc = take_u32(&mut rest)?;
        let items_start = rest;
        while *rest.first()? != 0 {
            SdesItem::decode(&mut rest)?;
        }
        let items_bytes = &items_start[..items_start.len() - rest.len()];
        // One null terminator, then nulls up to the next 32-bit boundary.
        let used = start.len() - rest.len() + 1;
        let total = used + pad4(used);
        if start.len() < total {
            return None;
        }
        *buf = &start[total..];
        Some(SdesChunk {
            ssrc,
            items: List::parse_all(items_bytes)?,
        })
    }
    fn encoded_len(&self) -> usize {
        let used = 4 + self.items.encoded_len() + 1;
        used + pad4(used)
    }
    fn encode(&self, out: &mut [u8]) -> usize {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        let at = 4 + self.items.encode(&mut out[4..]);
        let end = self.encoded_len();
        out[at..end].fill(0);
        end
    }
}

/// A source description packet: one chunk per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceDescription<'a> {
    /// The chunks (at most 31).
    pub chunks: List<'a, SdesChunk<'a>>,
}

impl<'a> SourceDescription<'a> {
    pub(crate) fn parse(count: u8, body: &'a [u8]) -> Result<Self, RtcpError> {
        let (chunks, _trailing) = List::parse_counted(body, count as usize)
            .ok_or(malformed("SDES", "chunk malformed or beyond the packet"))?;
        Ok(SourceDescription { chunks })
    }
}

impl Body for SourceDescription<'_> {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::SDES, self.chunks.len())
    }
    fn body_len(&self) -> usize {
        self.chunks.encoded_len()
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        for chunk in &self.chunks {
            for item in &chunk.items {
                if item.text.len() > 255 || item.kind.to_u8() == 0 {
                    return Err(RtcpError::FieldOverflow(
                        "SDES item over 255 bytes or of type 0",
                    ));
                }
            }
        }
        self.chunks.encode(out);
        Ok(())
    }
}
