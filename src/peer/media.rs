//! RTP and RTCP through SRTP: writing on tracks, forwarding whole packets, retransmissions,
//! feedback, and what arrives.

use super::*;
use crate::buffer::SharedPacket;
use sdp::jsep::SendEncoding;

/// One negotiated media section (a track) of a [`PeerConnection`], borrowed from it
/// ([`PeerConnection::track`]): what it negotiated, and writing RTP on it.
///
/// ```no_run
/// # fn f(pc: &mut sansrtc::PeerConnection, mid: sansrtc::Mid, frame: &[u8]) -> Result<(), sansrtc::Error> {
/// use sansrtc::sdp::jsep::CodecName;
/// let now = std::time::Instant::now();
/// let mut video = pc.track(mid)?;
/// let vp8 = video.payload_type(&CodecName::Vp8).expect("VP8 negotiated");
/// video.write_rtp(now, sansrtc::RtpWrite::new(vp8, 90_000, frame).marker(true))?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Track<'a> {
    pc: &'a mut PeerConnection,
    mid: Mid,
}

impl Track<'_> {
    /// Its mid.
    pub fn mid(&self) -> Mid {
        self.mid
    }

    /// Audio or video.
    pub fn kind(&self) -> MediaKind {
        self.pc
            .media
            .kind(self.mid)
            .expect("a track handle exists only for a negotiated section")
    }

    /// The codecs negotiated on it (each with its payload type, typed parameters and RTX
    /// pairing), in order of preference.
    pub fn codecs(&self) -> &[Codec] {
        self.pc.media.codecs(self.mid).unwrap_or(&[])
    }

    /// The payload type negotiated for the first codec named `name` (not an RTX one).
    pub fn payload_type(&self, name: &sdp::jsep::CodecName) -> Option<u8> {
        self.codecs()
            .iter()
            .find(|c| c.name == *name)
            .map(|c| c.payload_type)
    }

    /// Our SSRC on it (signalled with `a=ssrc`).
    pub fn sending_ssrc(&self) -> Option<u32> {
        self.pc.media.sending_ssrc(self.mid)
    }

    /// Pauses or resumes its simulcast layer `rid` ([`PeerConnection::set_layer_paused`]).
    pub fn set_layer_paused(&mut self, rid: &str, paused: bool) -> Result<(), Error> {
        self.pc.set_layer_paused(self.mid, rid, paused)
    }

    /// Sends RTP on it ([`PeerConnection::write_rtp`]).
    pub fn write_rtp(&mut self, now: Instant, write: RtpWrite<'_>) -> Result<(), Error> {
        self.pc.write_rtp(now, self.mid, write)
    }
}

