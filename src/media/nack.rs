//! Asking for what we lost: NACKs after a reordering wait, repeated each round trip, a key
//! frame request when a gap is too large, and transport-wide feedback due.

use super::*;

/// A missing packet is asked for this long after the gap showed (a reordered packet usually
/// arrives meanwhile).
pub(super) const NACK_REORDER_WAIT: Duration = Duration::from_millis(5);

/// Between two NACKs of one packet when no round-trip time is known.
pub(super) const NACK_DEFAULT_RTT: Duration = Duration::from_millis(100);

/// Between two NACKs of one packet at least (a round-trip time measured on a quieter path
/// than the current one must not spend every retry before the first answer can arrive).
pub(super) const NACK_MIN_INTERVAL: Duration = Duration::from_millis(20);

/// NACKs per missing packet before giving up on it.
pub(super) const NACK_MAX_TIMES: u8 = 10;

/// Missing packets remembered per stream; a larger gap asks for a key frame instead.
pub(super) const NACK_MAX_MISSING: usize = 500;

/// Between two key frame requests of one stream after large gaps, at least (a sender that
/// keeps jumping cannot make us send one per packet).
pub(super) const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(300);

/// Sequence numbers in one NACK packet.
pub(super) const NACK_MAX_PER_PACKET: usize = 200;

/// The packets missing from a received stream and when each was last asked for (the NACK
/// side of RFC 4585): a gap's packets are asked for after [`NACK_REORDER_WAIT`], then again
/// every round trip, at most [`NACK_MAX_TIMES`] times; an arrival (late, or as RTX) ends it.
#[derive(Debug, Default, Clone)]
pub(super) struct NackRequests {
    pub(super) highest: Option<u64>,
    pub(super) missing: BTreeMap<u64, Missing>,
    /// The earliest time a missing packet is due.
    pub(super) next_due: Option<Instant>,
    /// When a key frame is to be asked for (a gap larger than [`NACK_MAX_MISSING`] happened),
    /// not sooner than [`KEYFRAME_REQUEST_INTERVAL`] after the last request.
    pub(super) keyframe_needed: Option<Instant>,
    /// The last key frame request.
    pub(super) keyframe_requested: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Missing {
    pub(super) since: Instant,
    pub(super) asked: Option<Instant>,
    pub(super) times: u8,
}

impl Missing {
    pub(super) fn due(&self, rtt: Duration) -> Instant {
        self.asked
            .map_or(self.since + NACK_REORDER_WAIT, |t| t + rtt)
    }
}

impl NackRequests {
    /// A packet with extended sequence number `extended` arrived.
    pub(super) fn on_packet(&mut self, now: Instant, extended: u64, rtt: Duration) {
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
    pub(super) fn due(&mut self, now: Instant, rtt: Duration) -> (Vec<u16>, bool) {
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

    pub(super) fn update_next_due(&mut self, rtt: Duration) {
        let missing = self.missing.values().map(|m| m.due(rtt)).min();
        self.next_due = match (missing, self.keyframe_needed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

impl MediaState {
    /// Whether lost packets of received streams that negotiated `nack` are asked for.
    pub(crate) fn set_nack_requests(&mut self, on: bool) {
        self.nack_requests = on;
        if !on {
            for i in self.inbound.values_mut() {
                i.nack_requests = None;
            }
        }
    }

    /// Between two NACKs of one packet: a round trip, at least [`NACK_MIN_INTERVAL`].
    pub(super) fn nack_rtt(&self) -> Duration {
        self.rtt
            .or(self.transport_rtt)
            .unwrap_or(NACK_DEFAULT_RTT)
            .max(NACK_MIN_INTERVAL)
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
}
