//! Tampered and hostile input: each fails with the right alert, or is dropped without a state
//! change when RFC 6347 says so. The side that detects tampering fails and sends its alert; a
//! plaintext alert is not authenticated, so the other side only counts and remembers it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sansrtc_dtls::codec::Reader;
use sansrtc_dtls::fragment::{self, HandshakeHeader};
use sansrtc_dtls::message::{ClientHello, Extensions, msg_type};
use sansrtc_dtls::record::{self, ContentType, RecordHeader};
use sansrtc_dtls::{
    Alert, AlertDescription, Certificate, Config, DtlsError, Endpoint, Event, HashAlgorithm,
    TestRng,
};

fn pair() -> (Endpoint, Endpoint, Arc<Certificate>) {
    pair_with(true)
}

fn pair_with(require_ems: bool) -> (Endpoint, Endpoint, Arc<Certificate>) {
    let cc = Arc::new(Certificate::generate().unwrap());
    let sc = Arc::new(Certificate::generate().unwrap());
    let mut c = Config::new(cc.clone());
    c.remote_fingerprints = vec![sc.fingerprint(HashAlgorithm::Sha256)];
    let mut s = Config::new(sc.clone());
    s.remote_fingerprints = vec![cc.fingerprint(HashAlgorithm::Sha256)];
    // These attacks are on the DTLS 1.2 handshake (HelloVerifyRequest, plaintext
    // ServerKeyExchange and Certificate, EMS, renegotiation): pinned to 1.2, the default being
    // 1.3 with 1.2 fallback. DTLS 1.3's are in dtls13_endpoint.rs.
    c.versions = sansrtc_dtls::endpoint::Versions::Dtls12;
    s.versions = sansrtc_dtls::endpoint::Versions::Dtls12;
    c.require_extended_master_secret = require_ems;
    s.require_extended_master_secret = require_ems;
    (
        Endpoint::client(c, Box::new(TestRng::new(1))),
        Endpoint::server(s, Box::new(TestRng::new(2))),
        sc,
    )
}

/// Delivers datagrams both ways, letting `tamper` edit each (true = from the client), firing
/// timers when nothing is in flight; returns both sides' events.
fn pump(
    client: &mut Endpoint,
    server: &mut Endpoint,
    mut tamper: impl FnMut(bool, &mut Vec<u8>),
) -> (Vec<Event>, Vec<Event>) {
    let mut now = Instant::now();
    let (mut ce, mut se) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let mut moved = false;
        while let Some(mut d) = client.poll_transmit() {
            tamper(true, &mut d);
            server.handle_receive(now, &d);
            moved = true;
        }
        while let Some(mut d) = server.poll_transmit() {
            tamper(false, &mut d);
            client.handle_receive(now, &d);
            moved = true;
        }
        ce.extend(std::iter::from_fn(|| client.poll_event()));
        se.extend(std::iter::from_fn(|| server.poll_event()));
        if !moved {
            if client.is_closed()
                || server.is_closed()
                || (client.is_connected() && server.is_connected())
            {
                break;
            }
            now += Duration::from_secs(2);
            client.handle_timeout(now);
            server.handle_timeout(now);
        }
    }
    (ce, se)
}

/// Applies `f` to the body bytes of the first unfragmented epoch-0 handshake message of type `ty`.
fn edit_message(d: &mut [u8], ty: u8, f: impl FnOnce(&mut [u8])) -> bool {
    let mut offset = 0;
    let copy = d.to_vec();
    for rec in record::parse_datagram(&copy) {
        let Ok(rec) = rec else { return false };
        let start = offset + record::HEADER_LEN;
        offset = start + rec.fragment.len();
        if rec.header.content_type != ContentType::Handshake || rec.header.epoch != 0 {
            continue;
        }
        let Ok((h, _)) = HandshakeHeader::parse(&mut Reader::new(rec.fragment)) else {
            continue;
        };
        if h.msg_type == ty {
            let body = start + fragment::HEADER_LEN;
            f(&mut d[body..body + h.fragment_length as usize]);
            return true;
        }
    }
    false
}

fn failed_with(events: &[Event], e: DtlsError) -> bool {
    events.contains(&Event::Failed(e))
}

/// The side that failed sent a fatal alert in plaintext (it had no keys yet): the peer counts
/// and remembers it but does not act on it (anyone could have sent it), and is not connected.
fn ignored_alert(peer: &Endpoint, events: &[Event], a: AlertDescription) -> bool {
    peer.last_unauthenticated_alert() == Some(Alert::fatal(a))
        && peer.stats().unauthenticated_alerts == 1
        && !peer.is_connected()
        && !events.iter().any(|e| matches!(e, Event::Failed(_)))
}

