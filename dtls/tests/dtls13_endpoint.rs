//! DTLS 1.3 through the `Endpoint` (RFC 9147): our 1.3 client against our 1.3 server, directly
//! and over a lossy, duplicating, reordering simulated link with a fake clock; version
//! negotiation with 1.2-only peers both ways; the downgrade sentinel; certificate, tampering and
//! replay checks.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

mod common;

use common::link::{Link, Outcome, PERFECT, run};
use sansrtc_dtls::fragment::{HandshakeHeader, SingleReassembler};
use sansrtc_dtls::v13::DTLS_1_3;
use sansrtc_dtls::v13::message::{self as m, ext, hs};
use sansrtc_dtls::v13::record::{self as rec, Record};
use sansrtc_dtls::{
    Certificate, Config, DtlsError, Endpoint, Event, HashAlgorithm, KeyRandomness, NamedGroup,
    ProtocolVersion, Rng, SrtpProfile, Suite, Suite13, TestRng, endpoint::Versions,
};

fn certs() -> &'static (Arc<Certificate>, Arc<Certificate>, Arc<Certificate>) {
    static C: OnceLock<(Arc<Certificate>, Arc<Certificate>, Arc<Certificate>)> = OnceLock::new();
    C.get_or_init(|| {
        (
            Arc::new(Certificate::generate().unwrap()),
            Arc::new(Certificate::generate().unwrap()),
            Arc::new(Certificate::generate().unwrap()),
        )
    })
}

fn configs(client: Versions, server: Versions) -> (Config, Config) {
    let (cc, sc, _) = certs();
    let mut c = Config::new(cc.clone());
    c.remote_fingerprints = vec![sc.fingerprint(HashAlgorithm::Sha256)];
    c.versions = client;
    let mut s = Config::new(sc.clone());
    s.remote_fingerprints = vec![cc.fingerprint(HashAlgorithm::Sha256)];
    s.versions = server;
    (c, s)
}

fn none(d: Vec<u8>) -> Vec<u8> {
    d
}

/// Both connected with `version`, the same DTLS-SRTP keys, each seeing the other's certificate.
fn assert_connected(o: &Outcome, version: ProtocolVersion) {
    assert!(o.client.is_connected(), "client: {:?}", o.client_events);
    assert!(o.server.is_connected(), "server: {:?}", o.server_events);
    assert_eq!(o.client.protocol_version(), version);
    assert_eq!(o.server.protocol_version(), version);
    assert_eq!(o.client.cipher_suite().map(|s| s.version()), Some(version));
    assert_eq!(o.server.cipher_suite(), o.client.cipher_suite());
    let (cp, ck) = o.client.srtp_keying_material().unwrap();
    let (sp, sk) = o.server.srtp_keying_material().unwrap();
    assert_eq!((cp, &ck), (sp, &sk));
    assert_eq!(cp, SrtpProfile::ALL[0]);
    assert_eq!(ck.len(), 2 * (cp.key_salt_len().0 + cp.key_salt_len().1));
    let (cc, sc, _) = certs();
    let fp = |events: &[Event]| {
        events.iter().find_map(|e| match e {
            Event::Connected {
                peer_fingerprint, ..
            } => Some(peer_fingerprint.clone()),
            _ => None,
        })
    };
    assert_eq!(
        fp(&o.client_events),
        Some(sc.fingerprint(HashAlgorithm::Sha256))
    );
    assert_eq!(
        fp(&o.server_events),
        Some(cc.fingerprint(HashAlgorithm::Sha256))
    );
}

fn failure(events: &[Event]) -> Option<DtlsError> {
    events.iter().find_map(|e| match e {
        Event::Failed(e) => Some(e.clone()),
        _ => None,
    })
}

#[test]
fn dtls13_handshake_data_and_close_through_the_endpoint() {
    let (c, s) = configs(Versions::Dtls13Or12, Versions::Dtls13Or12);
    let mut o = run(1, &PERFECT, c, s, &mut none);
    assert_connected(&o, ProtocolVersion::Dtls13);
    assert_eq!(
        o.client.cipher_suite(),
        Some(Suite::Dtls13(Suite13::Aes128GcmSha256))
    );
    assert_eq!(o.server.cipher_suite().map(|s| s.id()), Some(0x1301));
    // The HelloRetryRequest (sent anyway, for the cookie) asked for the hybrid group.
    assert_eq!(o.server.named_group(), Some(NamedGroup::X25519Mlkem768));
    assert_eq!(o.client.named_group(), Some(NamedGroup::X25519Mlkem768));
    // The Connected events say the same, typed.
    for events in [&o.client_events, &o.server_events] {
        let connected = events.iter().find_map(|e| match e {
            Event::Connected {
                version,
                cipher_suite,
                group,
                ..
            } => Some((*version, *cipher_suite, *group)),
            _ => None,
        });
        assert_eq!(
            connected,
            Some((
                ProtocolVersion::Dtls13,
                Suite::Dtls13(Suite13::Aes128GcmSha256),
                Some(NamedGroup::X25519Mlkem768)
            ))
        );
    }
    // ClientHello, HelloRetryRequest (cookie, group), ClientHello (2 datagrams: fragmented
    // ML-KEM share), server flight (fragmented too), client flight, ACK.
    println!(
        "DTLS 1.3 handshake: {} datagrams, {:?} simulated",
        o.datagrams, o.elapsed
    );
    assert!(o.datagrams <= 10, "{} datagrams", o.datagrams);
    let now = Instant::now();
    for to_server in [true, false] {
        let (from, to) = if to_server {
            (&mut o.client, &mut o.server)
        } else {
            (&mut o.server, &mut o.client)
        };
        from.send_application_data(b"over DTLS 1.3").unwrap();
        let d = from.poll_transmit().unwrap();
        assert_eq!(d[0] & 0b1110_0000, 0b0010_0000, "a unified header");
        to.handle_receive(now, &d);
        assert_eq!(
            to.poll_event(),
            Some(Event::ApplicationData(b"over DTLS 1.3".to_vec()))
        );
        // The same record again is a replay.
        to.handle_receive(now, &d);
        assert_eq!(to.poll_event(), None);
        assert_eq!(to.stats().replayed, 1);
    }
    o.client.close();
    let d = o.client.poll_transmit().unwrap();
    o.server.handle_receive(now, &d);
    let events: Vec<Event> = std::iter::from_fn(|| o.server.poll_event()).collect();
    assert!(events.contains(&Event::Closed), "{events:?}");
    assert!(o.server.is_closed() && o.client.is_closed());
}

