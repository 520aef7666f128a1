//! What we send: the SSRCs of our tracks, building RTP for them, the history kept to answer
//! NACKs and the retransmissions (RTX) that answer them, held to a byte budget.

use super::*;

/// The largest padding-only packet a probe sends, SRTP's tag included: a header with its
/// extensions and 255 bytes of padding (RFC 3550 5.1).
const MAX_PADDING_PACKET: usize = 320;

/// Most local SSRCs tracked.
pub(super) const MAX_OUTBOUND: usize = 64;

/// Most retransmissions waiting to be sent (one NACK can name thousands of packets).
pub(super) const MAX_RETRANSMITS: usize = 256;

/// A packet is not sent again sooner than this after its last retransmission when the
/// round-trip time is unknown (with it known, half a round trip).
pub(super) const DEFAULT_RESEND_GAP: Duration = Duration::from_millis(10);

/// A packet is not sent again sooner than this after its last retransmission, whatever
/// round-trip time the peer's reports claim.
pub(super) const MIN_RESEND_GAP: Duration = Duration::from_millis(5);

/// The window over which retransmissions are held to the stream's own send rate.
pub(super) const RETRANSMIT_WINDOW: Duration = Duration::from_secs(1);

/// Bytes a stream may send again per window however little it sends (a slow stream can still
/// repair a few losses).
pub(super) const RETRANSMIT_FLOOR_BYTES: u64 = 16 * 1024;

/// What we know of an SSRC we send.
#[derive(Debug, Clone)]
pub(super) struct Outbound {
    pub(super) section: Option<usize>,
    pub(super) rid: Option<Arc<str>>,
    pub(super) next_sequence: u16,
    pub(super) packets: u64,
    pub(super) octets: u64,
    pub(super) rtp_timestamp: u32,
    pub(super) clock_rate: u32,
    pub(super) last_sent: Option<Instant>,
    pub(super) nacks: u64,
    pub(super) plis: u64,
    pub(super) firs: u64,
    pub(super) remote: Option<ReportBlock>,
    pub(super) rtt: Option<Duration>,
    /// What we sent, to answer NACKs (only for sections that negotiated `nack`).
    pub(super) history: Option<Box<History>>,
    /// Next sequence number of our RTX stream for this SSRC.
    pub(super) rtx_sequence: u16,
    pub(super) retransmitted_packets: u64,
    pub(super) retransmitted_bytes: u64,
    /// The header `write_rtp` gives this stream's packets (made on first use, dropped when a
    /// negotiation changes the section).
    pub(super) template: Option<Box<HeaderTemplate>>,
    /// Our RTX SSRC for a simulcast layer (each layer repairs on its own RTX stream, its
    /// packets naming the layer with `repaired-rtp-stream-id`); the section's main stream
    /// uses the signalled one.
    pub(super) rtx_ssrc: Option<u32>,
    /// A paused simulcast layer sends nothing ([`MediaState::set_layer_paused`]).
    pub(super) paused: bool,
}

/// One stream's RTP header as [`MediaState::build_rtp`] writes it: version, SSRC and the
/// negotiated header extensions with their fixed values (`sdes:mid`, `rtp-stream-id`) made
/// once; payload type, marker, sequence number, timestamp and the per-packet extension values
/// (`abs-send-time`, the transport-wide sequence number) are written into a copy per packet.
#[derive(Debug, Clone)]
pub(super) struct HeaderTemplate {
    pub(super) bytes: Vec<u8>,
    /// Where the 3-byte abs-send-time value is, when negotiated.
    pub(super) abs_send_time: Option<usize>,
    /// Where the 2-byte transport-wide sequence number is, when negotiated.
    pub(super) transport_sequence: Option<usize>,
}

