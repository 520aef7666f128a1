//! Random payload sequences into the VP8 and H.264 depacketizers (what a peer's RTP payloads can
//! be): nothing panics, frames stay under the limit, and whatever the depacketizers give back
//! re-packetizes and joins again to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_rtp::packetize::h264::{H264Depacketizer, H264Packetizer};
use sansrtc_rtp::packetize::vp8::{Vp8Depacketizer, Vp8Packetizer};
use sansrtc_rtp::packetize::Payloads;

const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut vp8 = Vp8Depacketizer::with_max_frame(LIMIT);
    let mut h264 = H264Depacketizer::with_max_frame(LIMIT);
    let mut rest = data;
    let mut sequence = 0u16;
    // [flags][len][payload]...: flags bit 0 = marker, bit 1 = skip a sequence number.
    while let [flags, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        sequence = sequence.wrapping_add(1 + u16::from(flags & 2 != 0));
        let marker = flags & 1 != 0;
        if let Ok(Some(frame)) = vp8.push(sequence, marker, payload) {
            assert!(frame.data.len() <= LIMIT);
            if !frame.data.is_empty() {
                let mut payloads = Payloads::default();
                Vp8Packetizer::new(200).packetize(&frame.data, &mut payloads);
                let mut again = Vp8Depacketizer::default();
                let n = payloads.len();
                let mut out = None;
                for (i, p) in payloads.iter().enumerate() {
                    out = again.push(i as u16, i + 1 == n, p).expect("our payloads parse");
                }
                assert_eq!(out.expect("a frame").data, frame.data);
            }
        }
        if let Ok(Some(frame)) = h264.push(sequence, marker, payload) {
            assert!(frame.data.len() <= LIMIT);
            let mut payloads = Payloads::default();
            H264Packetizer::new(200).packetize(&frame.data, &mut payloads);
            let _ = payloads.len();
        }
    }
});
