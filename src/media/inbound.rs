//! What we receive: which track and layer a packet belongs to, RTX unwrapped, receive
//! statistics, the window of what arrived.

use super::*;
use sansrtc_core::ReplayWindow;

/// Most remote SSRCs tracked (packets of more are delivered but not reported on).
pub(super) const MAX_INBOUND: usize = 64;

/// What we know of an SSRC we receive.
#[derive(Debug, Clone)]
pub(super) struct Inbound {
    pub(super) section: Option<usize>,
    pub(super) rid: Option<Arc<str>>,
    pub(super) stats: ReceiveStats,
    pub(super) sequence: SequenceUnwrapper,
    pub(super) packets: u64,
    pub(super) octets: u64,
    pub(super) clock_rate: u32,
    /// Compact NTP time of the last SR and when it arrived.
    pub(super) last_sr: Option<(u32, Instant)>,
    pub(super) nacks: u64,
    pub(super) plis: u64,
    pub(super) firs: u64,
    pub(super) fir_sequence: u8,
    pub(super) retransmitted_packets: u64,
    pub(super) retransmitted_bytes: u64,
    /// Lost packets to ask for (sections that negotiated `nack`, when asking is on).
    pub(super) nack_requests: Option<Box<NackRequests>>,
    /// Which of the last packets arrived (RTX repeating one of them is dropped).
    pub(super) received: ReplayWindow,
}

/// Packets remembered as received per stream (an RTX repeating one of them is dropped).
pub(super) const RECEIVED_WINDOW: usize = 1024;

impl MediaState {
    /// A decrypted RTP packet arrived: finds its section and layer and updates statistics; an
    /// RTX packet becomes the packet it repairs.
    pub(crate) fn on_received(&mut self, now: Instant, plain: PacketBuf) -> Received {
        let Ok(p) = RtpPacket::parse(&plain) else {
            return Received::Malformed;
        };
        let (section, rid, transport_sequence) = self.classify(&p);
        // Transport-wide congestion control: every arrival counts, padding-only RTX (a
        // sender's bandwidth probe) included.
        if let Some(sequence) = transport_sequence {
            let epoch = self.epoch.unwrap_or(now);
            self.twcc
                .get_or_insert_with(|| Box::new(TwccReceiver::new(epoch)))
                .on_packet(now, sequence, p.ssrc());
        }
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

    pub(super) fn deliver(
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
                    received: ReplayWindow::new(RECEIVED_WINDOW),
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
            packet: crate::track::Received::Owned(plain),
        })
    }

    /// Which section (and simulcast layer) a packet belongs to: a known SSRC, the `sdes:mid`
    /// header extension (then the SSRC is learned), a payload type only one section uses, or
    /// the only section (RFC 8843 9.2); and its transport-wide sequence number when the
    /// section negotiated one (the section's extensions are read in one pass).
    pub(super) fn classify(
        &mut self,
        p: &RtpPacket<'_>,
    ) -> (Option<usize>, Option<Arc<str>>, Option<u16>) {
        let ssrc = p.ssrc();
        let mut section = self.ssrc_section.get(&ssrc).copied();
        let mut rid = None;
        let mut transport_sequence = None;
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
                let id = |kind| s.extensions.id(kind).unwrap_or(0);
                let [rid_data, repaired_data, twcc_data] = ext.get_each([
                    id(ExtensionKind::RtpStreamId),
                    id(ExtensionKind::RepairedRtpStreamId),
                    id(ExtensionKind::TransportWideCc),
                ]);
                transport_sequence = twcc_data
                    .and_then(|d| TransportSequence::decode(d).ok())
                    .map(|t| t.0);
                let r = rid_data
                    .and_then(|d| RtpStreamId::decode(d).ok())
                    .map(|r| r.0)
                    .or_else(|| {
                        repaired_data
                            .and_then(|d| RepairedRtpStreamId::decode(d).ok())
                            .map(|r| r.0)
                    })
                    // The peer writes it in every packet: only a RID (RFC 8851 syntax, at most
                    // MAX_RID_LEN bytes) is handed on, anything else is as if absent.
                    .filter(|r| valid_rid(r));
                // The stream's rid is known after its first packet: reuse it (no allocation
                // per packet).
                rid = r.map(
                    |r| match self.inbound.get(&ssrc).and_then(|i| i.rid.clone()) {
                        Some(known) if *known == *r => known,
                        _ => Arc::from(r),
                    },
                );
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
        (section, rid, transport_sequence)
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
}

/// Longest RID taken from a packet (what the one-byte header extension carries: RFC 8852).
pub(crate) const MAX_RID_LEN: usize = 16;

/// Whether `rid` is a RID: 1 to [`MAX_RID_LEN`] letters, digits, `-` or `_` (RFC 8851
/// `rid-id`).
fn valid_rid(rid: &str) -> bool {
    (1..=MAX_RID_LEN).contains(&rid.len())
        && rid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rids_of_rfc_8851_syntax_are_taken() {
        for ok in ["q", "h", "f", "0", "low-1", "a_b", "abcdefghijklmnop"] {
            assert!(valid_rid(ok), "{ok}");
        }
        for bad in ["", "q\"}", "a b", "\u{1}", "é", "abcdefghijklmnopq", "r/1"] {
            assert!(!valid_rid(bad), "{bad:?}");
        }
    }
    #[test]
    fn the_received_window_knows_what_arrived() {
        let mut w = ReplayWindow::new(RECEIVED_WINDOW);
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