#[test]
fn tampered_certificate_fails_with_bad_certificate() {
    let (mut c, mut s, _) = pair();
    c.connect(Instant::now());
    let (ce, se) = pump(&mut c, &mut s, |from_client, d| {
        if !from_client {
            edit_message(d, msg_type::CERTIFICATE, |b| {
                let n = b.len();
                b[n - 5] ^= 1;
            });
        }
    });
    assert!(failed_with(&ce, DtlsError::FingerprintMismatch), "{ce:?}");
    assert!(
        ignored_alert(&s, &se, AlertDescription::BAD_CERTIFICATE),
        "{se:?}"
    );
}

#[test]
fn tampered_server_key_exchange_fails_with_decrypt_error() {
    let (mut c, mut s, _) = pair();
    c.connect(Instant::now());
    let (ce, se) = pump(&mut c, &mut s, |from_client, d| {
        if !from_client {
            // Flip a byte of the ephemeral public key: the signature no longer matches.
            edit_message(d, msg_type::SERVER_KEY_EXCHANGE, |b| b[10] ^= 1);
        }
    });
    assert!(failed_with(&ce, DtlsError::BadSignature), "{ce:?}");
    assert!(
        ignored_alert(&s, &se, AlertDescription::DECRYPT_ERROR),
        "{se:?}"
    );
}

#[test]
fn tampered_finished_record_is_dropped_then_retransmitted() {
    let (mut c, mut s, _) = pair();
    c.connect(Instant::now());
    let mut tampered = 0;
    let (_ce, _se) = pump(&mut c, &mut s, |from_client, d| {
        // The first epoch-1 record from the client (its Finished): flip the last tag byte.
        if from_client && tampered == 0 {
            let mut off = 0;
            for rec in record::parse_datagram(&d.clone()) {
                let Ok(rec) = rec else { break };
                off += record::HEADER_LEN + rec.fragment.len();
                if rec.header.epoch == 1 {
                    d[off - 1] ^= 1;
                    tampered += 1;
                    break;
                }
            }
        }
    });
    assert_eq!(tampered, 1);
    assert!(s.stats().bad_mac >= 1, "{:?}", s.stats());
    assert!(
        c.is_connected() && s.is_connected(),
        "the retransmitted flight completes the handshake"
    );
    assert_eq!(
        c.export_keying_material("x", 16).unwrap(),
        s.export_keying_material("x", 16).unwrap()
    );
}

#[test]
fn dtls_1_0_client_hello_gets_a_cookie_then_fails_with_protocol_version() {
    // Before the cookie exchange nothing fails a stateless server: a DTLS 1.0 ClientHello is
    // answered with a HelloVerifyRequest like any other. Only the one carrying our cookie is
    // refused with protocol_version.
    let (_, mut s, _) = pair();
    let now = Instant::now();
    let datagram = |cookie: &[u8]| {
        let body = client_hello_body(record::DTLS_1_0, cookie);
        let whole = fragment::whole_message(msg_type::CLIENT_HELLO, 0, &body);
        record_datagram(ContentType::Handshake, record::DTLS_1_0, 0, 0, &whole)
    };
    s.handle_receive(now, &datagram(&[]));
    assert!(!s.is_closed());
    let hvr = s.poll_transmit().expect("a HelloVerifyRequest");
    let rec = record::parse_datagram(&hvr).next().unwrap().unwrap();
    let (h, body) = HandshakeHeader::parse(&mut Reader::new(rec.fragment)).unwrap();
    assert_eq!(h.msg_type, msg_type::HELLO_VERIFY_REQUEST);
    let cookie = sansrtc_dtls::message::HelloVerifyRequest::parse(body)
        .unwrap()
        .cookie;
    s.handle_receive(now, &datagram(&cookie));
    let reply = s.poll_transmit().unwrap();
    let rec = record::parse_datagram(&reply).next().unwrap().unwrap();
    assert_eq!(rec.header.content_type, ContentType::Alert);
    assert_eq!(rec.fragment, &[2, AlertDescription::PROTOCOL_VERSION.0]);
    assert!(s.is_closed());
}

#[test]
fn server_without_extended_master_secret_is_refused() {
    let (mut c, mut s, _) = pair();
    c.connect(Instant::now());
    let (ce, se) = pump(&mut c, &mut s, |from_client, d| {
        if from_client {
            // Rename the client's extended_master_secret extension (type 23) to an unknown one.
            edit_message(d, msg_type::CLIENT_HELLO, |b| {
                if let Some(i) = b.windows(4).position(|w| w == [0, 23, 0, 0]) {
                    b[i + 1] = 0x77;
                }
            });
        }
    });
    assert!(
        failed_with(&se, DtlsError::NoExtendedMasterSecret),
        "{se:?}"
    );
    assert!(
        ignored_alert(&c, &ce, AlertDescription::HANDSHAKE_FAILURE),
        "{ce:?}"
    );
}

