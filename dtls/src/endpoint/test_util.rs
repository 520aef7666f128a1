//! Helpers shared by the endpoint's unit tests: pairs of endpoints, moving datagrams between
//! them, and hand-made records and ClientHellos.

use std::sync::Arc;
use std::time::Instant;

use super::{Config, Endpoint, State};
use crate::cert::{Certificate, HashAlgorithm};
use crate::cipher::CipherSuite;
use crate::codec::Reader;
use crate::fragment::{self, HandshakeHeader};
use crate::message::{ClientHello, Extensions, msg_type};
use crate::record::{self, ContentType, DTLS_1_0, DTLS_1_2, RecordHeader};
use crate::rng::TestRng;

/// A client and a server with fresh certificates and seeded randomness; `adjust` changes
/// the client's configuration.
/// Each expects the other's certificate fingerprint.
pub(super) fn pair(seeds: (u64, u64), adjust: impl FnOnce(&mut Config)) -> (Endpoint, Endpoint) {
    let cc = Arc::new(Certificate::generate().unwrap());
    let sc = Arc::new(Certificate::generate().unwrap());
    // The unit tests of the DTLS 1.2 path: pinned to 1.2 (the default is 1.3 with fallback).
    let mut c = Config::new(cc.clone());
    c.remote_fingerprints = vec![sc.fingerprint(HashAlgorithm::Sha256)];
    c.versions = super::Versions::Dtls12;
    adjust(&mut c);
    let mut s = Config::new(sc);
    s.remote_fingerprints = vec![cc.fingerprint(HashAlgorithm::Sha256)];
    s.versions = super::Versions::Dtls12;
    (
        Endpoint::client(c, Box::new(TestRng::new(seeds.0))),
        Endpoint::server(s, Box::new(TestRng::new(seeds.1))),
    )
}

pub(super) fn connected_pair() -> (Endpoint, Endpoint) {
    let (mut client, mut server) = pair((1, 2), |_| {});
    let now = Instant::now();
    client.connect(now);
    for _ in 0..10 {
        while let Some(d) = client.poll_transmit() {
            server.handle_receive(now, &d);
        }
        while let Some(d) = server.poll_transmit() {
            client.handle_receive(now, &d);
        }
    }
    assert!(client.is_connected() && server.is_connected());
    while client.poll_event().is_some() {}
    while server.poll_event().is_some() {}
    (client, server)
}
/// Rewrites the record version of every epoch-0 record of a datagram to DTLS 1.0, as
/// browsers and OpenSSL send their ClientHello.
pub(super) fn as_dtls10(mut d: Vec<u8>) -> Vec<u8> {
    let mut at = 0;
    while at + record::HEADER_LEN <= d.len() {
        if d[at + 3..at + 5] == [0, 0] {
            d[at + 1..at + 3].copy_from_slice(&DTLS_1_0.to_be_bytes());
        }
        at += record::HEADER_LEN + usize::from(u16::from_be_bytes([d[at + 11], d[at + 12]]));
    }
    d
}

/// The (msg_type, offset, fragment length) of every handshake fragment in a datagram.
pub(super) fn fragments_in(d: &[u8]) -> Vec<(u8, u32, u32)> {
    let mut out = Vec::new();
    for rec in record::parse_datagram(d) {
        let rec = rec.unwrap();
        if rec.header.content_type == ContentType::Handshake && rec.header.epoch == 0 {
            let mut r = Reader::new(rec.fragment);
            while r.remaining() > 0 {
                let (h, _) = HandshakeHeader::parse(&mut r).unwrap();
                out.push((h.msg_type, h.fragment_offset, h.fragment_length));
            }
        }
    }
    out
}

/// One epoch-0 record per `piece`-byte fragment of a whole handshake message.
pub(super) fn split(whole: &[u8], piece: usize, first_seq: u64) -> Vec<Vec<u8>> {
    fragment::fragments(whole, fragment::HEADER_LEN + piece)
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let mut d = Vec::new();
            RecordHeader {
                content_type: ContentType::Handshake,
                version: DTLS_1_0,
                epoch: 0,
                sequence: first_seq + i as u64,
            }
            .write(f.len(), &mut d);
            d.extend_from_slice(&f);
            d
        })
        .collect()
}