impl HeaderTemplate {
    fn new(section: &Section, rid: Option<&str>, ssrc: u32) -> Result<Self, MediaError> {
        let map = &section.extensions;
        let write_error = MediaError::Rtp;
        let mut ext = ExtensionsBuilder::new();
        if let Some(id) = map.id(ExtensionKind::SdesMid) {
            ext.push(id, section.mid.as_bytes()).map_err(write_error)?;
        }
        if let (Some(id), Some(r)) = (map.id(ExtensionKind::RtpStreamId), rid) {
            ext.push(id, r.as_bytes()).map_err(write_error)?;
        }
        let abs_id = map.id(ExtensionKind::AbsSendTime);
        if let Some(id) = abs_id {
            ext.push_value(id, &AbsSendTime(0)).map_err(write_error)?;
        }
        let twcc_id = map.id(ExtensionKind::TransportWideCc);
        if let Some(id) = twcc_id {
            ext.push_value(id, &TransportSequence(0))
                .map_err(write_error)?;
        }
        let mut b = RtpPacketBuilder::new(0, 0, 0, ssrc);
        if !ext.is_empty() {
            b.extensions(&ext);
        }
        let mut bytes = Vec::with_capacity(b.encoded_len());
        b.write_vec(&mut bytes).map_err(write_error)?;
        // Where each per-packet value landed (the builder chose the extension form).
        let offset_of = |id: Option<u8>| -> Option<usize> {
            let id = id?;
            let p = RtpPacket::parse(&bytes).ok()?;
            let data = p.extensions()?.get(id)?;
            Some(data.as_ptr() as usize - bytes.as_ptr() as usize)
        };
        let abs_send_time = offset_of(abs_id);
        let transport_sequence = offset_of(twcc_id);
        Ok(Self {
            abs_send_time,
            transport_sequence,
            bytes,
        })
    }
}

/// The last packets sent on one SSRC, plain, in sending order; the buffers are reused once
/// the history is full, so keeping it allocates nothing in steady state.
#[derive(Debug, Default, Clone)]
pub(super) struct History {
    pub(super) slots: VecDeque<SentPacket>,
    pub(super) budget: RetransmitBudget,
}

/// Holds the bytes one SSRC sends again to its own send rate, as libwebrtc's retransmission
/// rate limiter does: per [`RETRANSMIT_WINDOW`], no more than the larger of the media bytes
/// sent in this window and the last one (at least [`RETRANSMIT_FLOOR_BYTES`]). A peer that
/// NACKs everything, as often as it likes, at most doubles what we send.
#[derive(Debug, Default, Clone)]
pub(super) struct RetransmitBudget {
    pub(super) window_start: Option<Instant>,
    pub(super) media_previous: u64,
    pub(super) media_current: u64,
    pub(super) resent_current: u64,
}

impl RetransmitBudget {
    pub(super) fn roll(&mut self, now: Instant) {
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

    pub(super) fn on_media(&mut self, now: Instant, bytes: usize) {
        self.roll(now);
        self.media_current += bytes as u64;
    }

    /// Whether `bytes` more may be sent again now (and counts them if so).
    pub(super) fn spend(&mut self, now: Instant, bytes: usize) -> bool {
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
pub(super) struct SentPacket {
    pub(super) sequence: u16,
    /// When it was last sent again.
    pub(super) resent: Option<Instant>,
    pub(super) bytes: SentBytes,
}

/// A padding packet a bandwidth probe wants sent ([`MediaState::poll_probe_padding`]): its
/// size and probe, and the stream it goes on (section index, transport-wide sequence number
/// extension id, RTX payload type, the stream's SSRC and its RTX SSRC).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProbePadding {
    size: usize,
    cluster: u32,
    section: usize,
    twcc_id: u8,
    rtx_pt: u8,
    ssrc: u32,
    rtx_ssrc: u32,
}

impl ProbePadding {
    /// Bytes of plain RTP it asks for.
    pub(crate) fn size(&self) -> usize {
        self.size
    }
}

/// The longest header a history slot holds in place (a forwarded packet's header: the
/// fixed part, CSRCs and extensions; longer ones are kept with a copy of the payload).
const INLINE_HEADER: usize = 64;

/// What a history slot keeps of a packet.
#[derive(Debug, Clone)]
pub(super) enum SentBytes {
    /// A copy of the whole packet (the slot's buffer, reused).
    Copy(Vec<u8>),
    /// A forwarded packet: its header in place, its payload a reference to the shared packet
    /// every subscriber's history points to (no copy, no cache-cold buffer per subscriber).
    Shared {
        header: [u8; INLINE_HEADER],
        header_len: u8,
        payload: SharedPacket,
    },
}

impl SentPacket {
    /// Its bytes (put together when the payload is shared: only when sent again).
    pub(super) fn bytes(&self) -> Cow<'_, [u8]> {
        match &self.bytes {
            SentBytes::Copy(packet) => Cow::Borrowed(packet),
            SentBytes::Shared {
                header,
                header_len,
                payload,
            } => Cow::Owned([&header[..usize::from(*header_len)], payload.payload()].concat()),
        }
    }

    /// Its length in bytes.
    pub(super) fn len(&self) -> usize {
        match &self.bytes {
            SentBytes::Copy(packet) => packet.len(),
            SentBytes::Shared {
                header_len,
                payload,
                ..
            } => usize::from(*header_len) + payload.payload().len(),
        }
    }
}

impl History {
    pub(super) fn push(&mut self, capacity: usize, sequence: u16, packet: &[u8]) {
        self.push_copy(capacity, sequence, [packet, &[]]);
    }