#[test]
fn tampered_client_hello_is_caught_by_the_transcript() {
    let (mut c, mut s, _) = pair_with(false);
    c.connect(Instant::now());
    // Strip EMS from the ClientHello on the wire; both sides tolerate no EMS, so only the
    // transcript checks can notice: the client's CertificateVerify signature (over the
    // transcript) fails on the server, which sends decrypt_error.
    let (ce, se) = pump(&mut c, &mut s, |from_client, d| {
        if from_client {
            edit_message(d, msg_type::CLIENT_HELLO, |b| {
                if let Some(i) = b.windows(4).position(|w| w == [0, 23, 0, 0]) {
                    b[i + 1] = 0x77;
                }
            });
        }
    });
    assert!(!(c.is_connected() || s.is_connected()));
    assert!(failed_with(&se, DtlsError::BadSignature), "{se:?}");
    assert!(
        ignored_alert(&c, &ce, AlertDescription::DECRYPT_ERROR),
        "{ce:?}"
    );
}

#[test]
fn reordered_flight_completes_without_retransmission() {
    let (mut c, mut s, _) = pair();
    let now = Instant::now();
    c.connect(now);
    // Cookie exchange and flight 4, in order.
    for _ in 0..2 {
        while let Some(d) = c.poll_transmit() {
            s.handle_receive(now, &d);
        }
        while let Some(d) = s.poll_transmit() {
            c.handle_receive(now, &d);
        }
    }
    // Flight 5 record by record, last record (the encrypted Finished) first.
    let mut records = Vec::new();
    while let Some(d) = c.poll_transmit() {
        for rec in record::parse_datagram(&d) {
            let rec = rec.unwrap();
            let mut one = Vec::new();
            rec.header.write(rec.fragment.len(), &mut one);
            one.extend_from_slice(rec.fragment);
            records.push(one);
        }
    }
    assert!(records.len() >= 4);
    for r in records.iter().rev() {
        s.handle_receive(now, r);
    }
    assert!(s.is_connected(), "{:?}", s.stats());
    assert_eq!(s.stats().retransmissions, 0);
    while let Some(d) = s.poll_transmit() {
        c.handle_receive(now, &d);
    }
    assert!(c.is_connected());
}

#[test]
fn application_data_before_the_server_finished_is_delivered_after_connected() {
    let (mut c, mut s, _) = pair();
    let now = Instant::now();
    c.connect(now);
    for _ in 0..3 {
        while let Some(d) = c.poll_transmit() {
            s.handle_receive(now, &d);
        }
        if s.is_connected() {
            break;
        }
        while let Some(d) = s.poll_transmit() {
            c.handle_receive(now, &d);
        }
    }
    assert!(s.is_connected() && !c.is_connected());
    let flight6: Vec<_> = std::iter::from_fn(|| s.poll_transmit()).collect();
    s.send_application_data(b"early").unwrap();
    let data = s.poll_transmit().unwrap();
    c.handle_receive(now, &data);
    assert!(!c.is_connected());
    for d in flight6 {
        c.handle_receive(now, &d);
    }
    let events: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(matches!(events[0], Event::Connected { .. }), "{events:?}");
    assert_eq!(events[1], Event::ApplicationData(b"early".to_vec()));
}

#[test]
fn server_flight_after_hello_verify_request_continues_the_record_sequence() {
    // The HelloVerifyRequest reuses the ClientHello's record sequence number (RFC 6347 4.2.1),
    // so the server's next flight must not start again from 0: a client's epoch-0 replay window
    // (NSS, in Firefox) drops records it has seen a number for, and the handshake then stalls
    // for a retransmission timeout. The client here starts its record numbers at 7.
    let (mut c, mut s, _) = pair();
    c.connect(Instant::now());
    let mut server_records = Vec::new();
    let (_, _) = pump(&mut c, &mut s, |from_client, d| {
        let mut offset = 0;
        let copy = d.clone();
        for rec in record::parse_datagram(&copy) {
            let rec = rec.unwrap();
            if from_client && rec.header.epoch == 0 {
                let seq = rec.header.sequence + 7;
                d[offset + 5..offset + 11].copy_from_slice(&seq.to_be_bytes()[2..]);
            }
            if !from_client {
                let ty = rec.fragment.first().copied().unwrap_or(0);
                server_records.push((rec.header.epoch, rec.header.sequence, ty));
            }
            offset += record::HEADER_LEN + rec.fragment.len();
        }
    });
    assert!(c.is_connected() && s.is_connected());
    assert_eq!(s.stats().retransmissions, 0);
    let (hvr, rest) = server_records.split_first().unwrap();
    assert_eq!(
        *hvr,
        (0, 7, msg_type::HELLO_VERIFY_REQUEST),
        "{server_records:?}"
    );
    let epoch0: Vec<_> = rest.iter().filter(|r| r.0 == 0).collect();
    assert!(epoch0.len() >= 4, "{server_records:?}");
    assert!(epoch0.iter().all(|r| r.1 > 7), "{server_records:?}");
}

