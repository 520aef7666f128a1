//! RTP/AVPF feedback messages (RFC 4585, RFC 5104) and REMB.

use super::list::{List, WireItem, take_u16, take_u32};
use super::{Body, malformed, packet_type};
use crate::error::RtcpError;

/// Reads the sender and media SSRCs every feedback message starts with.
fn ssrcs<'a>(packet: &'static str, body: &'a [u8]) -> Result<(u32, u32, &'a [u8]), RtcpError> {
    let mut rest = body;
    match (take_u32(&mut rest), take_u32(&mut rest)) {
        (Some(sender), Some(media)) => Ok((sender, media, rest)),
        _ => Err(malformed(packet, "shorter than the two SSRCs")),
    }
}

fn write_ssrcs(out: &mut [u8], sender: u32, media: u32) {
    out[0..4].copy_from_slice(&sender.to_be_bytes());
    out[4..8].copy_from_slice(&media.to_be_bytes());
}

/// Parses a feedback message whose FCI is a whole number of `T` entries.
fn parse_list<'a, T: WireItem<'a>>(
    packet: &'static str,
    body: &'a [u8],
) -> Result<(u32, u32, List<'a, T>), RtcpError> {
    let (sender, media, fci) = ssrcs(packet, body)?;
    let list =
        List::parse_all(fci).ok_or(malformed(packet, "FCI not a whole number of entries"))?;
    Ok((sender, media, list))
}

/// Writes a feedback message whose FCI is a list of entries.
fn write_list<'a, T: WireItem<'a>>(out: &mut [u8], sender: u32, media: u32, list: &List<'a, T>) {
    write_ssrcs(out, sender, media);
    list.encode(&mut out[8..]);
}

/// One generic NACK entry: a lost packet id and a bitmask of the 16 following ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NackPair {
    /// The lost packet's sequence number.
    pub packet_id: u16,
    /// Bit i set: `packet_id + i + 1` is lost too.
    pub lost_bitmask: u16,
}

impl NackPair {
    /// The sequence numbers this entry reports lost.
    pub fn lost(&self) -> impl Iterator<Item = u16> + use<> {
        let (pid, mask) = (self.packet_id, self.lost_bitmask);
        core::iter::once(pid).chain(
            (0..16)
                .filter(move |i| mask & (1 << i) != 0)
                .map(move |i| pid.wrapping_add(i + 1)),
        )
    }

    /// Packs sorted lost sequence numbers (in RTP order, wrapping allowed) into NACK entries.
    pub fn from_lost(lost: impl IntoIterator<Item = u16>) -> Vec<NackPair> {
        let mut pairs: Vec<NackPair> = Vec::new();
        for seq in lost {
            if let Some(last) = pairs.last_mut() {
                let offset = seq.wrapping_sub(last.packet_id);
                if offset == 0 {
                    continue;
                }
                if (1..=16).contains(&offset) {
                    last.lost_bitmask |= 1 << (offset - 1);
                    continue;
                }
            }
            pairs.push(NackPair {
                packet_id: seq,
                lost_bitmask: 0,
            });
        }
        pairs
    }
}

impl WireItem<'_> for NackPair {
    fn decode(buf: &mut &[u8]) -> Option<Self> {
        Some(NackPair {
            packet_id: take_u16(buf)?,
            lost_bitmask: take_u16(buf)?,
        })
    }
    fn encoded_len(&self) -> usize {
        4
    }
    fn encode(&self, out: &mut [u8]) -> usize {
        out[0..2].copy_from_slice(&self.packet_id.to_be_bytes());
        out[2..4].copy_from_slice(&self.lost_bitmask.to_be_bytes());
        4
    }
}

/// Generic NACK (RTPFB FMT 1): packets the receiver asks to be retransmitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nack<'a> {
    /// Who sends the feedback.
    pub sender_ssrc: u32,
    /// The media source the lost packets came from.
    pub media_ssrc: u32,
    /// The lost packets.
    pub pairs: List<'a, NackPair>,
}

impl<'a> Nack<'a> {
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, RtcpError> {
        let (sender_ssrc, media_ssrc, pairs) = parse_list("NACK", body)?;
        if pairs.is_empty() {
            return Err(malformed("NACK", "no FCI entry"));
        }
        Ok(Nack {
            sender_ssrc,
            media_ssrc,
            pairs,
        })
    }

