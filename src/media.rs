//! RTP media bookkeeping: the negotiated media sections, which section a received packet belongs
//! to, per-SSRC send and receive statistics, RTCP sender/receiver reports on a schedule, RTCP
//! feedback (PLI, FIR, NACK) in both directions, and retransmissions: NACKed packets are sent
//! again from a bounded history (as RTX, RFC 4588, when negotiated), received RTX is unwrapped
//! into the original stream.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sansrtc_rtp::RtpPacket;
use sansrtc_rtp::builder::{ExtensionsBuilder, RtpPacketBuilder};
use sansrtc_rtp::extension::{
    AbsSendTime, ExtensionKind, ExtensionMap, Mid as MidExtension, RepairedRtpStreamId,
    RtpStreamId, TransportSequence,
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
use sansrtc_sdp::jsep::{Codec, JsepSession, MediaKind, Negotiated, SectionKind};

use crate::buffer::PacketBuf;
use crate::event::Event;
use crate::rng::PcRng;
use crate::stats::{InboundRtpStats, OutboundRtpStats};
use crate::track::{KeyframeKind, MediaError, RtpReceived, RtpWrite};
use crate::twcc::TwccReceiver;

/// Most remote SSRCs tracked (packets of more are delivered but not reported on).
const MAX_INBOUND: usize = 64;
/// Most local SSRCs tracked.
const MAX_OUTBOUND: usize = 64;
/// Report blocks in one SR/RR (RFC 3550: the count field has 5 bits).
const MAX_BLOCKS: usize = 31;
/// Most retransmissions waiting to be sent (one NACK can name thousands of packets).
const MAX_RETRANSMITS: usize = 256;
/// A packet is not sent again sooner than this after its last retransmission when the
/// round-trip time is unknown (with it known, half a round trip).
const DEFAULT_RESEND_GAP: Duration = Duration::from_millis(10);
/// A missing packet is asked for this long after the gap showed (a reordered packet usually
/// arrives meanwhile).
const NACK_REORDER_WAIT: Duration = Duration::from_millis(5);
/// Between two NACKs of one packet when no round-trip time is known.
const NACK_DEFAULT_RTT: Duration = Duration::from_millis(100);
/// Between two NACKs of one packet at least (a round-trip time measured on a quieter path
/// than the current one must not spend every retry before the first answer can arrive).
const NACK_MIN_INTERVAL: Duration = Duration::from_millis(20);
/// NACKs per missing packet before giving up on it.
const NACK_MAX_TIMES: u8 = 10;
/// Missing packets remembered per stream; a larger gap asks for a key frame instead.
const NACK_MAX_MISSING: usize = 500;
/// Between two key frame requests of one stream after large gaps, at least (a sender that
/// keeps jumping cannot make us send one per packet).
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(300);
/// Sequence numbers in one NACK packet.
const NACK_MAX_PER_PACKET: usize = 200;
/// A packet is not sent again sooner than this after its last retransmission, whatever
/// round-trip time the peer's reports claim.
const MIN_RESEND_GAP: Duration = Duration::from_millis(5);
/// The window over which retransmissions are held to the stream's own send rate.
const RETRANSMIT_WINDOW: Duration = Duration::from_secs(1);
/// Bytes a stream may send again per window however little it sends (a slow stream can still
/// repair a few losses).
const RETRANSMIT_FLOOR_BYTES: u64 = 16 * 1024;

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

/// What we know of an SSRC we send.
#[derive(Debug, Clone)]
struct Outbound {
    section: Option<usize>,
    rid: Option<Arc<str>>,
    next_sequence: u16,
    packets: u64,
    octets: u64,
    rtp_timestamp: u32,
    clock_rate: u32,
    last_sent: Option<Instant>,
    nacks: u64,
    plis: u64,
    firs: u64,
    remote: Option<ReportBlock>,
    rtt: Option<Duration>,
    /// What we sent, to answer NACKs (only for sections that negotiated `nack`).
    history: Option<Box<History>>,
    /// Next sequence number of our RTX stream for this SSRC.
    rtx_sequence: u16,
    retransmitted_packets: u64,
    retransmitted_bytes: u64,
}

/// The last packets sent on one SSRC, plain, in sending order; the buffers are reused once
/// the history is full, so keeping it allocates nothing in steady state.
#[derive(Debug, Default, Clone)]
struct History {
    slots: VecDeque<SentPacket>,
    budget: RetransmitBudget,
}

/// Holds the bytes one SSRC sends again to its own send rate, as libwebrtc's retransmission
/// rate limiter does: per [`RETRANSMIT_WINDOW`], no more than the larger of the media bytes
/// sent in this window and the last one (at least [`RETRANSMIT_FLOOR_BYTES`]). A peer that
/// NACKs everything, as often as it likes, at most doubles what we send.
#[derive(Debug, Default, Clone)]
struct RetransmitBudget {
    window_start: Option<Instant>,
    media_previous: u64,
    media_current: u64,
    resent_current: u64,
}

impl RetransmitBudget {
    fn roll(&mut self, now: Instant) {
        let Some(start) = self.window_start else {
            self.window_start = Some(now);
            return;
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed < RETRANSMIT_WINDOW {
            return;
        }
        self.media_previous = if elapsed < 2 * RETRANSMIT_WINDOW {
            self.media_current
        } else {
            0
        };
        self.media_current = 0;
        self.resent_current = 0;
        self.window_start = Some(now);
    }

    fn on_media(&mut self, now: Instant, bytes: usize) {
        self.roll(now);
        self.media_current += bytes as u64;
    }

    /// Whether `bytes` more may be sent again now (and counts them if so).
    fn spend(&mut self, now: Instant, bytes: usize) -> bool {
        self.roll(now);
        let allowed = self
            .media_previous
            .max(self.media_current)
            .max(RETRANSMIT_FLOOR_BYTES);
        if self.resent_current + bytes as u64 > allowed {
            return false;
        }
        self.resent_current += bytes as u64;
        true
    }
}

#[derive(Debug, Clone)]
struct SentPacket {
    sequence: u16,
    /// When it was last sent again.
    resent: Option<Instant>,
    packet: Vec<u8>,
}

impl History {
    fn push(&mut self, capacity: usize, sequence: u16, packet: &[u8]) {
        let mut slot = if self.slots.len() >= capacity {
            match self.slots.pop_front() {
                Some(s) => s,
                None => return,
            }
        } else {
            SentPacket {
                sequence,
                resent: None,
                packet: Vec::with_capacity(packet.len()),
            }
        };
        slot.sequence = sequence;
        slot.resent = None;
        slot.packet.clear();
        slot.packet.extend_from_slice(packet);
        self.slots.push_back(slot);
    }

    /// The packet with `sequence`: where consecutive numbering puts it, else searched from the
    /// newest (the application may send with gaps).
    fn get_mut(slots: &mut VecDeque<SentPacket>, sequence: u16) -> Option<&mut SentPacket> {
        let front = slots.front()?.sequence;
        let guess = usize::from(sequence.wrapping_sub(front));
        if slots.get(guess).is_some_and(|s| s.sequence == sequence) {
            return slots.get_mut(guess);
        }
        slots.iter_mut().rev().find(|s| s.sequence == sequence)
    }
}

/// What we know of an SSRC we receive.
#[derive(Debug, Clone)]
struct Inbound {
    section: Option<usize>,
    rid: Option<Arc<str>>,
    stats: ReceiveStats,
    sequence: SequenceUnwrapper,
    packets: u64,
    octets: u64,
    clock_rate: u32,
    /// Compact NTP time of the last SR and when it arrived.
    last_sr: Option<(u32, Instant)>,
    nacks: u64,
    plis: u64,
    firs: u64,
    fir_sequence: u8,
    retransmitted_packets: u64,
    retransmitted_bytes: u64,
    /// Lost packets to ask for (sections that negotiated `nack`, when asking is on).
    nack_requests: Option<Box<NackRequests>>,
    /// Which of the last packets arrived (RTX repeating one of them is dropped).
    received: ReceivedWindow,
}

/// The packets missing from a received stream and when each was last asked for (the NACK
/// side of RFC 4585): a gap's packets are asked for after [`NACK_REORDER_WAIT`], then again
/// every round trip, at most [`NACK_MAX_TIMES`] times; an arrival (late, or as RTX) ends it.
#[derive(Debug, Default, Clone)]
struct NackRequests {
    highest: Option<u64>,
    missing: BTreeMap<u64, Missing>,
    /// The earliest time a missing packet is due.
    next_due: Option<Instant>,
    /// When a key frame is to be asked for (a gap larger than [`NACK_MAX_MISSING`] happened),
    /// not sooner than [`KEYFRAME_REQUEST_INTERVAL`] after the last request.
    keyframe_needed: Option<Instant>,
    /// The last key frame request.
    keyframe_requested: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    since: Instant,
    asked: Option<Instant>,
    times: u8,
}

impl Missing {
    fn due(&self, rtt: Duration) -> Instant {
        self.asked
            .map_or(self.since + NACK_REORDER_WAIT, |t| t + rtt)
    }
}

impl NackRequests {
    /// A packet with extended sequence number `extended` arrived.
    fn on_packet(&mut self, now: Instant, extended: u64, rtt: Duration) {
        let Some(highest) = self.highest else {
            self.highest = Some(extended);
            return;
        };
        if extended <= highest {
            if self.missing.remove(&extended).is_some() {
                self.update_next_due(rtt);
            }
            return;
        }
        let gap = extended - highest - 1;
        self.highest = Some(extended);
        if gap == 0 {
            return; // in order: nothing new is missing
        }
        if gap as usize > NACK_MAX_MISSING {
            self.missing.clear();
            let earliest = self
                .keyframe_requested
                .map_or(now, |t| now.max(t + KEYFRAME_REQUEST_INTERVAL));
            self.keyframe_needed = Some(self.keyframe_needed.map_or(earliest, |t| t.min(earliest)));
        } else {
            for seq in highest + 1..extended {
                self.missing.insert(
                    seq,
                    Missing {
                        since: now,
                        asked: None,
                        times: 0,
                    },
                );
            }
            while self.missing.len() > NACK_MAX_MISSING {
                self.missing.pop_first();
            }
        }
        self.update_next_due(rtt);
    }

    /// The missing packets due to be asked for at `now` (at most one NACK's worth), marked
    /// as asked (packets asked for too often are given up), and whether a key frame request
    /// is due.
    fn due(&mut self, now: Instant, rtt: Duration) -> (Vec<u16>, bool) {
        let mut due = Vec::new();
        if self.next_due.is_none_or(|t| now < t) {
            return (due, false);
        }
        let keyframe = self.keyframe_needed.is_some_and(|t| t <= now);
        if keyframe {
            self.keyframe_needed = None;
            self.keyframe_requested = Some(now);
        }
        self.missing.retain(|&seq, m| {
            if due.len() >= NACK_MAX_PER_PACKET || now < m.due(rtt) {
                return true;
            }
            if m.times >= NACK_MAX_TIMES {
                return false;
            }
            m.asked = Some(now);
            m.times += 1;
            due.push(seq as u16);
            true
        });
        self.update_next_due(rtt);
        (due, keyframe)
    }

    fn update_next_due(&mut self, rtt: Duration) {
        let missing = self.missing.values().map(|m| m.due(rtt)).min();
        self.next_due = match (missing, self.keyframe_needed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The extended sequence numbers received among the last [`ReceivedWindow::SIZE`].
#[derive(Debug, Default, Clone)]
struct ReceivedWindow {
    highest: Option<u64>,
    /// Bit `n % SIZE` is set when packet `n` (within the window) arrived.
    bits: [u64; ReceivedWindow::SIZE / 64],
}

impl ReceivedWindow {
    const SIZE: usize = 1024;

    /// Records `extended`; false when it was there already or is older than the window.
    fn insert(&mut self, extended: u64) -> bool {
        let size = Self::SIZE as u64;
        let highest = match self.highest {
            None => {
                self.highest = Some(extended);
                self.set(extended);
                return true;
            }
            Some(h) => h,
        };
        if extended > highest {
            if extended - highest >= size {
                self.bits = [0; Self::SIZE / 64];
            } else {
                // Clear the slots the window moves over.
                for n in highest + 1..extended {
                    self.clear(n);
                }
            }
            self.highest = Some(extended);
            self.set(extended);
            return true;
        }
        if highest - extended >= size || self.get(extended) {
            return false;
        }
        self.set(extended);
        true
    }

    fn slot(n: u64) -> (usize, u64) {
        let i = (n % Self::SIZE as u64) as usize;
        (i / 64, 1 << (i % 64))
    }

    fn set(&mut self, n: u64) {
        let (w, b) = Self::slot(n);
        self.bits[w] |= b;
    }

    fn clear(&mut self, n: u64) {
        let (w, b) = Self::slot(n);
        self.bits[w] &= !b;
    }

    fn get(&self, n: u64) -> bool {
        let (w, b) = Self::slot(n);
        self.bits[w] & b != 0
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
    ssrc_section: HashMap<u32, usize>,
    outbound: HashMap<u32, Outbound>,
    inbound: HashMap<u32, Inbound>,
    /// The peer's RTX SSRCs (`a=ssrc-group:FID`) to the SSRC they repair.
    rtx_media: HashMap<u32, u32>,
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
            ssrc_section: HashMap::new(),
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            rtx_media: HashMap::new(),
            history_capacity: 0,
            retransmits: VecDeque::new(),
            nack_requests: false,
            rtt: None,
            transport_rtt: None,
            twcc: None,
            twcc_sequence: 1,
            retransmissions_limited: 0,
        }
    }

    /// Whether lost packets of received streams that negotiated `nack` are asked for.
    pub(crate) fn set_nack_requests(&mut self, on: bool) {
        self.nack_requests = on;
        if !on {
            for i in self.inbound.values_mut() {
                i.nack_requests = None;
            }
        }
    }

    /// The transport's round-trip time (ICE), used when report blocks give none (a peer that
    /// only receives never gets one).
    pub(crate) fn set_transport_rtt(&mut self, rtt: Duration) {
        self.transport_rtt = Some(rtt);
    }

    /// Between two NACKs of one packet: a round trip, at least [`NACK_MIN_INTERVAL`].
    fn nack_rtt(&self) -> Duration {
        self.rtt
            .or(self.transport_rtt)
            .unwrap_or(NACK_DEFAULT_RTT)
            .max(NACK_MIN_INTERVAL)
    }

    /// The next media deadline: a report, or a missing packet to ask for.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let nack = self
            .inbound
            .values()
            .filter_map(|i| i.nack_requests.as_ref()?.next_due)
            .min();
        let twcc = self.twcc.as_ref().and_then(|t| t.next_feedback());
        [self.next_report, nack, twcc].into_iter().flatten().min()
    }

    /// NACKs (and key frame requests after gaps too large to NACK) due at `now`, as compound
    /// RTCP packets.
    pub(crate) fn poll_feedback(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let rtt = self.nack_rtt();
        let sections = &self.sections;
        let mut due = Vec::new();
        for (&ssrc, i) in &mut self.inbound {
            let Some(n) = &mut i.nack_requests else {
                continue;
            };
            let (lost, keyframe) = n.due(now, rtt);
            // The key frame request is a PLI: only where `nack pli` was negotiated.
            let keyframe = keyframe && i.section.is_some_and(|s| sections[s].pli);
            if !lost.is_empty() || keyframe {
                due.push((ssrc, lost, keyframe));
            }
        }
        due.sort_by_key(|(ssrc, _, _)| *ssrc);
        let mut out = Vec::new();
        if let Some(twcc) = &mut self.twcc {
            let feedback = twcc.poll(now);
            let media_ssrc = twcc.media_ssrc();
            let mut chunks = std::mem::take(&mut twcc.chunks);
            let sender = self.feedback_sender(media_ssrc);
            for f in &feedback {
                let mut packet = Vec::with_capacity(128);
                if self.compound_head(sender, &mut packet).is_ok()
                    && f.write(sender, media_ssrc, &mut chunks, &mut packet)
                        .is_ok()
                {
                    out.push(packet);
                }
            }
            if let Some(twcc) = &mut self.twcc {
                twcc.chunks = chunks;
                for f in feedback {
                    twcc.recycle(f);
                }
            }
        }
        for (ssrc, lost, keyframe) in due {
            if !lost.is_empty()
                && let Ok(p) = self.nack(ssrc, &lost)
            {
                out.push(p);
            }
            if keyframe && let Ok(p) = self.keyframe_request(ssrc, KeyframeKind::Pli) {
                out.push(p);
            }
        }
        out
    }

    /// Packets kept per sending SSRC to answer NACKs (0 turns retransmission off).
    pub(crate) fn set_history_capacity(&mut self, packets: usize) {
        self.history_capacity = packets;
        if packets == 0 {
            for o in self.outbound.values_mut() {
                o.history = None;
            }
        }
    }

    /// The next retransmission to protect and send.
    pub(crate) fn poll_retransmit(&mut self) -> Option<Vec<u8>> {
        self.retransmits.pop_front()
    }

    /// A fresh random SSRC none of our streams uses.
    pub(crate) fn new_ssrc(&mut self) -> u32 {
        loop {
            let s = random_u32(&mut self.rng);
            if s != 0 && s != self.rtcp_ssrc && !self.outbound.contains_key(&s) {
                return s;
            }
        }
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
                send_rids: s.send_rids.iter().map(|r| Arc::from(r.as_str())).collect(),
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
        }
        for (ssrc, i) in &mut self.inbound {
            i.section = self.ssrc_section.get(ssrc).copied();
        }
        if self.has_media() && self.epoch.is_some() && self.next_report.is_none() {
            self.next_report = self.epoch.map(|e| e.max(e + self.interval));
        }
    }

    fn has_media(&self) -> bool {
        !self.sections.is_empty()
    }

    /// The mids of the accepted media sections, in order.
    pub(crate) fn mids(&self) -> impl Iterator<Item = Mid> + '_ {
        self.sections.iter().map(|s| s.mid)
    }

    /// The codec negotiated for `payload_type` in section `mid`.
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

    /// Builds the plain RTP packet for `write` on section `mid`.
    pub(crate) fn build_rtp(
        &mut self,
        now: Instant,
        mid: Mid,
        write: &RtpWrite<'_>,
        packet: &mut Vec<u8>,
    ) -> Result<(), MediaError> {
        let index = self
            .sections
            .iter()
            .position(|s| s.mid == mid)
            .ok_or(MediaError::UnknownMid(mid))?;
        let section = &self.sections[index];
        if !section.sends() {
            return Err(MediaError::NotSending(mid));
        }
        if !section
            .codecs
            .iter()
            .any(|c| c.payload_type == write.payload_type)
        {
            return Err(MediaError::UnknownPayloadType(write.payload_type));
        }
        let rid = match write.rid {
            Some(r) => Some(
                section
                    .send_rids
                    .iter()
                    .find(|x| ***x == *r)
                    .cloned()
                    .ok_or_else(|| MediaError::UnknownRid(r.to_owned()))?,
            ),
            None => None,
        };
        let clock_rate = section.clock_rate(write.payload_type);
        let extensions_map = section.extensions.clone();
        let ssrc = self.send_ssrc(index, rid.clone());
        let ntp = self.ntp(now);
        let Some(out) = self.outbound.get_mut(&ssrc) else {
            return Err(MediaError::TooManyStreams);
        };
        let sequence = out.next_sequence;
        out.next_sequence = sequence.wrapping_add(1);
        out.clock_rate = clock_rate;
        let abs = AbsSendTime::from_micros(ntp.to_unix().as_micros() as u64);
        let write_error = MediaError::Rtp;
        let mut ext = ExtensionsBuilder::new();
        if let Some(id) = extensions_map.id(ExtensionKind::SdesMid) {
            ext.push(id, mid.as_bytes()).map_err(write_error)?;
        }
        if let (Some(id), Some(r)) = (extensions_map.id(ExtensionKind::RtpStreamId), &rid) {
            ext.push(id, r.as_bytes()).map_err(write_error)?;
        }
        if let Some(id) = extensions_map.id(ExtensionKind::AbsSendTime) {
            ext.push_value(id, &abs).map_err(write_error)?;
        }
        if let Some(id) = extensions_map.id(ExtensionKind::TransportWideCc) {
            let sequence = self.twcc_sequence;
            self.twcc_sequence = sequence.wrapping_add(1);
            ext.push_value(id, &TransportSequence(sequence))
                .map_err(write_error)?;
        }
        let mut b = RtpPacketBuilder::new(write.payload_type, sequence, write.timestamp, ssrc);
        b.marker(write.marker).payload(write.payload);
        if !ext.is_empty() {
            b.extensions(&ext);
        }
        packet.clear();
        packet.reserve(b.encoded_len() + 16);
        b.write_vec(packet).map_err(write_error)?;
        Ok(())
    }

    /// Our SSRC for section `index` (and simulcast layer `rid`), created on first use.
    fn send_ssrc(&mut self, index: usize, rid: Option<Arc<str>>) -> u32 {
        let signalled = self.sections[index].send_ssrc;
        if let Some((&ssrc, _)) = self
            .outbound
            .iter()
            .find(|(_, o)| o.section == Some(index) && o.rid == rid)
        {
            return ssrc;
        }
        let ssrc = match (signalled, &rid) {
            (Some(s), None) if !self.outbound.contains_key(&s) => s,
            _ => self.new_ssrc(),
        };
        self.track_outbound(ssrc, Some(index), rid);
        ssrc
    }

    fn track_outbound(&mut self, ssrc: u32, section: Option<usize>, rid: Option<Arc<str>>) {
        if self.outbound.len() >= MAX_OUTBOUND || self.outbound.contains_key(&ssrc) {
            return;
        }
        let next_sequence = random_u32(&mut self.rng) as u16 & 0x7FFF;
        self.outbound.insert(
            ssrc,
            Outbound {
                section,
                rid,
                next_sequence,
                packets: 0,
                octets: 0,
                rtp_timestamp: 0,
                clock_rate: 90_000,
                last_sent: None,
                nacks: 0,
                plis: 0,
                firs: 0,
                remote: None,
                rtt: None,
                history: None,
                rtx_sequence: random_u32(&mut self.rng) as u16 & 0x7FFF,
                retransmitted_packets: 0,
                retransmitted_bytes: 0,
            },
        );
    }

    /// Counts a packet we send (built by us or given whole by the application) and keeps it
    /// for retransmission when the peer NACKs its section.
    pub(crate) fn on_sent(&mut self, now: Instant, p: &RtpPacket<'_>, bytes: &[u8]) {
        let ssrc = p.ssrc();
        if !self.outbound.contains_key(&ssrc) {
            let section = self.sections.iter().position(|s| s.send_ssrc == Some(ssrc));
            self.track_outbound(ssrc, section, None);
        }
        let section = self
            .outbound
            .get(&ssrc)
            .and_then(|o| o.section)
            .map(|i| &self.sections[i]);
        let clock_rate = section.map(|s| s.clock_rate(p.payload_type()));
        let keep = section.is_some_and(|s| s.nack) && self.history_capacity > 0;
        let Some(o) = self.outbound.get_mut(&ssrc) else {
            return;
        };
        if keep {
            let history = o.history.get_or_insert_with(Box::default);
            history.push(self.history_capacity, p.sequence_number(), bytes);
            history.budget.on_media(now, bytes.len());
        }
        o.packets += 1;
        o.octets += p.payload().len() as u64;
        o.rtp_timestamp = p.timestamp();
        o.last_sent = Some(now);
        if let Some(c) = clock_rate {
            o.clock_rate = c;
        }
        o.next_sequence = p.sequence_number().wrapping_add(1);
    }

    /// A decrypted RTP packet arrived: finds its section and layer and updates statistics; an
    /// RTX packet becomes the packet it repairs.
    pub(crate) fn on_received(&mut self, now: Instant, plain: PacketBuf) -> Received {
        let Ok(p) = RtpPacket::parse(&plain) else {
            return Received::Malformed;
        };
        let (section, rid) = self.classify(&p);
        let repaired = section.and_then(|i| self.sections[i].repaired_by(p.payload_type()));
        let Some(original_pt) = repaired else {
            return self.deliver(now, plain, section, rid, false);
        };
        // RTX (RFC 4588): the original sequence number, then the original payload.
        let rtx_ssrc = p.ssrc();
        let media_ssrc = self.rtx_media.get(&rtx_ssrc).copied().or_else(|| {
            // Unsignalled: the stream of the same section and layer that is not RTX.
            let mut candidates = self.inbound.iter().filter(|(ssrc, i)| {
                i.section == section
                    && (rid.is_none() || i.rid == rid)
                    && !self.rtx_media.contains_key(ssrc)
                    && **ssrc != rtx_ssrc
            });
            match (candidates.next(), candidates.next()) {
                (Some((&ssrc, _)), None) => Some(ssrc),
                _ => None,
            }
        });
        let header_len = p.header_len();
        let payload_end = header_len + p.payload().len();
        let (Some(media_ssrc), Some(&[hi, lo])) = (media_ssrc, p.payload().get(..2)) else {
            return Received::Discarded;
        };
        // Rewritten in place: the header says what the original packet said, the payload moves
        // over the original sequence number, the padding goes.
        let mut original = plain;
        original[0] &= !0x20;
        original[1] = (original[1] & 0x80) | (original_pt & 0x7F);
        original[2..4].copy_from_slice(&[hi, lo]);
        original[8..12].copy_from_slice(&media_ssrc.to_be_bytes());
        original.copy_within(header_len + 2..payload_end, header_len);
        original.vec_mut().truncate(payload_end - 2);
        self.deliver(now, original, section, rid, true)
    }

    fn deliver(
        &mut self,
        now: Instant,
        plain: PacketBuf,
        section: Option<usize>,
        rid: Option<Arc<str>>,
        retransmission: bool,
    ) -> Received {
        let Ok(p) = RtpPacket::parse(&plain) else {
            return Received::Malformed;
        };
        let ssrc = p.ssrc();
        let epoch = self.epoch.unwrap_or(now);
        // Transport-wide congestion control: record the arrival.
        if let Some(i) = section
            && let Some(ext) = p.extensions()
            && let Some(TransportSequence(sequence)) = self.sections[i].extensions.get(&ext)
        {
            self.twcc
                .get_or_insert_with(|| Box::new(TwccReceiver::new(epoch)))
                .on_packet(now, sequence, ssrc);
        }
        let ask = self.nack_requests && section.is_some_and(|i| self.sections[i].nack);
        if !self.inbound.contains_key(&ssrc) && self.inbound.len() < MAX_INBOUND {
            self.inbound.insert(
                ssrc,
                Inbound {
                    section,
                    rid: None,
                    stats: ReceiveStats::new(p.sequence_number()),
                    sequence: SequenceUnwrapper::new(),
                    packets: 0,
                    octets: 0,
                    clock_rate: 90_000,
                    last_sr: None,
                    nacks: 0,
                    plis: 0,
                    firs: 0,
                    fir_sequence: 0,
                    retransmitted_packets: 0,
                    retransmitted_bytes: 0,
                    nack_requests: None,
                    received: ReceivedWindow::default(),
                },
            );
        }
        let rtt = self.nack_rtt();
        let clock_rate = section.map_or(90_000, |i| self.sections[i].clock_rate(p.payload_type()));
        let mut extended = p.sequence_number() as u64;
        let mut rid_out = rid.clone();
        if let Some(i) = self.inbound.get_mut(&ssrc) {
            if i.section.is_none() {
                i.section = section;
            }
            if rid.is_some() {
                i.rid = rid;
            }
            rid_out = i.rid.clone();
            extended = i.sequence.unwrap(p.sequence_number());
            if !i.received.insert(extended) && retransmission {
                // RTX of a packet we have (senders probe bandwidth this way too): nothing new.
                return Received::Discarded;
            }
            i.clock_rate = clock_rate;
            i.packets += 1;
            i.octets += p.payload().len() as u64;
            if ask {
                i.nack_requests
                    .get_or_insert_with(Box::default)
                    .on_packet(now, extended, rtt);
            }
            if retransmission {
                i.retransmitted_packets += 1;
                i.retransmitted_bytes += p.payload().len() as u64;
            }
            let arrival = rtp_ticks(now.saturating_duration_since(epoch), clock_rate);
            i.stats.update(p.sequence_number(), p.timestamp(), arrival);
        }
        let start = p.header_len();
        let end = start + p.payload().len();
        Received::Rtp(RtpReceived {
            mid: section.map(|i| self.sections[i].mid),
            rid: rid_out,
            ssrc,
            payload_type: p.payload_type(),
            sequence_number: p.sequence_number(),
            extended_sequence_number: extended,
            timestamp: p.timestamp(),
            marker: p.marker(),
            retransmission,
            payload_range: start..end,
            packet: plain,
        })
    }

    /// Which section (and simulcast layer) a packet belongs to: a known SSRC, the `sdes:mid`
    /// header extension (then the SSRC is learned), a payload type only one section uses, or
    /// the only section (RFC 8843 9.2).
    fn classify(&mut self, p: &RtpPacket<'_>) -> (Option<usize>, Option<Arc<str>>) {
        let ssrc = p.ssrc();
        let mut section = self.ssrc_section.get(&ssrc).copied();
        let mut rid = None;
        if let Some(ext) = p.extensions() {
            if section.is_none() {
                // Sections normally share one id for sdes:mid; try each distinct id once.
                let mut tried = [0u8; 8];
                for (n, s) in self.sections.iter().enumerate() {
                    let Some(id) = s.extensions.id(ExtensionKind::SdesMid) else {
                        continue;
                    };
                    if tried.contains(&id) {
                        continue;
                    }
                    tried[n % tried.len()] = id;
                    if let Some(MidExtension(m)) = s.extensions.get::<MidExtension>(&ext)
                        && let Some(i) = self
                            .sections
                            .iter()
                            .position(|x| x.mid.as_bytes() == m.as_bytes())
                    {
                        section = Some(i);
                        break;
                    }
                }
            }
            if let Some(s) = section.map(|i| &self.sections[i]) {
                let r = s
                    .extensions
                    .get::<RtpStreamId>(&ext)
                    .map(|r| r.0)
                    .or_else(|| s.extensions.get::<RepairedRtpStreamId>(&ext).map(|r| r.0));
                rid = r.map(Arc::from);
            }
            if let Some(i) = section
                && !self.ssrc_section.contains_key(&ssrc)
                && self.ssrc_section.len() < 4 * MAX_INBOUND
            {
                self.ssrc_section.insert(ssrc, i);
            }
        }
        if section.is_none() {
            let pt = p.payload_type();
            let mut with_pt = self
                .sections
                .iter()
                .enumerate()
                .filter(|(_, s)| s.codecs.iter().any(|c| c.payload_type == pt));
            if let (Some((i, _)), None) = (with_pt.next(), with_pt.next()) {
                section = Some(i);
            }
        }
        if section.is_none() && self.sections.len() == 1 {
            section = Some(0);
        }
        (section, rid)
    }

    /// A decrypted compound RTCP packet arrived: reports update statistics and round-trip
    /// times; PLI, FIR and NACK about our streams become events.
    pub(crate) fn on_rtcp(&mut self, now: Instant, compound: &[u8], out: &mut VecDeque<Event>) {
        let now_compact = self.ntp(now).compact();
        for packet in CompoundIter::new(compound) {
            let Ok(packet) = packet else {
                break;
            };
            match packet {
                RtcpPacket::SenderReport(sr) => {
                    if let Some(i) = self.inbound.get_mut(&sr.ssrc) {
                        i.last_sr = Some((NtpTime(sr.ntp_timestamp).compact(), now));
                    }
                    for b in sr.reports.iter() {
                        self.on_report_block(now_compact, b);
                    }
                }
                RtcpPacket::ReceiverReport(rr) => {
                    for b in rr.reports.iter() {
                        self.on_report_block(now_compact, b);
                    }
                }
                RtcpPacket::Pli(pli) => self.keyframe(pli.media_ssrc, KeyframeKind::Pli, out),
                RtcpPacket::Fir(fir) => {
                    for e in fir.entries.iter() {
                        self.keyframe(e.ssrc, KeyframeKind::Fir, out);
                    }
                }
                RtcpPacket::Nack(nack) => {
                    if let Some(o) = self.outbound.get_mut(&nack.media_ssrc) {
                        o.nacks += 1;
                        let mid = o.section.map(|i| self.sections[i].mid);
                        // At most 17 sequence numbers per entry; bounded by the packet's size.
                        let lost: Vec<u16> = nack.lost().take(4096).collect();
                        self.answer_nack(now, nack.media_ssrc, &lost);
                        out.push_back(Event::Nack {
                            mid,
                            ssrc: nack.media_ssrc,
                            lost,
                        });
                    }
                }
                _ => {}
            }
        }
    }

    /// Queues the packets `lost` of our stream `ssrc` that the history still has: as RTX on
    /// our RTX SSRC when the section negotiated it (RFC 4588: a new sequence number, the
    /// original one in the first two payload bytes), else as the original packet again. A
    /// packet is sent again at most once per half round trip.
    fn answer_nack(&mut self, now: Instant, ssrc: u32, lost: &[u16]) {
        let Some(o) = self.outbound.get_mut(&ssrc) else {
            return;
        };
        let Some(section) = o.section.map(|i| &self.sections[i]) else {
            return;
        };
        let Some(history) = &mut o.history else {
            return;
        };
        // Half a round trip: a duplicated or repeated NACK is ignored, the receiver's next
        // request (one round trip later) is answered. The peer's reports give the round trip,
        // so it has a floor.
        let gap = o
            .rtt
            .map_or(DEFAULT_RESEND_GAP, |r| r / 2)
            .max(MIN_RESEND_GAP);
        // RTX is signalled for the section's main SSRC; simulcast layers resend originals.
        let rtx_ssrc = section
            .send_rtx_ssrc
            .filter(|_| section.send_ssrc == Some(ssrc) && o.rid.is_none());
        let mid_extension = section.extensions.id(ExtensionKind::SdesMid);
        for (lost_index, &sequence) in lost.iter().enumerate() {
            if self.retransmits.len() >= MAX_RETRANSMITS {
                return;
            }
            let History { slots, budget } = &mut **history;
            let Some(sent) = History::get_mut(slots, sequence) else {
                continue;
            };
            if sent
                .resent
                .is_some_and(|t| now.saturating_duration_since(t) < gap)
            {
                continue;
            }
            if !budget.spend(now, sent.packet.len()) {
                // Over the stream's retransmission budget: the rest of this NACK waits for
                // the receiver's next request.
                self.retransmissions_limited += (lost.len() - lost_index) as u64;
                return;
            }
            let Ok(original) = RtpPacket::parse(&sent.packet) else {
                continue;
            };
            let rtx_payload_type = section.rtx_for(original.payload_type());
            let packet = match (rtx_ssrc, rtx_payload_type) {
                (Some(rtx_ssrc), Some(rtx_pt)) => {
                    let rtx_sequence = o.rtx_sequence;
                    o.rtx_sequence = rtx_sequence.wrapping_add(1);
                    let mut payload = Vec::with_capacity(2 + original.payload().len());
                    payload.extend_from_slice(&sequence.to_be_bytes());
                    payload.extend_from_slice(original.payload());
                    let mut ext = ExtensionsBuilder::new();
                    if let Some(id) = mid_extension {
                        let _ = ext.push(id, section.mid.as_bytes());
                    }
                    let twcc = TransportSequence(self.twcc_sequence);
                    if let Some(id) = section.extensions.id(ExtensionKind::TransportWideCc) {
                        self.twcc_sequence = self.twcc_sequence.wrapping_add(1);
                        let _ = ext.push_value(id, &twcc);
                    }
                    let mut b =
                        RtpPacketBuilder::new(rtx_pt, rtx_sequence, original.timestamp(), rtx_ssrc);
                    b.marker(original.marker()).payload(&payload);
                    if !ext.is_empty() {
                        b.extensions(&ext);
                    }
                    let mut packet = Vec::with_capacity(b.encoded_len() + 16);
                    if b.write_vec(&mut packet).is_err() {
                        continue;
                    }
                    packet
                }
                _ => sent.packet.clone(),
            };
            sent.resent = Some(now);
            o.retransmitted_packets += 1;
            o.retransmitted_bytes += original.payload().len() as u64;
            self.retransmits.push_back(packet);
        }
    }

    fn on_report_block(&mut self, now_compact: u32, b: ReportBlock) {
        if let Some(o) = self.outbound.get_mut(&b.ssrc) {
            if let Some(rtt) = round_trip_time(
                now_compact,
                b.last_sender_report,
                b.delay_since_last_sender_report,
            ) {
                o.rtt = Some(rtt);
                self.rtt = Some(rtt);
            }
            o.remote = Some(b);
        }
    }

    fn keyframe(&mut self, ssrc: u32, kind: KeyframeKind, out: &mut VecDeque<Event>) {
        let Some(o) = self.outbound.get_mut(&ssrc) else {
            return;
        };
        match kind {
            KeyframeKind::Pli => o.plis += 1,
            KeyframeKind::Fir => o.firs += 1,
        }
        let mid = o.section.map(|i| self.sections[i].mid);
        out.push_back(Event::KeyframeRequest { mid, ssrc, kind });
    }

    /// Our SSRC to send feedback about `media_ssrc` from: the sending SSRC of its section, or
    /// our RTCP-only SSRC.
    fn feedback_sender(&self, media_ssrc: u32) -> u32 {
        self.inbound
            .get(&media_ssrc)
            .and_then(|i| i.section)
            .and_then(|s| self.sections[s].send_ssrc)
            .filter(|s| self.outbound.contains_key(s))
            .unwrap_or(self.rtcp_ssrc)
    }

    /// An empty RR and our SDES CNAME: the start every compound packet needs (RFC 3550 6.1).
    fn compound_head(&self, sender: u32, out: &mut Vec<u8>) -> Result<(), MediaError> {
        let rr = RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: sender,
            reports: List::empty(),
            profile_extension: &[],
        });
        rr.write_vec(out).map_err(MediaError::Rtcp)?;
        self.write_sdes(&[sender], out)
    }

    fn write_sdes(&self, ssrcs: &[u32], out: &mut Vec<u8>) -> Result<(), MediaError> {
        let items = [SdesItem {
            kind: SdesType::Cname,
            text: self.cname.as_bytes(),
        }];
        let chunks: Vec<SdesChunk<'_>> = ssrcs
            .iter()
            .take(MAX_BLOCKS)
            .map(|&ssrc| SdesChunk {
                ssrc,
                items: List::from_items(&items[..]),
            })
            .collect();
        RtcpPacket::SourceDescription(SourceDescription {
            chunks: List::from_items(&chunks[..]),
        })
        .write_vec(out)
        .map_err(MediaError::Rtcp)?;
        Ok(())
    }

    /// A key frame request (PLI or FIR) for the remote stream `ssrc`, as a compound packet.
    pub(crate) fn keyframe_request(
        &mut self,
        ssrc: u32,
        kind: KeyframeKind,
    ) -> Result<Vec<u8>, MediaError> {
        let sender = self.feedback_sender(ssrc);
        let i = self
            .inbound
            .get_mut(&ssrc)
            .ok_or(MediaError::UnknownSsrc(ssrc))?;
        let packet = match kind {
            KeyframeKind::Pli => {
                i.plis += 1;
                None
            }
            KeyframeKind::Fir => {
                i.firs += 1;
                i.fir_sequence = i.fir_sequence.wrapping_add(1);
                Some(i.fir_sequence)
            }
        };
        let mut out = Vec::with_capacity(64);
        self.compound_head(sender, &mut out)?;
        let entry;
        let fb = match packet {
            None => RtcpPacket::Pli(Pli {
                sender_ssrc: sender,
                media_ssrc: ssrc,
            }),
            Some(sequence_number) => {
                entry = [FirEntry {
                    ssrc,
                    sequence_number,
                }];
                RtcpPacket::Fir(Fir {
                    sender_ssrc: sender,
                    media_ssrc: 0,
                    entries: List::from_items(&entry[..]),
                })
            }
        };
        fb.write_vec(&mut out).map_err(MediaError::Rtcp)?;
        Ok(out)
    }

    /// A generic NACK for `lost` packets of the remote stream `ssrc`, as a compound packet.
    pub(crate) fn nack(&mut self, ssrc: u32, lost: &[u16]) -> Result<Vec<u8>, MediaError> {
        let sender = self.feedback_sender(ssrc);
        let i = self
            .inbound
            .get_mut(&ssrc)
            .ok_or(MediaError::UnknownSsrc(ssrc))?;
        i.nacks += 1;
        let pairs = NackPair::from_lost(lost.iter().copied());
        if pairs.len() > 200 {
            return Err(MediaError::TooManyLost {
                pairs: pairs.len(),
                max: 200,
            });
        }
        let mut out = Vec::with_capacity(48 + 4 * pairs.len());
        self.compound_head(sender, &mut out)?;
        RtcpPacket::Nack(Nack {
            sender_ssrc: sender,
            media_ssrc: ssrc,
            pairs: List::from_items(&pairs[..]),
        })
        .write_vec(&mut out)
        .map_err(MediaError::Rtcp)?;
        Ok(out)
    }

    /// A compound report (an SR per sending SSRC, else an RR, then SDES CNAME) when the
    /// schedule says so.
    pub(crate) fn poll_reports(&mut self, now: Instant) -> Option<Vec<u8>> {
        let next = self.next_report?;
        if now < next {
            return None;
        }
        self.next_report = Some(now + self.interval);
        let ntp = self.ntp(now);
        let mut received: Vec<(&u32, &mut Inbound)> = self.inbound.iter_mut().collect();
        received.sort_by_key(|(k, _)| **k);
        let blocks: Vec<ReportBlock> = received
            .into_iter()
            .take(MAX_BLOCKS)
            .map(|(&ssrc, i)| {
                let (lsr, dlsr) = i.last_sr.map_or((0, 0), |(lsr, at)| {
                    (
                        lsr,
                        compact_from_duration(now.saturating_duration_since(at)),
                    )
                });
                i.stats.report_block(ssrc, lsr, dlsr)
            })
            .collect();
        let mut sending: Vec<(u32, &Outbound)> = self
            .outbound
            .iter()
            .filter(|(_, o)| o.packets > 0)
            .map(|(&k, v)| (k, v))
            .collect();
        sending.sort_by_key(|(k, _)| *k);
        let mut out = Vec::new();
        let mut reporters = Vec::new();
        for (n, (ssrc, o)) in sending.iter().take(MAX_BLOCKS).enumerate() {
            // The RTP time that corresponds to `now`: the last timestamp moved on by the time
            // since it was sent.
            let elapsed = o
                .last_sent
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
            let ticks = rtp_ticks(elapsed, o.clock_rate);
            let sr = RtcpPacket::SenderReport(SenderReport {
                ssrc: *ssrc,
                ntp_timestamp: ntp.0,
                rtp_timestamp: o.rtp_timestamp.wrapping_add(ticks),
                packet_count: o.packets as u32,
                octet_count: o.octets as u32,
                reports: if n == 0 {
                    List::from_items(&blocks[..])
                } else {
                    List::empty()
                },
                profile_extension: &[],
            });
            sr.write_vec(&mut out).ok()?;
            reporters.push(*ssrc);
        }
        if reporters.is_empty() {
            let rr = RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: self.rtcp_ssrc,
                reports: List::from_items(&blocks[..]),
                profile_extension: &[],
            });
            rr.write_vec(&mut out).ok()?;
            reporters.push(self.rtcp_ssrc);
        }
        self.write_sdes(&reporters, &mut out).ok()?;
        Some(out)
    }

    /// Statistics of every stream we receive.
    pub(crate) fn inbound_stats(&self) -> Vec<InboundRtpStats> {
        let mut v: Vec<InboundRtpStats> = self
            .inbound
            .iter()
            .map(|(&ssrc, i)| InboundRtpStats {
                ssrc,
                mid: i.section.map(|s| self.sections[s].mid),
                rid: i.rid.as_deref().map(str::to_owned),
                packets_received: i.packets,
                bytes_received: i.octets,
                packets_lost: i64::from(i.stats.cumulative_lost()),
                jitter: Duration::from_secs_f64(
                    f64::from(i.stats.jitter()) / f64::from(i.clock_rate.max(1)),
                ),
                nacks_sent: i.nacks,
                plis_sent: i.plis,
                firs_sent: i.firs,
                retransmitted_packets_received: i.retransmitted_packets,
                retransmitted_bytes_received: i.retransmitted_bytes,
            })
            .collect();
        v.sort_by_key(|s| s.ssrc);
        v
    }

    /// Statistics of every stream we send.
    pub(crate) fn outbound_stats(&self) -> Vec<OutboundRtpStats> {
        let mut v: Vec<OutboundRtpStats> = self
            .outbound
            .iter()
            .map(|(&ssrc, o)| OutboundRtpStats {
                ssrc,
                mid: o.section.map(|s| self.sections[s].mid),
                rid: o.rid.as_deref().map(str::to_owned),
                packets_sent: o.packets,
                bytes_sent: o.octets,
                nacks_received: o.nacks,
                plis_received: o.plis,
                firs_received: o.firs,
                round_trip_time: o.rtt,
                retransmitted_packets_sent: o.retransmitted_packets,
                retransmitted_bytes_sent: o.retransmitted_bytes,
                remote_fraction_lost: o.remote.map(|b| f64::from(b.fraction_lost) / 256.0),
                remote_packets_lost: o.remote.map(|b| i64::from(b.cumulative_lost)),
                remote_jitter: o.remote.map(|b| {
                    Duration::from_secs_f64(f64::from(b.jitter) / f64::from(o.clock_rate.max(1)))
                }),
            })
            .collect();
        v.sort_by_key(|s| s.ssrc);
        v
    }
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

    #[test]
    fn retransmissions_stay_within_the_streams_own_rate() {
        let t0 = Instant::now();
        let mut b = RetransmitBudget::default();
        // 100 KB of media in the first second.
        for i in 0..100 {
            b.on_media(t0 + Duration::from_millis(i * 10), 1000);
        }
        let now = t0 + Duration::from_millis(999);
        let mut resent = 0;
        while b.spend(now, 1000) {
            resent += 1000;
        }
        assert_eq!(resent, 100_000);
        // The next window allows what the last one sent, no more.
        let later = t0 + Duration::from_millis(1500);
        let mut resent = 0;
        while b.spend(later, 1000) {
            resent += 1000;
        }
        assert_eq!(resent, 100_000);
        // A silent stream may still repair a little.
        let mut quiet = RetransmitBudget::default();
        let mut resent = 0;
        while quiet.spend(t0, 1000) {
            resent += 1000;
        }
        assert_eq!(resent, RETRANSMIT_FLOOR_BYTES / 1000 * 1000);
    }

    #[test]
    fn the_received_window_knows_what_arrived() {
        let mut w = ReceivedWindow::default();
        assert!(w.insert(100));
        assert!(!w.insert(100));
        assert!(w.insert(103));
        assert!(w.insert(101));
        assert!(!w.insert(101));
        assert!(w.insert(102));
        // Far ahead: the old ones are forgotten, and too old to count.
        assert!(w.insert(100 + 5000));
        assert!(!w.insert(103));
        assert!(w.insert(5000 + 100 - 1023));
        assert!(!w.insert(5000 + 100 - 1024));
        // Moving by less than the window keeps what is still inside.
        assert!(w.insert(5200));
        // 4077 is now more than a window behind.
        assert!(!w.insert(5000 + 100 - 1023));
        assert!(!w.insert(5100));
        assert!(w.insert(5199));
    }
}
