//! The files played (read once at start, shared by every session) and the player of one
//! session: frames cut by the payload format's packetizer and written on the track in real
//! time, looping, the video file (layer) chosen from the connection's bandwidth estimate.

use std::path::Path;
use std::time::{Duration, Instant};

use sansrtc::rtp::packetize::Payloads;
use sansrtc::rtp::packetize::av1::{self, Av1Packetizer};
use sansrtc::rtp::packetize::h264::H264Packetizer;
use sansrtc::rtp::packetize::h265::H265Packetizer;
use sansrtc::rtp::packetize::vp8::Vp8Packetizer;
use sansrtc::rtp::packetize::vp9::{self, Vp9Packetizer};
use sansrtc::sdp::Direction;
use sansrtc::sdp::jsep::{Codec, CodecName, Feedback, MediaKind, Transceiver};
use sansrtc::{Mid, PeerConnection, RtpWrite, codecs};

use crate::annexb::{self, Syntax};
use crate::{ivf, ogg};

/// The video codecs we play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VideoCodec {
    Vp8,
    Vp9,
    Av1,
    H264,
    H265,
}

impl VideoCodec {
    /// Its SDP name.
    pub(crate) fn name(self) -> CodecName {
        match self {
            VideoCodec::Vp8 => CodecName::Vp8,
            VideoCodec::Vp9 => CodecName::Vp9,
            VideoCodec::Av1 => CodecName::Av1,
            VideoCodec::H264 => CodecName::H264,
            VideoCodec::H265 => CodecName::H265,
        }
    }

    /// The codecs we answer with: this one and its RTX format.
    fn codecs(self) -> Vec<Codec> {
        match self {
            VideoCodec::Vp8 => vec![codecs::vp8(), codecs::rtx(97, 96)],
            VideoCodec::Vp9 => vec![codecs::vp9(), codecs::rtx(99, 98)],
            VideoCodec::Av1 => vec![codecs::av1(), codecs::rtx(46, 45)],
            VideoCodec::H264 => vec![codecs::h264(), codecs::rtx(103, 102)],
            VideoCodec::H265 => vec![
                Codec::new(49, "H265", 90000, None)
                    .fmtp("level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST")
                    .feedback(Feedback::new("transport-cc"))
                    .feedback(Feedback::new("nack"))
                    .feedback(Feedback::with("nack", "pli"))
                    .feedback(Feedback::with("ccm", "fir")),
                codecs::rtx(50, 49),
            ],
        }
    }
}

/// One encoded frame (an access unit, a temporal unit).
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) data: Vec<u8>,
    /// It decodes alone: a layer switch may happen here.
    pub(crate) keyframe: bool,
}

/// A video file, read whole.
#[derive(Debug)]
pub(crate) struct VideoFile {
    pub(crate) path: String,
    pub(crate) codec: VideoCodec,
    pub(crate) frames: Vec<Frame>,
    pub(crate) fps: f64,
    /// Average bits per second over the whole file.
    pub(crate) bitrate: u64,
}

/// Largest media file read (they are held in memory).
const MAX_FILE: u64 = 1 << 30;

fn read(path: &str) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{path}: {e}"))?
        .len();
    if len > MAX_FILE {
        return Err(format!("{path}: {len} bytes (limit {MAX_FILE})"));
    }
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

