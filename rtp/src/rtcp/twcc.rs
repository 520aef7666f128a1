//! Transport-wide congestion control feedback (RTPFB FMT 15,
//! draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1): run-length, one-bit and
//! two-bit status chunks, and receive deltas.

use super::list::{List, ListIter, WireItem, take_u16, take_u32};
use super::{Body, malformed, packet_type, pad4};
use crate::error::RtcpError;

/// What happened to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketStatus {
    /// Not received.
    NotReceived,
    /// Received, delta fits in one unsigned byte (0..=63.75 ms).
    SmallDelta,
    /// Received, delta needs two signed bytes (large or negative).
    LargeDelta,
    /// The reserved symbol 3.
    Reserved,
}

impl PacketStatus {
    fn from_bits(bits: u16) -> Self {
        match bits & 3 {
            0 => PacketStatus::NotReceived,
            1 => PacketStatus::SmallDelta,
            2 => PacketStatus::LargeDelta,
            _ => PacketStatus::Reserved,
        }
    }

    fn bits(self) -> u16 {
        match self {
            PacketStatus::NotReceived => 0,
            PacketStatus::SmallDelta => 1,
            PacketStatus::LargeDelta => 2,
            PacketStatus::Reserved => 3,
        }
    }

    fn delta_len(self) -> usize {
        match self {
            PacketStatus::SmallDelta => 1,
            PacketStatus::LargeDelta => 2,
            _ => 0,
        }
    }
}

/// A 16-bit packet status chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketChunk(pub u16);

impl PacketChunk {
    /// A run of `length` (at most 8191) packets with the same status.
    pub fn run_length(status: PacketStatus, length: u16) -> Self {
        PacketChunk((status.bits() << 13) | (length & 0x1FFF))
    }

    /// A status vector of up to 14 one-bit symbols (not received / small delta).
    pub fn one_bit(statuses: &[PacketStatus]) -> Self {
        let bits = statuses
            .iter()
            .take(14)
            .enumerate()
            .fold(0u16, |acc, (i, s)| {
                acc | (u16::from(*s != PacketStatus::NotReceived) << (13 - i))
            });
        PacketChunk(0x8000 | bits)
    }

    /// A status vector of up to 7 two-bit symbols.
    pub fn two_bit(statuses: &[PacketStatus]) -> Self {
        let bits = statuses
            .iter()
            .take(7)
            .enumerate()
            .fold(0u16, |acc, (i, s)| acc | (s.bits() << (12 - 2 * i)));
        PacketChunk(0xC000 | bits)
    }

    /// How many packet statuses the chunk holds.
    pub fn capacity(self) -> usize {
        match self.0 >> 14 {
            0 | 1 => (self.0 & 0x1FFF) as usize,
            2 => 14,
            _ => 7,
        }
    }

    /// The `i`th status (`i < capacity`).
    pub fn status(self, i: usize) -> PacketStatus {
        match self.0 >> 14 {
            0 | 1 => PacketStatus::from_bits(self.0 >> 13),
            2 => PacketStatus::from_bits((self.0 >> (13 - i)) & 1),
            _ => PacketStatus::from_bits(self.0 >> (12 - 2 * i)),
        }
    }
}

impl WireItem<'_> for PacketChunk {
    fn decode(buf: &mut &[u8]) -> Option<Self> {
        take_u16(buf).map(PacketChunk)
    }
    fn encoded_len(&self) -> usize {
        2
    }
    fn encode(&self, out: &mut [u8]) -> usize {
        out[..2].copy_from_slice(&self.0.to_be_bytes());
        2
    }
}

/// A transport-wide feedback message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportCc<'a> {
    /// Who sends the feedback.
    pub sender_ssrc: u32,
    /// The media source (unused by the algorithm; often the first media SSRC).
    pub media_ssrc: u32,
    /// Transport-wide sequence number of the first packet described.
    pub base_sequence: u16,
    /// Number of packets described.
    pub status_count: u16,
    /// Reference time in multiples of 64 ms (24 bits).
    pub reference_time: u32,
    /// Feedback packet counter (wraps).
    pub feedback_count: u8,
    /// The status chunks.
    pub chunks: List<'a, PacketChunk>,
    /// The receive deltas, one or two bytes per received packet, in chunk order.
    pub deltas: &'a [u8],
}