    /// Keeps a copy of the packet made of `parts`.
    fn push_copy(&mut self, capacity: usize, sequence: u16, parts: [&[u8]; 2]) {
        let Some(slot) = self.slot(capacity, sequence) else {
            return;
        };
        if !matches!(slot.bytes, SentBytes::Copy(_)) {
            slot.bytes = SentBytes::Copy(Vec::new());
        }
        if let SentBytes::Copy(kept) = &mut slot.bytes {
            kept.clear();
            kept.reserve(parts[0].len() + parts[1].len());
            kept.extend_from_slice(parts[0]);
            kept.extend_from_slice(parts[1]);
        }
    }

    /// Keeps a packet made of `header` and the payload of `shared` (a reference, no copy).
    pub(super) fn push_shared(
        &mut self,
        capacity: usize,
        sequence: u16,
        header: &[u8],
        shared: &SharedPacket,
    ) {
        let Some(len) = u8::try_from(header.len())
            .ok()
            .filter(|&l| usize::from(l) <= INLINE_HEADER)
        else {
            return self.push_copy(capacity, sequence, [header, shared.payload()]);
        };
        let Some(slot) = self.slot(capacity, sequence) else {
            return;
        };
        let mut inline = [0u8; INLINE_HEADER];
        inline[..header.len()].copy_from_slice(header);
        slot.bytes = SentBytes::Shared {
            header: inline,
            header_len: len,
            payload: shared.clone(),
        };
    }

    /// The slot for the next packet: the oldest one once `capacity` are kept (its bytes to
    /// be replaced).
    fn slot(&mut self, capacity: usize, sequence: u16) -> Option<&mut SentPacket> {
        let mut slot = if self.slots.len() >= capacity {
            self.slots.pop_front()?
        } else {
            SentPacket {
                sequence,
                resent: None,
                bytes: SentBytes::Copy(Vec::new()),
            }
        };
        slot.sequence = sequence;
        slot.resent = None;
        self.slots.push_back(slot);
        self.slots.back_mut()
    }

