//! RTCP: sender and receiver reports with SDES on schedule, round-trip times from report
//! blocks, and the feedback (PLI, FIR, NACK) the peer sends about our streams.

use super::*;

/// Report blocks in one SR/RR (RFC 3550: the count field has 5 bits).
pub(super) const MAX_BLOCKS: usize = 31;

impl MediaState {
    /// The transport's round-trip time (ICE), used when report blocks give none (a peer that
    /// only receives never gets one).
    pub(crate) fn set_transport_rtt(&mut self, rtt: Duration) {
        self.transport_rtt = Some(rtt);
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
                        self.on_report_block(now, now_compact, b);
                    }
                }
                RtcpPacket::ReceiverReport(rr) => {
                    for b in rr.reports.iter() {
                        self.on_report_block(now, now_compact, b);
                    }
                }
                RtcpPacket::TransportCc(fb) => {
                    if let Some(b) = &mut self.bandwidth {
                        b.on_transport_cc(now, &fb);
                    }
                }
                RtcpPacket::Remb(remb) => {
                    if let Some(b) = &mut self.bandwidth {
                        b.on_remb(now, remb.bitrate());
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
        if let Some(e) = self.bandwidth.as_mut().and_then(|b| b.poll_change(now)) {
            out.push_back(Event::BandwidthEstimate(e));
        }
    }

    pub(super) fn on_report_block(&mut self, now: Instant, now_compact: u32, b: ReportBlock) {
        if let Some(o) = self.outbound.get_mut(&b.ssrc) {
            if let Some(rtt) = round_trip_time(
                now_compact,
                b.last_sender_report,
                b.delay_since_last_sender_report,
            ) {
                o.rtt = Some(rtt);
                self.rtt = Some(rtt);
            }
            // Loss for the bandwidth estimator (it uses it only without transport-wide
            // feedback): over the packets expected since the previous report.
            if let (Some(bw), Some(previous)) = (&mut self.bandwidth, o.remote) {
                let expected = b
                    .extended_highest_sequence
                    .wrapping_sub(previous.extended_highest_sequence);
                if expected > 0 && expected < 1 << 16 {
                    bw.on_loss_report(now, b.fraction_lost, expected);
                }
            }
            o.remote = Some(b);
        }
    }

    pub(super) fn keyframe(&mut self, ssrc: u32, kind: KeyframeKind, out: &mut VecDeque<Event>) {
        let Some(o) = self.outbound.get_mut(&ssrc) else {
            return;
        };
        match kind {
            KeyframeKind::Pli => o.plis += 1,
            KeyframeKind::Fir => o.firs += 1,
        }
        let mid = o.section.map(|i| self.sections[i].mid);
        let rid = o.rid.clone();
        out.push_back(Event::KeyframeRequest {
            mid,
            ssrc,
            rid,
            kind,
        });
    }

    /// Our SSRC to send feedback about `media_ssrc` from: the sending SSRC of its section, or
    /// our RTCP-only SSRC.
    pub(super) fn feedback_sender(&self, media_ssrc: u32) -> u32 {
        self.inbound
            .get(&media_ssrc)
            .and_then(|i| i.section)
            .and_then(|s| self.sections[s].send_ssrc)
            .filter(|s| self.outbound.contains_key(s))
            .unwrap_or(self.rtcp_ssrc)
    }

    /// An empty RR and our SDES CNAME: the start every compound packet needs (RFC 3550 6.1).
    pub(super) fn compound_head(&self, sender: u32, out: &mut Vec<u8>) -> Result<(), MediaError> {
        let rr = RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: sender,
            reports: List::empty(),
            profile_extension: &[],
        });
        rr.write_vec(out).map_err(MediaError::Rtcp)?;
        self.write_sdes(&[sender], out)
    }

    pub(super) fn write_sdes(&self, ssrcs: &[u32], out: &mut Vec<u8>) -> Result<(), MediaError> {
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
}
