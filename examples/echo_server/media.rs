//! The media side of the echo: the transceivers we offer or answer with, RTP looped back on our
//! own SSRCs, keyframe requests forwarded, packets lost on purpose (to exercise NACK/RTX) and
//! video taken apart into frames and cut again by our packetizers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use sansrtc::demux::{Kind, classify};
use sansrtc::rtp::packetize::av1::{Av1Depacketizer, Av1Packetizer};
use sansrtc::rtp::packetize::h264::{H264Depacketizer, H264Packetizer};
use sansrtc::rtp::packetize::vp8::{Vp8Depacketizer, Vp8Packetizer};
use sansrtc::rtp::packetize::vp9::{Vp9Depacketizer, Vp9Packetizer};
use sansrtc::rtp::packetize::{Frame, Payloads};
use sansrtc::sctp::Reliability;
use sansrtc::sdp::Direction;
use sansrtc::sdp::jsep::{Codec, CodecName, Feedback, MediaKind, SendEncoding, Transceiver};
use sansrtc::{ChannelConfig, KeyframeKind, Mid, PeerConnection, RtpReceived, RtpWrite, codecs};

/// What `POST /offer?...` asks for.
#[derive(Debug, Default, Clone)]
pub(crate) struct OfferOptions {
    /// `media=1`: an audio and a video transceiver, sendrecv, looped back.
    pub(crate) media: bool,
    /// `video=NAME`: offer only this video codec (and its RTX format).
    video: Option<String>,
    /// `channels=N`: open `N` channels at once (`c0` unordered, maxRetransmits 0) instead of
    /// `echo`.
    channels: u16,
    /// `simulcast=1`: offer the video in three RID layers (`a=simulcast:send q;h;f`);
    /// browsers answer without simulcast, and the echo stays one stream without a RID.
    simulcast: bool,
}

impl OfferOptions {
    pub(crate) fn parse(query: &str) -> Self {
        let mut o = OfferOptions::default();
        for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
            match k {
                "media" => o.media = v == "1" || v == "true",
                "video" => o.video = Some(v.to_string()),
                "channels" => o.channels = v.parse().unwrap_or(0).min(1024),
                "simulcast" => o.simulcast = v == "1" || v == "true",
                _ => {}
            }
        }
        o
    }

    /// The video transceiver we offer: the default codecs, or only `video` and its RTX.
    pub(crate) fn video_transceiver(&self) -> Transceiver {
        let mut t = codecs::video_transceiver(Direction::SendRecv);
        if self.simulcast {
            t.send_encodings = ["q", "h", "f"].map(SendEncoding::new).to_vec();
        }
        if let Some(name) = &self.video {
            let kept: Vec<u8> = t
                .codecs
                .iter()
                .filter(|c| c.name == name.as_str())
                .map(|c| c.payload_type)
                .collect();
            t.codecs.retain(|c| {
                kept.contains(&c.payload_type) || c.apt().is_some_and(|apt| kept.contains(&apt))
            });
        }
        t
    }

    /// The channels we create with the offer.
    pub(crate) fn channel_configs(&self) -> Vec<ChannelConfig> {
        if self.channels == 0 {
            return vec![ChannelConfig::reliable("echo")];
        }
        (0..self.channels)
            .map(|i| {
                let mut c = ChannelConfig::reliable(&format!("c{i}"));
                if i == 0 {
                    c.ordered = false;
                    c.reliability = Reliability::MaxRetransmits(0);
                }
                c
            })
            .collect()
    }
}