    /// Every sequence number reported lost.
    pub fn lost(&self) -> impl Iterator<Item = u16> + 'a {
        self.pairs.iter().flat_map(|p| p.lost())
    }
}

impl Body for Nack<'_> {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::RTPFB, 1)
    }
    fn body_len(&self) -> usize {
        8 + self.pairs.encoded_len()
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        write_list(out, self.sender_ssrc, self.media_ssrc, &self.pairs);
        Ok(())
    }
}

/// One TMMBR/TMMBN entry: a bitrate bound for one media sender (RFC 5104 4.2.1.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TmmbItem {
    /// The media sender the bound applies to.
    pub ssrc: u32,
    /// Exponent (6 bits) of the maximum total media bitrate.
    pub exponent: u8,
    /// Mantissa (17 bits) of the maximum total media bitrate.
    pub mantissa: u32,
    /// Measured per-packet overhead in bytes (9 bits).
    pub overhead: u16,
}

impl TmmbItem {
    /// The bitrate bound in bits per second (saturating).
    pub fn bitrate(&self) -> u64 {
        (self.mantissa as u64)
            .checked_shl(self.exponent as u32)
            .unwrap_or(u64::MAX)
    }

    /// An entry for `bitrate` bits per second, rounded down to what the fields express.
    pub fn with_bitrate(ssrc: u32, bitrate: u64, overhead: u16) -> Self {
        let (exponent, mantissa) = split_bitrate(bitrate, 17);
        TmmbItem {
            ssrc,
            exponent,
            mantissa,
            overhead: overhead & 0x1FF,
        }
    }
}

/// Splits a bitrate into an exponent and a mantissa of `bits` bits (rounding down).
fn split_bitrate(bitrate: u64, bits: u32) -> (u8, u32) {
    let mut exponent = 0u8;
    let mut mantissa = bitrate;
    while mantissa >= 1 << bits {
        mantissa >>= 1;
        exponent += 1;
    }
    (exponent, mantissa as u32)
}

impl WireItem<'_> for TmmbItem {
    fn decode(buf: &mut &[u8]) -> Option<Self> {
        let ssrc = take_u32(buf)?;
        let word = take_u32(buf)?;
        Some(TmmbItem {
            ssrc,
            exponent: (word >> 26) as u8,
            mantissa: (word >> 9) & 0x1_FFFF,
            overhead: (word & 0x1FF) as u16,
        })
    }
    fn encoded_len(&self) -> usize {
        8
    }
    fn encode(&self, out: &mut [u8]) -> usize {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        let word = ((self.exponent as u32 & 0x3F) << 26)
            | ((self.mantissa & 0x1_FFFF) << 9)
            | (self.overhead as u32 & 0x1FF);
        out[4..8].copy_from_slice(&word.to_be_bytes());
        8
    }
}

/// TMMBR (RTPFB FMT 3) or TMMBN (FMT 4): temporary maximum media bitrate request/notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tmmb<'a> {
    /// Who sends the message.
    pub sender_ssrc: u32,
    /// Unused, 0 (RFC 5104).
    pub media_ssrc: u32,
    /// The entries (a TMMBN may have none).
    pub items: List<'a, TmmbItem>,
}

impl<'a> Tmmb<'a> {
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, RtcpError> {
        let (sender_ssrc, media_ssrc, items) = parse_list("TMMBR/TMMBN", body)?;
        Ok(Tmmb {
            sender_ssrc,
            media_ssrc,
            items,
        })
    }

    pub(crate) fn body_len(&self) -> usize {
        8 + self.items.encoded_len()
    }

    pub(crate) fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        write_list(out, self.sender_ssrc, self.media_ssrc, &self.items);
        Ok(())
    }
}

/// Picture loss indication (PSFB FMT 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pli {
    /// Who sends the feedback.
    pub sender_ssrc: u32,
    /// The video source that should send a key frame.
    pub media_ssrc: u32,
}

impl Pli {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, RtcpError> {
        let (sender_ssrc, media_ssrc, _) = ssrcs("PLI", body)?;
        Ok(Pli {
            sender_ssrc,
            media_ssrc,
        })
    }
}