/// One packet's feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwccPacket {
    /// Its transport-wide sequence number.
    pub sequence: u16,
    /// Its status.
    pub status: PacketStatus,
    /// Its arrival delta from the previous packet (or the reference time) in 250 us units.
    pub delta: Option<i32>,
}

impl<'a> TransportCc<'a> {
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, RtcpError> {
        const WHAT: &str = "transport-cc";
        let mut rest = body;
        let (
            Some(sender_ssrc),
            Some(media_ssrc),
            Some(base_sequence),
            Some(status_count),
            Some(tail),
        ) = (
            take_u32(&mut rest),
            take_u32(&mut rest),
            take_u16(&mut rest),
            take_u16(&mut rest),
            take_u32(&mut rest),
        )
        else {
            return Err(malformed(WHAT, "shorter than its fixed fields"));
        };
        let chunk_bytes = rest;
        let mut covered = 0usize;
        let mut delta_bytes = 0usize;
        let mut chunk_count = 0;
        while covered < status_count as usize {
            let chunk = PacketChunk::decode(&mut rest)
                .ok_or(malformed(WHAT, "status chunks end before the status count"))?;
            chunk_count += 1;
            let take = chunk.capacity().min(status_count as usize - covered);
            if chunk.0 >> 14 < 2 {
                let status = chunk.status(0);
                if status == PacketStatus::Reserved && take > 0 {
                    return Err(malformed(WHAT, "reserved status symbol"));
                }
                delta_bytes += status.delta_len() * take;
            } else {
                for i in 0..take {
                    let status = chunk.status(i);
                    if status == PacketStatus::Reserved {
                        return Err(malformed(WHAT, "reserved status symbol"));
                    }
                    delta_bytes += status.delta_len();
                }
            }
            covered += take;
        }
        let deltas = rest
            .get(..delta_bytes)
            .ok_or(malformed(WHAT, "receive deltas truncated"))?;
        let (chunks, _) = List::parse_counted(chunk_bytes, chunk_count)
            .ok_or(malformed(WHAT, "status chunks end before the status count"))?;
        Ok(TransportCc {
            sender_ssrc,
            media_ssrc,
            base_sequence,
            status_count,
            reference_time: tail >> 8,
            feedback_count: tail as u8,
            chunks,
            deltas,
        })
    }

    /// The packets described, in sequence order, with their deltas.
    pub fn packets(&self) -> TwccPackets<'a> {
        TwccPackets {
            chunks: self.chunks.iter(),
            chunk: None,
            index: 0,
            remaining: self.status_count as usize,
            sequence: self.base_sequence,
            deltas: self.deltas,
        }
    }
}

impl Body for TransportCc<'_> {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::RTPFB, 15)
    }
    fn body_len(&self) -> usize {
        let len = 16 + self.chunks.encoded_len() + self.deltas.len();
        len + pad4(len)
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        if self.reference_time > 0x00FF_FFFF {
            return Err(RtcpError::FieldOverflow(
                "transport-cc reference time over 24 bits",
            ));
        }
        out[0..4].copy_from_slice(&self.sender_ssrc.to_be_bytes());
        out[4..8].copy_from_slice(&self.media_ssrc.to_be_bytes());
        out[8..10].copy_from_slice(&self.base_sequence.to_be_bytes());
        out[10..12].copy_from_slice(&self.status_count.to_be_bytes());
        out[12..16].copy_from_slice(
            &((self.reference_time << 8) | self.feedback_count as u32).to_be_bytes(),
        );
        let at = 16 + self.chunks.encode(&mut out[16..]);
        out[at..at + self.deltas.len()].copy_from_slice(self.deltas);
        out[at + self.deltas.len()..].fill(0);
        Ok(())
    }
}

