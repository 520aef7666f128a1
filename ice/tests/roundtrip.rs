//! Property tests: every attribute written by the builder parses back to itself, integrity and
//! fingerprint verify, and the parser is total on arbitrary and mutated input.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;
use sansrtc_ice::stun::attribute::{
    AddressFamily, Attribute, PasswordAlgorithm, PasswordAlgorithmList, U16List,
};
use sansrtc_ice::stun::{
    IntegrityKey, MessageBuilder, MessageClass, MessageType, Method, StunMessage, TransactionId,
};

#[derive(Debug, Clone)]
enum Owned {
    Addr(u8, SocketAddr),
    Text(u8, String),
    UserHash([u8; 32]),
    ErrorCode(u16, String),
    Unknown(Vec<u16>),
    PasswordAlgorithm(u16, Vec<u8>),
    PasswordAlgorithms(Vec<(u16, Vec<u8>)>),
    U32(u8, u32),
    U64(u8, u64),
    Flag(u8),
    ChannelNumber(u16),
    Data(Vec<u8>),
    Family(u8, bool),
    EvenPort(bool),
    RequestedTransport(u8),
    AddressErrorCode(bool, u16, String),
    Icmp(u8, u8, u32),
    Other(u16, Vec<u8>),
}

fn family(v6: bool) -> AddressFamily {
    if v6 {
        AddressFamily::V6
    } else {
        AddressFamily::V4
    }
}

fn attribute<'a>(o: &'a Owned, algs: &'a [PasswordAlgorithm<'a>]) -> Attribute<'a> {
    match o {
        Owned::Addr(k, a) => match k % 5 {
            0 => Attribute::MappedAddress(*a),
            1 => Attribute::XorMappedAddress(*a),
            2 => Attribute::AlternateServer(*a),
            3 => Attribute::XorPeerAddress(*a),
            _ => Attribute::XorRelayedAddress(*a),
        },
        Owned::Text(k, s) => match k % 4 {
            0 => Attribute::Username(s),
            1 => Attribute::Realm(s),
            2 => Attribute::Nonce(s),
            _ => Attribute::Software(s),
        },
        Owned::UserHash(h) => Attribute::UserHash(h),
        Owned::ErrorCode(c, r) => Attribute::ErrorCode {
            code: *c,
            reason: r,
        },
        Owned::Unknown(v) => Attribute::UnknownAttributes(U16List::Values(v)),
        Owned::PasswordAlgorithm(a, p) => Attribute::PasswordAlgorithm(PasswordAlgorithm {
            algorithm: *a,
            parameters: p,
        }),
        Owned::PasswordAlgorithms(_) => {
            Attribute::PasswordAlgorithms(PasswordAlgorithmList::Values(algs))
        }
        Owned::U32(k, v) => match k % 3 {
            0 => Attribute::Priority(*v),
            1 => Attribute::Lifetime(*v),
            _ => Attribute::Fingerprint(*v),
        },
        Owned::U64(k, v) => match k % 3 {
            0 => Attribute::IceControlled(*v),
            1 => Attribute::IceControlling(*v),
            _ => Attribute::ReservationToken(*v),
        },
        Owned::Flag(k) => {
            if k % 2 == 0 {
                Attribute::UseCandidate
            } else {
                Attribute::DontFragment
            }
        }
        Owned::ChannelNumber(n) => Attribute::ChannelNumber(*n),
        Owned::Data(d) => Attribute::Data(d),
        Owned::Family(k, v6) => {
            if k % 2 == 0 {
                Attribute::RequestedAddressFamily(family(*v6))
            } else {
                Attribute::AdditionalAddressFamily(family(*v6))
            }
        }
        Owned::EvenPort(r) => Attribute::EvenPort(*r),
        Owned::RequestedTransport(p) => Attribute::RequestedTransport(*p),
        Owned::AddressErrorCode(v6, c, r) => Attribute::AddressErrorCode {
            family: family(*v6),
            code: *c,
            reason: r,
        },
        Owned::Icmp(t, c, d) => Attribute::Icmp {
            icmp_type: *t,
            code: *c,
            error_data: *d,
        },
        Owned::Other(t, v) => Attribute::Other {
            attribute: *t,
            value: v,
        },
    }
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
    ]
}

