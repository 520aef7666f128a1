//! Payload formats: any frame cut into payloads of any size joins back to the same bytes, every
//! payload fits, and the depacketizers take any payload sequence without panicking.

use proptest::prelude::*;
use sansrtc_rtp::packetize::Payloads;
use sansrtc_rtp::packetize::av1::{self, Av1Depacketizer, Av1Packetizer};
use sansrtc_rtp::packetize::h264::{H264Depacketizer, H264Packetizer};
use sansrtc_rtp::packetize::h265::{self, H265Depacketizer, H265Packetizer};
use sansrtc_rtp::packetize::opus::{OpusDepacketizer, OpusPacketizer};
use sansrtc_rtp::packetize::vp8::{Vp8Depacketizer, Vp8Packetizer};
use sansrtc_rtp::packetize::vp9::{self, Vp9Depacketizer, Vp9Packetizer};

/// A NAL unit: a header with a single-NAL type (1..=23), a body without zero bytes (so no
/// start code can appear in it).
fn nal_unit() -> impl Strategy<Value = Vec<u8>> {
    (1u8..=23, 0u8..4, prop::collection::vec(1u8..=255, 0..3000)).prop_map(|(t, nri, body)| {
        let mut nal = vec![(nri << 5) | t];
        nal.extend(body);
        nal
    })
}

/// An H.265 NAL unit: a 2-byte header with a non-aggregated type (1..=47), a layer ID and a
/// TID of 1..=7 (so neither header byte is zero), a body without zero bytes.
fn h265_nal_unit() -> impl Strategy<Value = Vec<u8>> {
    (
        1u8..=47,
        0u8..64,
        1u8..=7,
        prop::collection::vec(1u8..=255, 0..3000),
    )
        .prop_map(|(t, layer, tid, body)| {
            let mut nal = vec![(t << 1) | (layer >> 5), (layer << 3) | tid];
            nal.extend(body);
            nal
        })
}