/// Adds an audio and a video transceiver that send on `ssrcs` (signalled with `a=ssrc`).
pub(crate) fn transceivers(pc: &mut PeerConnection, ssrcs: [u32; 2]) {
    let fb = |c: Codec| {
        c.feedback(Feedback::new("transport-cc"))
            .feedback(Feedback::new("nack"))
            .feedback(Feedback::with("nack", "pli"))
            .feedback(Feedback::with("ccm", "fir"))
    };
    let mut audio = Transceiver::new(
        MediaKind::Audio,
        Direction::SendRecv,
        vec![
            Codec::new(111, "opus", 48000, Some(2))
                .fmtp("minptime=10;useinbandfec=1")
                .feedback(Feedback::new("transport-cc")),
        ],
    );
    audio.header_extensions = codecs::audio_extensions();
    let mut video = Transceiver::new(
        MediaKind::Video,
        Direction::SendRecv,
        vec![
            fb(Codec::new(96, "VP8", 90000, None)),
            fb(Codec::new(102, "H264", 90000, None)
                .fmtp("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f")),
            codecs::vp9(),
            codecs::av1(),
            // RTX (RFC 4588) for each, matched to the browser's payload types by `apt`.
            Codec::new(97, "rtx", 90000, None).fmtp("apt=96"),
            Codec::new(103, "rtx", 90000, None).fmtp("apt=102"),
            codecs::rtx(99, 98),
            codecs::rtx(46, 45),
        ],
    );
    // sdes:mid, abs-send-time and the RID extensions (simulcast layers need them).
    video.header_extensions = codecs::video_extensions();
    add_echo_tracks(pc, [audio, video], ssrcs);
}

/// Adds the echo's audio and video transceivers, sending on `ssrcs` (signalled with `a=ssrc`,
/// stream `echo`).
pub(crate) fn add_echo_tracks(pc: &mut PeerConnection, tracks: [Transceiver; 2], ssrcs: [u32; 2]) {
    for (mut t, (ssrc, name)) in tracks
        .into_iter()
        .zip(ssrcs.into_iter().zip(["audio", "video"]))
    {
        // Video gets an RTX SSRC too: the browser's NACKs are answered on it.
        let rtx = t
            .codecs
            .iter()
            .any(Codec::is_rtx)
            .then_some(ssrc ^ 0x0800_0000);
        t.send_ssrcs = Some((ssrc, rtx));
        t.cname = Some("sansrtc-echo".into());
        t.msid = Some(("echo".into(), name.into()));
        pc.add_transceiver(t);
    }
}

/// The media echo of one session: what the browser sends on a section goes back on our SSRC
/// of that section (the sequence numbers, timestamps and payload types stay the browser's), and
/// its keyframe requests for our streams go to its own sender of that section.
#[derive(Debug, Default)]
pub(crate) struct MediaEcho {
    /// mid -> the SSRC the browser sends that section on (learned from its RTP).
    theirs: HashMap<Mid, u32>,
    /// Keyframe requests forwarded.
    pub(crate) keyframe_requests: u64,
    /// `--drop-video-every N`: 0, or N.
    drop_every: u64,
    /// Video packets echoed.
    video_echoed: u64,
    /// (SSRC, sequence number) of echoed packets to lose on the way out.
    to_lose: Vec<(u32, u16)>,
    /// Packets lost on purpose.
    pub(crate) lost: u64,
    /// `--drop-incoming-video-every N`: 0, or N.
    drop_incoming_every: u64,
    /// Data channel messages that could not be echoed.
    pub(crate) echo_errors: u64,
    /// Packets received per simulcast layer (RID).
    pub(crate) layers: std::collections::BTreeMap<Arc<str>, u64>,
    /// mid -> the simulcast layer echoed (the first seen; the others are only counted).
    echoed_layer: HashMap<Mid, Arc<str>>,
    /// Video packets from the browser seen.
    video_received: u64,
    /// Of them, lost on purpose.
    pub(crate) lost_incoming: u64,
    /// `--repacketize`: video goes back as frames cut by our packetizers.
    repacketize: bool,
    /// mid -> the depacketizer of the browser's video on that section.
    depacketizers: HashMap<Mid, Depacketizer>,
    /// The payloads of the frame being sent back (reused).
    payloads: Payloads,
    /// Frames sent back through our packetizers, and their packets.
    pub(crate) frames_repacketized: u64,
    pub(crate) packets_repacketized: u64,
}

