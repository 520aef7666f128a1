//! RTP media bookkeeping: the negotiated media sections, which section a received packet belongs
//! to, per-SSRC send and receive statistics, RTCP sender/receiver reports on a schedule, RTCP
//! feedback (PLI, FIR, NACK) in both directions, and retransmissions: NACKed packets are sent
//! again from a bounded history (as RTX, RFC 4588, when negotiated), received RTX is unwrapped
//! into the original stream.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sansrtc_rtp::RtpPacket;
use sansrtc_rtp::builder::{ExtensionsBuilder, RtpPacketBuilder};
use sansrtc_rtp::bwe::BweConfig;
use sansrtc_rtp::extension::{
    AbsSendTime, ExtensionKind, ExtensionMap, ExtensionValue, Mid as MidExtension,
    RepairedRtpStreamId, RtpStreamId, TransportSequence,
};
use sansrtc_rtp::rtcp::{
    CompoundIter, Fir, FirEntry, List, Nack, NackPair, Pli, ReceiverReport, ReportBlock,
    RtcpPacket, SdesChunk, SdesItem, SdesType, SenderReport, SourceDescription,
};
use sansrtc_rtp::seq::SequenceUnwrapper;
use sansrtc_rtp::stats::ReceiveStats;
use sansrtc_rtp::time::{NtpTime, compact_from_duration, round_trip_time};
use sansrtc_sdp::Direction;
use sansrtc_sdp::Mid;
use sansrtc_sdp::jsep::{Codec, JsepSession, MediaKind, Negotiated, SectionKind, SendEncoding};

use crate::bandwidth::{Bandwidth, BandwidthEstimate};
use crate::buffer::{PacketBuf, SharedPacket};
use crate::event::Event;
use crate::rng::PcRng;
use crate::stats::{InboundRtpStats, OutboundRtpStats};
use crate::track::{KeyframeKind, MediaError, RtpReceived, RtpWrite};
use crate::twcc::TwccReceiver;

mod inbound;
mod nack;
mod outbound;
mod reports;

use inbound::Inbound;
use nack::NackRequests;
use outbound::Outbound;

/// A map by SSRC with a cheap multiplicative hash instead of SipHash (a lookup per packet).
/// Every such map is bounded (at most a few hundred entries), so colliding SSRCs a peer picks
/// cost at most a scan of that many.
type SsrcMap<V> = HashMap<u32, V, BuildHasherDefault<SsrcHasher>>;

/// The hasher of [`SsrcMap`].
#[derive(Debug, Default, Clone)]
struct SsrcHasher(u64);

impl Hasher for SsrcHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// A negotiated, accepted media section.
#[derive(Debug, Clone)]
struct Section {
    mid: Mid,
    kind: MediaKind,
    direction: Direction,
    codecs: Vec<Codec>,
    extensions: ExtensionMap,
    send_ssrc: Option<u32>,
    /// Our RTX SSRC (signalled with `a=ssrc-group:FID`) when RTX is negotiated.
    send_rtx_ssrc: Option<u32>,
    send_rids: Vec<Arc<str>>,
    /// The negotiated send layers (`send_rids` with their paused state and restrictions).
    send_encodings: Vec<SendEncoding>,
    /// A codec with `a=rtcp-fb:<pt> nack`: the peer asks for lost packets, so we keep a
    /// history to answer, and we ask for what we lose.
    nack: bool,
    /// A codec with `a=rtcp-fb:<pt> nack pli`.
    pli: bool,
}

impl Section {
    fn sends(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::SendOnly)
    }

    /// The RTX payload type repairing `payload_type` (paired by negotiation).
    fn rtx_for(&self, payload_type: u8) -> Option<u8> {
        self.codecs
            .iter()
            .find(|c| c.payload_type == payload_type)
            .and_then(|c| c.rtx)
    }

    /// The payload type an RTX payload type repairs, when `payload_type` is one.
    fn repaired_by(&self, payload_type: u8) -> Option<u8> {
        self.codecs
            .iter()
            .find(|c| c.payload_type == payload_type)
            .and_then(Codec::apt)
    }

    fn clock_rate(&self, payload_type: u8) -> u32 {
        self.codecs
            .iter()
            .find(|c| c.payload_type == payload_type)
            .map_or(90_000, |c| c.clock_rate.max(1))
    }
}