// ----- unauthenticated (epoch-0) injection: one packet must not end a handshake -----

/// One record (plaintext, any epoch) as its own datagram.
fn record_datagram(ct: ContentType, version: u16, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    RecordHeader {
        content_type: ct,
        version,
        epoch,
        sequence: seq,
    }
    .write(body.len(), &mut d);
    d.extend_from_slice(body);
    d
}

/// A whole handshake message in an epoch-0 record.
fn handshake_datagram(ty: u8, message_seq: u16, body: &[u8]) -> Vec<u8> {
    let whole = fragment::whole_message(ty, message_seq, body);
    record_datagram(ContentType::Handshake, record::DTLS_1_2, 0, 40, &whole)
}

/// The first `n` bytes of a `length`-byte handshake message that never completes.
fn partial_datagram(ty: u8, message_seq: u16, length: u32, n: u32) -> Vec<u8> {
    let mut f = Vec::new();
    HandshakeHeader {
        msg_type: ty,
        length,
        message_seq,
        fragment_offset: 0,
        fragment_length: n,
    }
    .write(&mut f);
    f.resize(f.len() + n as usize, 0x5a);
    record_datagram(ContentType::Handshake, record::DTLS_1_2, 0, 41, &f)
}

fn client_hello_body(version: u16, cookie: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    ClientHello {
        version,
        random: [0xa7; 32],
        session_id: vec![],
        cookie: cookie.to_vec(),
        cipher_suites: vec![0xC02B],
        compression_methods: vec![0],
        extensions: Extensions {
            extended_master_secret: true,
            ..Extensions::default()
        },
    }
    .write(&mut body);
    body
}

/// Datagrams an off-path attacker can send without knowing any secret: plaintext alerts,
/// ClientHellos (DTLS 1.0, bad cookie, malformed), handshake messages out of order, in the
/// wrong epoch or malformed, fragments of messages that never complete, garbage in epochs 1
/// and 2, oversized records and noise.
fn attacker_datagrams() -> Vec<Vec<u8>> {
    use msg_type as M;
    let v12 = record::DTLS_1_2;
    let mut out = Vec::new();
    for alert in [[2, 40], [2, 42], [2, 10], [1, 0], [2, 0]] {
        out.push(record_datagram(ContentType::Alert, v12, 0, 3, &alert));
        out.push(record_datagram(
            ContentType::Alert,
            record::DTLS_1_0,
            0,
            9,
            &alert,
        ));
    }
    out.push(handshake_datagram(
        M::CLIENT_HELLO,
        0,
        &client_hello_body(record::DTLS_1_0, &[]),
    ));
    out.push(handshake_datagram(
        M::CLIENT_HELLO,
        0,
        &client_hello_body(record::DTLS_1_0, &[9; 32]),
    ));
    out.push(handshake_datagram(
        M::CLIENT_HELLO,
        1,
        &client_hello_body(v12, &[9; 32]),
    ));
    out.push(handshake_datagram(M::CLIENT_HELLO, 0, &[0xfe, 0xfd, 1, 2]));
    for seq in 0..7 {
        // Well-typed but malformed bodies, a HelloVerifyRequest of an unknown version, a
        // plaintext Finished, and messages nobody expects.
        out.push(handshake_datagram(
            M::HELLO_VERIFY_REQUEST,
            seq,
            &[0x12, 0x34, 0],
        ));
        out.push(handshake_datagram(M::SERVER_HELLO, seq, &[0xfe, 0xfd]));
        out.push(handshake_datagram(M::CERTIFICATE, seq, &[0, 0, 5, 1, 2]));
        out.push(handshake_datagram(M::SERVER_KEY_EXCHANGE, seq, &[3]));
        out.push(handshake_datagram(M::CERTIFICATE_REQUEST, seq, &[]));
        out.push(handshake_datagram(M::SERVER_HELLO_DONE, seq, &[1]));
        out.push(handshake_datagram(M::CLIENT_KEY_EXCHANGE, seq, &[]));
        out.push(handshake_datagram(M::CERTIFICATE_VERIFY, seq, &[4, 3, 0]));
        out.push(handshake_datagram(M::FINISHED, seq, &[0; 12]));
        out.push(handshake_datagram(M::HELLO_REQUEST, seq, &[]));
        out.push(handshake_datagram(99, seq, &[1, 2, 3]));
        // A fragment of a large message that never completes, at every sequence number.
        out.push(partial_datagram(M::CERTIFICATE, seq, 15_000, 100));
        out.push(partial_datagram(M::SERVER_HELLO, seq, 3_000, 10));
    }
    for epoch in [1, 2] {
        for ct in [
            ContentType::Handshake,
            ContentType::ApplicationData,
            ContentType::Alert,
        ] {
            out.push(record_datagram(ct, v12, epoch, 2, &[0x33; 40]));
        }
    }
    out.push(record_datagram(
        ContentType::ChangeCipherSpec,
        v12,
        0,
        5,
        &[1],
    ));
    out.push(record_datagram(
        ContentType::ApplicationData,
        v12,
        0,
        5,
        &[7; 30],
    ));
    // An oversized plaintext record carrying a handshake fragment.
    let mut big = Vec::new();
    HandshakeHeader {
        msg_type: M::CERTIFICATE,
        length: 16_500,
        message_seq: 2,
        fragment_offset: 0,
        fragment_length: 16_500,
    }
    .write(&mut big);
    big.resize(big.len() + 16_500, 1);
    out.push(record_datagram(ContentType::Handshake, v12, 0, 6, &big));
    // Noise and a truncated record.
    out.push(vec![0x16, 0xfe, 0xfd, 0, 0, 0, 0]);
    out.push((0..200u32).map(|i| (i * 37) as u8).collect());
    // Everything above in one datagram.
    let all: Vec<u8> = out
        .iter()
        .filter(|d| d.len() < 1000)
        .flatten()
        .copied()
        .collect();
    out.push(all);
    out
}