impl VideoFile {
    /// Reads `path`: IVF (VP8, VP9 or AV1 by its fourcc), or an Annex B stream (`.h264` /
    /// `.264`, `.h265` / `.265` / `.hevc`) at `fps` frames per second.
    pub(crate) fn open(path: &str, fps: f64) -> Result<Self, String> {
        let data = read(path)?;
        let ext = Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let err = |e: String| format!("{path}: {e}");
        let (codec, frames, fps) = if data.starts_with(b"DKIF") {
            let f = ivf::parse(&data).map_err(err)?;
            let codec = match &f.fourcc {
                b"VP80" => VideoCodec::Vp8,
                b"VP90" => VideoCodec::Vp9,
                b"AV01" => VideoCodec::Av1,
                other => {
                    return Err(format!(
                        "{path}: IVF fourcc {:?} (VP80, VP90, AV01 played)",
                        String::from_utf8_lossy(other)
                    ));
                }
            };
            // The header's time base, when it is a frame rate; else --fps.
            let header_fps = f64::from(f.rate) / f64::from(f.scale.max(1));
            let fps = if (1.0..=240.0).contains(&header_fps) {
                header_fps
            } else {
                fps
            };
            let frames = f
                .frames
                .into_iter()
                .map(|data| {
                    let keyframe = match codec {
                        // VP8 frame tag: bit 0 clear on key frames.
                        VideoCodec::Vp8 => data.first().is_some_and(|b| b & 1 == 0),
                        VideoCodec::Vp9 => vp9::frame_info(&data).is_some_and(|(k, _)| k),
                        _ => av1::is_keyframe_temporal_unit(&data),
                    };
                    Frame { data, keyframe }
                })
                .collect();
            (codec, frames, fps)
        } else {
            let (codec, syntax) = match ext.as_str() {
                "h264" | "264" => (VideoCodec::H264, Syntax::H264),
                "h265" | "265" | "hevc" => (VideoCodec::H265, Syntax::H265),
                _ => {
                    return Err(format!(
                        "{path}: not IVF, and not named .h264/.264/.h265/.265/.hevc"
                    ));
                }
            };
            let units = annexb::access_units(syntax, &data).map_err(err)?;
            let frames = units
                .into_iter()
                .map(|u| Frame {
                    data: u.data,
                    keyframe: u.keyframe,
                })
                .collect();
            (codec, frames, fps)
        };
        let frames: Vec<Frame> = frames;
        if !frames.first().is_some_and(|f| f.keyframe) {
            return Err(format!("{path}: the first frame is not a key frame"));
        }
        let bytes: usize = frames.iter().map(|f| f.data.len()).sum();
        let bitrate = (bytes as f64 * 8.0 * fps / frames.len() as f64) as u64;
        Ok(VideoFile {
            path: path.to_string(),
            codec,
            frames,
            fps,
            bitrate,
        })
    }
}

/// An Ogg Opus file, read whole.
#[derive(Debug)]
pub(crate) struct AudioFile {
    pub(crate) path: String,
    pub(crate) packets: Vec<ogg::Packet>,
    pub(crate) bitrate: u64,
    /// From its `OpusHead`.
    pub(crate) channels: u8,
    /// Its length by the last page's granule position (48 kHz samples, pre-skip included).
    pub(crate) granule_samples: u64,
}

impl AudioFile {
    /// Reads the Ogg Opus file `path`.
    pub(crate) fn open(path: &str) -> Result<Self, String> {
        let data = read(path)?;
        let ogg = ogg::parse(&data).map_err(|e| format!("{path}: {e}"))?;
        let samples: u64 = ogg.packets.iter().map(|p| u64::from(p.samples)).sum();
        let bytes: usize = ogg.packets.iter().map(|p| p.data.len()).sum();
        Ok(AudioFile {
            path: path.to_string(),
            bitrate: (bytes as u64 * 8 * 48_000) / samples.max(1),
            packets: ogg.packets,
            channels: ogg.channels,
            granule_samples: ogg.last_granule,
        })
    }
}

/// Every file played; video files are layers of one codec, highest bitrate first.
#[derive(Debug)]
pub(crate) struct Library {
    pub(crate) video: Vec<VideoFile>,
    pub(crate) audio: Option<AudioFile>,
}

impl Library {
    /// Checks that the video files are of one codec.
    pub(crate) fn new(video: Vec<VideoFile>, audio: Option<AudioFile>) -> Result<Self, String> {
        if let Some(first) = video.first()
            && let Some(other) = video.iter().find(|v| v.codec != first.codec)
        {
            return Err(format!(
                "{} is {:?} but {} is {:?}: layers are of one codec",
                other.path, other.codec, first.path, first.codec
            ));
        }
        if video.is_empty() && audio.is_none() {
            return Err("nothing to play: give --video FILE and/or --audio FILE".into());
        }
        Ok(Library { video, audio })
    }

