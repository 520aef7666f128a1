//! Sender and receiver reports with their report blocks (RFC 3550 6.4).

use super::list::{List, WireItem, take_u32};
use super::{Body, malformed, packet_type};
use crate::error::RtcpError;

/// Reception statistics about one source (RFC 3550 6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source these statistics are about.
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed: duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_sequence: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received (LSR).
    pub last_sender_report: u32,
    /// Delay since that SR, in 1/65536 s (DLSR).
    pub delay_since_last_sender_report: u32,
}

impl WireItem<'_> for ReportBlock {
    fn decode(buf: &mut &[u8]) -> Option<Self> {
        let (b, rest) = buf.split_first_chunk::<24>()?;
        *buf = rest;
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(ReportBlock {
            ssrc: word(0),
            fraction_lost: b[4],
            // sign-extend the 24-bit field
            cumulative_lost: (i32::from_be_bytes([b[5], b[6], b[7], 0])) >> 8,
            extended_highest_sequence: word(8),
            jitter: word(12),
            last_sender_report: word(16),
            delay_since_last_sender_report: word(20),
        })
    }
    fn encoded_len(&self) -> usize {
        24
    }
    fn encode(&self, out: &mut [u8]) -> usize {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4] = self.fraction_lost;
        let lost = self.cumulative_lost.clamp(-(1 << 23), (1 << 23) - 1);
        out[5..8].copy_from_slice(&lost.to_be_bytes()[1..]);
        out[8..12].copy_from_slice(&self.extended_highest_sequence.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.last_sender_report.to_be_bytes());
        out[20..24].copy_from_slice(&self.delay_since_last_sender_report.to_be_bytes());
        24
    }
}

/// A sender report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// Wallclock time of this report as a 64-bit NTP timestamp.
    pub ntp_timestamp: u64,
    /// The same instant in the RTP timestamp clock.
    pub rtp_timestamp: u32,
    /// Packets sent since the start of transmission.
    pub packet_count: u32,
    /// Payload octets sent since the start of transmission.
    pub octet_count: u32,
    /// Reception report blocks (at most 31).
    pub reports: List<'a, ReportBlock>,
    /// Profile-specific extension bytes after the blocks (a multiple of 4 to write).
    pub profile_extension: &'a [u8],
}

impl<'a> SenderReport<'a> {
    pub(crate) fn parse(count: u8, body: &'a [u8]) -> Result<Self, RtcpError> {
        let mut rest = body;
        let (Some(ssrc), Some(ntp_hi), Some(ntp_lo), Some(rtp), Some(packets), Some(octets)) = (
            take_u32(&mut rest),
            take_u32(&mut rest),
            take_u32(&mut rest),
            take_u32(&mut rest),
            take_u32(&mut rest),
            take_u32(&mut rest),
        ) else {
            return Err(malformed("SR", "shorter than the sender info"));
        };
        let (reports, profile_extension) = List::parse_counted(rest, count as usize)
            .ok_or(malformed("SR", "report blocks exceed the packet"))?;
        Ok(SenderReport {
            ssrc,
            ntp_timestamp: ((ntp_hi as u64) << 32) | ntp_lo as u64,
            rtp_timestamp: rtp,
            packet_count: packets,
            octet_count: octets,
            reports,
            profile_extension,
        })
    }
}

impl Body for SenderReport<'_> {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::SR, self.reports.len())
    }
    fn body_len(&self) -> usize {
        24 + self.reports.encoded_len() + self.profile_extension.len()
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4..12].copy_from_slice(&self.ntp_timestamp.to_be_bytes());
        out[12..16].copy_from_slice(&self.rtp_timestamp.to_be_bytes());
        out[16..20].copy_from_slice(&self.packet_count.to_be_bytes());
        out[20..24].copy_from_slice(&self.octet_count.to_be_bytes());
        let at = 24 + self.reports.encode(&mut out[24..]);
        out[at..].copy_from_slice(self.profile_extension);
        Ok(())
    }
}

/// A receiver report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    /// The reporter's SSRC.
    pub ssrc: u32,
    /// Reception report blocks (at most 31).
    pub reports: List<'a, ReportBlock>,
    /// Profile-specific extension bytes after the blocks (a multiple of 4 to write).
    pub profile_extension: &'a [u8],
}

impl<'a> ReceiverReport<'a> {
    pub(crate) fn parse(count: u8, body: &'a [u8]) -> Result<Self, RtcpError> {
        let mut rest = body;
        let ssrc = take_u32(&mut rest).ok_or(malformed("RR", "no SSRC"))?;
        let (reports, profile_extension) = List::parse_counted(rest, count as usize)
            .ok_or(malformed("RR", "report blocks exceed the packet"))?;
        Ok(ReceiverReport {
            ssrc,
            reports,
            profile_extension,
        })
    }
}

impl Body for ReceiverReport<'_> {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::RR, self.reports.len())
    }
    fn body_len(&self) -> usize {
        4 + self.reports.encoded_len() + self.profile_extension.len()
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        let at = 4 + self.reports.encode(&mut out[4..]);
        out[at..].copy_from_slice(self.profile_extension);
        Ok(())
    }
}