/// The SSRC and sequence number of an SRTP datagram (RFC 7983 demultiplexing; SRTP keeps the
/// RTP header in the clear).
fn rtp_ids(datagram: &[u8]) -> Option<(u32, u16)> {
    if classify(datagram) != Kind::Rtp || datagram.len() < 12 {
        return None;
    }
    let sequence = u16::from_be_bytes([datagram[2], datagram[3]]);
    let ssrc = u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]);
    Some((ssrc, sequence))
}

/// A video depacketizer by payload format, with the packetizer that cuts its frames again.
#[derive(Debug)]
enum Depacketizer {
    Vp8(Vp8Depacketizer, Vp8Packetizer),
    Vp9(Vp9Depacketizer, Vp9Packetizer),
    H264(H264Depacketizer, H264Packetizer),
    Av1(Av1Depacketizer, Av1Packetizer),
}

impl Depacketizer {
    /// Joins `rtp`'s payload; the frame it completes, if any, cut again into `payloads`.
    fn push(&mut self, rtp: &RtpReceived, payloads: &mut Payloads) -> Option<Frame> {
        let (seq, marker, payload) = (rtp.sequence_number, rtp.marker, rtp.payload());
        let frame = match self {
            Depacketizer::Vp8(d, _) => d.push(seq, marker, payload),
            Depacketizer::Vp9(d, _) => d.push(seq, marker, payload),
            Depacketizer::H264(d, _) => d.push(seq, marker, payload),
            Depacketizer::Av1(d, _) => d.push(seq, marker, payload),
        }
        .ok()
        .flatten()?;
        match self {
            Depacketizer::Vp8(_, p) => p.packetize(&frame.data, payloads),
            Depacketizer::Vp9(_, p) => p.packetize(&frame.data, payloads),
            Depacketizer::H264(_, p) => p.packetize(&frame.data, payloads),
            Depacketizer::Av1(_, p) => p.packetize(&frame.data, payloads).ok()?,
        }
        Some(frame)
    }
}

/// Payload bytes per packet we cut frames into: small, so that frames take several packets
/// (VP8 partitions, H.264 FU-A fragments) and the whole payload format is exercised.
const MAX_PAYLOAD: usize = 400;

impl MediaEcho {
    /// The echo of a new session: `--repacketize`, `--drop-video-every N`,
    /// `--drop-incoming-video-every N` (0: none).
    pub(crate) fn new(repacketize: bool, drop_every: u64, drop_incoming_every: u64) -> Self {
        MediaEcho {
            repacketize,
            drop_every,
            drop_incoming_every,
            ..MediaEcho::default()
        }
    }

    pub(crate) fn echo_rtp(&mut self, pc: &mut PeerConnection, now: Instant, rtp: RtpReceived) {
        let Some(mid) = rtp.mid else { return };
        let Some(ours) = pc.sending_ssrc(mid) else {
            return;
        };
        // Simulcast: every layer is counted, one goes back (our single SSRC carries one).
        if let Some(rid) = &rtp.rid {
            if self.layers.len() < 16 || self.layers.contains_key(rid) {
                *self.layers.entry(rid.clone()).or_default() += 1;
            }
            let echoed = self.echoed_layer.entry(mid).or_insert_with(|| rid.clone());
            if echoed != rid {
                return;
            }
        }
        self.theirs.insert(mid, rtp.ssrc);
        if self.repacketize && self.repacketized(pc, now, mid, &rtp) {
            return;
        }
        let sequence = rtp.sequence_number;
        let mut packet = rtp.into_packet();
        packet[8..12].copy_from_slice(&ours.to_be_bytes());
        if pc.send_rtp(now, &packet).is_ok()
            && self.drop_every > 0
            && pc.media_kind(mid) == Some(MediaKind::Video)
        {
            self.video_echoed += 1;
            if self.video_echoed.is_multiple_of(self.drop_every) && self.to_lose.len() < 64 {
                self.to_lose.push((ours, sequence));
            }
        }
    }

