//! Known RTCP packets, byte by byte, as real senders build them, and malformed ones.

use sansrtc_rtp::RtcpError;
use sansrtc_rtp::rtcp::*;

fn parse_all(buf: &[u8]) -> Vec<RtcpPacket<'_>> {
    CompoundIter::new(buf)
        .collect::<Result<_, _>>()
        .expect("parses")
}

/// Writing what we parsed gives back the same bytes (no padding in these samples).
fn assert_rewrites(buf: &[u8]) {
    let packets = parse_all(buf);
    let mut out = vec![0u8; compound_len(&packets)];
    let len = write_compound(&packets, &mut out).unwrap();
    assert_eq!(&out[..len], buf);
}

#[rustfmt::skip]
const SR_AND_SDES: &[u8] = &[
    0x80, 0xC8, 0x00, 0x06, // SR, RC 0, 7 words
    0x12, 0x34, 0x56, 0x78, // SSRC
    0xE8, 0x8F, 0x2A, 0x3B, 0x40, 0x00, 0x00, 0x00, // NTP
    0x00, 0x01, 0x5F, 0x90, // RTP timestamp 90000
    0x00, 0x00, 0x00, 0x64, // 100 packets
    0x00, 0x00, 0x3E, 0x80, // 16000 octets
    0x81, 0xCA, 0x00, 0x06, // SDES, 1 chunk
    0x12, 0x34, 0x56, 0x78,
    0x01, 0x10, b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h', b'i', b'j', b'k', b'l', b'm', b'n', b'o', b'p',
    0x00, 0x00, // terminator and padding to the word
];

#[test]
fn sender_report_with_cname() {
    let packets = parse_all(SR_AND_SDES);
    validate_compound(SR_AND_SDES).unwrap();
    let RtcpPacket::SenderReport(sr) = &packets[0] else {
        panic!("{packets:?}")
    };
    assert_eq!(sr.ssrc, 0x1234_5678);
    assert_eq!(sr.ntp_timestamp, 0xE88F_2A3B_4000_0000);
    assert_eq!(sr.rtp_timestamp, 90_000);
    assert_eq!((sr.packet_count, sr.octet_count), (100, 16_000));
    assert!(sr.reports.is_empty());
    let RtcpPacket::SourceDescription(sdes) = &packets[1] else {
        panic!()
    };
    let chunk = sdes.chunks.iter().next().unwrap();
    assert_eq!(chunk.ssrc, 0x1234_5678);
    assert_eq!(chunk.cname(), Some(&b"abcdefghijklmnop"[..]));
    assert_rewrites(SR_AND_SDES);
}

#[rustfmt::skip]
const RR_AND_REMB: &[u8] = &[
    0x81, 0xC9, 0x00, 0x07, // RR, 1 block
    0x00, 0x00, 0x00, 0x01,
    0x12, 0x34, 0x56, 0x78, 0x19, 0xFF, 0xFF, 0xFE, // fraction 25/256, cumulative -2
    0x00, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x2A, // ext. highest 65552, jitter 42
    0xE8, 0x8F, 0x2A, 0x3B, 0x00, 0x01, 0x80, 0x00, // LSR, DLSR 1.5 s
    0x8F, 0xCE, 0x00, 0x05, // PSFB FMT 15 (AFB)
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    b'R', b'E', b'M', b'B', 0x01, 0x0B, 0xD0, 0x90, // 1 SSRC, exp 2, mantissa 250000
    0x12, 0x34, 0x56, 0x78,
];

#[test]
fn receiver_report_and_remb() {
    let packets = parse_all(RR_AND_REMB);
    let RtcpPacket::ReceiverReport(rr) = &packets[0] else {
        panic!()
    };
    let block = rr.reports.iter().next().unwrap();
    assert_eq!(block.fraction_lost, 25);
    assert_eq!(block.cumulative_lost, -2);
    assert_eq!(block.extended_highest_sequence, 65552);
    assert_eq!(block.jitter, 42);
    assert_eq!(block.delay_since_last_sender_report, 0x0001_8000);
    let RtcpPacket::Remb(remb) = &packets[1] else {
        panic!()
    };
    assert_eq!(remb.bitrate(), 1_000_000);
    assert_eq!(remb.ssrcs.iter().collect::<Vec<_>>(), vec![0x1234_5678]);
    assert_rewrites(RR_AND_REMB);
}