    /// The packet with `sequence`: where consecutive numbering puts it, else searched from the
    /// newest (the application may send with gaps).
    pub(super) fn get_mut(
        slots: &mut VecDeque<SentPacket>,
        sequence: u16,
    ) -> Option<&mut SentPacket> {
        let front = slots.front()?.sequence;
        let guess = usize::from(sequence.wrapping_sub(front));
        if slots.get(guess).is_some_and(|s| s.sequence == sequence) {
            return slots.get_mut(guess);
        }
        slots.iter_mut().rev().find(|s| s.sequence == sequence)
    }
}

impl MediaState {
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
            if s != 0
                && s != self.rtcp_ssrc
                && !self.outbound.contains_key(&s)
                && !self.outbound.values().any(|o| o.rtx_ssrc == Some(s))
                && !self.sections.iter().any(|x| x.send_rtx_ssrc == Some(s))
            {
                return s;
            }
        }
    }

    /// Builds the plain RTP packet for `write` on section `mid` into `packet` and records it
    /// as sent (statistics, the retransmission history). The stream's header is made once
    /// ([`HeaderTemplate`]); per packet only its changing fields are written. When pacing, the
    /// transport-wide sequence number is left for when the packet leaves: its position is
    /// returned.
    pub(crate) fn build_rtp(
        &mut self,
        now: Instant,
        mid: Mid,
        write: &RtpWrite<'_>,
        packet: &mut Vec<u8>,
    ) -> Result<Option<usize>, MediaError> {
        let pacing = self.pacing();
        let (index, rid) = self.send_layer(mid, write.rid)?;
        let section = &self.sections[index];
        let Some(codec) = section
            .codecs
            .iter()
            .find(|c| c.payload_type == write.payload_type)
        else {
            return Err(MediaError::UnknownPayloadType(write.payload_type));
        };
        let clock_rate = codec.clock_rate.max(1);
        let keep = section.nack && self.history_capacity > 0;
        let ssrc = self.send_ssrc(index, rid);
        let ntp = self.ntp(now);
        let twcc_sequence = self.twcc_sequence;
        let Some(out) = self.outbound.get_mut(&ssrc) else {
            return Err(MediaError::TooManyStreams);
        };
        if out.paused {
            return Err(MediaError::LayerPaused);
        }
        if out.template.is_none() {
            let section = &self.sections[index];
            let template = HeaderTemplate::new(section, out.rid.as_deref(), ssrc)?;
            out.template = Some(Box::new(template));
        }
        let Some(template) = out.template.as_deref() else {
            return Err(MediaError::TooManyStreams);
        };
        let sequence = out.next_sequence;
        packet.clear();
        packet.reserve(template.bytes.len() + write.payload.len() + 16);
        packet.extend_from_slice(&template.bytes);
        packet[1] = (u8::from(write.marker) << 7) | (write.payload_type & 0x7F);
        packet[2..4].copy_from_slice(&sequence.to_be_bytes());
        packet[4..8].copy_from_slice(&write.timestamp.to_be_bytes());
        if let Some(at) = template.abs_send_time {
            let abs = AbsSendTime::from_micros(ntp.to_unix().as_micros() as u64);
            abs.encode(&mut packet[at..at + 3]);
        }
        let mut deferred = None;
        let mut stamped = false;
        if let Some(at) = template.transport_sequence {
            if pacing {
                deferred = Some(at);
            } else {
                TransportSequence(twcc_sequence).encode(&mut packet[at..at + 2]);
                self.twcc_sequence = twcc_sequence.wrapping_add(1);
                stamped = true;
            }
        }
        packet.extend_from_slice(write.payload);
        if stamped && let Some(b) = &mut self.bandwidth {
            b.on_sent(now, twcc_sequence, packet.len());
        }
        out.next_sequence = sequence.wrapping_add(1);
        out.clock_rate = clock_rate;
        out.packets += 1;
        out.octets += write.payload.len() as u64;
        out.rtp_timestamp = write.timestamp;
        out.last_sent = Some(now);
        if keep {
            let history = out.history.get_or_insert_with(Box::default);
            match write.shared_payload() {
                // A forwarded packet: the header is ours, the payload a reference.
                Some(shared) => history.push_shared(
                    self.history_capacity,
                    sequence,
                    &packet[..template.bytes.len()],
                    shared,
                ),
                None => history.push(self.history_capacity, sequence, packet),
            }
            history.budget.on_media(now, packet.len());
        }
        Ok(deferred)
    }

    /// Our SSRC for section `index` (and simulcast layer `rid`), created on first use.
    pub(super) fn send_ssrc(&mut self, index: usize, rid: Option<Arc<str>>) -> u32 {
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
        let layer = rid.is_some();
        self.track_outbound(ssrc, Some(index), rid);
        if layer && self.sections[index].codecs.iter().any(Codec::is_rtx) {
            let rtx = self.new_ssrc();
            if let Some(o) = self.outbound.get_mut(&ssrc) {
                o.rtx_ssrc = Some(rtx);
            }
        }
        ssrc
    }

    /// Pauses or resumes simulcast layer `rid` of section `mid`: a paused layer's
    /// [`MediaState::build_rtp`] fails with [`MediaError::LayerPaused`], so nothing is sent on
    /// it (as browsers do for an encoding made inactive, without renegotiating).
    pub(crate) fn set_layer_paused(
        &mut self,
        mid: Mid,
        rid: &str,
        paused: bool,
    ) -> Result<(), MediaError> {
        let (index, rid) = self.send_layer(mid, Some(rid))?;
        let ssrc = self.send_ssrc(index, rid);
        let o = self
            .outbound
            .get_mut(&ssrc)
            .ok_or(MediaError::TooManyStreams)?;
        o.paused = paused;
        Ok(())
    }

    /// The simulcast layers negotiated for sending on section `mid`.
    pub(crate) fn send_layers(&self, mid: Mid) -> &[Arc<str>] {
        self.sections
            .iter()
            .find(|s| s.mid == mid)
            .map_or(&[], |s| &s.send_rids[..])
    }

    /// The stream padding for bandwidth probes goes on: in the first section we send on with
    /// RTX and the transport-wide sequence number negotiated, its main stream if it sent media,
    /// else its active simulcast layer with the lowest SSRC that did; with the section's index,
    /// the extension's id, the RTX payload type, the stream's SSRC and its RTX SSRC.
    fn padding_stream(&self) -> Option<(usize, u8, u8, u32, u32)> {
        self.sections.iter().enumerate().find_map(|(i, s)| {
            let twcc = s.extensions.id(ExtensionKind::TransportWideCc)?;
            let rtx_pt = s.codecs.iter().find(|c| c.is_rtx())?.payload_type;
            if !s.sends() {
                return None;
            }
            let sent = |o: &Outbound| o.packets > 0 && !o.paused;
            let main = s
                .send_ssrc
                .zip(s.send_rtx_ssrc)
                .filter(|(ssrc, _)| self.outbound.get(ssrc).is_some_and(sent));
            let layer = || {
                self.outbound
                    .iter()
                    .filter(|(_, o)| o.section == Some(i) && o.rid.is_some() && sent(o))
                    .filter_map(|(&ssrc, o)| Some((ssrc, o.rtx_ssrc?)))
                    .min()
            };
            let (ssrc, rtx_ssrc) = main.or_else(layer)?;
            Some((i, twcc, rtx_pt, ssrc, rtx_ssrc))
        })
    }

    /// The padding packet a bandwidth probe wants sent now ([`crate::Config::probing`]), for
    /// [`MediaState::build_padding`]; `None` when there is none, or no stream to send it on.
    pub(crate) fn poll_probe_padding(&mut self, now: Instant) -> Option<ProbePadding> {
        if !self.bandwidth.as_ref()?.probing() {
            return None;
        }
        let (section, twcc_id, rtx_pt, ssrc, rtx_ssrc) = self.padding_stream()?;
        let (size, cluster) = self
            .bandwidth
            .as_mut()?
            .poll_padding(now, MAX_PADDING_PACKET)?;
        Some(ProbePadding {
            size,
            cluster,
            section,
            twcc_id,
            rtx_pt,
            ssrc,
            rtx_ssrc,
        })
    }

    /// Writes into `out` (cleared first) the padding-only RTX packet (RFC 4588, RFC 3550 5.1)
    /// `padding` asks for: about its size (at most 255 bytes of padding), with our next
    /// transport-wide sequence number (recorded for the estimator as part of its probe).
    /// False when its stream is gone.
    pub(crate) fn build_padding(
        &mut self,
        now: Instant,
        padding: &ProbePadding,
        out: &mut Vec<u8>,
    ) -> bool {
        let &ProbePadding {
            size,
            cluster,
            section: index,
            twcc_id,
            rtx_pt,
            ssrc,
            rtx_ssrc,
        } = padding;
        let Some(section) = self.sections.get(index) else {
            return false;
        };
        let (Some(o), Some(b)) = (self.outbound.get_mut(&ssrc), self.bandwidth.as_mut()) else {
            return false;
        };
        let sequence = o.rtx_sequence;
        let twcc = TransportSequence(self.twcc_sequence);
        let mut ext = ExtensionsBuilder::new();
        if let Some(id) = section.extensions.id(ExtensionKind::SdesMid) {
            let _ = ext.push(id, section.mid.as_bytes());
        }
        // A layer's RTX names the layer (RFC 8852), as its retransmissions do.
        if let (Some(id), Some(rid)) = (
            section.extensions.id(ExtensionKind::RepairedRtpStreamId),
            o.rid.as_deref(),
        ) {
            let _ = ext.push(id, rid.as_bytes());
        }
        let _ = ext.push_value(twcc_id, &twcc);
        let mut builder = RtpPacketBuilder::new(rtx_pt, sequence, o.rtp_timestamp, rtx_ssrc);
        builder.extensions(&ext);
        let padding = size.saturating_sub(builder.header_len()).clamp(1, 255);
        builder.padding(u8::try_from(padding).unwrap_or(u8::MAX));
        out.clear();
        if builder.write_vec(out).is_err() {
            return false;
        }
        o.rtx_sequence = sequence.wrapping_add(1);
        self.twcc_sequence = twcc.0.wrapping_add(1);
        b.on_probe_sent(now, twcc.0, out.len(), cluster);
        true
    }

    /// The negotiated send layers of section `mid` (paused state as negotiated, restrictions).
    pub(crate) fn send_encodings(&self, mid: Mid) -> &[SendEncoding] {
        self.sections
            .iter()
            .find(|s| s.mid == mid)
            .map_or(&[], |s| &s.send_encodings[..])
    }

    /// Whether simulcast layer `rid` of section `mid` is paused.
    pub(crate) fn layer_paused(&self, mid: Mid, rid: &str) -> bool {
        self.outbound.values().any(|o| {
            o.paused
                && o.rid.as_deref() == Some(rid)
                && o.section.is_some_and(|i| self.sections[i].mid == mid)
        })
    }

    /// Our SSRC and RTX SSRC of simulcast layer `rid` of section `mid`, once it sent or was
    /// paused.
    pub(crate) fn layer_ssrcs(&self, mid: Mid, rid: &str) -> Option<(u32, Option<u32>)> {
        self.outbound.iter().find_map(|(&ssrc, o)| {
            (o.rid.as_deref() == Some(rid)
                && o.section.is_some_and(|i| self.sections[i].mid == mid))
            .then_some((ssrc, o.rtx_ssrc))
        })
    }

    /// The section index of `mid` (which must send) and its send layer named `rid`.
    fn send_layer(
        &self,
        mid: Mid,
        rid: Option<&str>,
    ) -> Result<(usize, Option<Arc<str>>), MediaError> {
        let index = self
            .sections
            .iter()
            .position(|s| s.mid == mid)
            .ok_or(MediaError::UnknownMid(mid))?;
        let section = &self.sections[index];
        if !section.sends() {
            return Err(MediaError::NotSending(mid));
        }
        let rid = match rid {
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
        Ok((index, rid))
    }

    pub(super) fn track_outbound(
        &mut self,
        ssrc: u32,
        section: Option<usize>,
        rid: Option<Arc<str>>,
    ) {
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
                template: None,
                rtx_ssrc: None,
                paused: false,
            },
        );
    }

    /// Writes our next transport-wide sequence number into a packet the application built
    /// when it carries the extension (a forwarded packet carries the previous hop's, which the
    /// peer's feedback must not mix with ours), and records it for the bandwidth estimator.
    pub(crate) fn stamp_transport_sequence(&mut self, now: Instant, packet: &mut [u8]) {
        let Ok(p) = RtpPacket::parse(packet) else {
            return;
        };
        let ssrc = p.ssrc();
        let section = self
            .outbound
            .get(&ssrc)
            .and_then(|o| o.section)
            .or_else(|| self.sections.iter().position(|s| s.send_ssrc == Some(ssrc)));
        // One transport: every bundled section maps the extension to the same id.
        let id = section
            .and_then(|i| {
                self.sections[i]
                    .extensions
                    .id(ExtensionKind::TransportWideCc)
            })
            .or_else(|| {
                self.sections
                    .iter()
                    .find_map(|s| s.extensions.id(ExtensionKind::TransportWideCc))
            });
        let Some(id) = id else {
            return;
        };
        let base = packet.as_ptr() as usize;
        let Some(at) = p
            .extensions()
            .and_then(|e| e.get(id))
            .filter(|d| d.len() == 2)
            .map(|d| d.as_ptr() as usize - base)
        else {
            return;
        };
        let sequence = self.twcc_sequence;
        self.twcc_sequence = sequence.wrapping_add(1);
        TransportSequence(sequence).encode(&mut packet[at..at + 2]);
        if let Some(b) = &mut self.bandwidth {
            b.on_sent(now, sequence, packet.len());
        }
    }

    /// Counts a packet we send (built by us or given whole by the application) and keeps it
    /// for retransmission when the peer NACKs its section.
    /// `shared`: the shared packet the payload is from (then the history keeps a reference to
    /// it and a copy of the header only).
    pub(crate) fn on_sent(
        &mut self,
        now: Instant,
        p: &RtpPacket<'_>,
        bytes: &[u8],
        shared: Option<&SharedPacket>,
    ) {
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
            match shared {
                Some(shared) => history.push_shared(
                    self.history_capacity,
                    p.sequence_number(),
                    &bytes[..p.header_len()],
                    shared,
                ),
                None => history.push(self.history_capacity, p.sequence_number(), bytes),
            }
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

    /// Queues the packets `lost` of our stream `ssrc` that the history still has: as RTX on
    /// our RTX SSRC when the section negotiated it (RFC 4588: a new sequence number, the
    /// original one in the first two payload bytes), else as the original packet again. A
    /// packet is sent again at most once per half round trip.
    pub(super) fn answer_nack(&mut self, now: Instant, ssrc: u32, lost: &[u16]) {
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
        // RTX is signalled for the section's main SSRC; each simulcast layer has its own RTX
        // SSRC, its packets naming the layer with `repaired-rtp-stream-id`.
        let rtx_ssrc = match o.rid {
            None => section
                .send_rtx_ssrc
                .filter(|_| section.send_ssrc == Some(ssrc)),
            Some(_) => o.rtx_ssrc,
        };
        let mid_extension = section.extensions.id(ExtensionKind::SdesMid);
        let repaired_extension = section
            .extensions
            .id(ExtensionKind::RepairedRtpStreamId)
            .filter(|_| o.rid.is_some());
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
            if !budget.spend(now, sent.len()) {
                // Over the stream's retransmission budget: the rest of this NACK waits for
                // the receiver's next request.
                self.retransmissions_limited += (lost.len() - lost_index) as u64;
                return;
            }
            let bytes = sent.bytes();
            let Ok(original) = RtpPacket::parse(&bytes) else {
                continue;
            };
            let rtx_payload_type = section.rtx_for(original.payload_type());
            let mut rtx_twcc = None;
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
                    if let (Some(id), Some(rid)) = (repaired_extension, o.rid.as_deref()) {
                        let _ = ext.push(id, rid.as_bytes());
                    }
                    let twcc = TransportSequence(self.twcc_sequence);
                    if let Some(id) = section.extensions.id(ExtensionKind::TransportWideCc) {
                        self.twcc_sequence = self.twcc_sequence.wrapping_add(1);
                        let _ = ext.push_value(id, &twcc);
                        rtx_twcc = Some(twcc.0);
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
                _ => bytes.to_vec(),
            };
            if let (Some(b), Some(twcc)) = (&mut self.bandwidth, rtx_twcc) {
                b.on_sent(now, twcc, packet.len());
            }
            o.retransmitted_packets += 1;
            o.retransmitted_bytes += original.payload().len() as u64;
            drop(bytes);
            sent.resent = Some(now);
            self.retransmits.push_back(packet);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_keeps_forwarded_payloads_by_reference_and_long_headers_by_copy() {
        let pool = crate::buffer::BufferPool::default();
        let packet = pool.copy_of(&[7u8; 100]).into_shared(12..100);
        let mut history = History::default();
        let header = [1u8; 20];
        history.push_shared(2, 1, &header, &packet);
        let long = [2u8; INLINE_HEADER + 1];
        history.push_shared(2, 2, &long, &packet);
        let [short_slot, long_slot] = [1, 2].map(|s| {
            History::get_mut(&mut history.slots, s)
                .map(|p| {
                    (
                        matches!(p.bytes, SentBytes::Shared { .. }),
                        p.bytes().into_owned(),
                        p.len(),
                    )
                })
                .unwrap()
        });
        let expect = |h: &[u8]| [h, &[7u8; 88][..]].concat();
        assert_eq!(short_slot, (true, expect(&header), 108));
        assert_eq!(long_slot, (false, expect(&long), INLINE_HEADER + 1 + 88));
        // Full: the oldest slot takes a copied packet; the shared one is let go.
        history.push(2, 3, &[3u8; 50]);
        assert!(History::get_mut(&mut history.slots, 1).is_none());
        let third = History::get_mut(&mut history.slots, 3).unwrap();
        assert_eq!(
            (third.bytes().into_owned(), third.len()),
            (vec![3u8; 50], 50)
        );
        drop(history);
        drop(packet);
        assert_eq!(
            pool.kept(),
            1,
            "the shared bytes went back when nothing held them"
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

    fn video_section(extensions: &[(u8, ExtensionKind)]) -> Section {
        let mut map = ExtensionMap::new();
        for &(id, kind) in extensions {
            map.insert(id, kind);
        }
        Section {
            mid: "video1".parse().unwrap(),
            kind: MediaKind::Video,
            direction: Direction::SendRecv,
            codecs: vec![Codec::new(96, "VP8", 90_000, None)],
            extensions: map,
            send_ssrc: Some(0x1234_5678),
            send_rtx_ssrc: None,
            send_rids: vec![Arc::from("hi")],
            send_encodings: vec![SendEncoding::new("hi")],
            nack: true,
            pli: true,
        }
    }

    #[test]
    fn a_header_template_puts_each_value_where_a_parser_finds_it() {
        use sansrtc_rtp::extension::{Mid as MidValue, RtpStreamId};
        let kinds = [
            (1, ExtensionKind::SdesMid),
            (2, ExtensionKind::AbsSendTime),
            (3, ExtensionKind::TransportWideCc),
            (4, ExtensionKind::RtpStreamId),
        ];
        let section = video_section(&kinds);
        let template = HeaderTemplate::new(&section, Some("hi"), 0xCAFE_F00D).unwrap();
        let mut bytes = template.bytes.clone();
        let abs = template.abs_send_time.unwrap();
        let twcc = template.transport_sequence.unwrap();
        AbsSendTime(0xAB_CDEF).encode(&mut bytes[abs..abs + 3]);
        TransportSequence(0xBEEF).encode(&mut bytes[twcc..twcc + 2]);
        bytes.extend_from_slice(b"payload");
        let p = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(p.ssrc(), 0xCAFE_F00D);
        assert_eq!(p.payload(), b"payload");
        let ext = p.extensions().unwrap();
        let map = &section.extensions;
        assert_eq!(map.get::<AbsSendTime>(&ext), Some(AbsSendTime(0xAB_CDEF)));
        assert_eq!(
            map.get::<TransportSequence>(&ext),
            Some(TransportSequence(0xBEEF))
        );
        assert_eq!(map.get::<MidValue>(&ext).unwrap().0, "video1");
        assert_eq!(map.get::<RtpStreamId>(&ext).unwrap().0, "hi");
        // Without per-packet extensions there is nothing to write per packet.
        let plain = video_section(&[(1, ExtensionKind::SdesMid)]);
        let template = HeaderTemplate::new(&plain, None, 1).unwrap();
        assert_eq!(template.abs_send_time, None);
        assert_eq!(template.transport_sequence, None);
        assert!(RtpPacket::parse(&template.bytes).is_ok());
    }
}
