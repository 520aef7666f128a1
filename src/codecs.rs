//! Ready-made codecs and transceivers as browsers declare them: Opus, VP8, VP9, H.264 and AV1
//! with their format parameters, RTCP feedback and RTX repair formats, and the header extensions
//! the media API writes (`sdes:mid`, `rtp-stream-id`, `repaired-rtp-stream-id`,
//! `abs-send-time`, transport-wide sequence numbers, `ssrc-audio-level`). With `transport-cc`
//! feedback negotiated the peer connection reports arrivals to the sender (transport-wide
//! congestion control), which browsers' bandwidth estimators need to ramp up.
//!
//! ```
//! use sansrtc::codecs;
//! use sansrtc::sdp::Direction;
//!
//! let video = codecs::video_transceiver(Direction::SendRecv);
//! assert!(video.codecs.iter().any(|c| c.name == "H264"));
//! assert!(video.codecs.iter().any(|c| c.is_rtx() && c.apt() == Some(96)));
//! ```

use sansrtc_rtp::extension::ExtensionKind;
use sansrtc_sdp::Direction;
use sansrtc_sdp::jsep::{Codec, Feedback, HeaderExtension, MediaKind, ProfileLevelId, Transceiver};

/// Opus, 48 kHz stereo, in-band FEC (payload type 111, as browsers use), with transport-wide
/// congestion control feedback.
pub fn opus() -> Codec {
    Codec::opus(111)
        .minptime(10)
        .useinbandfec(true)
        .feedback(Feedback::new("transport-cc"))
}

/// The RTCP feedback every video codec declares: transport-wide congestion control, NACK, PLI
/// and FIR.
fn video_feedback(codec: Codec) -> Codec {
    codec
        .feedback(Feedback::new("transport-cc"))
        .feedback(Feedback::new("nack"))
        .feedback(Feedback::with("nack", "pli"))
        .feedback(Feedback::with("ccm", "fir"))
}

/// The RTX (RFC 4588) repair format for `payload_type`.
pub fn rtx(payload_type: u8, apt: u8) -> Codec {
    Codec::rtx(payload_type, apt)
}

/// VP8 (payload type 96).
pub fn vp8() -> Codec {
    video_feedback(Codec::vp8(96))
}

/// VP9 profile 0 (payload type 98).
pub fn vp9() -> Codec {
    video_feedback(Codec::vp9(98).profile_id(0))
}

/// H.264 constrained baseline level 3.1, packetization mode 1 (payload type 102): what every
/// browser decodes.
pub fn h264() -> Codec {
    video_feedback(
        Codec::h264(102)
            .level_asymmetry_allowed(true)
            .packetization_mode(1)
            .profile_level_id(ProfileLevelId::CONSTRAINED_BASELINE_3_1),
    )
}

/// AV1 profile 0 (payload type 45).
pub fn av1() -> Codec {
    video_feedback(
        Codec::av1(45)
            .param("level-idx", 5)
            .profile(0)
            .param("tier", 0),
    )
}

/// Every audio codec we declare, in preference order.
pub fn audio_codecs() -> Vec<Codec> {
    vec![opus()]
}

/// Every video codec we declare, in preference order, each followed by its RTX format.
pub fn video_codecs() -> Vec<Codec> {
    vec![
        vp8(),
        rtx(97, 96),
        vp9(),
        rtx(99, 98),
        h264(),
        rtx(103, 102),
        av1(),
        rtx(46, 45),
    ]
}

/// The header extensions of an audio section.
pub fn audio_extensions() -> Vec<HeaderExtension> {
    vec![
        HeaderExtension::new(1, ExtensionKind::AudioLevel.uri()),
        HeaderExtension::new(2, ExtensionKind::AbsSendTime.uri()),
        HeaderExtension::new(3, ExtensionKind::TransportWideCc.uri()),
        HeaderExtension::new(4, ExtensionKind::SdesMid.uri()),
    ]
}

/// The header extensions of a video section (simulcast RIDs included).
pub fn video_extensions() -> Vec<HeaderExtension> {
    vec![
        HeaderExtension::new(2, ExtensionKind::AbsSendTime.uri()),
        HeaderExtension::new(3, ExtensionKind::TransportWideCc.uri()),
        HeaderExtension::new(4, ExtensionKind::SdesMid.uri()),
        HeaderExtension::new(10, ExtensionKind::RtpStreamId.uri()),
        HeaderExtension::new(11, ExtensionKind::RepairedRtpStreamId.uri()),
    ]
}

/// An audio transceiver with [`audio_codecs`] and [`audio_extensions`].
pub fn audio_transceiver(direction: Direction) -> Transceiver {
    let mut t = Transceiver::new(MediaKind::Audio, direction, audio_codecs());
    t.header_extensions = audio_extensions();
    t
}

/// A video transceiver with [`video_codecs`] and [`video_extensions`].
pub fn video_transceiver(direction: Direction) -> Transceiver {
    let mut t = Transceiver::new(MediaKind::Video, direction, video_codecs());
    t.header_extensions = video_extensions();
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rtx_points_at_the_codec_before_it() {
        let codecs = video_codecs();
        for pair in codecs.chunks(2) {
            assert!(pair[1].is_rtx());
            assert_eq!(pair[1].apt(), Some(pair[0].payload_type));
            assert_eq!(
                pair[1].fmtp.as_str(),
                format!("apt={}", pair[0].payload_type)
            );
        }
        // The format parameters are written as browsers write them.
        let fmtp: Vec<&str> = codecs.iter().map(|c| c.fmtp.as_str()).collect();
        assert_eq!(
            fmtp.iter().step_by(2).copied().collect::<Vec<_>>(),
            [
                "",
                "profile-id=0",
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
                "level-idx=5;profile=0;tier=0",
            ]
        );
        assert_eq!(opus().fmtp.as_str(), "minptime=10;useinbandfec=1");
        let mut pts: Vec<u8> = codecs.iter().map(|c| c.payload_type).collect();
        pts.push(opus().payload_type);
        pts.sort_unstable();
        pts.dedup();
        assert_eq!(pts.len(), codecs.len() + 1, "payload types are unique");
    }
}