    /// The transceivers we answer a WHEP offer with: send-only video (the files' codec) and
    /// audio (Opus), sending on `ssrcs`.
    pub(crate) fn transceivers(&self, ssrcs: [u32; 2]) -> Vec<Transceiver> {
        let mut out = Vec::new();
        if self.audio.is_some() {
            let mut t = codecs::audio_transceiver(Direction::SendOnly);
            t.send_ssrcs = Some((ssrcs[0], None));
            t.cname = Some("sansrtc-play".into());
            t.msid = Some(("play".into(), "audio".into()));
            out.push(t);
        }
        if let Some(v) = self.video.first() {
            let mut t = Transceiver::new(MediaKind::Video, Direction::SendOnly, v.codec.codecs());
            t.header_extensions = codecs::video_extensions();
            t.send_ssrcs = Some((ssrcs[1], Some(ssrcs[1] ^ 0x0800_0000)));
            t.cname = Some("sansrtc-play".into());
            t.msid = Some(("play".into(), "video".into()));
            out.push(t);
        }
        out
    }

    /// The layer to send at `estimate` bits per second: the first (highest) whose bitrate,
    /// with the audio's, fits; the last (lowest) when none does.
    pub(crate) fn pick_layer(&self, estimate: u64) -> usize {
        let audio = self.audio.as_ref().map_or(0, |a| a.bitrate);
        let room = estimate.saturating_sub(audio);
        self.video
            .iter()
            .position(|v| v.bitrate <= room)
            .unwrap_or(self.video.len().saturating_sub(1))
    }
}

/// The packetizer of the codec played.
enum Packetizer {
    Vp8(Vp8Packetizer),
    Vp9(Vp9Packetizer),
    Av1(Av1Packetizer),
    H264(H264Packetizer),
    H265(H265Packetizer),
}

/// Payload bytes per packet: room for the RTP header, its extensions and SRTP in a 1280-byte
/// datagram.
const MAX_PAYLOAD: usize = 1160;

impl Packetizer {
    fn new(codec: VideoCodec) -> Self {
        match codec {
            VideoCodec::Vp8 => Packetizer::Vp8(Vp8Packetizer::new(MAX_PAYLOAD)),
            VideoCodec::Vp9 => Packetizer::Vp9(Vp9Packetizer::new(MAX_PAYLOAD)),
            VideoCodec::Av1 => Packetizer::Av1(Av1Packetizer::new(MAX_PAYLOAD)),
            VideoCodec::H264 => Packetizer::H264(H264Packetizer::new(MAX_PAYLOAD)),
            VideoCodec::H265 => Packetizer::H265(H265Packetizer::new(MAX_PAYLOAD)),
        }
    }

    /// Cuts `frame` into `payloads` (empty for a malformed AV1 temporal unit).
    fn packetize(&mut self, frame: &[u8], payloads: &mut Payloads) {
        match self {
            Packetizer::Vp8(p) => p.packetize(frame, payloads),
            Packetizer::Vp9(p) => p.packetize(frame, payloads),
            Packetizer::Av1(p) => {
                if p.packetize(frame, payloads).is_err() {
                    // Leaves `payloads` empty: the frame is skipped.
                }
            }
            Packetizer::H264(p) => p.packetize(frame, payloads),
            Packetizer::H265(p) => p.packetize(frame, payloads),
        }
    }
}

/// A late player catches up by sending what is due at once, unless it is further behind than
/// this (the loop stalled): then it starts its clock again from now.
const MAX_LAG: Duration = Duration::from_millis(500);

/// The video of one session.
struct VideoPlayer {
    mid: Mid,
    payload_type: u8,
    packetizer: Packetizer,
    /// The file being sent.
    layer: usize,
    /// Frames sent since the start (the file's frame is this modulo its length).
    index: u64,
    /// When frame `index` 0 was due (moved forward after a stall).
    start: Instant,
    /// `index` at `start`.
    start_index: u64,
    /// Frames skipped to reach key frames the browser asked for: the file's frame is
    /// `(index + skipped) % len`.
    skipped: u64,
    /// The browser asked for a key frame (PLI, FIR): the next frame sent is the file's next key
    /// frame.
    keyframe_wanted: bool,
}

/// The audio of one session.
struct AudioPlayer {
    mid: Mid,
    payload_type: u8,
    index: u64,
    /// The RTP timestamp of packet `index` (48 kHz samples since the start).
    samples: u64,
    start: Instant,
    start_samples: u64,
}