impl PeerConnection {
    /// The negotiated media section `mid`, to look at what it negotiated and write RTP on.
    pub fn track(&mut self, mid: Mid) -> Result<Track<'_>, Error> {
        if self.media.kind(mid).is_none() {
            return Err(MediaError::UnknownMid(mid).into());
        }
        Ok(Track { pc: self, mid })
    }

    /// Sends RTP on the track of m-section `mid`: the stack sets the SSRC (the one signalled
    /// for the track), the sequence number and the negotiated header extensions (`sdes:mid`,
    /// `rtp-stream-id` for a simulcast layer, `abs-send-time`), then protects it with SRTP.
    pub fn write_rtp(&mut self, now: Instant, mid: Mid, write: RtpWrite<'_>) -> Result<(), Error> {
        self.check_open()?;
        if self.srtp.is_none() {
            return Err(Error::NotConnected);
        }
        let (local, remote) = self.consented_path()?;
        let mut packet = self.buffers.take(write.payload.len() + 64);
        let sequence_at = self.media.build_rtp(now, mid, &write, packet.vec_mut())?;
        if self.media.pacing() {
            self.media.enqueue_paced(now, mid, packet, sequence_at)?;
            self.send_paced(now);
            return Ok(());
        }
        self.protect_and_push(now, local, remote, packet)
    }

    /// Sends the paced packets allowed to leave by `now` ([`Config::pacing`]).
    pub(super) fn send_paced(&mut self, now: Instant) {
        while let Some(packet) = self.media.poll_paced(now) {
            if let Ok((local, remote)) = self.consented_path() {
                let _ = self.protect_and_push(now, local, remote, packet);
            }
        }
    }

    /// Sends the padding bandwidth probes want now ([`Config::probing`]): padding-only RTX
    /// packets (at most 255 bytes of padding each) at each probe's rate.
    pub(super) fn send_probes(&mut self, now: Instant) {
        let Some((local, remote)) = self.sending_path() else {
            return;
        };
        if self.srtp.is_none() {
            return;
        }
        while let Some(padding) = self.media.poll_probe_padding(now) {
            let mut packet = self.buffers.take(padding.size() + 16);
            if !self.media.build_padding(now, &padding, packet.vec_mut()) {
                return;
            }
            self.stats.padding_sent += 1;
            if self.protect_and_push(now, local, remote, packet).is_err() {
                return;
            }
        }
    }

    /// Sends a complete RTP packet (the caller chose SSRC, sequence number and extensions, e.g.
    /// to forward a packet) through SRTP. One value is ours, not the caller's: when the packet
    /// carries the negotiated transport-wide sequence number extension, the connection writes
    /// its own next number there (the numbers belong to this transport; a forwarded packet's
    /// are the previous hop's), so the peer's feedback on it feeds
    /// [`PeerConnection::bandwidth_estimate`].
    pub fn send_rtp(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        if self.srtp.is_none() {
            return Err(Error::NotConnected);
        }
        let mut buf = self.buffers.take(packet.len() + 16);
        buf.vec_mut().extend_from_slice(packet);
        self.send_plain_rtp(now, buf, None)
    }

    /// [`PeerConnection::send_rtp`] of the packet made of `header` (a whole RTP header: the
    /// fixed part, CSRCs and header extensions, as the application rewrote it for this
    /// connection; no padding) and the payload of `payload` (a received packet
    /// [`crate::RtpReceived::share`]d): the retransmission history keeps a reference to the payload
    /// instead of a copy. What a forwarding server writing its own headers wants.
    pub fn send_rtp_shared(
        &mut self,
        now: Instant,
        header: &[u8],
        payload: &SharedPacket,
    ) -> Result<(), Error> {
        self.check_open()?;
        if self.srtp.is_none() {
            return Err(Error::NotConnected);
        }
        let body = payload.payload();
        let mut buf = self.buffers.take(header.len() + body.len() + 16);
        buf.vec_mut().extend_from_slice(header);
        buf.vec_mut().extend_from_slice(body);
        self.send_plain_rtp(now, buf, Some((header.len(), payload)))
    }

    /// Sends a plain RTP packet we did not build; `shared`: its header's length and the
    /// shared packet its payload is from.
    pub(super) fn send_plain_rtp(
        &mut self,
        now: Instant,
        mut packet: PacketBuf,
        shared: Option<(usize, &SharedPacket)>,
    ) -> Result<(), Error> {
        let (local, remote) = self.consented_path()?;
        if self.srtp.is_none() {
            return Err(Error::NotConnected);
        }
        self.media.stamp_transport_sequence(now, packet.vec_mut());
        if let Ok(p) = sansrtc_rtp::RtpPacket::parse(&packet) {
            // The payload is the shared one only if the header is whole and unpadded.
            let shared = shared
                .filter(|&(header_len, _)| p.header_len() == header_len && !p.has_padding())
                .map(|(_, s)| s);
            self.media.on_sent(now, &p, &packet, shared);
        }
        self.protect_and_push(now, local, remote, packet)
    }

    /// Protects a plain RTP packet already recorded as sent and queues it on the path.
    fn protect_and_push(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        mut packet: PacketBuf,
    ) -> Result<(), Error> {
        let srtp = self.srtp.as_mut().ok_or(Error::NotConnected)?;
        srtp.outbound.protect_rtp(packet.vec_mut())?;
        self.stats.rtp_sent += 1;
        // SRTP involves no other layer: nothing to drive.
        self.push(now, local, remote, packet);
        Ok(())
    }

    /// Sends the retransmissions the peer's NACKs asked for.
    pub(super) fn send_retransmissions(&mut self, now: Instant) {
        let (Some((local, remote)), Some(srtp)) = (self.sending_path(), self.srtp.as_mut()) else {
            return;
        };
        let mut protected = Vec::new();
        while let Some(mut packet) = self.media.poll_retransmit() {
            packet.reserve(16);
            if srtp.outbound.protect_rtp(&mut packet).is_ok() {
                protected.push(packet);
            }
        }
        for packet in protected {
            self.stats.retransmissions_sent += 1;
            self.stats.rtp_sent += 1;
            self.push(now, local, remote, packet.into());
        }
    }

    /// Sends a compound RTCP packet (built with `sansrtc::rtp::rtcp`) through SRTCP.
    pub fn send_rtcp(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        let (local, remote) = self.consented_path()?;
        let srtp = self.srtp.as_mut().ok_or(Error::NotConnected)?;
        let mut out = self.buffers.take(packet.len() + 32);
        out.vec_mut().extend_from_slice(packet);
        srtp.outbound.protect_rtcp(out.vec_mut())?;
        self.stats.rtcp_sent += 1;
        self.push(now, local, remote, out);
        Ok(())
    }

    /// Asks the sender of the remote stream `ssrc` for a key frame (PLI or FIR).
    pub fn request_keyframe(
        &mut self,
        now: Instant,
        ssrc: u32,
        kind: KeyframeKind,
    ) -> Result<(), Error> {
        let packet = self.media.keyframe_request(ssrc, kind)?;
        self.send_rtcp(now, &packet)
    }

    /// Tells the sender of the remote stream `ssrc` that packets `lost` did not arrive (generic
    /// NACK, RFC 4585).
    pub fn send_nack(&mut self, now: Instant, ssrc: u32, lost: &[u16]) -> Result<(), Error> {
        let packet = self.media.nack(ssrc, lost)?;
        self.send_rtcp(now, &packet)
    }

    /// The codec negotiated for `payload_type` on m-section `mid`.
    pub fn codec(&self, mid: Mid, payload_type: u8) -> Option<&Codec> {
        self.media.codec(mid, payload_type)
    }

    /// Our SSRC on m-section `mid` (the one signalled with `a=ssrc`, which
    /// [`PeerConnection::write_rtp`] sends on).
    pub fn sending_ssrc(&self, mid: Mid) -> Option<u32> {
        self.media.sending_ssrc(mid)
    }

    /// Pauses (`true`) or resumes simulcast layer `rid` of m-section `mid`. A paused layer
    /// sends nothing: [`PeerConnection::write_rtp`] on it fails with
    /// [`MediaError::LayerPaused`], so the application can stop its encoder. The description
    /// is not renegotiated for it (browsers do the same for an encoding made inactive); the
    /// peer sees the layer's packets stop, and the next offer or answer writes it `~rid`
    /// (RFC 8853), so a renegotiation keeps it paused.
    pub fn set_layer_paused(&mut self, mid: Mid, rid: &str, paused: bool) -> Result<(), Error> {
        self.media.set_layer_paused(mid, rid, paused)?;
        let id = self
            .jsep
            .transceivers()
            .map(|(id, _)| id)
            .find(|&id| self.jsep.transceiver_mid(id) == Some(mid));
        if let Some(e) = id
            .and_then(|id| self.jsep.transceiver_mut(id))
            .and_then(|t| t.send_encodings.iter_mut().find(|e| e.rid == rid))
        {
            e.paused = paused;
        }
        Ok(())
    }

    /// The simulcast layers negotiated for sending on m-section `mid`, lowest first as offered:
    /// each with its RID, whether it was negotiated paused (`~rid` on either side; see
    /// [`PeerConnection::layer_paused`] for now) and the restrictions its encoder keeps to
    /// (ours, tightened by what the receiver's `a=rid` line asks: the smaller `max-br`,
    /// `max-width`, `max-height`, `max-fps`).
    pub fn send_encodings(&self, mid: Mid) -> &[SendEncoding] {
        self.media.send_encodings(mid)
    }

    /// The simulcast layers (RIDs) negotiated for sending on m-section `mid`, in the order
    /// offered: the ones the answer accepted. Empty when the answer accepted none, e.g.
    /// Chromium answers a simulcast offer without simulcast: then send one stream, without a
    /// RID ([`RtpWrite::rid`] unset).
    pub fn send_layers(&self, mid: Mid) -> &[Arc<str>] {
        self.media.send_layers(mid)
    }

    /// Whether simulcast layer `rid` of m-section `mid` is paused.
    pub fn layer_paused(&self, mid: Mid, rid: &str) -> bool {
        self.media.layer_paused(mid, rid)
    }

    /// Our SSRC and RTX SSRC of simulcast layer `rid` of m-section `mid`, once the layer sent
    /// (or was paused). Every layer's packets carry the `rtp-stream-id` extension (and its RTX
    /// packets `repaired-rtp-stream-id`), so a receiver never needs these signalled.
    pub fn layer_ssrcs(&self, mid: Mid, rid: &str) -> Option<(u32, Option<u32>)> {
        self.media.layer_ssrcs(mid, rid)
    }

    /// Whether m-section `mid` carries audio or video.
    pub fn media_kind(&self, mid: Mid) -> Option<MediaKind> {
        self.media.kind(mid)
    }

    /// The mids of the negotiated media sections, in order.
    pub fn media_mids(&self) -> impl Iterator<Item = Mid> + '_ {
        self.media.mids()
    }

    pub(super) fn receive_rtp(&mut self, now: Instant, datagram: &[u8]) {
        let Some(srtp) = &mut self.srtp else {
            self.stats.dropped_srtp += 1;
            return;
        };
        let mut plain = self.buffers.copy_of(datagram);
        match srtp.inbound.unprotect_rtp(plain.vec_mut()) {
            Ok(_) => match self.media.on_received(now, plain) {
                Received::Rtp(packet) => {
                    self.stats.rtp_received += 1;
                    self.events.push_back(Event::Rtp(packet));
                }
                Received::Discarded => self.stats.rtx_discarded += 1,
                Received::Malformed => self.stats.dropped_srtp += 1,
            },
            Err(_) => self.stats.dropped_srtp += 1,
        }
    }

    pub(super) fn receive_rtcp(&mut self, now: Instant, datagram: &[u8]) {
        let Some(srtp) = &mut self.srtp else {
            self.stats.dropped_srtp += 1;
            return;
        };
        let mut plain = self.buffers.copy_of(datagram);
        match srtp.inbound.unprotect_rtcp(plain.vec_mut()) {
            Ok(_) => {
                self.stats.rtcp_received += 1;
                self.media.on_rtcp(now, &plain, &mut self.events);
                self.stats.retransmissions_limited = self.media.retransmissions_limited;
                self.send_retransmissions(now);
                // Feedback may start a probe.
                self.send_probes(now);
                self.events.push_back(Event::Rtcp(plain));
            }
            Err(_) => self.stats.dropped_srtp += 1,
        }
    }

    /// Makes the SRTP contexts from the DTLS exporter once DTLS is connected and a media section
    /// is negotiated (a data-channel-only connection never needs them).
    pub(super) fn ensure_srtp(&mut self) {
        if self.srtp.is_some() || self.media.mids().next().is_none() {
            return;
        }
        if let Some(d) = &self.dtls
            && d.is_connected()
            && let Ok((profile, material)) = d.srtp_keying_material()
        {
            let role = self.dtls_role.unwrap_or(dtls::Role::Server);
            self.srtp = srtp::Context::from_dtls_keying_material(
                profile,
                &material,
                role,
                srtp::Config::default(),
            )
            .ok()
            .map(Box::new);
        }
    }
}
