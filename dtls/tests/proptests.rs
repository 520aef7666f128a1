//! Property tests: parse of write is identity for records and handshake messages, and any
//! fragmentation delivered in any order with duplicates reassembles to the original message.

use proptest::prelude::*;
use sansrtc_dtls::codec::Reader;
use sansrtc_dtls::fragment::{HandshakeHeader, MAX_RANGES, Reassembler, fragments, whole_message};
use sansrtc_dtls::message::{ClientHello, Extensions, ServerHello};
use sansrtc_dtls::record::{ContentType, DTLS_1_2, MAX_SEQ, RecordHeader, parse_datagram};

fn extensions() -> impl Strategy<Value = Extensions> {
    (
        proptest::option::of(proptest::collection::vec(any::<u16>(), 0..6)),
        proptest::collection::vec(any::<u8>(), 0..4),
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..4)),
        proptest::option::of(proptest::collection::vec(any::<u16>(), 0..6)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..3)),
        proptest::option::of(proptest::collection::vec(any::<u16>(), 0..8)),
    )
        .prop_map(
            |(srtp, mki, ems, reneg, groups, formats, sigs)| Extensions {
                srtp_mki: if srtp.is_some() { mki } else { Vec::new() },
                srtp_profiles: srtp,
                extended_master_secret: ems,
                renegotiation_info: reneg,
                supported_groups: groups,
                ec_point_formats: formats,
                signature_algorithms: sigs,
            },
        )
}

proptest! {
    #[test]
    fn records_round_trip(
        recs in proptest::collection::vec((0u8..4, any::<u16>(), 0..=MAX_SEQ, proptest::collection::vec(any::<u8>(), 0..200)), 1..5)
    ) {
        let types = [ContentType::ChangeCipherSpec, ContentType::Alert, ContentType::Handshake, ContentType::ApplicationData];
        let mut d = Vec::new();
        let headers: Vec<_> = recs.iter().map(|(t, e, s, body)| {
            let h = RecordHeader { content_type: types[*t as usize], version: DTLS_1_2, epoch: *e, sequence: *s };
            h.write(body.len(), &mut d);
            d.extend_from_slice(body);
            h
        }).collect();
        let parsed: Vec<_> = parse_datagram(&d).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(parsed.len(), recs.len());
        for ((p, h), r) in parsed.iter().zip(&headers).zip(&recs) {
            prop_assert_eq!(&p.header, h);
            prop_assert_eq!(p.fragment, &r.3[..]);
        }
    }

    #[test]
    fn hellos_round_trip(
        random in any::<[u8; 32]>(),
        session in proptest::collection::vec(any::<u8>(), 0..33),
        cookie in proptest::collection::vec(any::<u8>(), 0..64),
        suites in proptest::collection::vec(any::<u16>(), 1..10),
        ext in extensions(),
    ) {
        let ch = ClientHello {
            version: DTLS_1_2, random, session_id: session.clone(), cookie, cipher_suites: suites.clone(),
            compression_methods: vec![0], extensions: ext.clone(),
        };
        let mut b = Vec::new();
        ch.write(&mut b);
        prop_assert_eq!(ClientHello::parse(&b).unwrap(), ch);
        let sh = ServerHello {
            version: DTLS_1_2, random, session_id: session, cipher_suite: suites[0], compression_method: 0,
            extensions: ext,
        };
        let mut b = Vec::new();
        sh.write(&mut b);
        prop_assert_eq!(ServerHello::parse(&b).unwrap(), sh);
    }

    #[test]
    fn any_fragmentation_reassembles(
        body in proptest::collection::vec(any::<u8>(), 0..3000),
        max_len in 13usize..700,
        // Fewer stray fragments than the ranges a partial message keeps (MAX_RANGES): past
        // that cap a fragment needing one more range is dropped by design (the peer's
        // retransmission brings it again), so fragment 0 could be refused below. 0..40 found
        // that (a test bug, not a reassembler one).
        order in proptest::collection::vec(any::<prop::sample::Index>(), 0..MAX_RANGES),
    ) {
        let whole = whole_message(11, 3, &body);
        let frags = fragments(&whole, max_len);
        let mut r = Reassembler::new(3, 4096, 8192);
        // Some random fragments (duplicates, any order) first, then all of them.
        for i in order.iter().map(|i| i.index(frags.len())).chain(0..frags.len()) {
            let mut rd = Reader::new(&frags[i]);
            let (h, data) = HandshakeHeader::parse(&mut rd).unwrap();
            r.insert(0, &h, data);
        }
        let m = r.next_complete().unwrap();
        r.advance();
        prop_assert_eq!((m.msg_type, m.message_seq, m.epoch), (11, 3, 0));
        prop_assert_eq!(m.body, body);
        prop_assert!(r.next_complete().is_none());
    }
}