/// Like [`pump`], but before every legitimate datagram the receiver first gets every attacker
/// datagram (and answers them: the answers go to the other side, as they would on the wire when
/// the attacker spoofs the peer's address).
fn pump_with_injection(client: &mut Endpoint, server: &mut Endpoint) -> (Vec<Event>, Vec<Event>) {
    let attack = attacker_datagrams();
    let mut now = Instant::now();
    let (mut ce, mut se) = (Vec::new(), Vec::new());
    for d in &attack {
        server.handle_receive(now, d);
    }
    client.connect(now);
    for _ in 0..300 {
        let mut moved = false;
        while let Some(d) = client.poll_transmit() {
            for a in &attack {
                server.handle_receive(now, a);
            }
            server.handle_receive(now, &d);
            moved = true;
        }
        while let Some(d) = server.poll_transmit() {
            for a in &attack {
                client.handle_receive(now, a);
            }
            client.handle_receive(now, &d);
            moved = true;
        }
        ce.extend(std::iter::from_fn(|| client.poll_event()));
        se.extend(std::iter::from_fn(|| server.poll_event()));
        if !moved {
            if client.is_closed()
                || server.is_closed()
                || (client.is_connected() && server.is_connected())
            {
                break;
            }
            now += Duration::from_secs(2);
            client.handle_timeout(now);
            server.handle_timeout(now);
        }
    }
    (ce, se)
}

#[test]
fn injected_datagrams_at_every_flight_do_not_stop_the_handshake() {
    let (mut c, mut s, _) = pair();
    let (ce, se) = pump_with_injection(&mut c, &mut s);
    assert!(c.is_connected(), "client: {ce:?} {:?}", c.stats());
    assert!(s.is_connected(), "server: {se:?} {:?}", s.stats());
    assert_eq!(
        c.export_keying_material("EXTRACTOR-dtls_srtp", 60).unwrap(),
        s.export_keying_material("EXTRACTOR-dtls_srtp", 60).unwrap()
    );
    assert!(
        !ce.iter()
            .chain(&se)
            .any(|e| matches!(e, Event::Failed(_) | Event::Closed))
    );
    for e in [&c, &s] {
        let st = e.stats();
        assert!(
            st.unauthenticated_alerts > 0 && st.unexpected_handshake > 0,
            "{st:?}"
        );
    }
    // Application data still flows.
    c.send_application_data(b"after the attack").unwrap();
    while let Some(d) = c.poll_transmit() {
        s.handle_receive(Instant::now(), &d);
    }
    assert_eq!(
        s.poll_event(),
        Some(Event::ApplicationData(b"after the attack".to_vec()))
    );
}