impl Body for Pli {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::PSFB, 1)
    }
    fn body_len(&self) -> usize {
        8
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        write_ssrcs(out, self.sender_ssrc, self.media_ssrc);
        Ok(())
    }
}

/// One lost slice: first macroblock, number of macroblocks, picture id (RFC 4585 6.3.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SliEntry {
    /// First lost macroblock (13 bits).
    pub first: u16,
    /// Number of lost macroblocks (13 bits).
    pub number: u16,
    /// Picture id (6 bits).
    pub picture_id: u8,
}

impl WireItem<'_> for SliEntry {
    fn decode(buf: &mut &[u8]) -> Option<Self> {
        let w = take_u32(buf)?;
        Some(SliEntry {
            first: (w >> 19) as u16,
            number: ((w >> 6) & 0x1FFF) as u16,
            picture_id: (w & 0x3F) as u8,
        })
    }
    fn encoded_len(&self) -> usize {
        4
    }
    fn encode(&self, out: &mut [u8]) -> usize {
        let w = ((self.first as u32 & 0x1FFF) << 19)
            | ((self.number as u32 & 0x1FFF) << 6)
            | (self.picture_id as u32 & 0x3F);
        out[..4].copy_from_slice(&w.to_be_bytes());
        4
    }
}

/// Slice loss indication (PSFB FMT 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sli<'a> {
    /// Who sends the feedback.
    pub sender_ssrc: u32,
    /// The video source.
    pub media_ssrc: u32,
    /// The lost slices.
    pub entries: List<'a, SliEntry>,
}

impl<'a> Sli<'a> {
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, RtcpError> {
        let (sender_ssrc, media_ssrc, entries) = parse_list("SLI", body)?;
        Ok(Sli {
            sender_ssrc,
            media_ssrc,
            entries,
        })
    }
}

impl Body for Sli<'_> {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::PSFB, 2)
    }
    fn body_len(&self) -> usize {
        8 + self.entries.encoded_len()
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        write_list(out, self.sender_ssrc, self.media_ssrc, &self.entries);
        Ok(())
    }
}

/// Reference picture selection indication (PSFB FMT 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rpsi<'a> {
    /// Who sends the feedback.
    pub sender_ssrc: u32,
    /// The video source.
    pub media_ssrc: u32,
    /// Unused bits at the end of `bit_string`.
    pub padding_bits: u8,
    /// RTP payload type the bit string is defined for (7 bits).
    pub payload_type: u8,
    /// The codec-native RPSI bit string, with its padding; `2 + len` must be a multiple of 4.
    pub bit_string: &'a [u8],
}

impl<'a> Rpsi<'a> {
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, RtcpError> {
        let (sender_ssrc, media_ssrc, fci) = ssrcs("RPSI", body)?;
        let [padding_bits, pt, bit_string @ ..] = fci else {
            return Err(malformed("RPSI", "FCI shorter than 2 bytes"));
        };
        if *padding_bits as usize > 8 * bit_string.len() {
            return Err(malformed(
                "RPSI",
                "more padding bits than the bit string has",
            ));
        }
        Ok(Rpsi {
            sender_ssrc,
            media_ssrc,
            padding_bits: *padding_bits,
            payload_type: pt & 0x7F,
            bit_string,
        })
    }
}

impl Body for Rpsi<'_> {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::PSFB, 3)
    }
    fn body_len(&self) -> usize {
        10 + self.bit_string.len()
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        if (2 + self.bit_string.len()) % 4 != 0 || self.payload_type > 127 {
            return Err(RtcpError::FieldOverflow(
                "RPSI FCI not a multiple of 4, or PT above 127",
            ));
        }
        write_ssrcs(out, self.sender_ssrc, self.media_ssrc);
        out[8] = self.padding_bits;
        out[9] = self.payload_type;
        out[10..].copy_from_slice(self.bit_string);
        Ok(())
    }
}

/// One FIR entry: the source to refresh and a command sequence number (RFC 5104 4.3.1.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirEntry {
    /// The media sender asked for a decoder refresh point.
    pub ssrc: u32,
    /// Command sequence number, incremented for each new request.
    pub sequence_number: u8,
}

