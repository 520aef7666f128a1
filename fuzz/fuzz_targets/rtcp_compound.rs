//! Random bytes into the RTCP compound parser: every packet, every list, re-serialization.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_rtp::rtcp::{CompoundIter, RtcpPacket, XrBlock, validate_compound};

fuzz_target!(|data: &[u8]| {
    let _ = validate_compound(data);
    for packet in CompoundIter::new(data) {
        let Ok(packet) = packet else { break };
        match &packet {
            RtcpPacket::SenderReport(sr) => assert_eq!(sr.reports.iter().count(), sr.reports.len()),
            RtcpPacket::SourceDescription(sdes) => {
                for chunk in &sdes.chunks {
                    let _ = chunk.items.iter().count();
                }
            }
            RtcpPacket::TransportCc(cc) => assert_eq!(cc.packets().count(), cc.status_count as usize),
            RtcpPacket::Nack(nack) => {
                let _ = nack.lost().count();
            }
            RtcpPacket::ExtendedReport(xr) => {
                for block in &xr.blocks {
                    if let XrBlock::Dlrr(entries) = block {
                        let _ = entries.iter().count();
                    }
                }
            }
            _ => {}
        }
        // Whatever parsed re-serializes, unless a field cannot be written back as it was read.
        let mut out = vec![0u8; packet.encoded_len()];
        if packet.write(&mut out).is_ok() {
            let (again, len) = RtcpPacket::parse(&out).expect("our own output parses");
            assert_eq!(len, out.len());
            assert_eq!(again, packet);
        }
    }
});