fn owned() -> impl Strategy<Value = Owned> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        (any::<u8>(), socket_addr()).prop_map(|(k, a)| Owned::Addr(k, a)),
        (any::<u8>(), "\\PC{0,40}").prop_map(|(k, s)| Owned::Text(k, s)),
        any::<[u8; 32]>().prop_map(Owned::UserHash),
        (300u16..700, "\\PC{0,30}").prop_map(|(c, r)| Owned::ErrorCode(c, r)),
        proptest::collection::vec(any::<u16>(), 0..10).prop_map(Owned::Unknown),
        (any::<u16>(), bytes()).prop_map(|(a, p)| Owned::PasswordAlgorithm(a, p)),
        proptest::collection::vec((any::<u16>(), bytes()), 0..4)
            .prop_map(Owned::PasswordAlgorithms),
        (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Owned::U32(k, v)),
        (any::<u8>(), any::<u64>()).prop_map(|(k, v)| Owned::U64(k, v)),
        any::<u8>().prop_map(Owned::Flag),
        any::<u16>().prop_map(Owned::ChannelNumber),
        bytes().prop_map(Owned::Data),
        (any::<u8>(), any::<bool>()).prop_map(|(k, v)| Owned::Family(k, v)),
        any::<bool>().prop_map(Owned::EvenPort),
        any::<u8>().prop_map(Owned::RequestedTransport),
        (any::<bool>(), 300u16..700, "\\PC{0,20}")
            .prop_map(|(f, c, r)| Owned::AddressErrorCode(f, c, r)),
        (any::<u8>(), any::<u8>(), any::<u32>()).prop_map(|(t, c, d)| Owned::Icmp(t, c, d)),
        (0xC000u16..=0xFFFF, bytes()).prop_map(|(t, v)| Owned::Other(t, v)),
    ]
}