#[rustfmt::skip]
const TWCC: &[u8] = &[
    0x8F, 0xCD, 0x00, 0x08, // RTPFB FMT 15
    0x00, 0x00, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78,
    0x00, 0x64, 0x00, 0x14, // base 100, 20 packets
    0x00, 0x01, 0x02, 0x07, // reference time 258 (x64 ms), feedback #7
    0x20, 0x03, // run length: 3 x small delta
    0xAC, 0x01, // one-bit vector: R . R R . . . . . . . . . R
    0xE4, 0x00, // two-bit vector: large, small, not received, ...
    0x04, 0x04, 0x04, // deltas of the run
    0x01, 0x02, 0x03, 0x04, // deltas of the one-bit vector
    0xFF, 0xF0, 0x08, // large delta -16, small 8
];

#[test]
fn transport_cc_with_every_chunk_type() {
    let packets = parse_all(TWCC);
    let RtcpPacket::TransportCc(cc) = &packets[0] else {
        panic!("{packets:?}")
    };
    assert_eq!((cc.base_sequence, cc.status_count), (100, 20));
    assert_eq!((cc.reference_time, cc.feedback_count), (258, 7));
    let got: Vec<_> = cc.packets().map(|p| (p.sequence, p.delta)).collect();
    let mut want: Vec<(u16, Option<i32>)> = vec![(100, Some(4)), (101, Some(4)), (102, Some(4))];
    let one_bit = [
        Some(1),
        None,
        Some(2),
        Some(3),
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        Some(4),
    ];
    want.extend(
        one_bit
            .iter()
            .enumerate()
            .map(|(i, d)| (103 + i as u16, *d)),
    );
    want.extend([(117, Some(-16)), (118, Some(8)), (119, None)]);
    assert_eq!(got, want);
    assert_eq!(
        cc.packets().nth(17).unwrap().status,
        PacketStatus::LargeDelta
    );
    assert_rewrites(TWCC);
}

#[test]
fn transport_cc_builder_reproduces_statuses() {
    let mut b = TransportCcBuilder::new();
    b.received(4).unwrap();
    b.lost();
    for _ in 0..20 {
        b.received(1).unwrap();
    }
    b.received(-3).unwrap().received(1000).unwrap();
    let mut chunks = Vec::new();
    let cc = b.build(&mut chunks, 1, 2, 65530, 0xFFFFFF, 255).unwrap();
    let packet = RtcpPacket::TransportCc(cc);
    let mut buf = Vec::new();
    packet.write_vec(&mut buf).unwrap();
    let (parsed, _) = RtcpPacket::parse(&buf).unwrap();
    let RtcpPacket::TransportCc(parsed) = parsed else {
        panic!()
    };
    let deltas: Vec<_> = parsed.packets().map(|p| p.delta).collect();
    assert_eq!(deltas.len(), 24);
    assert_eq!(deltas[0], Some(4));
    assert_eq!(deltas[1], None);
    assert_eq!(&deltas[22..], &[Some(-3), Some(1000)]);
    assert_eq!(
        parsed.packets().last().unwrap().sequence,
        65530u16.wrapping_add(23)
    );
}

