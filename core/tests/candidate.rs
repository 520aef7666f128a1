//! Property tests of the candidate attribute: parsing is total, a parsed candidate formats and
//! parses back to itself, `validate` agrees with `parse`, and a built candidate round-trips.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;
use sansrtc_core::candidate::{Candidate, CandidateKind};

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
    ]
}

fn kind() -> impl Strategy<Value = CandidateKind> {
    prop_oneof![
        Just(CandidateKind::Host),
        Just(CandidateKind::ServerReflexive),
        Just(CandidateKind::PeerReflexive),
        Just(CandidateKind::Relayed),
    ]
}

/// Attribute text close to the grammar, so that many cases parse.
fn near_candidate() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        "[a-zA-Z0-9+/]{1,4}",
        "[0-9]{1,11}",
        Just("udp".to_owned()),
        Just("TCP".to_owned()),
        Just("typ".to_owned()),
        Just("host".to_owned()),
        Just("srflx".to_owned()),
        Just("raddr".to_owned()),
        Just("rport".to_owned()),
        Just("generation".to_owned()),
        Just("tcptype".to_owned()),
        Just("active".to_owned()),
        Just("10.0.0.1".to_owned()),
        Just("::1".to_owned()),
        Just("Ab-1.local".to_owned()),
        "\\PC{1,6}",
    ];
    (
        "[a-zA-Z0-9+/]{1,8}",
        1u16..=300,
        prop_oneof![Just("udp"), Just("UDP"), Just("tcp"), Just("sctp")],
        any::<u32>(),
        prop_oneof![
            Just("192.0.2.1".to_owned()),
            Just("2001:db8::1".to_owned()),
            Just("X-1.local".to_owned()),
            Just("example.org".to_owned())
        ],
        any::<u16>(),
        prop_oneof![Just("host"), Just("SRFLX"), Just("relay"), Just("nat")],
        prop::collection::vec(token, 0..8),
    )
        .prop_map(|(f, c, t, p, a, port, k, rest)| {
            format!(
                "candidate:{f} {c} {t} {p} {a} {port} typ {k} {}",
                rest.join(" ")
            )
        })
}

fn check_round_trip(text: &str) -> Result<(), TestCaseError> {
    let parsed = Candidate::parse(text);
    prop_assert_eq!(
        Candidate::validate(text),
        parsed.as_ref().map(drop).map_err(Clone::clone)
    );
    if let Ok(c) = parsed {
        let again = Candidate::parse(&c.to_string());
        prop_assert_eq!(again.as_ref(), Ok(&c), "{} -> {}", text, c);
        // Canonical text is a fixed point.
        prop_assert_eq!(again.unwrap().to_string(), c.to_string());
    }
    Ok(())
}

proptest! {
    #[test]
    fn parser_is_total(s in "\\PC{0,160}") {
        check_round_trip(&s)?;
    }

    #[test]
    fn parsed_candidates_round_trip(s in near_candidate()) {
        check_round_trip(&s)?;
    }

    #[test]
    fn built_candidates_round_trip(
        foundation in "[a-zA-Z0-9+/]{1,32}",
        component in 1u16..=256,
        priority in any::<u32>(),
        addr in socket_addr(),
        kind in kind(),
        related in proptest::option::of(socket_addr()),
        generation in proptest::option::of(any::<u32>()),
    ) {
        let mut c = Candidate::new(foundation, component, priority, addr, kind);
        if let Some(r) = related {
            c = c.with_related(r);
        }
        if let Some(g) = generation {
            c.extensions.push(("generation".into(), g.to_string()));
        }
        prop_assert_eq!(Candidate::parse(&c.to_string()), Ok(c.clone()));
        prop_assert_eq!(c.generation(), generation);
    }
}