proptest! {
    #[test]
    fn build_then_parse_is_identity(
        attrs in proptest::collection::vec(owned(), 0..12),
        method in 0u16..0x1000,
        class in 0u8..4,
        tid in any::<[u8; 12]>(),
        password in "[a-zA-Z0-9]{0,24}",
        integrity in any::<bool>(),
        integrity_sha256 in any::<bool>(),
        fingerprint in any::<bool>(),
    ) {
        let class = [MessageClass::Request, MessageClass::Indication,
            MessageClass::SuccessResponse, MessageClass::ErrorResponse][class as usize];
        let message_type = MessageType::new(Method(method), class);
        // FINGERPRINT among the ordinary attributes would end the message early: keep it out.
        let attrs: Vec<Owned> = attrs.into_iter().filter(|a| !matches!(a, Owned::U32(k, _) if k % 3 == 2)).collect();
        let algs: Vec<Vec<PasswordAlgorithm<'_>>> = attrs.iter().map(|a| match a {
            Owned::PasswordAlgorithms(v) => v.iter().map(|(a, p)| PasswordAlgorithm { algorithm: *a, parameters: p }).collect(),
            _ => Vec::new(),
        }).collect();
        let typed: Vec<Attribute<'_>> = attrs.iter().zip(&algs).map(|(a, l)| attribute(a, l)).collect();
        let key = IntegrityKey::short_term(&password);

        let mut buf = vec![0u8; 8192];
        let mut b = MessageBuilder::new(&mut buf, message_type, TransactionId(tid)).unwrap();
        for a in &typed {
            b.add(a).unwrap();
        }
        if integrity { b.add_message_integrity(&key).unwrap(); }
        if integrity_sha256 { b.add_message_integrity_sha256(&key).unwrap(); }
        if fingerprint { b.add_fingerprint().unwrap(); }
        let n = b.finish();

        let m = StunMessage::parse(&buf[..n]).unwrap();
        prop_assert_eq!(m.message_type(), message_type);
        prop_assert_eq!(m.transaction_id(), TransactionId(tid));
        let decoded: Vec<Attribute<'_>> = m.attributes().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&decoded, &typed);
        prop_assert!(m.unknown_comprehension_required().is_empty());
        prop_assert_eq!(m.has_message_integrity(), integrity);
        prop_assert_eq!(m.has_message_integrity_sha256(), integrity_sha256);
        prop_assert_eq!(m.has_fingerprint(), fingerprint);
        if integrity { m.verify_message_integrity(&key).unwrap(); }
        if integrity_sha256 { m.verify_message_integrity_sha256(&key).unwrap(); }
        if fingerprint { m.verify_fingerprint().unwrap(); }
        if integrity || integrity_sha256 {
            let other = IntegrityKey::short_term(&format!("{password}x"));
            prop_assert!(m.verify_integrity(&other).is_err());
        }
    }

    #[test]
    fn parser_is_total_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        exercise(&bytes);
    }

    #[test]
    fn parser_is_total_on_mutated_messages(
        attrs in proptest::collection::vec(owned(), 0..6),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let attrs: Vec<Owned> = attrs.into_iter().filter(|a| !matches!(a, Owned::U32(k, _) if k % 3 == 2)).collect();
        let algs: Vec<Vec<PasswordAlgorithm<'_>>> = attrs.iter().map(|a| match a {
            Owned::PasswordAlgorithms(v) => v.iter().map(|(a, p)| PasswordAlgorithm { algorithm: *a, parameters: p }).collect(),
            _ => Vec::new(),
        }).collect();
        let mut buf = vec![0u8; 4096];
        let mut b = MessageBuilder::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId([3; 12])).unwrap();
        for (a, l) in attrs.iter().zip(&algs) {
            b.add(&attribute(a, l)).unwrap();
        }
        b.add_fingerprint().unwrap();
        let n = b.finish();
        let mut msg = buf[..n].to_vec();
        for (at, v) in edits {
            let i = at % msg.len();
            msg[i] = v;
        }
        let cut = cut % (msg.len() + 1);
        exercise(&msg);
        exercise(&msg[..cut]);
    }
}

fn exercise(bytes: &[u8]) {
    if let Ok(m) = StunMessage::parse(bytes) {
        for a in m.attributes() {
            if let Ok(Attribute::PasswordAlgorithms(l)) = a {
                let _ = l.iter().count();
            }
            if let Ok(Attribute::UnknownAttributes(l)) = a {
                let _ = l.iter().count();
            }
        }
        let key = IntegrityKey::short_term("k");
        let _ = m.verify_integrity(&key);
        let _ = m.verify_fingerprint();
        let _ = (m.username(), m.xor_mapped_address(), m.error_code());
    }
}

proptest! {
    #[test]
    fn candidate_parser_is_total(s in "\\PC{0,120}") {
        let _ = sansrtc_ice::candidate::Candidate::parse(&s);
    }

    #[test]
    fn candidate_format_parse_round_trip(
        foundation in "[a-zA-Z0-9+/]{1,32}",
        component in 1u16..=256,
        priority in any::<u32>(),
        addr in socket_addr(),
        kind in 0u8..4,
        related in proptest::option::of(socket_addr()),
    ) {
        use sansrtc_ice::candidate::{Candidate, CandidateKind};
        let kind = [CandidateKind::Host, CandidateKind::ServerReflexive,
            CandidateKind::PeerReflexive, CandidateKind::Relayed][kind as usize];
        let mut c = Candidate::new(foundation, component, priority, addr, kind);
        c.related = related;
        prop_assert_eq!(Candidate::parse(&c.to_string()).unwrap(), c);
    }
}
