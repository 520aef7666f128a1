//! Random bytes into the SCTP packet parser (with and without checksum checking), every chunk's
//! fields and lists, re-serialization, and the DCEP parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_sctp::chunk::Chunk;
use sansrtc_sctp::dcep::DcepMessage;
use sansrtc_sctp::packet::{SctpPacket, finish_packet};
use sansrtc_sctp::param::ReconfigParam;

fn walk(c: &Chunk<'_>) {
    match c {
        Chunk::Sack(s) => {
            let _ = s.gap_blocks().count() + s.duplicates().count();
        }
        Chunk::ForwardTsn(f) => {
            let _ = f.streams().count();
        }
        Chunk::IForwardTsn(f) => {
            let _ = f.entries().count();
        }
        Chunk::ReConfig(p) => {
            for t in p.iter() {
                let _ = ReconfigParam::from_tlv(t);
            }
        }
        Chunk::Init(i) | Chunk::InitAck(i) => {
            let _ = i.params.iter().count();
        }
        _ => {}
    }
    let mut out = Vec::new();
    c.write(&mut out);
    assert_eq!(out.len(), c.encoded_len());
    let (again, _) = Chunk::parse(&out).expect("a written chunk parses");
    assert_eq!(&again, c);
}

fuzz_target!(|data: &[u8]| {
    let _ = DcepMessage::parse(data);
    if let Ok(p) = SctpPacket::parse_zero_checksum_ok(data) {
        for c in p.chunks() {
            walk(&c);
        }
    }
    let mut fixed = data.to_vec();
    finish_packet(&mut fixed, false);
    if let Ok(p) = SctpPacket::parse(&fixed) {
        let _ = (p.source_port(), p.destination_port(), p.verification_tag());
        for c in p.chunks() {
            walk(&c);
        }
    }
});