/// Iterator over the packets of a [`TransportCc`].
#[derive(Clone)]
pub struct TwccPackets<'a> {
    chunks: ListIter<'a, PacketChunk>,
    chunk: Option<PacketChunk>,
    index: usize,
    remaining: usize,
    sequence: u16,
    deltas: &'a [u8],
}

impl Iterator for TwccPackets<'_> {
    type Item = TwccPacket;

    fn next(&mut self) -> Option<TwccPacket> {
        if self.remaining == 0 {
            return None;
        }
        let chunk = loop {
            match self.chunk {
                Some(c) if self.index < c.capacity() => break c,
                _ => {
                    self.chunk = Some(self.chunks.next()?);
                    self.index = 0;
                }
            }
        };
        let status = chunk.status(self.index);
        self.index += 1;
        self.remaining -= 1;
        let delta = match status {
            PacketStatus::SmallDelta => {
                let (&d, rest) = self.deltas.split_first()?;
                self.deltas = rest;
                Some(d as i32)
            }
            PacketStatus::LargeDelta => Some(take_u16(&mut self.deltas)? as i16 as i32),
            _ => None,
        };
        let sequence = self.sequence;
        self.sequence = sequence.wrapping_add(1);
        Some(TwccPacket {
            sequence,
            status,
            delta,
        })
    }
}

/// Builds a [`TransportCc`] from per-packet results, choosing compact chunks.
#[derive(Debug, Clone, Default)]
pub struct TransportCcBuilder {
    statuses: Vec<PacketStatus>,
    deltas: Vec<u8>,
}

impl TransportCcBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the builder, keeping its storage (to build the next message without
    /// allocating).
    pub fn clear(&mut self) {
        self.statuses.clear();
        self.deltas.clear();
    }

    /// The next packet in sequence was not received.
    pub fn lost(&mut self) -> &mut Self {
        self.statuses.push(PacketStatus::NotReceived);
        self
    }

    /// The next packet in sequence arrived `delta` (250 us units) after the previous one.
    pub fn received(&mut self, delta: i32) -> Result<&mut Self, RtcpError> {
        if (0..=255).contains(&delta) {
            self.statuses.push(PacketStatus::SmallDelta);
            self.deltas.push(delta as u8);
        } else if let Ok(d) = i16::try_from(delta) {
            self.statuses.push(PacketStatus::LargeDelta);
            self.deltas.extend_from_slice(&d.to_be_bytes());
        } else {
            return Err(RtcpError::FieldOverflow(
                "transport-cc delta beyond 16 bits",
            ));
        }
        Ok(self)
    }

    /// Encodes the chunks into `chunks` and returns the message, borrowing them and the deltas.
    #[allow(clippy::too_many_arguments)]
    pub fn build<'b>(
        &'b self,
        chunks: &'b mut Vec<PacketChunk>,
        sender_ssrc: u32,
        media_ssrc: u32,
        base_sequence: u16,
        reference_time: u32,
        feedback_count: u8,
    ) -> Result<TransportCc<'b>, RtcpError> {
        let status_count = u16::try_from(self.statuses.len())
            .map_err(|_| RtcpError::FieldOverflow("more than 65535 packets"))?;
        chunks.clear();
        let mut rest = &self.statuses[..];
        while let Some(&first) = rest.first() {
            let run = rest
                .iter()
                .take(0x1FFF)
                .take_while(|&&s| s == first)
                .count();
            if run >= 14 || run == rest.len() {
                chunks.push(PacketChunk::run_length(first, run as u16));
                rest = &rest[run..];
            } else if rest.iter().take(14).all(|&s| s != PacketStatus::LargeDelta) {
                let n = rest.len().min(14);
                chunks.push(PacketChunk::one_bit(&rest[..n]));
                rest = &rest[n..];
            } else {
                let n = rest.len().min(7);
                chunks.push(PacketChunk::two_bit(&rest[..n]));
                rest = &rest[n..];
            }
        }
        Ok(TransportCc {
            sender_ssrc,
            media_ssrc,
            base_sequence,
            status_count,
            reference_time,
            feedback_count,
            chunks: List::from_items(chunks),
            deltas: &self.deltas,
        })
    }
}
