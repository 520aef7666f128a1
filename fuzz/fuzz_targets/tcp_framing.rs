//! Random bytes as an ICE-TCP stream (RFC 4571 framing), split at a random point and read with a
//! small and a full-size limit: nothing may panic, every frame respects the limit, the buffer
//! stays bounded, and re-encoding the frames gives back a prefix of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_ice::framing::{Deframer, encode_frame};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize).min(data.len());
    for max in [1500, 65535] {
        let mut d = Deframer::with_max_frame_len(max);
        let mut rebuilt = Vec::new();
        let mut ok = true;
        'read: for mut chunk in [&data[..split], &data[split..]] {
            while !chunk.is_empty() {
                let used = d.push(chunk);
                chunk = &chunk[used..];
                loop {
                    match d.next_frame() {
                        Ok(Some(frame)) => {
                            assert!(!frame.is_empty() && frame.len() <= max);
                            let mut out = vec![0; frame.len() + 2];
                            let n = encode_frame(frame, &mut out).unwrap();
                            rebuilt.extend_from_slice(&out[..n]);
                        }
                        Ok(None) => break,
                        Err(_) => {
                            ok = false;
                            break 'read;
                        }
                    }
                }
                assert!(d.buffered() <= 2 + max);
            }
        }
        if ok {
            // Empty frames are skipped, so compare without them.
            let mut original = Vec::new();
            let mut rest = data;
            while rest.len() >= 2 {
                let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                if rest.len() < 2 + len {
                    break;
                }
                if len > 0 {
                    original.extend_from_slice(&rest[..2 + len]);
                }
                rest = &rest[2 + len..];
            }
            assert_eq!(rebuilt, original);
        }
    }
});