pub(super) fn drain(ep: &mut Endpoint) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| ep.poll_transmit()).collect()
}

pub(super) fn finish(client: &mut Endpoint, server: &mut Endpoint, now: Instant) {
    for _ in 0..10 {
        for d in drain(client) {
            server.handle_receive(now, &d);
        }
        for d in drain(server) {
            client.handle_receive(now, &d);
        }
    }
    assert!(client.is_connected() && server.is_connected());
    assert_eq!(
        client.export_keying_material("EXTRACTOR-dtls_srtp", 60),
        server.export_keying_material("EXTRACTOR-dtls_srtp", 60)
    );
}

pub(super) fn small_mtu_pair() -> (Endpoint, Endpoint) {
    pair((1, 2), |c| c.mtu = 89) // 64 body bytes per fragment
}
/// A whole ClientHello message (header and body) with `cookie`.
pub(super) fn whole_client_hello_with_cookie(cookie: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    ClientHello {
        version: DTLS_1_2,
        random: [1; 32],
        session_id: Vec::new(),
        cookie: cookie.to_vec(),
        cipher_suites: vec![CipherSuite::EcdheEcdsaAes128GcmSha256.id()],
        compression_methods: vec![0],
        extensions: Extensions::default(),
    }
    .write(&mut body);
    fragment::whole_message(msg_type::CLIENT_HELLO, 0, &body)
}

/// A whole ClientHello (without cookie, `extra` bytes of padding extension) in an epoch-0
/// record.
pub(super) fn client_hello_datagram(message_seq: u16, extra: usize) -> Vec<u8> {
    let mut body = Vec::new();
    ClientHello {
        version: DTLS_1_2,
        random: [3; 32],
        session_id: Vec::new(),
        cookie: Vec::new(),
        cipher_suites: vec![CipherSuite::EcdheEcdsaAes128GcmSha256.id()],
        compression_methods: vec![0],
        extensions: Extensions::default(),
    }
    .write(&mut body);
    if extra > 0 {
        // One unknown extension (type 0x7777) of `extra - 4` bytes.
        body.extend_from_slice(&(extra as u16).to_be_bytes());
        body.extend_from_slice(&[0x77, 0x77]);
        body.extend_from_slice(&((extra - 4) as u16).to_be_bytes());
        body.resize(body.len() + extra - 4, 0);
    }
    let whole = fragment::whole_message(msg_type::CLIENT_HELLO, message_seq, &body);
    let mut d = Vec::new();
    RecordHeader {
        content_type: ContentType::Handshake,
        version: DTLS_1_2,
        epoch: 0,
        sequence: u64::from(message_seq),
    }
    .write(whole.len(), &mut d);
    d.extend_from_slice(&whole);
    d
}

pub(super) fn server() -> Endpoint {
    let mut c = Config::new(Arc::new(Certificate::generate().unwrap()));
    c.versions = super::Versions::Dtls12;
    Endpoint::server(c, Box::new(TestRng::new(8)))
}

/// An epoch-1 record sealed with `from`'s keys, whatever its length.
pub(super) fn sealed(from: &mut Endpoint, ct: ContentType, plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    from.records.seal(1, ct, plaintext, &mut out);
    out
}

/// A server that completed the cookie exchange and sent flight 4.
pub(super) fn server_after_cookie() -> Endpoint {
    let (mut client, mut server) = pair((5, 6), |_| {});
    let now = Instant::now();
    client.connect(now);
    for _ in 0..2 {
        for d in drain(&mut client) {
            server.handle_receive(now, &d);
        }
        for d in drain(&mut server) {
            client.handle_receive(now, &d);
        }
    }
    assert_eq!(server.state, State::ServerWaitCertificate);
    server
}