/// What one session plays and what it sent.
pub(crate) struct Player {
    video: Option<VideoPlayer>,
    audio: Option<AudioPlayer>,
    payloads: Payloads,
    /// Frames and audio packets written, packets written, write errors.
    pub(crate) frames_sent: u64,
    pub(crate) audio_packets_sent: u64,
    pub(crate) rtp_written: u64,
    pub(crate) write_errors: u64,
    /// Layer switches.
    pub(crate) switches: u64,
    /// Layer wanted by the estimate (the switch waits for its next key frame).
    pub(crate) wanted_layer: Option<usize>,
    /// Loops completed by the video (or the audio, without video).
    pub(crate) loops: u64,
    /// Jumps to a file's next key frame for the browser's keyframe requests.
    pub(crate) keyframe_jumps: u64,
}

impl Player {
    /// A player for a connected session: finds the negotiated tracks and their payload types.
    /// Errors when the browser negotiated none of the files' codecs.
    pub(crate) fn new(
        lib: &Library,
        pc: &mut PeerConnection,
        now: Instant,
    ) -> Result<Self, String> {
        let mids: Vec<Mid> = pc.media_mids().collect();
        let mut video = None;
        let mut audio = None;
        for mid in mids {
            let track = pc.track(mid).map_err(|e| e.to_string())?;
            match track.kind() {
                MediaKind::Video if video.is_none() => {
                    let Some(v) = lib.video.first() else { continue };
                    let pt = track
                        .payload_type(&v.codec.name())
                        .ok_or_else(|| format!("the browser did not take {:?}", v.codec))?;
                    let layer = lib.pick_layer(
                        pc.bandwidth_estimate()
                            .map_or(u64::MAX, |b| b.target_bitrate),
                    );
                    video = Some(VideoPlayer {
                        mid,
                        payload_type: pt,
                        packetizer: Packetizer::new(v.codec),
                        layer,
                        index: 0,
                        start: now,
                        start_index: 0,
                        skipped: 0,
                        keyframe_wanted: false,
                    });
                }
                MediaKind::Audio if audio.is_none() && lib.audio.is_some() => {
                    let pt = track
                        .payload_type(&CodecName::Opus)
                        .ok_or("the browser did not take Opus")?;
                    audio = Some(AudioPlayer {
                        mid,
                        payload_type: pt,
                        index: 0,
                        samples: 0,
                        start: now,
                        start_samples: 0,
                    });
                }
                _ => {}
            }
        }
        if video.is_none() && audio.is_none() {
            return Err("no track negotiated to play on".into());
        }
        Ok(Player {
            video,
            audio,
            payloads: Payloads::default(),
            frames_sent: 0,
            audio_packets_sent: 0,
            rtp_written: 0,
            write_errors: 0,
            switches: 0,
            wanted_layer: None,
            loops: 0,
            keyframe_jumps: 0,
        })
    }

    /// The browser asked for a key frame on `mid`: the video jumps to its file's next key frame
    /// (a file has key frames where its encoder put them; waiting for the next one could take
    /// until the loop).
    pub(crate) fn keyframe_request(&mut self, mid: Option<Mid>) {
        if let Some(v) = &mut self.video
            && mid.is_none_or(|m| m == v.mid)
        {
            v.keyframe_wanted = true;
        }
    }

    /// The file being sent (its index in `--video` order).
    pub(crate) fn layer(&self) -> Option<usize> {
        self.video.as_ref().map(|v| v.layer)
    }

    /// When the next frame or audio packet is due.
    pub(crate) fn next_due(&self, lib: &Library) -> Option<Instant> {
        let video = self.video.as_ref().map(|v| {
            let fps = lib.video[v.layer].fps;
            v.start + Duration::from_secs_f64((v.index - v.start_index) as f64 / fps)
        });
        let audio = self.audio.as_ref().map(|a| {
            a.start + Duration::from_secs_f64((a.samples - a.start_samples) as f64 / 48_000.0)
        });
        match (video, audio) {
            (Some(v), Some(a)) => Some(v.min(a)),
            (v, a) => v.or(a),
        }
    }