#[test]
fn each_attacker_datagram_alone_leaves_the_handshake_able_to_complete() {
    // One datagram at a time, at every point of the handshake, to either side.
    let attack = attacker_datagrams();
    for (i, a) in attack.iter().enumerate() {
        for to_client in [false, true] {
            for at_step in 0..8 {
                let (mut c, mut s, _) = pair();
                let now = Instant::now();
                c.connect(now);
                let mut step = 0;
                for _ in 0..40 {
                    let mut moved = false;
                    while let Some(d) = c.poll_transmit() {
                        if !to_client && step == at_step {
                            s.handle_receive(now, a);
                        }
                        step += 1;
                        s.handle_receive(now, &d);
                        moved = true;
                    }
                    while let Some(d) = s.poll_transmit() {
                        if to_client && step == at_step {
                            c.handle_receive(now, a);
                        }
                        step += 1;
                        c.handle_receive(now, &d);
                        moved = true;
                    }
                    if !moved {
                        break;
                    }
                }
                // Retransmission timers may be needed (a dropped message), never a failure.
                let (ce, se) = pump(&mut c, &mut s, |_, _| {});
                assert!(
                    c.is_connected() && s.is_connected(),
                    "attacker datagram {i} to the {} before datagram {at_step}: \
                     client {ce:?} {:?}, server {se:?} {:?}",
                    if to_client { "client" } else { "server" },
                    c.stats(),
                    s.stats()
                );
            }
        }
    }
}

#[test]
fn plaintext_fatal_alert_or_close_notify_during_the_handshake_is_ignored() {
    for alert in [[2u8, 40u8], [1, 0]] {
        let (mut c, mut s, _) = pair();
        let now = Instant::now();
        c.connect(now);
        // Flight 1 to the server, then the alert to both sides before anything else.
        while let Some(d) = c.poll_transmit() {
            s.handle_receive(now, &d);
        }
        let a = record_datagram(ContentType::Alert, record::DTLS_1_2, 0, 1, &alert);
        s.handle_receive(now, &a);
        c.handle_receive(now, &a);
        assert!(!c.is_closed() && !s.is_closed());
        assert_eq!(
            c.poll_event(),
            None,
            "no event for an unauthenticated alert"
        );
        assert_eq!(s.poll_event(), None);
        assert_eq!(
            (
                c.stats().unauthenticated_alerts,
                s.stats().unauthenticated_alerts
            ),
            (1, 1)
        );
        assert_eq!(
            c.last_unauthenticated_alert()
                .map(|a| (a.level, a.description.0)),
            Some((alert[0], alert[1]))
        );
        let (ce, se) = pump(&mut c, &mut s, |_, _| {});
        assert!(c.is_connected() && s.is_connected(), "{ce:?} {se:?}");
    }
}

#[test]
fn out_of_order_plaintext_handshake_message_does_not_fail_the_client() {
    let (mut c, mut s, _) = pair();
    let now = Instant::now();
    c.connect(now);
    // The client waits for HelloVerifyRequest or ServerHello (message_seq 0): a Finished, a
    // ServerHelloDone or a ClientKeyExchange there is dropped, and does not use up the number.
    for ty in [
        msg_type::FINISHED,
        msg_type::SERVER_HELLO_DONE,
        msg_type::CLIENT_KEY_EXCHANGE,
    ] {
        c.handle_receive(now, &handshake_datagram(ty, 0, &[0; 12]));
        assert!(!c.is_closed(), "{:?}", c.poll_event());
    }
    assert_eq!(c.stats().unexpected_handshake, 3);
    let (ce, se) = pump(&mut c, &mut s, |_, _| {});
    assert!(c.is_connected() && s.is_connected(), "{ce:?} {se:?}");
}

/// The HelloVerifyRequest a server sends for `ch` (a whole ClientHello datagram).
fn hello_verify_request_for(s: &mut Endpoint, ch: &[u8]) -> Vec<u8> {
    s.handle_receive(Instant::now(), ch);
    let hvr = s.poll_transmit().expect("a HelloVerifyRequest");
    assert_eq!(s.poll_transmit(), None);
    hvr
}

