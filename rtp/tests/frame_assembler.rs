//! Frame assembler: packets reordered within the window give back every frame in order, and
//! any packet sequence (random sequence numbers, payloads, markers) is taken without panicking
//! and within the limits.

use proptest::prelude::*;
use sansrtc_rtp::packetize::Payloads;
use sansrtc_rtp::packetize::frame_assembler::{FrameAssembler, FrameAssemblerConfig};
use sansrtc_rtp::packetize::h264::H264Depacketizer;
use sansrtc_rtp::packetize::vp8::{Vp8Depacketizer, Vp8Packetizer};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn reordering_within_the_window_loses_nothing(
        sizes in prop::collection::vec(1usize..3000, 1..20),
        max_payload in 50usize..1200,
        first_sequence in any::<u16>(),
        jitter in prop::collection::vec(0usize..16, 400),
    ) {
        // Frame 0 is a key frame (P bit 0), the others delta frames (P bit 1).
        let frames: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(k, &n)| (0..n).map(|i| if i == 0 { u8::from(k > 0) } else { (i + k) as u8 }).collect())
            .collect();
        let mut packetizer = Vp8Packetizer::new(max_payload);
        let mut payloads = Payloads::default();
        let mut packets = Vec::new();
        for (k, f) in frames.iter().enumerate() {
            packetizer.packetize(f, &mut payloads);
            let n = payloads.len();
            for (i, p) in payloads.iter().enumerate() {
                packets.push((k as u32 * 3000, i + 1 == n, p.to_vec()));
            }
        }
        // Each packet moves back by at most 15 places: sort by index + jitter.
        let mut order: Vec<usize> = (0..packets.len()).collect();
        order.sort_by_key(|&i| i + jitter[i % jitter.len()]);
        let mut a = FrameAssembler::new(
            Vp8Depacketizer::default(),
            FrameAssemblerConfig::default(),
        );
        // The first packet defines the window's start: send it first.
        let first = order.iter().position(|&i| i == 0).unwrap();
        order.remove(first);
        order.insert(0, 0);
        let mut got = Vec::new();
        for i in order {
            let (ts, marker, p) = &packets[i];
            a.push(first_sequence.wrapping_add(i as u16), *ts, *marker, p);
            while let Some(f) = a.poll_frame() {
                got.push(f);
            }
        }
        prop_assert_eq!(got.len(), frames.len());
        for (k, (g, f)) in got.iter().zip(&frames).enumerate() {
            prop_assert_eq!(&g.frame.data, f);
            prop_assert_eq!(g.timestamp, k as u32 * 3000);
        }
        prop_assert!(!a.keyframe_needed());
        prop_assert_eq!(a.stats().lost, 0);
    }

    #[test]
    fn any_packets_stay_within_the_limits(
        packets in prop::collection::vec(
            (any::<u16>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..200)),
            0..200,
        ),
        window in 1usize..64,
    ) {
        let mut config = FrameAssemblerConfig::default();
        config.window = window;
        config.max_payload = 150;
        config.max_queued_frames = 4;
        let mut a = FrameAssembler::new(H264Depacketizer::with_max_frame(1000), config);
        for (seq, marker, p) in packets {
            // Sequence numbers near each other mostly, sometimes anywhere.
            let seq = if seq & 0x8000 == 0 { seq % 64 } else { seq };
            a.push(seq, 0, marker, &p);
            prop_assert!(a.held() <= window);
        }
        let mut n = 0;
        while let Some(f) = a.poll_frame() {
            prop_assert!(f.frame.data.len() <= 1000);
            n += 1;
        }
        prop_assert!(n <= 4);
    }
}
