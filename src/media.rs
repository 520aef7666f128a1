//! RTP bookkeeping for RTCP: per-SSRC send counters and receive statistics, and sender/receiver
//! reports generated on a schedule.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sansrtc_rtp::RtpPacket;
use sansrtc_rtp::rtcp::{List, ReceiverReport, ReportBlock, RtcpPacket, SenderReport};
use sansrtc_rtp::stats::ReceiveStats;
use sansrtc_rtp::time::NtpTime;
use sansrtc_sdp::jsep::Negotiated;

use crate::rng::PcRng;

/// Most remote SSRCs tracked (more are counted but not reported).
const MAX_SOURCES: usize = 32;

#[derive(Debug, Clone, Copy, Default)]
struct Sent {
    packets: u32,
    octets: u32,
    rtp_timestamp: u32,
}

/// Send and receive statistics and the report schedule.
#[derive(Debug)]
pub(crate) struct MediaState {
    interval: Duration,
    next: Option<Instant>,
    /// Our SSRC for receiver reports when we send nothing.
    rr_ssrc: u32,
    sent: HashMap<u32, Sent>,
    received: HashMap<u32, ReceiveStats>,
    epoch: Option<Instant>,
    has_media: bool,
}

impl Default for MediaState {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            next: None,
            rr_ssrc: 1,
            sent: HashMap::new(),
            received: HashMap::new(),
            epoch: None,
            has_media: false,
        }
    }
}

impl MediaState {
    /// Applies a negotiation: reports are sent only when media sections exist.
    pub(crate) fn configure(&mut self, n: &Negotiated, rng: &mut PcRng, interval: Duration) {
        self.interval = interval;
        self.has_media = n
            .sections
            .iter()
            .any(|s| matches!(s.kind, sansrtc_sdp::jsep::SectionKind::Media(_)) && !s.rejected);
        let mut b = [0u8; 4];
        rng.fill(&mut b);
        self.rr_ssrc = u32::from_le_bytes(b) | 1;
    }

    /// DTLS is up: the report schedule starts.
    pub(crate) fn start(&mut self, now: Instant) {
        self.epoch = Some(now);
        if self.has_media {
            self.next = Some(now + self.interval);
        }
    }

    /// The next report deadline.
    pub(crate) fn next_report(&self) -> Option<Instant> {
        self.next
    }

    pub(crate) fn on_sent(&mut self, _now: Instant, p: &RtpPacket<'_>) {
        if self.sent.len() >= MAX_SOURCES && !self.sent.contains_key(&p.ssrc()) {
            return;
        }
        let s = self.sent.entry(p.ssrc()).or_default();
        s.packets = s.packets.wrapping_add(1);
        s.octets = s.octets.wrapping_add(p.payload().len() as u32);
        s.rtp_timestamp = p.timestamp();
    }

    pub(crate) fn on_received(&mut self, now: Instant, p: &RtpPacket<'_>) {
        let arrival = self.epoch.map_or(0, |e| {
            (now.saturating_duration_since(e).as_micros() / 11) as u32
        });
        if let Some(s) = self.received.get_mut(&p.ssrc()) {
            s.update(p.sequence_number(), p.timestamp(), arrival);
        } else if self.received.len() < MAX_SOURCES {
            let mut s = ReceiveStats::new(p.sequence_number());
            s.update(p.sequence_number(), p.timestamp(), arrival);
            self.received.insert(p.ssrc(), s);
        }
    }

    /// A compound RTCP packet (SR per sending SSRC, else one RR) when the schedule says so.
    pub(crate) fn poll_reports(&mut self, now: Instant) -> Option<Vec<u8>> {
        let next = self.next?;
        if now < next {
            return None;
        }
        self.next = Some(now + self.interval);
        let blocks: Vec<ReportBlock> = self
            .received
            .iter_mut()
            .take(31)
            .map(|(&ssrc, s)| s.report_block(ssrc, 0, 0))
            .collect();
        // Sans-IO: no wall clock. The NTP field counts from the start of the connection, which is
        // what receivers use it for (pairing SR with RTP time, and LSR for round-trip times).
        let ntp = NtpTime::from_unix(now.saturating_duration_since(self.epoch.unwrap_or(now)));
        let mut out = Vec::new();
        let mut first = true;
        let mut sent: Vec<(u32, Sent)> = self.sent.iter().map(|(&k, &v)| (k, v)).collect();
        sent.sort_by_key(|(k, _)| *k);
        for (ssrc, s) in sent {
            let reports = if first {
                List::from_items(&blocks[..])
            } else {
                List::empty()
            };
            first = false;
            let sr = RtcpPacket::SenderReport(SenderReport {
                ssrc,
                ntp_timestamp: ntp.0,
                rtp_timestamp: s.rtp_timestamp,
                packet_count: s.packets,
                octet_count: s.octets,
                reports,
                profile_extension: &[],
            });
            sr.write_vec(&mut out).ok()?;
        }
        if first {
            let rr = RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: self.rr_ssrc,
                reports: List::from_items(&blocks[..]),
                profile_extension: &[],
            });
            rr.write_vec(&mut out).ok()?;
        }
        Some(out)
    }
}