/// What became of a received RTP packet.
pub(crate) enum Received {
    /// A packet of a stream (an RTX packet arrives as the packet it repairs).
    Rtp(RtpReceived),
    /// An RTX packet carrying no media (padding senders use to probe bandwidth), repairing an
    /// unknown stream, or repeating a packet already received.
    Discarded,
    /// Not an RTP packet.
    Malformed,
}

/// Send and receive state of every media section, and the report schedule.
#[derive(Debug, Clone)]
pub(crate) struct MediaState {
    rng: PcRng,
    interval: Duration,
    next_report: Option<Instant>,
    epoch: Option<Instant>,
    /// Our SSRC for RTCP when we send no media.
    rtcp_ssrc: u32,
    cname: String,
    sections: Vec<Section>,
    /// Remote SSRCs signalled or learned, to their section.
    ssrc_section: SsrcMap<usize>,
    outbound: SsrcMap<Outbound>,
    inbound: SsrcMap<Inbound>,
    /// The peer's RTX SSRCs (`a=ssrc-group:FID`) to the SSRC they repair.
    rtx_media: SsrcMap<u32>,
    /// Packets kept per sending SSRC to answer NACKs (0: NACKs are only reported).
    history_capacity: usize,
    /// Retransmissions (plain RTP) waiting for SRTP and the wire.
    retransmits: VecDeque<Vec<u8>>,
    /// Ask for lost packets of received streams that negotiated `nack`.
    nack_requests: bool,
    /// The latest round-trip time from report blocks (LSR/DLSR).
    rtt: Option<Duration>,
    /// The latest round-trip time of the transport (ICE checks).
    transport_rtt: Option<Duration>,
    /// Arrival times for transport-wide congestion control feedback (made once a packet with
    /// a negotiated transport-wide sequence number arrives).
    twcc: Option<Box<TwccReceiver>>,
    /// Our next transport-wide sequence number.
    twcc_sequence: u16,
    /// NACKed packets not sent again because their stream spent its retransmission budget.
    pub(crate) retransmissions_limited: u64,
    /// The send-side bandwidth estimator, made once a section we send on negotiates
    /// transport-wide congestion control or REMB (boxed: data-only connections pay a pointer).
    bandwidth: Option<Box<Bandwidth>>,
}

/// `elapsed` in RTP clock ticks at `clock_rate` (any rate the peer's SDP names), modulo 2^32
/// as RTP timestamps wrap; never overflows.
fn rtp_ticks(elapsed: Duration, clock_rate: u32) -> u32 {
    (elapsed.as_micros() * u128::from(clock_rate) / 1_000_000) as u32
}

fn random_u32(rng: &mut PcRng) -> u32 {
    let mut b = [0u8; 4];
    rng.fill(&mut b);
    u32::from_le_bytes(b)
}

impl MediaState {
    pub(crate) fn new(mut rng: PcRng, cname: String) -> Self {
        let rtcp_ssrc = random_u32(&mut rng) | 1;
        Self {
            rng,
            interval: Duration::from_secs(1),
            next_report: None,
            epoch: None,
            rtcp_ssrc,
            cname,
            sections: Vec::new(),
            ssrc_section: SsrcMap::default(),
            outbound: SsrcMap::default(),
            inbound: SsrcMap::default(),
            rtx_media: SsrcMap::default(),
            history_capacity: 0,
            retransmits: VecDeque::new(),
            nack_requests: false,
            rtt: None,
            transport_rtt: None,
            twcc: None,
            twcc_sequence: 1,
            retransmissions_limited: 0,
            bandwidth: None,
        }
    }