/// An AV1 OBU in the low-overhead format: a type other than the temporal delimiter and tile
/// list, maybe an extension byte, a size field, a payload.
fn av1_obu() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![1u8, 3, 4, 5, 6, 7, 15]),
        prop::option::of(any::<u8>()),
        prop::collection::vec(any::<u8>(), 0..3000),
    )
        .prop_map(|(t, ext, payload)| {
            let mut obu = vec![(t << 3) | 0x02 | if ext.is_some() { 0x04 } else { 0 }];
            obu.extend(ext);
            av1::write_leb128(payload.len() as u64, &mut obu);
            obu.extend(payload);
            obu
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn vp8_frames_come_back_whole(
        frame in prop::collection::vec(any::<u8>(), 1..6000),
        max_payload in 5usize..1500,
        first_sequence in any::<u16>(),
    ) {
        let mut payloads = Payloads::default();
        Vp8Packetizer::new(max_payload).packetize(&frame, &mut payloads);
        let mut d = Vp8Depacketizer::default();
        let n = payloads.len();
        let mut got = None;
        for (i, p) in payloads.iter().enumerate() {
            prop_assert!(p.len() <= max_payload.max(5));
            let seq = first_sequence.wrapping_add(i as u16);
            let out = d.push(seq, i + 1 == n, p).unwrap();
            prop_assert_eq!(out.is_some(), i + 1 == n);
            got = out;
        }
        let got = got.unwrap();
        prop_assert_eq!(&got.data, &frame);
        prop_assert_eq!(got.keyframe, frame[0] & 1 == 0);
    }

    #[test]
    fn h264_access_units_come_back_whole(
        nals in prop::collection::vec(nal_unit(), 1..6),
        max_payload in 3usize..1500,
        four_byte_start_codes in any::<bool>(),
    ) {
        let mut au = Vec::new();
        let mut expected = Vec::new();
        for nal in &nals {
            let code: &[u8] = if four_byte_start_codes { &[0, 0, 0, 1] } else { &[0, 0, 1] };
            au.extend_from_slice(code);
            au.extend_from_slice(nal);
            expected.extend_from_slice(&[0, 0, 0, 1]);
            expected.extend_from_slice(nal);
        }
        let mut payloads = Payloads::default();
        H264Packetizer::new(max_payload).packetize(&au, &mut payloads);
        let mut d = H264Depacketizer::default();
        let n = payloads.len();
        let mut got = None;
        for (i, p) in payloads.iter().enumerate() {
            prop_assert!(p.len() <= max_payload.max(3));
            got = d.push(i as u16, i + 1 == n, p).unwrap();
        }
        let got = got.unwrap();
        prop_assert_eq!(&got.data, &expected);
        prop_assert_eq!(got.keyframe, nals.iter().any(|n| n[0] & 0x1F == 5));
    }

    #[test]
    fn opus_packets_come_back_whole(
        packet in prop::collection::vec(any::<u8>(), 1..1500),
        sequence in any::<u16>(),
    ) {
        let mut payloads = Payloads::default();
        OpusPacketizer::new().packetize(&packet, &mut payloads);
        prop_assert_eq!(payloads.len(), 1);
        let mut d = OpusDepacketizer::default();
        let p = payloads.iter().next().unwrap();
        let got = d.push(sequence, true, p).unwrap().unwrap();
        prop_assert_eq!(&got.data, &packet);
        prop_assert!(got.keyframe);
    }

    #[test]
    fn vp9_frames_come_back_whole(
        body in prop::collection::vec(any::<u8>(), 0..6000),
        key in any::<bool>(),
        max_payload in 30usize..1500,
        first_sequence in any::<u16>(),
    ) {
        // A key frame header (640x360) or an inter frame header, then the body.
        let mut frame = if key {
            vec![0x82, 0x49, 0x83, 0x42, 0x00, 0x27, 0xF0, 0x16, 0x70]
        } else {
            vec![0x86]
        };
        frame.extend_from_slice(&body);
        prop_assert_eq!(vp9::frame_info(&frame).map(|i| i.0), Some(key));
        let mut payloads = Payloads::default();
        Vp9Packetizer::new(max_payload).packetize(&frame, &mut payloads);
        let mut d = Vp9Depacketizer::default();
        let n = payloads.len();
        let mut got = None;
        for (i, p) in payloads.iter().enumerate() {
            prop_assert!(p.len() <= max_payload);
            prop_assert_eq!(vp9::is_keyframe(p), key && i == 0);
            let seq = first_sequence.wrapping_add(i as u16);
            let out = d.push(seq, i + 1 == n, p).unwrap();
            prop_assert_eq!(out.is_some(), i + 1 == n);
            got = out;
        }
        let got = got.unwrap();
        prop_assert_eq!(&got.data, &frame);
        prop_assert_eq!(got.keyframe, key);
    }

    #[test]
    fn h265_access_units_come_back_whole(
        nals in prop::collection::vec(h265_nal_unit(), 1..6),
        max_payload in 4usize..1500,
        four_byte_start_codes in any::<bool>(),
    ) {
        let mut au = Vec::new();
        let mut expected = Vec::new();
        for nal in &nals {
            let code: &[u8] = if four_byte_start_codes { &[0, 0, 0, 1] } else { &[0, 0, 1] };
            au.extend_from_slice(code);
            au.extend_from_slice(nal);
            expected.extend_from_slice(&[0, 0, 0, 1]);
            expected.extend_from_slice(nal);
        }
        let mut payloads = Payloads::default();
        H265Packetizer::new(max_payload).packetize(&au, &mut payloads);
        let mut d = H265Depacketizer::default();
        let n = payloads.len();
        let mut got = None;
        for (i, p) in payloads.iter().enumerate() {
            prop_assert!(p.len() <= max_payload);
            got = d.push(i as u16, i + 1 == n, p).unwrap();
        }
        let got = got.unwrap();
        prop_assert_eq!(&got.data, &expected);
        prop_assert_eq!(got.keyframe, nals.iter().any(|n| h265::is_irap(h265::nal_type(n[0]))));
        let first = payloads.iter().next().unwrap();
        let key_first = |n: &Vec<u8>| {
            let t = h265::nal_type(n[0]);
            h265::is_irap(t) || h265::is_parameter_set(t)
        };
        // The first payload holds the first NAL unit (perhaps aggregated with others).
        if key_first(&nals[0]) {
            prop_assert!(h265::is_keyframe(first));
        }
    }

    #[test]
    fn av1_temporal_units_come_back_whole(
        obus in prop::collection::vec(av1_obu(), 1..8),
        max_payload in 4usize..1500,
        first_sequence in any::<u16>(),
    ) {
        let mut tu = vec![0x12, 0x00];
        for obu in &obus {
            tu.extend_from_slice(obu);
        }
        let mut payloads = Payloads::default();
        Av1Packetizer::new(max_payload).packetize(&tu, &mut payloads).unwrap();
        let mut d = Av1Depacketizer::default();
        let n = payloads.len();
        let mut got = None;
        for (i, p) in payloads.iter().enumerate() {
            prop_assert!(p.len() <= max_payload);
            let seq = first_sequence.wrapping_add(i as u16);
            let out = d.push(seq, i + 1 == n, p).unwrap();
            prop_assert_eq!(out.is_some(), i + 1 == n);
            got = out;
        }
        let got = got.unwrap();
        prop_assert_eq!(&got.data, &tu);
        prop_assert_eq!(got.keyframe, av1::is_keyframe_temporal_unit(&tu));
    }

    #[test]
    fn depacketizers_take_any_payloads(
        packets in prop::collection::vec(
            (any::<bool>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..300)),
            0..40,
        ),
    ) {
        let mut vp8 = Vp8Depacketizer::with_max_frame(2000);
        let mut h264 = H264Depacketizer::with_max_frame(2000);
        let mut vp9 = Vp9Depacketizer::with_max_frame(2000);
        let mut h265 = H265Depacketizer::with_max_frame(2000);
        let mut av1 = Av1Depacketizer::with_max_frame(2000);
        let mut seq = 0u16;
        for (marker, skip, payload) in packets {
            seq = seq.wrapping_add(1 + u16::from(skip));
            if let Ok(Some(f)) = vp8.push(seq, marker, &payload) {
                prop_assert!(f.data.len() <= 2000);
            }
            if let Ok(Some(f)) = h264.push(seq, marker, &payload) {
                prop_assert!(f.data.len() <= 2000);
            }
            if let Ok(Some(f)) = vp9.push(seq, marker, &payload) {
                prop_assert!(f.data.len() <= 2000);
            }
            if let Ok(Some(f)) = h265.push(seq, marker, &payload) {
                prop_assert!(f.data.len() <= 2000);
            }
            if let Ok(Some(f)) = av1.push(seq, marker, &payload) {
                prop_assert!(f.data.len() <= 2000);
            }
        }
    }
}