#[test]
fn hello_verify_request_racing_the_server_hello_does_not_derail_the_client() {
    // An attacker spoofing the client's address sends the server a ClientHello (message_seq 1)
    // just before the client's ClientHello with the cookie: the server's HelloVerifyRequest for
    // it (message_seq 1, a cookie for the attacker's random) reaches the client just before the
    // ServerHello (message_seq 1). The client already sent a cookie, so it keeps that one.
    let (mut c, mut s, _) = pair();
    let now = Instant::now();
    c.connect(now);
    let ch0 = c.poll_transmit().unwrap();
    let hvr0 = hello_verify_request_for(&mut s, &ch0);
    c.handle_receive(now, &hvr0);
    let ch1 = c.poll_transmit().unwrap();
    let spoofed = handshake_datagram(
        msg_type::CLIENT_HELLO,
        1,
        &client_hello_body(record::DTLS_1_2, &[]),
    );
    let forged_hvr = hello_verify_request_for(&mut s, &spoofed);
    s.handle_receive(now, &ch1);
    c.handle_receive(now, &forged_hvr);
    assert_eq!(
        c.poll_transmit(),
        None,
        "the client does not answer it at once"
    );
    let (ce, se) = pump(&mut c, &mut s, |_, _| {});
    assert!(c.is_connected() && s.is_connected(), "{ce:?} {se:?}");
    assert_eq!(c.stats().retransmissions, 0);
}

#[test]
fn hello_verify_request_received_before_our_client_hello_is_dropped() {
    // The attacker's HelloVerifyRequest (message_seq 1) arrives while the client still waits
    // for the answer to its first ClientHello: it cannot answer the ClientHello with message_seq
    // 1 that the client has not sent yet, and is gone once the client sends it.
    let (mut c, mut s, _) = pair();
    let now = Instant::now();
    c.connect(now);
    let spoofed = handshake_datagram(
        msg_type::CLIENT_HELLO,
        1,
        &client_hello_body(record::DTLS_1_2, &[]),
    );
    let early = hello_verify_request_for(&mut s, &spoofed);
    c.handle_receive(now, &early);
    let (ce, se) = pump(&mut c, &mut s, |_, _| {});
    assert!(c.is_connected() && s.is_connected(), "{ce:?} {se:?}");
    assert_eq!(c.stats().retransmissions, 0);
}

#[test]
fn forged_first_hello_verify_request_costs_one_timeout() {
    // A HelloVerifyRequest for the attacker's ClientHello (message_seq 0) beats the server's
    // real one: the client sends the wrong cookie, the server asks again, and the client
    // (which already sent a cookie) follows the new one at its next retransmission.
    let (mut c, mut s, _) = pair();
    let now = Instant::now();
    c.connect(now);
    let ch0 = c.poll_transmit().unwrap();
    let spoofed = handshake_datagram(
        msg_type::CLIENT_HELLO,
        0,
        &client_hello_body(record::DTLS_1_2, &[]),
    );
    let forged = hello_verify_request_for(&mut s, &spoofed);
    let real = hello_verify_request_for(&mut s, &ch0);
    c.handle_receive(now, &forged);
    c.handle_receive(now, &real);
    let (ce, se) = pump(&mut c, &mut s, |_, _| {});
    assert!(c.is_connected() && s.is_connected(), "{ce:?} {se:?}");
    assert!(c.stats().retransmissions >= 1);
}

// ----- the fingerprint check fails closed -----

/// A client and a server that expect each other's certificates, then `adjust` (client, server).
fn pair_adjusted(adjust: impl FnOnce(&mut Config, &mut Config)) -> (Endpoint, Endpoint) {
    let cc = Arc::new(Certificate::generate().unwrap());
    let sc = Arc::new(Certificate::generate().unwrap());
    let mut c = Config::new(cc.clone());
    c.remote_fingerprints = vec![sc.fingerprint(HashAlgorithm::Sha256)];
    let mut s = Config::new(sc);
    s.remote_fingerprints = vec![cc.fingerprint(HashAlgorithm::Sha256)];
    // DTLS 1.2 unless `adjust` says otherwise (the alerts checked below are 1.2's plaintext
    // ones).
    c.versions = sansrtc_dtls::endpoint::Versions::Dtls12;
    s.versions = sansrtc_dtls::endpoint::Versions::Dtls12;
    adjust(&mut c, &mut s);
    (
        Endpoint::client(c, Box::new(TestRng::new(1))),
        Endpoint::server(s, Box::new(TestRng::new(2))),
    )
}

#[test]
fn empty_fingerprint_list_fails_closed() {
    // A client expecting no fingerprint refuses the server's certificate.
    let (mut c, mut s) = pair_adjusted(|c, _| c.remote_fingerprints.clear());
    c.connect(Instant::now());
    let (ce, se) = pump(&mut c, &mut s, |_, _| {});
    assert!(!c.is_connected() && !s.is_connected(), "{ce:?} {se:?}");
    assert!(failed_with(&ce, DtlsError::NoRemoteFingerprint), "{ce:?}");
    assert!(ignored_alert(&s, &se, AlertDescription::BAD_CERTIFICATE));
    // A server expecting no fingerprint refuses the client's certificate.
    let (mut c, mut s) = pair_adjusted(|_, s| s.remote_fingerprints.clear());
    c.connect(Instant::now());
    let (ce, se) = pump(&mut c, &mut s, |_, _| {});
    assert!(!c.is_connected() && !s.is_connected(), "{ce:?} {se:?}");
    assert!(failed_with(&se, DtlsError::NoRemoteFingerprint), "{se:?}");
}