impl WireItem<'_> for FirEntry {
    fn decode(buf: &mut &[u8]) -> Option<Self> {
        let ssrc = take_u32(buf)?;
        let word = take_u32(buf)?;
        Some(FirEntry {
            ssrc,
            sequence_number: (word >> 24) as u8,
        })
    }
    fn encoded_len(&self) -> usize {
        8
    }
    fn encode(&self, out: &mut [u8]) -> usize {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4] = self.sequence_number;
        out[5..8].fill(0);
        8
    }
}

/// Full intra request (PSFB FMT 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fir<'a> {
    /// Who sends the request.
    pub sender_ssrc: u32,
    /// Unused, 0 (RFC 5104).
    pub media_ssrc: u32,
    /// The sources asked for a key frame.
    pub entries: List<'a, FirEntry>,
}

impl<'a> Fir<'a> {
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, RtcpError> {
        let (sender_ssrc, media_ssrc, entries) = parse_list("FIR", body)?;
        Ok(Fir {
            sender_ssrc,
            media_ssrc,
            entries,
        })
    }
}

impl Body for Fir<'_> {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::PSFB, 4)
    }
    fn body_len(&self) -> usize {
        8 + self.entries.encoded_len()
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        write_list(out, self.sender_ssrc, self.media_ssrc, &self.entries);
        Ok(())
    }
}

/// Receiver estimated maximum bitrate (PSFB FMT 15 with the "REMB" identifier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remb<'a> {
    /// Who sends the estimate.
    pub sender_ssrc: u32,
    /// Unused, 0.
    pub media_ssrc: u32,
    /// Exponent (6 bits) of the estimate.
    pub exponent: u8,
    /// Mantissa (18 bits) of the estimate.
    pub mantissa: u32,
    /// The media sources the estimate applies to (at most 255).
    pub ssrcs: List<'a, u32>,
}

impl<'a> Remb<'a> {
    pub(crate) fn matches(body: &[u8]) -> bool {
        body.get(8..12) == Some(b"REMB")
    }

    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, RtcpError> {
        let (sender_ssrc, media_ssrc, fci) = ssrcs("REMB", body)?;
        let mut rest = fci.get(4..).unwrap_or(&[]);
        let word = take_u32(&mut rest).ok_or(malformed("REMB", "no bitrate"))?;
        let count = (word >> 24) as usize;
        let (ssrcs, _trailing) = List::parse_counted(rest, count)
            .ok_or(malformed("REMB", "SSRC list exceeds the packet"))?;
        Ok(Remb {
            sender_ssrc,
            media_ssrc,
            exponent: ((word >> 18) & 0x3F) as u8,
            mantissa: word & 0x3_FFFF,
            ssrcs,
        })
    }

    /// The estimate in bits per second (saturating).
    pub fn bitrate(&self) -> u64 {
        (self.mantissa as u64)
            .checked_shl(self.exponent as u32)
            .unwrap_or(u64::MAX)
    }

    /// An estimate of `bitrate` bits per second for `ssrcs`, rounded down to what the fields
    /// express.
    pub fn with_bitrate(sender_ssrc: u32, bitrate: u64, ssrcs: List<'a, u32>) -> Self {
        let (exponent, mantissa) = split_bitrate(bitrate, 18);
        Remb {
            sender_ssrc,
            media_ssrc: 0,
            exponent,
            mantissa,
            ssrcs,
        }
    }
}

impl Body for Remb<'_> {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::PSFB, 15)
    }
    fn body_len(&self) -> usize {
        16 + self.ssrcs.encoded_len()
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        if self.ssrcs.len() > 255 || self.exponent > 63 || self.mantissa > 0x3_FFFF {
            return Err(RtcpError::FieldOverflow(
                "REMB SSRC count or bitrate fields",
            ));
        }
        write_ssrcs(out, self.sender_ssrc, self.media_ssrc);
        out[8..12].copy_from_slice(b"REMB");
        let word =
            ((self.ssrcs.len() as u32) << 24) | ((self.exponent as u32) << 18) | self.mantissa;
        out[12..16].copy_from_slice(&word.to_be_bytes());
        self.ssrcs.encode(&mut out[16..]);
        Ok(())
    }
}