#[test]
fn dtls13_over_a_lossy_reordering_link() {
    let link = Link {
        loss: 0.2,
        duplicate: 0.1,
        max_delay_ms: 80,
    };
    let mut worst = Duration::ZERO;
    for seed in 0..300 {
        let (c, s) = configs(Versions::Dtls13Or12, Versions::Dtls13Or12);
        let o = run(seed, &link, c, s, &mut none);
        assert_connected(&o, ProtocolVersion::Dtls13);
        worst = worst.max(o.elapsed);
    }
    println!("300 seeds at 20% loss: slowest handshake {worst:?} simulated");
}

#[test]
fn dtls13_handshake_is_deterministic_with_injected_randomness() {
    let run_once = || {
        let (mut c, mut s) = configs(Versions::Dtls13Or12, Versions::Dtls13Or12);
        c.key_randomness = sansrtc_dtls::KeyRandomness::Injected;
        s.key_randomness = sansrtc_dtls::KeyRandomness::Injected;
        let mut seen = Vec::new();
        let o = run(7, &PERFECT, c, s, &mut |d| {
            seen.push(d.clone());
            d
        });
        assert_connected(&o, ProtocolVersion::Dtls13);
        (seen, o.client.srtp_keying_material().unwrap())
    };
    assert_eq!(run_once(), run_once());
}

#[test]
fn a_13_client_falls_back_to_a_12_server_and_a_12_client_gets_12() {
    let (c, s) = configs(Versions::Dtls13Or12, Versions::Dtls12);
    let o = run(2, &PERFECT, c, s, &mut none);
    assert_connected(&o, ProtocolVersion::Dtls12);
    let (c, s) = configs(Versions::Dtls12, Versions::Dtls13Or12);
    let o = run(3, &PERFECT, c, s, &mut none);
    assert_connected(&o, ProtocolVersion::Dtls12);
    // A 1.3-only client refuses a 1.2 server; a 1.3-only server ignores a 1.2 client.
    let (c, s) = configs(Versions::Dtls13, Versions::Dtls12);
    let o = run(4, &PERFECT, c, s, &mut none);
    assert!(matches!(
        failure(&o.client_events),
        Some(DtlsError::UnsupportedVersion(_))
    ));
    let (c, s) = configs(Versions::Dtls12, Versions::Dtls13);
    let o = run(5, &PERFECT, c, s, &mut none);
    assert!(!o.client.is_connected() && !o.server.is_connected());
    assert!(o.server.stats().dropped > 0);
}

/// Removes DTLS 1.3 from a client's ClientHello (a man in the middle forcing DTLS 1.2).
fn strip_13(d: Vec<u8>) -> Vec<u8> {
    let Some(Ok(Record::Plaintext(p))) = rec::parse_datagram(&d).next() else {
        return d;
    };
    let Ok(frags) = m::parse_fragments(p.fragment) else {
        return d;
    };
    let [f] = &frags[..] else { return d };
    if f.msg_type != hs::CLIENT_HELLO || !f.is_whole() {
        return d;
    }
    let mut ch = m::ClientHello::parse(f.data).unwrap();
    ch.extensions
        .0
        .retain(|(t, _)| *t != ext::SUPPORTED_VERSIONS && *t != ext::KEY_SHARE);
    let mut body = Vec::new();
    ch.write(&mut body);
    let mut content = Vec::new();
    m::write_handshake(hs::CLIENT_HELLO, f.message_seq, &body, &mut content);
    let mut out = Vec::new();
    rec::write_plaintext(rec::CT_HANDSHAKE, p.sequence, &content, &mut out);
    out
}

#[test]
fn a_downgrade_to_12_is_detected_by_the_sentinel() {
    let (mut c, s) = configs(Versions::Dtls13Or12, Versions::Dtls13Or12);
    // An X25519 share only: a ClientHello in one datagram, for `strip_13` to rewrite.
    c.groups13 = vec![NamedGroup::X25519];
    let o = run(6, &PERFECT, c, s, &mut strip_13);
    assert_eq!(failure(&o.client_events), Some(DtlsError::Downgrade));
    assert!(!o.server.is_connected());
}

