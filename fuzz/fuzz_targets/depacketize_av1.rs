//! Random payload sequences into the AV1 depacketizer: nothing panics, temporal units stay under
//! the limit, and whatever the depacketizer gives back (a low-overhead bitstream) re-packetizes
//! and joins again to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_rtp::packetize::av1::{self, Av1Depacketizer, Av1Packetizer};
use sansrtc_rtp::packetize::{Depacketizer, Payloads};

const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut d = Av1Depacketizer::with_max_frame(LIMIT);
    let mut rest = data;
    let mut sequence = 0u16;
    // [flags][len][payload]...: flags bit 0 = marker, bit 1 = skip a sequence number.
    while let [flags, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        sequence = sequence.wrapping_add(1 + u16::from(flags & 2 != 0));
        let _ = av1::is_keyframe(payload);
        if let Ok(Some(frame)) = d.push(sequence, flags & 1 != 0, payload) {
            assert!(frame.data.len() <= LIMIT);
            let mut payloads = Payloads::default();
            Av1Packetizer::new(200)
                .packetize(&frame.data, &mut payloads)
                .expect("our temporal units are well formed");
            let mut again = Av1Depacketizer::with_max_frame(LIMIT);
            let n = payloads.len();
            let mut out = None;
            for (i, p) in payloads.iter().enumerate() {
                out = Depacketizer::push(&mut again, i as u16, i + 1 == n, p)
                    .expect("our payloads parse");
            }
            // A temporal unit of only a temporal delimiter has no payloads.
            if n > 0 {
                assert_eq!(out.expect("a frame").data, frame.data);
            }
        }
    }
});
