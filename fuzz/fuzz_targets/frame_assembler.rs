//! Random packets (sequence numbers, markers, payloads) into frame assemblers over the VP8,
//! VP9, H.265 and AV1 depacketizers: nothing panics and everything stays within the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_rtp::packetize::Depacketizer;
use sansrtc_rtp::packetize::av1::Av1Depacketizer;
use sansrtc_rtp::packetize::frame_assembler::{FrameAssembler, FrameAssemblerConfig};
use sansrtc_rtp::packetize::h265::H265Depacketizer;
use sansrtc_rtp::packetize::vp8::Vp8Depacketizer;
use sansrtc_rtp::packetize::vp9::Vp9Depacketizer;

const LIMIT: usize = 16 * 1024;
const WINDOW: usize = 16;

fn run<D: Depacketizer>(d: D, data: &[u8]) {
    let mut config = FrameAssemblerConfig::default();
    config.window = WINDOW;
    config.max_queued_frames = 4;
    let mut a = FrameAssembler::new(d, config);
    let mut rest = data;
    // [seq hi][seq lo][flags][len][payload]...: flags bit 0 = marker, bit 1 = skip_missing.
    while let [hi, lo, flags, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        a.push(u16::from_be_bytes([*hi, *lo]), 0, flags & 1 != 0, payload);
        if flags & 2 != 0 {
            a.skip_missing();
        }
        assert!(a.held() <= WINDOW);
        while let Some(f) = a.poll_frame() {
            assert!(f.frame.data.len() <= LIMIT + 2);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    run(Vp8Depacketizer::with_max_frame(LIMIT), data);
    run(Vp9Depacketizer::with_max_frame(LIMIT), data);
    run(H265Depacketizer::with_max_frame(LIMIT), data);
    run(Av1Depacketizer::with_max_frame(LIMIT), data);
});