#[test]
fn dtls13_refuses_a_certificate_not_matching_the_fingerprint() {
    let (_, _, other) = certs();
    // The client expects another server certificate.
    let (mut c, s) = configs(Versions::Dtls13Or12, Versions::Dtls13Or12);
    c.remote_fingerprints = vec![other.fingerprint(HashAlgorithm::Sha256)];
    let o = run(8, &PERFECT, c, s, &mut none);
    assert_eq!(
        failure(&o.client_events),
        Some(DtlsError::FingerprintMismatch)
    );
    assert!(!o.server.is_connected());
    // The server expects another client certificate.
    let (c, mut s) = configs(Versions::Dtls13Or12, Versions::Dtls13Or12);
    s.remote_fingerprints = vec![other.fingerprint(HashAlgorithm::Sha256)];
    let o = run(9, &PERFECT, c, s, &mut none);
    assert_eq!(
        failure(&o.server_events),
        Some(DtlsError::FingerprintMismatch)
    );
    assert!(!o.server.is_connected());
}

#[test]
fn tampered_13_records_are_dropped_and_the_connection_goes_on() {
    let (c, s) = configs(Versions::Dtls13Or12, Versions::Dtls13Or12);
    let mut o = run(10, &PERFECT, c, s, &mut none);
    assert_connected(&o, ProtocolVersion::Dtls13);
    let now = Instant::now();
    o.client.send_application_data(b"payload").unwrap();
    let d = o.client.poll_transmit().unwrap();
    for i in [0, 1, 3, 5, d.len() - 1] {
        let mut t = d.clone();
        t[i] ^= 0x40;
        o.server.handle_receive(now, &t);
        assert_eq!(o.server.poll_event(), None, "byte {i}");
    }
    assert!(o.server.stats().bad_mac + o.server.stats().malformed + o.server.stats().dropped >= 4);
    assert!(o.server.is_connected());
    // Truncations and garbage neither panic nor end the connection.
    for len in 0..d.len() {
        o.server.handle_receive(now, &d[..len]);
    }
    o.server.handle_receive(now, &[0x2f; 40]);
    assert!(o.server.is_connected());
    o.server.handle_receive(now, &d);
    assert_eq!(
        o.server.poll_event(),
        Some(Event::ApplicationData(b"payload".to_vec()))
    );
}

#[test]
fn forged_plaintext_server_hellos_do_not_end_a_13_handshake() {
    // A ServerHello picking DTLS 1.3 with a key share that is not one (anyone can send it in
    // plaintext): dropped; the real server's answer completes the handshake.
    let (c, s) = configs(Versions::Dtls13Or12, Versions::Dtls13Or12);
    let mut client = Endpoint::client(c, Box::new(TestRng::new(11)));
    let mut server = Endpoint::server(s, Box::new(TestRng::new(12)));
    let now = Instant::now();
    client.connect(now);
    let mut e = m::Extensions::default();
    e.push(ext::SUPPORTED_VERSIONS, DTLS_1_3.to_be_bytes().to_vec());
    e.push(ext::KEY_SHARE, m::server_key_share_ext(0x001D, &[0; 31]));
    let mut body = Vec::new();
    m::ServerHello {
        legacy_version: m::LEGACY_VERSION,
        random: [7; 32],
        session_id: vec![],
        cipher_suite: 0x1301,
        extensions: e,
    }
    .write(&mut body);
    let mut content = Vec::new();
    m::write_handshake(hs::SERVER_HELLO, 0, &body, &mut content);
    let mut forged = Vec::new();
    rec::write_plaintext(rec::CT_HANDSHAKE, 0, &content, &mut forged);
    client.handle_receive(now, &forged);
    assert!(!client.is_closed());
    assert!(client.stats().malformed > 0);
    for _ in 0..20 {
        let moved = pass(&mut client, &mut server, now) | pass(&mut server, &mut client, now);
        if !moved {
            break;
        }
    }
    assert!(client.is_connected() && server.is_connected());
    assert_eq!(client.protocol_version(), ProtocolVersion::Dtls13);
}

/// The X25519 base point: a valid public key anyone can send.
const X25519_BASE: [u8; 32] = {
    let mut p = [0u8; 32];
    p[0] = 9;
    p
};

/// A ServerHello picking DTLS 1.3 with a well-formed share of `group` (not the server's; the
/// X25519MLKEM768 one is as long as the real server's, which is fragmented).
fn forged_server_hello(group: u16, share: &[u8]) -> Vec<u8> {
    let mut e = m::Extensions::default();
    e.push(ext::SUPPORTED_VERSIONS, DTLS_1_3.to_be_bytes().to_vec());
    e.push(ext::KEY_SHARE, m::server_key_share_ext(group, share));
    let mut body = Vec::new();
    m::ServerHello {
        legacy_version: m::LEGACY_VERSION,
        random: [8; 32],
        session_id: vec![],
        cipher_suite: 0x1301,
        extensions: e,
    }
    .write(&mut body);
    body
}