    /// The next media deadline: a report, or a missing packet to ask for.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let nack = self
            .inbound
            .values()
            .filter_map(|i| i.nack_requests.as_ref()?.next_due)
            .min();
        let twcc = self.twcc.as_ref().and_then(|t| t.next_feedback());
        let paced = self.bandwidth.as_ref().and_then(|b| b.pacer_timeout());
        [self.next_report, nack, twcc, paced]
            .into_iter()
            .flatten()
            .min()
    }

    /// The CNAME written in SDP and SDES.
    pub(crate) fn cname(&self) -> &str {
        &self.cname
    }

    /// Applies a negotiation: the accepted media sections, their codecs, extensions and SSRCs.
    pub(crate) fn configure(&mut self, n: &Negotiated, jsep: &JsepSession, interval: Duration) {
        self.interval = interval;
        self.sections.clear();
        self.ssrc_section.clear();
        self.rtx_media.clear();
        for s in &n.sections {
            let SectionKind::Media(kind) = s.kind else {
                continue;
            };
            if s.rejected {
                continue;
            }
            let mut extensions = ExtensionMap::new();
            for e in &s.header_extensions {
                if let (Some(k), Ok(id)) = (ExtensionKind::from_uri(&e.uri), u8::try_from(e.id)) {
                    extensions.insert(id, k);
                }
            }
            let send_ssrcs = s
                .transceiver
                .and_then(|t| jsep.transceiver(t))
                .and_then(|t| t.send_ssrcs);
            let send_ssrc = send_ssrcs.map(|(media, _rtx)| media);
            let has_rtx = s.codecs.iter().any(Codec::is_rtx);
            let send_rtx_ssrc = send_ssrcs.and_then(|(_, rtx)| rtx).filter(|_| has_rtx);
            let feedback = |parameter: Option<&str>| {
                s.codecs.iter().any(|c| {
                    c.feedback.iter().any(|f| {
                        f.kind.eq_ignore_ascii_case("nack")
                            && match (f.parameter.as_deref(), parameter) {
                                (None, None) => true,
                                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                                _ => false,
                            }
                    })
                })
            };
            let nack = feedback(None);
            let pli = feedback(Some("pli"));
            let index = self.sections.len();
            for &ssrc in &s.remote_ssrcs {
                self.ssrc_section.insert(ssrc, index);
            }
            for &(media, rtx) in &s.remote_rtx_ssrcs {
                self.ssrc_section.insert(media, index);
                self.ssrc_section.insert(rtx, index);
                self.rtx_media.insert(rtx, media);
            }
            self.sections.push(Section {
                mid: s.mid,
                kind,
                direction: s.direction,
                codecs: s.codecs.clone(),
                extensions,
                send_ssrc,
                send_rtx_ssrc,
                send_rids: s
                    .send_encodings
                    .iter()
                    .map(|e| Arc::from(e.rid.as_str()))
                    .collect(),
                send_encodings: s.send_encodings.clone(),
                nack,
                pli,
            });
        }
        // SSRCs keep their streams' statistics; their section is looked up again.
        for (ssrc, o) in &mut self.outbound {
            o.section = self
                .sections
                .iter()
                .position(|s| s.send_ssrc == Some(*ssrc));
            o.template = None;
        }
        for (ssrc, i) in &mut self.inbound {
            i.section = self.ssrc_section.get(ssrc).copied();
        }
        // Layers negotiated paused (`~rid` on either side) are; the others are resumed.
        let layers: Vec<(Mid, Arc<str>, bool)> = self
            .sections
            .iter()
            .flat_map(|s| {
                s.send_rids
                    .iter()
                    .zip(&s.send_encodings)
                    .map(|(rid, e)| (s.mid, rid.clone(), e.paused))
            })
            .collect();
        for (mid, rid, paused) in layers {
            // A layer not sent yet needs no stream to be resumed.
            if paused || self.layer_paused(mid, &rid) {
                let _ = self.set_layer_paused(mid, &rid, paused);
            }
        }
        if self.has_media() && self.epoch.is_some() && self.next_report.is_none() {
            self.next_report = self.epoch.map(|e| e.max(e + self.interval));
        }
    }

    /// Makes the bandwidth estimator (with `config`) once a section we send on negotiated the
    /// transport-wide sequence number extension or `goog-remb` feedback; with `pacing`, it
    /// paces what [`MediaState::build_rtp`] builds.
    pub(crate) fn ensure_bandwidth(
        &mut self,
        config: impl FnOnce() -> Option<BweConfig>,
        pacing: bool,
    ) {
        if self.bandwidth.is_some() {
            return;
        }
        let congestion_control = self.sections.iter().any(|s| {
            s.sends()
                && (s.extensions.id(ExtensionKind::TransportWideCc).is_some()
                    || s.codecs.iter().any(|c| {
                        c.feedback
                            .iter()
                            .any(|f| f.kind.eq_ignore_ascii_case("goog-remb"))
                    }))
        });
        if congestion_control && let Some(b) = config().and_then(|c| Bandwidth::new(c, pacing).ok())
        {
            self.bandwidth = Some(Box::new(b));
        }
    }

    /// Whether written packets go through the pacer.
    pub(crate) fn pacing(&self) -> bool {
        self.bandwidth.as_ref().is_some_and(|b| b.pacing())
    }

    /// Queues a packet [`MediaState::build_rtp`] built on section `mid` for the pacer.
    pub(crate) fn enqueue_paced(
        &mut self,
        now: Instant,
        mid: Mid,
        packet: PacketBuf,
        sequence_at: Option<usize>,
    ) -> Result<(), MediaError> {
        let audio = self.kind(mid) == Some(MediaKind::Audio);
        match &mut self.bandwidth {
            Some(b) => b
                .enqueue(now, audio, packet, sequence_at)
                .map_err(|_| MediaError::PacerFull),
            None => Ok(()),
        }
    }

    /// The next paced packet allowed to leave at `now`, plain, with our next transport-wide
    /// sequence number written into it (recorded for the estimator as sent now).
    pub(crate) fn poll_paced(&mut self, now: Instant) -> Option<PacketBuf> {
        let b = self.bandwidth.as_mut()?;
        let (mut packet, at) = b.poll_paced(now)?;
        if let Some(at) = at
            && let Some(slot) = packet.get_mut(at..at + 2)
        {
            let sequence = self.twcc_sequence;
            self.twcc_sequence = sequence.wrapping_add(1);
            TransportSequence(sequence).encode(slot);
            b.on_sent(now, sequence, packet.len());
        }
        Some(packet)
    }

    /// The current bandwidth estimate, once congestion control is negotiated.
    pub(crate) fn bandwidth_estimate(&self) -> Option<BandwidthEstimate> {
        self.bandwidth.as_ref().map(|b| b.estimate())
    }

    fn has_media(&self) -> bool {
        !self.sections.is_empty()
    }

    /// The mids of the accepted media sections, in order.
    pub(crate) fn mids(&self) -> impl Iterator<Item = Mid> + '_ {
        self.sections.iter().map(|s| s.mid)
    }

    /// The codec negotiated for `payload_type` in section `mid`.
    /// The codecs negotiated on section `mid`, in the answer's order of preference.
    pub(crate) fn codecs(&self, mid: Mid) -> Option<&[Codec]> {
        self.section(mid).map(|s| &s.codecs[..])
    }

    pub(crate) fn codec(&self, mid: Mid, payload_type: u8) -> Option<&Codec> {
        self.section(mid)?
            .codecs
            .iter()
            .find(|c| c.payload_type == payload_type)
    }

    /// Our signalled SSRC on section `mid`.
    pub(crate) fn sending_ssrc(&self, mid: Mid) -> Option<u32> {
        self.section(mid)?.send_ssrc
    }

    /// The media kind of section `mid`.
    pub(crate) fn kind(&self, mid: Mid) -> Option<MediaKind> {
        self.section(mid).map(|s| s.kind)
    }

    fn section(&self, mid: Mid) -> Option<&Section> {
        self.sections.iter().find(|s| s.mid == mid)
    }

    /// The transport is up: the report schedule starts.
    pub(crate) fn start(&mut self, now: Instant) {
        self.epoch = Some(now);
        if self.has_media() {
            self.next_report = Some(now + self.interval);
        }
    }

    /// Our NTP clock: time since the transport came up (sans-IO: there is no wall clock; peers
    /// use it to pair SR with RTP time and for round-trip times, which only needs one origin).
    fn ntp(&self, now: Instant) -> NtpTime {
        NtpTime::from_unix(now.saturating_duration_since(self.epoch.unwrap_or(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_ticks_never_overflow() {
        // A day at the largest clock rate an SDP can name: u64 arithmetic overflowed here.
        let day = Duration::from_secs(86_400);
        let expected = (86_400u128 * u128::from(u32::MAX)) as u32;
        assert_eq!(rtp_ticks(day, u32::MAX), expected);
        assert_eq!(rtp_ticks(Duration::from_millis(20), 48_000), 960);
        assert_eq!(
            rtp_ticks(Duration::MAX, u32::MAX),
            rtp_ticks(Duration::MAX, u32::MAX)
        );
    }
}
