//! Random payloads into the Opus depacketizer: nothing panics, frames stay under the limit and
//! are the payload itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_rtp::packetize::opus::OpusDepacketizer;

const LIMIT: usize = 4000;

fuzz_target!(|data: &[u8]| {
    let mut d = OpusDepacketizer::with_max_frame(LIMIT);
    for (i, payload) in data.chunks(1 + usize::from(data.first().copied().unwrap_or(0))).enumerate() {
        if let Ok(Some(frame)) = d.push(i as u16, true, payload) {
            assert!(frame.data.len() <= LIMIT);
            assert_eq!(frame.data, payload);
            assert!(frame.keyframe);
        }
    }
});