    /// Sends every frame and audio packet due by `now`.
    pub(crate) fn send_due(&mut self, lib: &Library, pc: &mut PeerConnection, now: Instant) {
        let estimate = pc.bandwidth_estimate().map(|b| b.target_bitrate);
        if let Some(v) = &mut self.video {
            loop {
                let fps = lib.video[v.layer].fps;
                let due = v.start + Duration::from_secs_f64((v.index - v.start_index) as f64 / fps);
                if due > now {
                    break;
                }
                if now - due > MAX_LAG {
                    v.start = now;
                    v.start_index = v.index;
                }
                let position = |file: &VideoFile, v: &VideoPlayer| {
                    ((v.index + v.skipped) % file.frames.len() as u64) as usize
                };
                // A switch to the layer the estimate asks for, at a key frame of that file.
                if let Some(estimate) = estimate {
                    let wanted = lib.pick_layer(estimate);
                    self.wanted_layer = Some(wanted);
                    let file = &lib.video[wanted];
                    if wanted != v.layer && file.frames[position(file, v)].keyframe {
                        v.layer = wanted;
                        self.switches += 1;
                    }
                }
                let file = &lib.video[v.layer];
                if v.keyframe_wanted {
                    v.keyframe_wanted = false;
                    let len = file.frames.len();
                    let from = position(file, v);
                    // The first frame is a key frame: one is found within a loop.
                    let ahead = (0..len)
                        .find(|k| file.frames[(from + k) % len].keyframe)
                        .unwrap_or(0);
                    if ahead > 0 {
                        v.skipped += ahead as u64;
                        self.keyframe_jumps += 1;
                    }
                }
                let at = position(file, v);
                if at == 0 && v.index > 0 {
                    self.loops += 1;
                }
                let timestamp = (v.index as f64 * 90_000.0 / file.fps) as u64 as u32;
                v.packetizer
                    .packetize(&file.frames[at].data, &mut self.payloads);
                let n = self.payloads.len();
                for (i, payload) in self.payloads.iter().enumerate() {
                    let write =
                        RtpWrite::new(v.payload_type, timestamp, payload).marker(i + 1 == n);
                    match pc.write_rtp(now, v.mid, write) {
                        Ok(()) => self.rtp_written += 1,
                        Err(_) => self.write_errors += 1,
                    }
                }
                self.frames_sent += 1;
                v.index += 1;
            }
        }
        if let (Some(a), Some(file)) = (&mut self.audio, &lib.audio) {
            loop {
                let due = a.start
                    + Duration::from_secs_f64((a.samples - a.start_samples) as f64 / 48_000.0);
                if due > now {
                    break;
                }
                if now - due > MAX_LAG {
                    a.start = now;
                    a.start_samples = a.samples;
                }
                let at = (a.index % file.packets.len() as u64) as usize;
                if at == 0 && a.index > 0 && self.video.is_none() {
                    self.loops += 1;
                }
                let packet = &file.packets[at];
                let write = RtpWrite::new(a.payload_type, a.samples as u32, &packet.data);
                match pc.write_rtp(now, a.mid, write) {
                    Ok(()) => self.rtp_written += 1,
                    Err(_) => self.write_errors += 1,
                }
                self.audio_packets_sent += 1;
                a.samples += u64::from(packet.samples);
                a.index += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(bitrate: u64) -> VideoFile {
        VideoFile {
            path: String::new(),
            codec: VideoCodec::Vp8,
            frames: vec![Frame {
                data: vec![0],
                keyframe: true,
            }],
            fps: 30.0,
            bitrate,
        }
    }

    #[test]
    fn the_highest_layer_that_fits_with_the_audio() {
        let audio = AudioFile {
            path: String::new(),
            packets: Vec::new(),
            bitrate: 50_000,
            channels: 2,
            granule_samples: 0,
        };
        let lib = Library::new(
            vec![video(1_500_000), video(500_000), video(150_000)],
            Some(audio),
        )
        .unwrap();
        assert_eq!(lib.pick_layer(10_000_000), 0);
        assert_eq!(lib.pick_layer(1_550_000), 0);
        assert_eq!(lib.pick_layer(1_549_999), 1);
        assert_eq!(lib.pick_layer(300_000), 2);
        // Nothing fits: the lowest.
        assert_eq!(lib.pick_layer(0), 2);
    }

    #[test]
    fn layers_are_of_one_codec() {
        let mut other = video(1);
        other.codec = VideoCodec::H264;
        assert!(Library::new(vec![video(2), other], None).is_err());
        assert!(Library::new(Vec::new(), None).is_err());
    }
}
