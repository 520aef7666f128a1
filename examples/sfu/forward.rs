//! Forwarding one publisher's RTP to one subscriber: each packet is rewritten for the
//! subscriber's connection (our SSRC on its m-section, its payload type, its header extension
//! ids and mid, sequence numbers and timestamps continuous across simulcast layer switches):
//! the forwarder writes the subscriber's header and hands it with the publisher's payload,
//! shared (`RtpReceived::share`), to `PeerConnection::send_rtp_shared`, which stamps its own
//! transport-wide sequence number, keeps a reference to the payload (not a copy) for
//! retransmissions and protects the packet with SRTP. Also the choice of the simulcast layer a subscriber gets.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sansrtc::{Mid, PeerConnection, RtpReceived, SharedPacket};

/// `urn:ietf:params:rtp-hdrext:sdes:mid`.
const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
/// The transport-wide sequence number (the connection writes its own number there).
const TWCC_URI: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
/// Absolute send time (copied from the publisher's packet).
const ABS_SEND_TIME_URI: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";

/// The one-byte header extension ids of one m-section, as the offer that negotiated it named
/// them (an answer keeps the offerer's ids).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ExtIds {
    mid: Option<u8>,
    twcc: Option<u8>,
    abs_send_time: Option<u8>,
}

/// The extension ids of the first m-section of `kind` (`audio` or `video`) in `sdp`.
pub(crate) fn ext_ids(sdp: &str, kind: &str) -> ExtIds {
    let mut ids = ExtIds::default();
    let mut inside = false;
    for line in sdp.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            if inside {
                break;
            }
            inside = m.starts_with(kind);
            continue;
        }
        let Some(rest) = line.strip_prefix("a=extmap:").filter(|_| inside) else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(id), Some(uri)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(id) = id.split('/').next().unwrap_or("").parse::<u8>() else {
            continue;
        };
        if !(1..=14).contains(&id) {
            continue;
        }
        match uri {
            MID_URI => ids.mid = Some(id),
            TWCC_URI => ids.twcc = Some(id),
            ABS_SEND_TIME_URI => ids.abs_send_time = Some(id),
            _ => {}
        }
    }
    ids
}

impl ExtIds {
    /// The abs-send-time id.
    pub(crate) fn abs_send_time(&self) -> Option<u8> {
        self.abs_send_time
    }
}

/// The value of one-byte extension `id` in an RTP packet, if present.
fn extension(packet: &[u8], id: u8) -> Option<&[u8]> {
    if packet.len() < 12 || packet[0] & 0x10 == 0 {
        return None;
    }
    let at = 12 + 4 * usize::from(packet[0] & 0x0f);
    let head = packet.get(at..at + 4)?;
    if head[..2] != [0xbe, 0xde] {
        return None;
    }
    let len = 4 * usize::from(u16::from_be_bytes([head[2], head[3]]));
    let block = packet.get(at + 4..at + 4 + len)?;
    let mut i = 0;
    while i < block.len() {
        let b = block[i];
        if b == 0 {
            i += 1;
            continue;
        }
        let (eid, n) = (b >> 4, usize::from(b & 0x0f) + 1);
        if eid == 15 {
            return None;
        }
        let value = block.get(i + 1..i + 1 + n)?;
        if eid == id {
            return Some(value);
        }
        i += 1 + n;
    }
    None
}

/// One subscriber's outgoing stream of one kind (audio or video).
#[derive(Debug)]
pub(crate) struct Outbound {
    /// The subscriber's m-section and its mid as it goes in the `sdes:mid` extension.
    pub(crate) mid: Mid,
    mid_value: String,
    /// Our SSRC on it.
    ssrc: u32,
    /// The subscriber's extension ids on it.
    ext: ExtIds,
    /// The publisher's abs-send-time id (copied over when both have it).
    publisher_abs_send_time: Option<u8>,
    /// Publisher payload type -> the subscriber's payload type for the same codec.
    payload_types: HashMap<u8, u8>,
    /// The publisher's stream (simulcast layer, `None` without simulcast) being forwarded;
    /// `None` before the first packet.
    pub(crate) source: Option<Option<Arc<str>>>,
    /// out = in + offset, for sequence numbers and timestamps of the current source.
    seq_offset: u16,
    ts_offset: u32,
    /// The last sequence number and timestamp sent (the next source continues from them).
    last_seq: u16,
    last_ts: u32,
    /// Timestamp units between the last packet of one source and the first of the next.
    ts_step: u32,
    /// Packets forwarded, per source layer.
    pub(crate) forwarded: HashMap<Option<Arc<str>>, u64>,
    /// The packet being built (reused).
    buf: Vec<u8>,
}

impl Outbound {
    /// The outgoing stream on the subscriber's m-section `mid`, with `payload_types` mapping
    /// the publisher's codecs to the subscriber's; `video` decides the timestamp step of a
    /// switch (one 30 fps frame, or 20 ms of audio).
    pub(crate) fn new(
        sub: &PeerConnection,
        mid: Mid,
        ext: ExtIds,
        publisher_abs_send_time: Option<u8>,
        payload_types: HashMap<u8, u8>,
        video: bool,
    ) -> Option<Self> {
        let ssrc = sub.sending_ssrc(mid)?;
        Some(Outbound {
            mid,
            mid_value: mid.to_string(),
            ssrc,
            ext,
            publisher_abs_send_time,
            payload_types,
            source: None,
            seq_offset: 0,
            ts_offset: 0,
            last_seq: 0,
            last_ts: 0,
            ts_step: if video { 3000 } else { 960 },
            forwarded: HashMap::new(),
            buf: Vec::with_capacity(1500),
        })
    }