/// Datagrams anyone can send: plaintext alerts (fatal and close_notify), unified-header records
/// with random bytes (every epoch's bits), a truncated unified header, a ClientHello offering 1.3
/// with a forged cookie, a HelloRetryRequest and a Finished in plaintext, ServerHellos that pass
/// every check a client can make (valid X25519 and X25519MLKEM768 shares), an ACK in plaintext.
fn hostile_datagrams(rng: &mut TestRng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (level, description) in [(2u8, 40u8), (1, 0)] {
        let mut d = Vec::new();
        rec::write_plaintext(rec::CT_ALERT, 0, &[level, description], &mut d);
        out.push(d);
    }
    for first in [0x2c_u8, 0x2d, 0x2e, 0x2f, 0x20, 0x28] {
        let mut d = vec![first];
        let mut body = vec![0u8; 60];
        rng.fill(&mut body);
        d.extend_from_slice(&[body[0], body[1], 0, 40]);
        d.extend_from_slice(&body[..40]);
        out.push(d);
    }
    out.push(vec![0x2c, 0x00]);
    let mut e = m::Extensions::default();
    e.push(ext::SUPPORTED_VERSIONS, m::client_versions_ext(&[DTLS_1_3]));
    e.push(
        ext::KEY_SHARE,
        m::client_key_share_ext(&[(0x001D, vec![9; 32])]),
    );
    e.push(ext::COOKIE, m::cookie_ext(&[1; 100]));
    e.push(ext::SUPPORTED_GROUPS, vec![0, 2, 0, 0x1d]);
    e.push(ext::SIGNATURE_ALGORITHMS, vec![0, 2, 4, 3]);
    let mut body = Vec::new();
    m::ClientHello {
        legacy_version: m::LEGACY_VERSION,
        random: [3; 32],
        session_id: vec![],
        legacy_cookie: vec![],
        cipher_suites: vec![0x1301],
        extensions: e,
    }
    .write(&mut body);
    for (ty, seq, body) in [
        (hs::CLIENT_HELLO, 1u16, body),
        (hs::SERVER_HELLO, 0, {
            let mut e = m::Extensions::default();
            e.push(ext::SUPPORTED_VERSIONS, DTLS_1_3.to_be_bytes().to_vec());
            e.push(ext::COOKIE, m::cookie_ext(&[5; 40]));
            let mut b = Vec::new();
            m::ServerHello {
                legacy_version: m::LEGACY_VERSION,
                random: m::HRR_RANDOM,
                session_id: vec![],
                cipher_suite: 0x1301,
                extensions: e,
            }
            .write(&mut b);
            b
        }),
        (hs::FINISHED, 2, vec![0; 32]),
        (
            hs::SERVER_HELLO,
            0,
            forged_server_hello(0x001D, &X25519_BASE),
        ),
        (
            hs::SERVER_HELLO,
            1,
            forged_server_hello(0x001D, &X25519_BASE),
        ),
        (hs::SERVER_HELLO, 1, forged_server_hello(0x11EC, &[9; 1120])),
    ] {
        let mut content = Vec::new();
        m::write_handshake(ty, seq, &body, &mut content);
        let mut d = Vec::new();
        rec::write_plaintext(rec::CT_HANDSHAKE, 1, &content, &mut d);
        out.push(d);
    }
    let mut d = Vec::new();
    rec::write_plaintext(rec::CT_ACK, 2, &[0, 0], &mut d);
    out.push(d);
    out
}