    /// `--repacketize`: joins VP8, VP9, H.264 or AV1 payloads into frames and sends each complete frame
    /// back in our own payloads; false for other payload formats (forwarded as they are).
    fn repacketized(
        &mut self,
        pc: &mut PeerConnection,
        now: Instant,
        mid: Mid,
        rtp: &RtpReceived,
    ) -> bool {
        let Some(name) = pc.codec(mid, rtp.payload_type).map(|c| c.name.clone()) else {
            return false;
        };
        let d = match self.depacketizers.get_mut(&mid) {
            Some(d) => d,
            None => {
                let d = match name {
                    CodecName::Vp8 => Depacketizer::Vp8(
                        Vp8Depacketizer::default(),
                        Vp8Packetizer::new(MAX_PAYLOAD),
                    ),
                    CodecName::Vp9 => Depacketizer::Vp9(
                        Vp9Depacketizer::default(),
                        Vp9Packetizer::new(MAX_PAYLOAD),
                    ),
                    CodecName::H264 => Depacketizer::H264(
                        H264Depacketizer::default(),
                        H264Packetizer::new(MAX_PAYLOAD),
                    ),
                    CodecName::Av1 => Depacketizer::Av1(
                        Av1Depacketizer::default(),
                        Av1Packetizer::new(MAX_PAYLOAD),
                    ),
                    _ => return false,
                };
                self.depacketizers.entry(mid).or_insert(d)
            }
        };
        let frame = d.push(rtp, &mut self.payloads);
        if frame.is_some() {
            let n = self.payloads.len();
            for (i, payload) in self.payloads.iter().enumerate() {
                let write =
                    RtpWrite::new(rtp.payload_type, rtp.timestamp, payload).marker(i + 1 == n);
                let _ = pc.write_rtp(now, mid, write);
            }
            self.frames_repacketized += 1;
            self.packets_repacketized += n as u64;
        }
        true
    }

    /// Whether `datagram`, from the browser, is a video packet to lose (every Nth of its
    /// video SSRC, once known).
    pub(crate) fn lose_incoming(&mut self, pc: &PeerConnection, datagram: &[u8]) -> bool {
        if self.drop_incoming_every == 0 {
            return false;
        }
        let Some((ssrc, _)) = rtp_ids(datagram) else {
            return false;
        };
        let video = self
            .theirs
            .iter()
            .any(|(&mid, &s)| s == ssrc && pc.media_kind(mid) == Some(MediaKind::Video));
        if !video {
            return false;
        }
        self.video_received += 1;
        if self.video_received.is_multiple_of(self.drop_incoming_every) {
            self.lost_incoming += 1;
            return true;
        }
        false
    }

    /// Whether `datagram` is an echoed packet to lose (SRTP keeps SSRC and sequence number in
    /// the clear).
    pub(crate) fn lose(&mut self, datagram: &[u8]) -> bool {
        let Some(ids) = rtp_ids(datagram) else {
            return false;
        };
        match self.to_lose.iter().position(|&x| x == ids) {
            Some(i) => {
                self.to_lose.swap_remove(i);
                self.lost += 1;
                true
            }
            None => false,
        }
    }

    pub(crate) fn keyframe_request(
        &mut self,
        pc: &mut PeerConnection,
        now: Instant,
        mid: Option<Mid>,
        kind: KeyframeKind,
    ) {
        if let Some(&theirs) = mid.and_then(|m| self.theirs.get(&m))
            && pc.request_keyframe(now, theirs, kind).is_ok()
        {
            self.keyframe_requests += 1;
        }
    }
}