#[rustfmt::skip]
const FEEDBACK: &[u8] = &[
    0x81, 0xCD, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78, 0x00, 0x10, 0x00, 0x05, // NACK
    0x81, 0xCE, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78, // PLI
    0x84, 0xCE, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // FIR
    0x12, 0x34, 0x56, 0x78, 0x05, 0x00, 0x00, 0x00,
    0x83, 0xCD, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // TMMBR
    0x12, 0x34, 0x56, 0x78, 0x08, 0x0F, 0x42, 0x28, // exp 2, mantissa 0x07A1 ... overhead 40
    0x82, 0xCE, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78, // SLI
    0x00, 0x08, 0x01, 0x45, // first 1, number 5, picture id 5
    0x83, 0xCE, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78, // RPSI
    0x04, 0x60, 0xAB, 0xC0, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn feedback_messages() {
    let packets = parse_all(FEEDBACK);
    let RtcpPacket::Nack(nack) = &packets[0] else {
        panic!()
    };
    assert_eq!(nack.media_ssrc, 0x1234_5678);
    assert_eq!(nack.lost().collect::<Vec<_>>(), vec![16, 17, 19]);
    assert_eq!(
        packets[1],
        RtcpPacket::Pli(Pli {
            sender_ssrc: 1,
            media_ssrc: 0x1234_5678
        })
    );
    let RtcpPacket::Fir(fir) = &packets[2] else {
        panic!()
    };
    assert_eq!(
        fir.entries.iter().collect::<Vec<_>>(),
        vec![FirEntry {
            ssrc: 0x1234_5678,
            sequence_number: 5
        }]
    );
    let RtcpPacket::Tmmbr(tmmbr) = &packets[3] else {
        panic!()
    };
    let item = tmmbr.items.iter().next().unwrap();
    assert_eq!(
        (item.exponent, item.mantissa, item.overhead),
        (2, 0x07A1, 40)
    );
    assert_eq!(item.bitrate(), 0x07A1 << 2);
    let RtcpPacket::Sli(sli) = &packets[4] else {
        panic!()
    };
    assert_eq!(
        sli.entries.iter().next().unwrap(),
        SliEntry {
            first: 1,
            number: 5,
            picture_id: 5
        }
    );
    let RtcpPacket::Rpsi(rpsi) = &packets[5] else {
        panic!()
    };
    assert_eq!((rpsi.padding_bits, rpsi.payload_type), (4, 0x60));
    assert_eq!(rpsi.bit_string, &[0xAB, 0xC0, 0, 0, 0, 0]);
    assert_rewrites(FEEDBACK);
}

#[test]
fn nack_pairs_from_lost_sequence_numbers() {
    let pairs = NackPair::from_lost([65534u16, 65535, 1, 17, 40]);
    assert_eq!(
        pairs,
        vec![
            NackPair {
                packet_id: 65534,
                lost_bitmask: 0b101
            },
            NackPair {
                packet_id: 17,
                lost_bitmask: 0
            },
            NackPair {
                packet_id: 40,
                lost_bitmask: 0
            }
        ]
    );
    let lost: Vec<u16> = pairs.iter().flat_map(|p| p.lost()).collect();
    assert_eq!(lost, vec![65534, 65535, 1, 17, 40]);
}

#[rustfmt::skip]
const XR_BYE_APP_UNKNOWN: &[u8] = &[
    0x80, 0xCF, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, // XR
    0x04, 0x00, 0x00, 0x02, 0xE8, 0x8F, 0x2A, 0x3B, 0x40, 0x00, 0x00, 0x00, // RRTR
    0x05, 0x00, 0x00, 0x03, 0x12, 0x34, 0x56, 0x78, 0x2A, 0x3B, 0x40, 0x00, 0x00, 0x00, 0x10, 0x00, // DLRR
    0x81, 0xCB, 0x00, 0x02, 0x12, 0x34, 0x56, 0x78, 0x03, b'b', b'y', b'e', // BYE with reason
    0x85, 0xCC, 0x00, 0x03, 0x12, 0x34, 0x56, 0x78, b'q', b'o', b's', b'1', 1, 2, 3, 4, // APP
    0x80, 0xD0, 0x00, 0x01, 9, 9, 9, 9, // type 208
    0x8A, 0xCE, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2, // PSFB FMT 10: unknown
];

#[test]
fn extended_report_bye_app_and_unknown() {
    let packets = parse_all(XR_BYE_APP_UNKNOWN);
    let RtcpPacket::ExtendedReport(xr) = &packets[0] else {
        panic!()
    };
    let blocks: Vec<_> = xr.blocks.iter().collect();
    assert_eq!(
        blocks[0],
        XrBlock::ReceiverReferenceTime {
            ntp_timestamp: 0xE88F_2A3B_4000_0000
        }
    );
    let XrBlock::Dlrr(entries) = blocks[1] else {
        panic!()
    };
    assert_eq!(
        entries.iter().next().unwrap(),
        DlrrEntry {
            ssrc: 0x1234_5678,
            last_receiver_report: 0x2A3B_4000,
            delay_since_last_receiver_report: 0x1000
        }
    );
    let RtcpPacket::Goodbye(bye) = &packets[1] else {
        panic!()
    };
    assert_eq!(bye.reason, Some(&b"bye"[..]));
    let RtcpPacket::App(app) = &packets[2] else {
        panic!()
    };
    assert_eq!(
        (app.subtype, &app.name, app.data),
        (5, b"qos1", &[1u8, 2, 3, 4][..])
    );
    assert_eq!(
        packets[3],
        RtcpPacket::Unknown(RawPacket {
            packet_type: 208,
            count: 0,
            body: &[9, 9, 9, 9]
        })
    );
    assert!(matches!(
        packets[4],
        RtcpPacket::Unknown(RawPacket {
            packet_type: 206,
            count: 10,
            ..
        })
    ));
    assert_rewrites(XR_BYE_APP_UNKNOWN);
    // an XR first is valid reduced-size RTCP but not a full compound packet
    assert!(validate_compound(XR_BYE_APP_UNKNOWN).is_err());
}

#[test]
fn padding_is_stripped() {
    let buf = [0xA0, 0xC9, 0x00, 0x02, 0, 0, 0, 7, 0, 0, 0, 4];
    let packets = parse_all(&buf);
    let RtcpPacket::ReceiverReport(rr) = &packets[0] else {
        panic!()
    };
    assert_eq!(rr.ssrc, 7);
    assert!(rr.profile_extension.is_empty());
    validate_compound(&buf).unwrap();
}

#[test]
fn malformed_packets_are_typed_errors() {
    let err = |buf: &[u8]| RtcpPacket::parse(buf).unwrap_err();
    assert_eq!(
        err(&[0x80, 0xC9]),
        RtcpError::Truncated {
            needed: 4,
            available: 2
        }
    );
    assert_eq!(err(&[0x40, 0xC9, 0, 0]), RtcpError::BadVersion(1));
    assert_eq!(
        err(&[0x80, 0xC9, 0, 2, 0, 0, 0, 1]),
        RtcpError::Truncated {
            needed: 12,
            available: 8
        }
    );
    assert_eq!(
        err(&[0xA0, 0xC9, 0, 1, 0, 0, 0, 0]),
        RtcpError::BadPadding(0)
    );
    assert_eq!(
        err(&[0xA0, 0xC9, 0, 1, 0, 0, 0, 9]),
        RtcpError::BadPadding(9)
    );
    // RR claiming two blocks with room for none
    assert!(matches!(
        err(&[0x82, 0xC9, 0, 1, 0, 0, 0, 1]),
        RtcpError::Malformed { packet: "RR", .. }
    ));
    // SDES item running past the packet
    assert!(matches!(
        err(&[0x81, 0xCA, 0, 2, 0, 0, 0, 1, 1, 9, b'a', 0]),
        RtcpError::Malformed { packet: "SDES", .. }
    ));
    // TWCC whose deltas are cut off
    let mut twcc = TWCC.to_vec();
    twcc.truncate(TWCC.len() - 4);
    twcc[3] = 7;
    assert!(matches!(
        err(&twcc),
        RtcpError::Malformed {
            packet: "transport-cc",
            ..
        }
    ));
    // NACK without FCI
    assert!(matches!(
        err(&[0x81, 0xCD, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]),
        RtcpError::Malformed { .. }
    ));
    // the iterator stops after an error
    let mut bad = SR_AND_SDES.to_vec();
    bad.extend_from_slice(&[0x80, 0xC9, 0x00, 0x09]);
    let results: Vec<_> = CompoundIter::new(&bad).collect();
    assert_eq!(results.len(), 3);
    assert!(results[2].is_err());
}

#[test]
fn write_checks_fields_and_buffer() {
    let pli = RtcpPacket::Pli(Pli {
        sender_ssrc: 1,
        media_ssrc: 2,
    });
    assert_eq!(
        pli.write(&mut [0u8; 8]),
        Err(RtcpError::BufferTooSmall {
            needed: 12,
            available: 8
        })
    );
    let blocks = [ReportBlock::default(); 32];
    let rr = RtcpPacket::ReceiverReport(ReceiverReport {
        ssrc: 1,
        reports: List::from_items(&blocks),
        profile_extension: &[],
    });
    assert!(matches!(
        rr.write(&mut [0u8; 2048]),
        Err(RtcpError::FieldOverflow(_))
    ));
    let app = RtcpPacket::App(App {
        subtype: 0,
        ssrc: 1,
        name: *b"abcd",
        data: &[1, 2, 3],
    });
    assert!(matches!(
        app.write(&mut [0u8; 64]),
        Err(RtcpError::FieldOverflow(_))
    ));
}