#[test]
fn hostile_datagrams_before_every_13_handshake_datagram_do_not_stop_it() {
    for seed in 0..50 {
        let (c, s) = configs(Versions::Dtls13Or12, Versions::Dtls13Or12);
        let mut client = Endpoint::client(c, Box::new(TestRng::new(seed)));
        let mut server = Endpoint::server(s, Box::new(TestRng::new(seed + 100)));
        let mut rng = TestRng::new(seed + 200);
        let now = Instant::now();
        client.connect(now);
        for _ in 0..30 {
            let mut moved = false;
            while let Some(d) = client.poll_transmit() {
                // (Only to the receiver: a forged ClientHello makes the server answer, and
                // feeding the sender while draining it would never end.)
                for h in hostile_datagrams(&mut rng) {
                    server.handle_receive(now, &h);
                }
                server.handle_receive(now, &d);
                moved = true;
            }
            while let Some(d) = server.poll_transmit() {
                for h in hostile_datagrams(&mut rng) {
                    client.handle_receive(now, &h);
                }
                client.handle_receive(now, &d);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        assert!(client.is_connected(), "seed {seed}: {:?}", client.stats());
        assert!(server.is_connected(), "seed {seed}: {:?}", server.stats());
        assert_eq!(client.protocol_version(), ProtocolVersion::Dtls13);
        assert_eq!(
            client.srtp_keying_material().unwrap(),
            server.srtp_keying_material().unwrap()
        );
        // After the handshake too: data still flows.
        for h in hostile_datagrams(&mut rng) {
            server.handle_receive(now, &h);
        }
        client.send_application_data(b"still here").unwrap();
        let d = client.poll_transmit().unwrap();
        server.handle_receive(now, &d);
        let got: Vec<Event> = std::iter::from_fn(|| server.poll_event()).collect();
        assert!(
            got.contains(&Event::ApplicationData(b"still here".to_vec())),
            "{got:?}"
        );
        assert!(server.is_connected());
    }
}

/// Every datagram `from` has to send, handed to `to` at `now`; whether there was any.
fn pass(from: &mut Endpoint, to: &mut Endpoint, now: Instant) -> bool {
    let mut any = false;
    while let Some(d) = from.poll_transmit() {
        to.handle_receive(now, &d);
        any = true;
    }
    any
}

/// Delivers datagrams both ways in order (firing the timers when nothing is in flight) until
/// both are connected or one closed.
fn finish(client: &mut Endpoint, server: &mut Endpoint, mut now: Instant) {
    for _ in 0..300 {
        let moved = pass(client, server, now) | pass(server, client, now);
        if moved {
            continue;
        }
        let done = client.is_connected() && server.is_connected();
        if done || client.is_closed() || server.is_closed() {
            break;
        }
        let Some(t) = [client.poll_timeout(), server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        now = now.max(t);
        client.handle_timeout(now);
        server.handle_timeout(now);
    }
}

#[test]
fn each_hostile_13_datagram_alone_leaves_the_handshake_able_to_complete() {
    // One datagram at a time, before each of the first datagrams of the handshake, to either
    // side (the 1.3 analogue of attacks.rs's test for DTLS 1.2).
    let attack = hostile_datagrams(&mut TestRng::new(77));
    for (i, a) in attack.iter().enumerate() {
        for to_client in [false, true] {
            for at_step in 0..8 {
                let (c, s) = configs(Versions::Dtls13Or12, Versions::Dtls13Or12);
                let mut client = Endpoint::client(c, Box::new(TestRng::new(i as u64)));
                let mut server = Endpoint::server(s, Box::new(TestRng::new(at_step + 50)));
                let now = Instant::now();
                client.connect(now);
                let mut step = 0;
                for _ in 0..40 {
                    let mut moved = false;
                    while let Some(d) = client.poll_transmit() {
                        if !to_client && step == at_step {
                            server.handle_receive(now, a);
                        }
                        step += 1;
                        server.handle_receive(now, &d);
                        moved = true;
                    }
                    while let Some(d) = server.poll_transmit() {
                        if to_client && step == at_step {
                            client.handle_receive(now, a);
                        }
                        step += 1;
                        client.handle_receive(now, &d);
                        moved = true;
                    }
                    if !moved {
                        break;
                    }
                }
                // Retransmission timers may be needed (a dropped message), never a failure.
                finish(&mut client, &mut server, now);
                let side = if to_client { "client" } else { "server" };
                assert!(
                    client.is_connected() && server.is_connected(),
                    "hostile datagram {i} to the {side} before datagram {at_step}: client {:?}, \
                     server {:?}",
                    client.stats(),
                    server.stats()
                );
                assert_eq!(client.protocol_version(), ProtocolVersion::Dtls13);
                assert_eq!(
                    client.srtp_keying_material().unwrap(),
                    server.srtp_keying_material().unwrap()
                );
            }
        }
    }
}

#[test]
fn a_reordered_13_flight_completes_without_retransmission() {
    // The server's flight reaches the client last datagram first (its protected records before
    // the ServerHello that gives their keys), and the client's application data reaches the
    // server before the client's Finished: both are held and opened once the keys exist.
    let (c, s) = configs(Versions::Dtls13Or12, Versions::Dtls13Or12);
    let mut client = Endpoint::client(c, Box::new(TestRng::new(31)));
    let mut server = Endpoint::server(s, Box::new(TestRng::new(32)));
    let now = Instant::now();
    client.connect(now);
    // ClientHello, HelloRetryRequest, second ClientHello.
    pass(&mut client, &mut server, now);
    pass(&mut server, &mut client, now);
    pass(&mut client, &mut server, now);
    let flight: Vec<Vec<u8>> = std::iter::from_fn(|| server.poll_transmit()).collect();
    assert!(flight.len() >= 2, "{} datagrams", flight.len());
    for d in flight.iter().rev() {
        client.handle_receive(now, d);
    }
    assert!(client.is_connected(), "{:?}", client.stats());
    let mut last: Vec<Vec<u8>> = std::iter::from_fn(|| client.poll_transmit()).collect();
    client.send_application_data(b"early").unwrap();
    last.insert(0, client.poll_transmit().unwrap());
    for d in &last {
        server.handle_receive(now, d);
    }
    assert!(server.is_connected(), "{:?}", server.stats());
    let got: Vec<Event> = std::iter::from_fn(|| server.poll_event()).collect();
    assert!(
        got.contains(&Event::ApplicationData(b"early".to_vec())),
        "{got:?}"
    );
    pass(&mut server, &mut client, now);
    assert_eq!(client.stats().retransmissions, 0);
    assert_eq!(server.stats().retransmissions, 0);
    assert_eq!(
        client.srtp_keying_material().unwrap(),
        server.srtp_keying_material().unwrap()
    );
}

#[test]
fn a_flood_of_forged_13_hello_retry_requests_costs_bounded_work() {
    // Distinct forged HelloRetryRequests: each of the first few is answered (a second
    // ClientHello, with the others not yet answered), a bounded number in all; past that they
    // are counted and dropped, and the client neither fails nor sends more.
    let (c, _) = configs(Versions::Dtls13Or12, Versions::Dtls13Or12);
    let mut client = Endpoint::client(c, Box::new(TestRng::new(41)));
    let now = Instant::now();
    client.connect(now);
    let first_hello: usize = std::iter::from_fn(|| client.poll_transmit())
        .map(|d| d.len())
        .sum();
    let mut answered = 0;
    for i in 0..100u8 {
        let mut e = m::Extensions::default();
        e.push(ext::SUPPORTED_VERSIONS, DTLS_1_3.to_be_bytes().to_vec());
        e.push(ext::COOKIE, m::cookie_ext(&[i; 40]));
        let mut body = Vec::new();
        m::ServerHello {
            legacy_version: m::LEGACY_VERSION,
            random: m::HRR_RANDOM,
            session_id: vec![],
            cipher_suite: 0x1301,
            extensions: e,
        }
        .write(&mut body);
        let mut content = Vec::new();
        m::write_handshake(hs::SERVER_HELLO, 0, &body, &mut content);
        let mut d = Vec::new();
        rec::write_plaintext(rec::CT_HANDSHAKE, u64::from(i), &content, &mut d);
        client.handle_receive(now, &d);
        let sent: usize = std::iter::from_fn(|| client.poll_transmit())
            .map(|d| d.len())
            .sum();
        // At most the first ClientHello and three second ones.
        assert!(
            sent < 4 * (first_hello + 100),
            "{sent} bytes for forged HelloRetryRequest {i}"
        );
        if sent > 0 {
            answered += 1;
        }
        assert!(!client.is_closed());
    }
    assert!(answered <= 24, "{answered} answered");
    assert!(client.stats().dropped >= 76, "{:?}", client.stats());
}

// ---- Key exchange groups (`Config::groups13`): X25519MLKEM768, X25519, P-256.

fn configs_with_groups(client: &[NamedGroup], server: &[NamedGroup]) -> (Config, Config) {
    let (mut c, mut s) = configs(Versions::Dtls13Or12, Versions::Dtls13Or12);
    c.groups13 = client.to_vec();
    s.groups13 = server.to_vec();
    (c, s)
}

/// A whole plaintext ClientHello in a datagram: its (groups of the key shares, supported_groups,
/// has a cookie).
fn client_hello_groups(d: &[u8]) -> Option<(Vec<u16>, Vec<u16>, bool)> {
    HelloJoiner::default().push(d).pop()
}

/// The client's ClientHellos joined from their fragments (by the crate's own bounded
/// reassembler), in the datagrams as they pass.
struct HelloJoiner(SingleReassembler);

impl Default for HelloJoiner {
    fn default() -> Self {
        Self(SingleReassembler::new(1 << 14))
    }
}

impl HelloJoiner {
    /// The key share groups, supported_groups and whether a cookie is returned, of each
    /// ClientHello that `d` completes.
    fn push(&mut self, d: &[u8]) -> Vec<(Vec<u16>, Vec<u16>, bool)> {
        let mut done = Vec::new();
        for r in rec::parse_datagram(d) {
            let Ok(Record::Plaintext(p)) = r else {
                continue;
            };
            for f in m::parse_fragments(p.fragment).unwrap_or_default() {
                if f.msg_type != hs::CLIENT_HELLO {
                    continue;
                }
                let header = HandshakeHeader {
                    msg_type: f.msg_type,
                    length: f.length,
                    message_seq: f.message_seq,
                    fragment_offset: f.offset,
                    fragment_length: f.data.len() as u32,
                };
                if let Ok(Some(body)) = self.0.insert(&header, f.data) {
                    let ch = m::ClientHello::parse(&body).expect("a ClientHello");
                    let shares = ch.key_shares().unwrap().iter().map(|s| s.0).collect();
                    let cookie = ch.cookie().unwrap().is_some();
                    done.push((shares, ch.supported_groups().unwrap(), cookie));
                }
            }
        }
        done
    }
}

#[test]
fn each_13_group_is_negotiated_through_the_endpoint() {
    for (i, group) in NamedGroup::DTLS13.into_iter().enumerate() {
        for randomness in [KeyRandomness::Fast, KeyRandomness::Injected] {
            let (mut c, mut s) = configs_with_groups(&[group], &[group]);
            c.key_randomness = randomness;
            s.key_randomness = randomness;
            let mut first = None;
            let o = run(20 + i as u64, &PERFECT, c, s, &mut |d| {
                first.get_or_insert_with(|| d.clone());
                d
            });
            assert_connected(&o, ProtocolVersion::Dtls13);
            assert_eq!(
                o.client.named_group().map(|g| g.id()),
                Some(group.id()),
                "{group:?}"
            );
            assert_eq!(
                o.server.named_group().map(|g| g.id()),
                Some(group.id()),
                "{group:?}"
            );
            let first = first.expect("a first datagram");
            match group {
                // The hybrid share alone does not fit one datagram: the first ClientHello is
                // fragmented (no whole ClientHello in its first datagram).
                NamedGroup::X25519Mlkem768 => assert_eq!(client_hello_groups(&first), None),
                // One share of the only group; supported_groups: it, then P-384 for DTLS 1.2.
                _ => assert_eq!(
                    client_hello_groups(&first),
                    Some((vec![group.id()], vec![group.id(), 0x0018], false))
                ),
            }
        }
    }
}

#[test]
fn the_default_groups_send_hybrid_and_x25519_shares_and_end_with_the_hybrid() {
    for (versions, groups) in [
        (Versions::Dtls13Or12, vec![0x11EC, 0x001D, 0x0017, 0x0018]),
        (Versions::Dtls13, vec![0x11EC, 0x001D, 0x0017]),
    ] {
        let (c, s) = configs(versions, versions);
        assert_eq!(c.groups13, NamedGroup::DTLS13);
        let (mut hellos, mut joiner) = (Vec::new(), HelloJoiner::default());
        let o = run(30, &PERFECT, c, s, &mut |d| {
            hellos.extend(joiner.push(&d));
            d
        });
        assert_connected(&o, ProtocolVersion::Dtls13);
        assert_eq!(o.client.named_group().map(|g| g.id()), Some(0x11EC));
        // The first ClientHello carries a hybrid and an X25519 share, as the browsers' do
        // (fragmented: over 1200 bytes); the second one returns the cookie with the same shares.
        assert_eq!(
            hellos,
            vec![
                (vec![0x11EC, 0x001D], groups.clone(), false),
                (vec![0x11EC, 0x001D], groups, true)
            ]
        );
    }
}

#[test]
fn a_p256_only_client_gets_p256_from_a_server_preferring_the_hybrid() {
    for randomness in [KeyRandomness::Fast, KeyRandomness::Injected] {
        let (mut c, mut s) = configs_with_groups(&[NamedGroup::Secp256r1], &NamedGroup::DTLS13);
        c.key_randomness = randomness;
        s.key_randomness = randomness;
        let (mut hellos, mut joiner) = (Vec::new(), HelloJoiner::default());
        let o = run(31, &PERFECT, c, s, &mut |d| {
            hellos.extend(joiner.push(&d));
            d
        });
        assert_connected(&o, ProtocolVersion::Dtls13);
        assert_eq!(o.client.named_group().map(|g| g.id()), Some(0x0017));
        assert_eq!(o.server.named_group().map(|g| g.id()), Some(0x0017));
        // The HelloRetryRequest asked for no other group: the second ClientHello (with the
        // cookie) carries the same P-256 share.
        let groups = vec![0x0017, 0x0018];
        assert_eq!(
            hellos,
            vec![
                (vec![0x0017], groups.clone(), false),
                (vec![0x0017], groups, true)
            ]
        );
    }
    // The server's order decides among the groups the client offers.
    let (c, s) = configs_with_groups(
        &[NamedGroup::X25519, NamedGroup::Secp256r1],
        &[NamedGroup::Secp256r1, NamedGroup::X25519],
    );
    let o = run(32, &PERFECT, c, s, &mut none);
    assert_connected(&o, ProtocolVersion::Dtls13);
    assert_eq!(o.server.named_group().map(|g| g.id()), Some(0x0017));
    // P-384, a DTLS 1.2 group here, is left out of the 1.3 groups on either side.
    let (c, s) = configs_with_groups(
        &[NamedGroup::Secp384r1, NamedGroup::X25519],
        &[NamedGroup::Secp384r1, NamedGroup::X25519],
    );
    let o = run(34, &PERFECT, c, s, &mut none);
    assert_connected(&o, ProtocolVersion::Dtls13);
    assert_eq!(o.client.named_group(), Some(NamedGroup::X25519));
    assert_eq!(o.server.named_group(), Some(NamedGroup::X25519));
}

#[test]
fn no_common_13_group_fails_the_server_with_handshake_failure() {
    let (mut c, mut s) = configs_with_groups(&[NamedGroup::X25519], &[NamedGroup::Secp256r1]);
    c.versions = Versions::Dtls13;
    s.versions = Versions::Dtls13;
    let mut o = run(33, &PERFECT, c, s, &mut none);
    // The server sends its cookie first (nothing unverified fails it), then refuses the
    // ClientHello that returned it.
    assert_eq!(
        failure(&o.server_events),
        Some(DtlsError::NoCommon("group"))
    );
    assert!(!o.client.is_connected() && !o.server.is_connected());
    // Its plaintext handshake_failure alert reached the client (which, as for every
    // unauthenticated alert, only counts it); the client gives up on its own timer.
    assert!(o.client.stats().unauthenticated_alerts >= 1);
    while let Some(t) = o.client.poll_timeout() {
        o.client.handle_timeout(t);
        while o.client.poll_transmit().is_some() {}
    }
    let events: Vec<Event> = std::iter::from_fn(|| o.client.poll_event()).collect();
    assert_eq!(failure(&events), Some(DtlsError::HandshakeTimeout));
    assert!(o.client.is_closed());
}

/// Replaces the P-256 key share of every ClientHello carrying our cookie with `bad`.
fn spoil_p256_share(d: Vec<u8>, bad: &[u8]) -> Vec<u8> {
    let Some(Ok(Record::Plaintext(p))) = rec::parse_datagram(&d).next() else {
        return d;
    };
    let Ok(frags) = m::parse_fragments(p.fragment) else {
        return d;
    };
    let [f] = &frags[..] else { return d };
    if f.msg_type != hs::CLIENT_HELLO || !f.is_whole() {
        return d;
    }
    let mut ch = m::ClientHello::parse(f.data).unwrap();
    if ch.cookie().unwrap().is_none() {
        return d;
    }
    for (t, data) in ch.extensions.0.iter_mut() {
        if *t == ext::KEY_SHARE {
            *data = m::client_key_share_ext(&[(0x0017, bad.to_vec())]);
        }
    }
    let mut body = Vec::new();
    ch.write(&mut body);
    let mut content = Vec::new();
    m::write_handshake(hs::CLIENT_HELLO, f.message_seq, &body, &mut content);
    let mut out = Vec::new();
    rec::write_plaintext(rec::CT_HANDSHAKE, p.sequence, &content, &mut out);
    out
}

#[test]
fn invalid_p256_shares_are_refused() {
    // A valid point, then spoiled copies of it.
    let (_, point) = sansrtc_dtls::v13::kx::ClientKeyShare::generate(0x0017, &mut TestRng::new(1))
        .expect("share");
    let mut off_curve = point.clone();
    off_curve[64] ^= 1;
    let mut compressed = point[..33].to_vec();
    compressed[0] = 2 + (point[64] & 1);
    let mut zero = vec![0u8; 65];
    zero[0] = 4;
    for (i, bad) in [off_curve, compressed, zero, point[..64].to_vec(), vec![4]]
        .into_iter()
        .enumerate()
    {
        for randomness in [KeyRandomness::Fast, KeyRandomness::Injected] {
            let (mut c, mut s) =
                configs_with_groups(&[NamedGroup::Secp256r1], &[NamedGroup::Secp256r1]);
            c.key_randomness = randomness;
            s.key_randomness = randomness;
            let o = run(40 + i as u64, &PERFECT, c, s, &mut |d| {
                spoil_p256_share(d, &bad)
            });
            assert_eq!(
                failure(&o.server_events),
                Some(DtlsError::Invalid("P-256 key share")),
                "share {i}"
            );
            assert!(!o.client.is_connected());
        }
    }
}

#[test]
fn a_forged_server_hello_with_an_invalid_p256_share_leaves_the_client_s_key() {
    // Anyone can send a plaintext ServerHello: one with a point off the curve is dropped, and
    // the client's P-256 key (ring's, usable once, with `Fast`) is still there for the real one.
    for randomness in [KeyRandomness::Fast, KeyRandomness::Injected] {
        let (mut c, mut s) =
            configs_with_groups(&[NamedGroup::Secp256r1], &[NamedGroup::Secp256r1]);
        c.key_randomness = randomness;
        s.key_randomness = randomness;
        let mut client = Endpoint::client(c, Box::new(TestRng::new(50)));
        let mut server = Endpoint::server(s, Box::new(TestRng::new(51)));
        let now = Instant::now();
        client.connect(now);
        let (_, mut point) =
            sansrtc_dtls::v13::kx::ClientKeyShare::generate(0x0017, &mut TestRng::new(2))
                .expect("share");
        point[64] ^= 1;
        let mut e = m::Extensions::default();
        e.push(ext::SUPPORTED_VERSIONS, DTLS_1_3.to_be_bytes().to_vec());
        e.push(ext::KEY_SHARE, m::server_key_share_ext(0x0017, &point));
        let mut body = Vec::new();
        m::ServerHello {
            legacy_version: m::LEGACY_VERSION,
            random: [7; 32],
            session_id: vec![],
            cipher_suite: 0x1301,
            extensions: e,
        }
        .write(&mut body);
        let mut content = Vec::new();
        // message_seq 1: the one after the HelloRetryRequest.
        m::write_handshake(hs::SERVER_HELLO, 1, &body, &mut content);
        let mut forged = Vec::new();
        rec::write_plaintext(rec::CT_HANDSHAKE, 0, &content, &mut forged);
        let mut forged_once = Some(forged);
        for _ in 0..20 {
            let mut moved = false;
            while let Some(d) = client.poll_transmit() {
                server.handle_receive(now, &d);
                moved = true;
            }
            while let Some(d) = server.poll_transmit() {
                // The forgery arrives just before the server's ServerHello (after the
                // HelloRetryRequest).
                if client.protocol_version() == ProtocolVersion::Dtls13
                    && let Some(f) = forged_once.take()
                {
                    client.handle_receive(now, &f);
                    assert!(!client.is_closed());
                }
                client.handle_receive(now, &d);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        assert!(forged_once.is_none());
        assert!(client.stats().malformed > 0, "{:?}", client.stats());
        assert!(
            client.is_connected() && server.is_connected(),
            "{randomness:?}"
        );
        assert_eq!(client.named_group().map(|g| g.id()), Some(0x0017));
        assert_eq!(
            client.srtp_keying_material().unwrap(),
            server.srtp_keying_material().unwrap()
        );
    }
}

/// A plaintext HelloRetryRequest datagram asking for `group`, with a cookie (anyone can send one).
fn forged_hrr_for(group: u16) -> Vec<u8> {
    let mut e = m::Extensions::default();
    e.push(ext::SUPPORTED_VERSIONS, DTLS_1_3.to_be_bytes().to_vec());
    e.push(ext::KEY_SHARE, group.to_be_bytes().to_vec());
    e.push(ext::COOKIE, m::cookie_ext(&[5; 40]));
    let mut body = Vec::new();
    m::ServerHello {
        legacy_version: m::LEGACY_VERSION,
        random: m::HRR_RANDOM,
        session_id: vec![],
        cipher_suite: 0x1301,
        extensions: e,
    }
    .write(&mut body);
    let mut content = Vec::new();
    m::write_handshake(hs::SERVER_HELLO, 0, &body, &mut content);
    let mut d = Vec::new();
    rec::write_plaintext(rec::CT_HANDSHAKE, 0, &content, &mut d);
    d
}

#[test]
fn a_hello_retry_request_for_an_unconfigured_group_is_dropped_by_the_client() {
    // A P-256-only client: a forged HelloRetryRequest asking for X25519 (or the hybrid) before
    // the real one is dropped (no share of it is ever sent) and the handshake ends with P-256.
    for asked in [0x001D_u16, 0x11EC] {
        let (c, s) = configs_with_groups(&[NamedGroup::Secp256r1], &[NamedGroup::Secp256r1]);
        let mut client = Endpoint::client(c, Box::new(TestRng::new(60)));
        let mut server = Endpoint::server(s, Box::new(TestRng::new(61)));
        let now = Instant::now();
        client.connect(now);
        let mut forged = Some(forged_hrr_for(asked));
        let (mut hellos, mut joiner) = (Vec::new(), HelloJoiner::default());
        for _ in 0..20 {
            let mut moved = false;
            while let Some(d) = client.poll_transmit() {
                hellos.extend(joiner.push(&d));
                server.handle_receive(now, &d);
                moved = true;
            }
            while let Some(d) = server.poll_transmit() {
                if let Some(f) = forged.take() {
                    client.handle_receive(now, &f);
                    assert!(!client.is_closed());
                }
                client.handle_receive(now, &d);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        assert!(forged.is_none());
        assert!(client.stats().malformed > 0, "{:?}", client.stats());
        assert!(client.is_connected() && server.is_connected(), "{asked:#x}");
        assert_eq!(client.named_group().map(|g| g.id()), Some(0x0017));
        assert_eq!(server.named_group().map(|g| g.id()), Some(0x0017));
        // Two ClientHellos (the first and the one returning the real cookie), P-256 shares only.
        assert_eq!(hellos.len(), 2, "{hellos:?}");
        for (shares, _, _) in &hellos {
            assert_eq!(shares, &vec![0x0017]);
        }
        assert!(hellos[1].2, "the second ClientHello returns the cookie");
    }
}
