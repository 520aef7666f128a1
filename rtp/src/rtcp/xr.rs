//! Extended reports (RFC 3611) with the blocks WebRTC uses: receiver reference time (RRTR) and
//! DLRR. Other block types are kept as they are.

use super::list::{List, WireItem, take_u16, take_u32};
use super::{Body, malformed, packet_type};
use crate::error::RtcpError;

/// One DLRR sub-block: the delay since the last RRTR from one receiver (RFC 3611 4.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DlrrEntry {
    /// The receiver whose RRTR this answers.
    pub ssrc: u32,
    /// Middle 32 bits of that RRTR's NTP timestamp.
    pub last_receiver_report: u32,
    /// Delay since receiving it, in 1/65536 s.
    pub delay_since_last_receiver_report: u32,
}

impl WireItem<'_> for DlrrEntry {
    fn decode(buf: &mut &[u8]) -> Option<Self> {
        Some(DlrrEntry {
            ssrc: take_u32(buf)?,
            last_receiver_report: take_u32(buf)?,
            delay_since_last_receiver_report: take_u32(buf)?,
        })
    }
    fn encoded_len(&self) -> usize {
        12
    }
    fn encode(&self, out: &mut [u8]) -> usize {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4..8].copy_from_slice(&self.last_receiver_report.to_be_bytes());
        out[8..12].copy_from_slice(&self.delay_since_last_receiver_report.to_be_bytes());
        12
    }
}

/// One report block of an XR packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XrBlock<'a> {
    /// Receiver reference time (block type 4): an NTP timestamp.
    ReceiverReferenceTime {
        /// The 64-bit NTP timestamp.
        ntp_timestamp: u64,
    },
    /// DLRR (block type 5).
    Dlrr(List<'a, DlrrEntry>),
    /// Any other block, kept as it is.
    Other {
        /// Block type.
        block_type: u8,
        /// The type-specific byte.
        type_specific: u8,
        /// Block contents (a multiple of 4 bytes).
        data: &'a [u8],
    },
}

impl<'a> WireItem<'a> for XrBlock<'a> {
    fn decode(buf: &mut &'a [u8]) -> Option<Self> {
        let (&[block_type, type_specific], mut rest) = buf.split_first_chunk::<2>()?;
        let words = take_u16(&mut rest)? as usize;
        if rest.len() < 4 * words {
            return None;
        }
        let (data, rest) = rest.split_at(4 * words);
        let block = match block_type {
            4 if words == 2 => XrBlock::ReceiverReferenceTime {
                ntp_timestamp: u64::from_be_bytes(data.try_into().ok()?),
            },
            5 => XrBlock::Dlrr(List::parse_all(data)?),
            _ => XrBlock::Other {
                block_type,
                type_specific,
                data,
            },
        };
        *buf = rest;
        Some(block)
    }
    fn encoded_len(&self) -> usize {
        4 + match self {
            XrBlock::ReceiverReferenceTime { .. } => 8,
            XrBlock::Dlrr(entries) => entries.encoded_len(),
            XrBlock::Other { data, .. } => data.len(),
        }
    }
    fn encode(&self, out: &mut [u8]) -> usize {
        let len = self.encoded_len();
        let (block_type, type_specific) = match self {
            XrBlock::ReceiverReferenceTime { ntp_timestamp } => {
                out[4..12].copy_from_slice(&ntp_timestamp.to_be_bytes());
                (4, 0)
            }
            XrBlock::Dlrr(entries) => {
                entries.encode(&mut out[4..]);
                (5, 0)
            }
            XrBlock::Other {
                block_type,
                type_specific,
                data,
            } => {
                out[4..4 + data.len()].copy_from_slice(data);
                (*block_type, *type_specific)
            }
        };
        out[0] = block_type;
        out[1] = type_specific;
        out[2..4].copy_from_slice(&(((len - 4) / 4) as u16).to_be_bytes());
        len
    }
}

/// An extended report packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedReport<'a> {
    /// The reporter's SSRC.
    pub ssrc: u32,
    /// The report blocks.
    pub blocks: List<'a, XrBlock<'a>>,
}

impl<'a> ExtendedReport<'a> {
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, RtcpError> {
        let mut rest = body;
        let ssrc = take_u32(&mut rest).ok_or(malformed("XR", "no SSRC"))?;
        let blocks = List::parse_all(rest).ok_or(malformed("XR", "report block malformed"))?;
        Ok(ExtendedReport { ssrc, blocks })
    }
}

impl Body for ExtendedReport<'_> {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::XR, 0)
    }
    fn body_len(&self) -> usize {
        4 + self.blocks.encoded_len()
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        for block in &self.blocks {
            let ok = match block {
                XrBlock::Other { data, .. } => data.len() % 4 == 0 && data.len() / 4 <= 0xFFFF,
                XrBlock::Dlrr(entries) => entries.len() * 3 <= 0xFFFF,
                XrBlock::ReceiverReferenceTime { .. } => true,
            };
            if !ok {
                return Err(RtcpError::FieldOverflow("XR block length"));
            }
        }
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        self.blocks.encode(&mut out[4..]);
        Ok(())
    }
}