    /// Forwards `rtp` (from the publisher's stream `layer`; `shared`, its bytes shared) if it
    /// is the source forwarded, or switches to that source first when `switch` (at a key
    /// frame of the target layer). Returns whether it was sent.
    pub(crate) fn forward(
        &mut self,
        pc: &mut PeerConnection,
        now: Instant,
        (rtp, shared): (&RtpReceived, &SharedPacket),
        layer: &Option<Arc<str>>,
        switch: bool,
    ) -> bool {
        let Some(&pt) = self.payload_types.get(&rtp.payload_type) else {
            return false;
        };
        let payload = rtp.payload();
        // Padding-only packets (the publisher's bandwidth probes) are not worth forwarding.
        if payload.is_empty() {
            return false;
        }
        if self.source.as_ref() != Some(layer) {
            if !switch {
                return false;
            }
            // The new source continues where the last one stopped: no gap, no jump back.
            let started = self.source.is_some();
            self.seq_offset = self
                .last_seq
                .wrapping_add(u16::from(started))
                .wrapping_sub(rtp.sequence_number);
            self.ts_offset = if started {
                self.last_ts
                    .wrapping_add(self.ts_step)
                    .wrapping_sub(rtp.timestamp)
            } else {
                0
            };
            self.source = Some(layer.clone());
        }
        let seq = rtp.sequence_number.wrapping_add(self.seq_offset);
        let ts = rtp.timestamp.wrapping_add(self.ts_offset);
        // Newest packet so far (in 16-bit serial number order)?
        if seq.wrapping_sub(self.last_seq) < 0x8000 {
            self.last_seq = seq;
            self.last_ts = ts;
        }
        self.build_header(rtp, pt, seq, ts);
        let sent = pc.send_rtp_shared(now, &self.buf, shared).is_ok();
        if sent {
            *self.forwarded.entry(layer.clone()).or_default() += 1;
        }
        sent
    }

    /// The header for the subscriber: fresh, with its extensions (mid, a transport-wide
    /// sequence number slot, abs-send-time copied).
    fn build_header(&mut self, rtp: &RtpReceived, pt: u8, seq: u16, ts: u32) {
        let b = &mut self.buf;
        b.clear();
        let mut ext = [0u8; 40];
        let mut n = 0;
        if let Some(id) = self.ext.mid {
            let v = self.mid_value.as_bytes();
            let len = v.len().min(16);
            ext[n] = (id << 4) | (len as u8 - 1);
            ext[n + 1..n + 1 + len].copy_from_slice(&v[..len]);
            n += 1 + len;
        }
        if let Some(id) = self.ext.twcc {
            ext[n] = (id << 4) | 1;
            n += 3;
        }
        if let (Some(id), Some(theirs)) = (self.ext.abs_send_time, self.publisher_abs_send_time)
            && let Some(v) = extension(rtp.packet(), theirs).filter(|v| v.len() == 3)
        {
            ext[n] = (id << 4) | 2;
            ext[n + 1..n + 4].copy_from_slice(v);
            n += 4;
        }
        let words = n.div_ceil(4);
        b.push(if words > 0 { 0x90 } else { 0x80 });
        b.push(pt | if rtp.marker { 0x80 } else { 0 });
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&ts.to_be_bytes());
        b.extend_from_slice(&self.ssrc.to_be_bytes());
        if words > 0 {
            b.extend_from_slice(&[0xbe, 0xde]);
            b.extend_from_slice(&(words as u16).to_be_bytes());
            b.extend_from_slice(&ext[..words * 4]);
        }
    }
}

/// What a publisher's stream (a simulcast layer, or its only video) carries, measured.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    /// Its SSRC (for keyframe requests).
    pub(crate) ssrc: u32,
    /// Bytes received since the last measurement.
    bytes: u64,
    /// Its rate over the last measurement period (bits per second).
    pub(crate) bitrate: u64,
}

impl Layer {
    pub(crate) fn new(ssrc: u32) -> Self {
        Layer {
            ssrc,
            bytes: 0,
            bitrate: 0,
        }
    }

    pub(crate) fn count(&mut self, bytes: usize) {
        self.bytes += bytes as u64;
    }

    /// Closes a measurement period of `period`.
    pub(crate) fn measure(&mut self, period: Duration) {
        self.bitrate = (self.bytes * 8 * 1000) / (period.as_millis().max(1) as u64);
        self.bytes = 0;
    }
}

/// The layer a subscriber with `estimate` bits per second should get: the best one whose
/// measured rate fits in 85 % of it, else the lowest. Layers not sending (rate 0) are skipped;
/// `None` while simulcast layers are not measured yet.
pub(crate) fn choose(
    layers: &HashMap<Option<Arc<str>>, Layer>,
    estimate: Option<u64>,
) -> Option<Option<Arc<str>>> {
    let mut sending: Vec<(&Option<Arc<str>>, u64)> = layers
        .iter()
        .filter(|(_, l)| l.bitrate > 0)
        .map(|(k, l)| (k, l.bitrate))
        .collect();
    if sending.is_empty() {
        // Nothing measured yet: the only stream, or wait for the first measurement to rank
        // the simulcast layers.
        return (layers.len() == 1)
            .then(|| layers.keys().next().cloned())
            .flatten();
    }
    sending.sort_by_key(|&(_, rate)| rate);
    let budget = estimate.map_or(0, |e| e * 85 / 100);
    let best = sending
        .iter()
        .rev()
        .find(|&&(_, rate)| rate <= budget)
        .unwrap_or(&sending[0]);
    Some(best.0.clone())
}
