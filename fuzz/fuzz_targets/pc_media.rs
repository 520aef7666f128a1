//! Two connected peer connections with audio and video tracks and a data channel, cloned per
//! input from a snapshot built once; the fuzzer's bytes become RTP packets, RTCP compounds and
//! data channel messages that peer A protects and peer B must take apart: section and layer
//! lookup from arbitrary headers and extensions, receive statistics, report blocks,
//! PLI/FIR/NACK parsing, retransmission, and SCTP. Nothing may panic, and B stays connected.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sansrtc::ConnectionState;

#[path = "common/pc_pair.rs"]
mod pc_pair;

fuzz_target!(|data: &[u8]| {
    let mut p = pc_pair::Pair::connected();
    let (id, audio, video) = (p.channel, p.mids[0].expect("audio"), p.mids[1].expect("video"));
    assert_eq!(p.pcs[1].state(), ConnectionState::Connected);
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        let Some((&len, tail)) = tail.split_first() else { break };
        let n = usize::from(len).min(tail.len());
        let (bytes, tail) = tail.split_at(n);
        let now = p.now;
        let a = &mut p.pcs[0];
        let _ = match op % 6 {
            0 => a.send_rtp(now, bytes),
            1 => a.send_rtcp(now, bytes),
            2 => {
                let kind = if op & 0x80 != 0 {
                    sansrtc::MessageKind::Binary
                } else {
                    sansrtc::MessageKind::Text
                };
                a.channel(id.expect("connected")).and_then(|mut c| c.send_message(now, bytes, kind))
            }
            3 => {
                let w = sansrtc::RtpWrite::new(111, u32::from(len), bytes);
                a.write_rtp(now, audio, w)
            }
            4 => {
                let w = sansrtc::RtpWrite::new(96, u32::from(len), bytes).marker(op & 0x40 != 0);
                a.write_rtp(now, video, w)
            }
            _ => {
                p.now += Duration::from_millis(u64::from(len) * 20);
                for pc in &mut p.pcs {
                    pc.handle_timeout(p.now);
                }
                Ok(())
            }
        };
        p.pump();
        let _ = p.pcs[1].stats_report();
        rest = tail;
    }
    assert_eq!(p.pcs[1].state(), ConnectionState::Connected);
});
