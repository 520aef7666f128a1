//! Random payload sequences into the VP9 depacketizer, and every payload through the descriptor
//! parser: nothing panics, frames stay under the limit, a parsed descriptor writes and parses
//! back to itself, and whatever the depacketizer gives back re-packetizes and joins again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_rtp::packetize::vp9::{Vp9Depacketizer, Vp9Descriptor, Vp9Packetizer};
use sansrtc_rtp::packetize::{Depacketizer, Payloads};

const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut d = Vp9Depacketizer::with_max_frame(LIMIT);
    let mut rest = data;
    let mut sequence = 0u16;
    // [flags][len][payload]...: flags bit 0 = marker, bit 1 = skip a sequence number.
    while let [flags, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        sequence = sequence.wrapping_add(1 + u16::from(flags & 2 != 0));
        if let Ok((desc, header_len)) = Vp9Descriptor::parse(payload) {
            assert!(header_len <= payload.len());
            // What writes (P_DIFF 0 does not) parses back to the same descriptor.
            let mut out = Vec::new();
            if let Ok(n) = desc.write(&mut out) {
                assert_eq!((n, desc.encoded_len()), (out.len(), out.len()));
                let (again, len) = Vp9Descriptor::parse(&out).expect("our descriptor parses");
                assert_eq!((again, len), (desc, out.len()));
            }
        }
        if let Ok(Some(frame)) = d.push(sequence, flags & 1 != 0, payload) {
            assert!(frame.data.len() <= LIMIT);
            let mut payloads = Payloads::default();
            Vp9Packetizer::new(200).packetize(&frame.data, &mut payloads);
            let mut again = Vp9Depacketizer::default();
            let n = payloads.len();
            let mut out = None;
            for (i, p) in payloads.iter().enumerate() {
                out = Depacketizer::push(&mut again, i as u16, i + 1 == n, p)
                    .expect("our payloads parse");
            }
            assert_eq!(out.expect("a frame").data, frame.data);
        }
    }
});
