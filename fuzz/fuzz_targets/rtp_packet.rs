//! Random bytes into the RTP parser: every accessor, every extension element, and re-serialization.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_rtp::{RtpPacket, RtpPacketBuilder};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = RtpPacket::parse(data) else { return };
    let _ = (packet.marker(), packet.payload_type(), packet.sequence_number(), packet.timestamp());
    let _ = packet.csrcs().sum::<u32>();
    if let Some(ext) = packet.extensions() {
        for element in ext.iter() {
            let _ = element;
        }
    }
    let rewritten = RtpPacketBuilder::from_packet(&packet).to_vec().expect("a parsed packet re-serializes");
    let again = RtpPacket::parse(&rewritten).expect("re-serialized packet parses");
    assert_eq!(again.payload(), packet.payload());
    assert_eq!(again.ssrc(), packet.ssrc());
});