#[test]
fn empty_fingerprint_list_fails_closed_in_dtls13() {
    use sansrtc_dtls::endpoint::Versions;
    // The same with DTLS 1.3 (the default): neither side connects, the side expecting no
    // fingerprint fails with NoRemoteFingerprint.
    let (mut c, mut s) = pair_adjusted(|c, s| {
        c.versions = Versions::Dtls13Or12;
        s.versions = Versions::Dtls13Or12;
        c.remote_fingerprints.clear();
    });
    c.connect(Instant::now());
    let (ce, se) = pump(&mut c, &mut s, |_, _| {});
    assert!(!c.is_connected() && !s.is_connected(), "{ce:?} {se:?}");
    assert!(failed_with(&ce, DtlsError::NoRemoteFingerprint), "{ce:?}");
    assert_eq!(c.protocol_version(), sansrtc_dtls::ProtocolVersion::Dtls13);
    let (mut c, mut s) = pair_adjusted(|c, s| {
        c.versions = Versions::Dtls13Or12;
        s.versions = Versions::Dtls13Or12;
        s.remote_fingerprints.clear();
    });
    c.connect(Instant::now());
    let (ce, se) = pump(&mut c, &mut s, |_, _| {});
    assert!(!s.is_connected(), "{ce:?} {se:?}");
    assert!(failed_with(&se, DtlsError::NoRemoteFingerprint), "{se:?}");
    assert_eq!(s.protocol_version(), sansrtc_dtls::ProtocolVersion::Dtls13);
}

#[test]
fn insecure_accept_any_certificate_is_an_explicit_opt_out() {
    let (mut c, mut s) = pair_adjusted(|c, s| {
        c.remote_fingerprints.clear();
        s.remote_fingerprints.clear();
        c.insecure_accept_any_certificate = true;
        s.insecure_accept_any_certificate = true;
    });
    c.connect(Instant::now());
    let (ce, se) = pump(&mut c, &mut s, |_, _| {});
    assert!(c.is_connected() && s.is_connected(), "{ce:?} {se:?}");
    // The flag does not weaken a configured fingerprint: a mismatch still fails.
    let other = Certificate::generate().unwrap();
    let (mut c, mut s) = pair_adjusted(|c, _| {
        c.remote_fingerprints = vec![other.fingerprint(HashAlgorithm::Sha256)];
        c.insecure_accept_any_certificate = true;
    });
    c.connect(Instant::now());
    let (ce, _) = pump(&mut c, &mut s, |_, _| {});
    assert!(failed_with(&ce, DtlsError::FingerprintMismatch), "{ce:?}");
    // The default is off.
    assert!(!Config::new(Arc::new(other)).insecure_accept_any_certificate);
}

#[test]
fn a_flood_of_spoofed_client_hellos_cannot_stall_the_real_client() {
    // An attacker spoofing the client's address sends the server a ClientHello before every
    // datagram of the handshake (message_seq 0 and 1). Each draws a HelloVerifyRequest that
    // reaches the real client. With cookies bound to the ClientHello's fields the client kept
    // following cookies made for the attacker's ClientHellos and never got a ServerHello; the
    // cookie now proves only the address, so any of them serves the real client.
    let (mut c, mut s, _) = pair();
    let mut now = Instant::now();
    c.connect(now);
    let spoofed: Vec<Vec<u8>> = (0..2)
        .map(|seq| {
            handshake_datagram(
                msg_type::CLIENT_HELLO,
                seq,
                &client_hello_body(record::DTLS_1_2, &[]),
            )
        })
        .collect();
    for _ in 0..400 {
        for d in &spoofed {
            s.handle_receive(now, d);
        }
        let mut moved = false;
        while let Some(d) = s.poll_transmit() {
            c.handle_receive(now, &d);
            moved = true;
        }
        while let Some(d) = c.poll_transmit() {
            for d2 in &spoofed {
                s.handle_receive(now, d2);
                while let Some(hvr) = s.poll_transmit() {
                    c.handle_receive(now, &hvr);
                }
            }
            s.handle_receive(now, &d);
            moved = true;
        }
        if c.is_connected() && s.is_connected() {
            break;
        }
        if !moved {
            now += Duration::from_secs(2);
            c.handle_timeout(now);
            s.handle_timeout(now);
        }
    }
    assert!(
        c.is_connected() && s.is_connected(),
        "{:?} {:?}",
        c.stats(),
        s.stats()
    );
}
