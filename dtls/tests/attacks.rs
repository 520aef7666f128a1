//! Tampered and hostile input: each fails with the right alert, or is dropped without a state
//! change when RFC 6347 says so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sansrtc_dtls::codec::Reader;
use sansrtc_dtls::fragment::{self, HandshakeHeader};
use sansrtc_dtls::message::{ClientHello, Extensions, msg_type};
use sansrtc_dtls::record::{self, ContentType, RecordHeader};
use sansrtc_dtls::{
    AlertDescription, Certificate, Config, DtlsError, Endpoint, Event, HashAlgorithm, TestRng,
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

fn peer_alert(events: &[Event], a: AlertDescription) -> bool {
    events.contains(&Event::Failed(DtlsError::PeerAlert(a)))
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
    assert!(peer_alert(&se, AlertDescription::BAD_CERTIFICATE), "{se:?}");
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
    assert!(peer_alert(&se, AlertDescription::DECRYPT_ERROR), "{se:?}");
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
fn downgrade_to_dtls_1_0_fails_with_protocol_version() {
    let (_, mut s, _) = pair();
    let ch = ClientHello {
        version: record::DTLS_1_0,
        random: [7; 32],
        session_id: vec![],
        cookie: vec![],
        cipher_suites: vec![0xC02B],
        compression_methods: vec![0],
        extensions: Extensions {
            extended_master_secret: true,
            ..Extensions::default()
        },
    };
    let mut body = Vec::new();
    ch.write(&mut body);
    let whole = fragment::whole_message(msg_type::CLIENT_HELLO, 0, &body);
    let mut d = Vec::new();
    RecordHeader {
        content_type: ContentType::Handshake,
        version: record::DTLS_1_0,
        epoch: 0,
        sequence: 0,
    }
    .write(whole.len(), &mut d);
    d.extend_from_slice(&whole);
    s.handle_receive(Instant::now(), &d);
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
        peer_alert(&ce, AlertDescription::HANDSHAKE_FAILURE),
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
    assert!(peer_alert(&ce, AlertDescription::DECRYPT_ERROR), "{ce:?}");
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
