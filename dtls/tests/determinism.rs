//! Randomness is injected: two endpoints built from the same seeds and certificates make
//! byte-identical handshakes when every secret comes from the injected generator
//! (`KeyRandomness::Injected`), and differ only where `ring` draws from the operating system
//! otherwise (`KeyRandomness::Fast`: the ECDSA nonces, and so the keys, which hash the
//! transcript).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sansrtc_dtls::{Certificate, Config, Endpoint, Event, HashAlgorithm, KeyRandomness, TestRng};

fn certs() -> &'static (Arc<Certificate>, Arc<Certificate>) {
    static C: OnceLock<(Arc<Certificate>, Arc<Certificate>)> = OnceLock::new();
    C.get_or_init(|| {
        (
            Arc::new(Certificate::generate().unwrap()),
            Arc::new(Certificate::generate().unwrap()),
        )
    })
}

/// Every datagram of a handshake (and one application record each way), in order, tagged with
/// its sender, and the exported keying material.
fn transcript(randomness: KeyRandomness, seeds: (u64, u64)) -> (Vec<(bool, Vec<u8>)>, Vec<u8>) {
    let (cc, sc) = certs();
    let mut c = Config::new(cc.clone());
    c.remote_fingerprints = vec![sc.fingerprint(HashAlgorithm::Sha256)];
    c.key_randomness = randomness;
    let mut s = Config::new(sc.clone());
    s.remote_fingerprints = vec![cc.fingerprint(HashAlgorithm::Sha256)];
    s.key_randomness = randomness;
    // The DTLS 1.2 handshake, whose ServerKeyExchange signature the fast-randomness test looks
    // at (pinned: the default is 1.3 with 1.2 fallback; dtls13_endpoint.rs checks 1.3 runs
    // byte-identical).
    c.versions = sansrtc_dtls::endpoint::Versions::Dtls12;
    s.versions = sansrtc_dtls::endpoint::Versions::Dtls12;
    let mut client = Endpoint::client(c, Box::new(TestRng::new(seeds.0)));
    let mut server = Endpoint::server(s, Box::new(TestRng::new(seeds.1)));
    // A fixed clock: nothing may depend on the time either.
    let now = Instant::now();
    let mut wire = Vec::new();
    client.connect(now);
    for _ in 0..10 {
        while let Some(d) = client.poll_transmit() {
            server.handle_receive(now, &d);
            wire.push((true, d));
        }
        while let Some(d) = server.poll_transmit() {
            client.handle_receive(now, &d);
            wire.push((false, d));
        }
    }
    assert!(client.is_connected() && server.is_connected());
    assert_eq!(client.poll_timeout(), None);
    client.send_application_data(b"ping").unwrap();
    server.send_application_data(b"pong").unwrap();
    wire.push((true, client.poll_transmit().unwrap()));
    wire.push((false, server.poll_transmit().unwrap()));
    assert!(
        std::iter::from_fn(|| client.poll_event()).any(|e| matches!(e, Event::Connected { .. }))
    );
    let keys = client
        .export_keying_material("EXTRACTOR-dtls_srtp", 60)
        .unwrap();
    (wire, keys)
}

#[test]
fn seeded_endpoints_with_injected_key_randomness_replay_byte_for_byte() {
    let (a, keys_a) = transcript(KeyRandomness::Injected, (1, 2));
    let (b, keys_b) = transcript(KeyRandomness::Injected, (1, 2));
    assert!(a.len() >= 6, "cookie exchange, flights 4, 5, 6, data");
    assert_eq!(a, b);
    assert_eq!(keys_a, keys_b);
    // Other seeds: other randoms, key shares, cookie and signatures.
    let (c, keys_c) = transcript(KeyRandomness::Injected, (1, 3));
    assert_ne!(a, c);
    assert_ne!(keys_a, keys_c);
    assert_eq!(
        a[0], c[0],
        "the client's first ClientHello depends on its seed only"
    );
}

#[test]
fn with_fast_key_randomness_the_signatures_differ() {
    let (a, keys_a) = transcript(KeyRandomness::Fast, (1, 2));
    let (b, keys_b) = transcript(KeyRandomness::Fast, (1, 2));
    // Randoms, the cookie and the X25519 key shares come from the seeds...
    assert_eq!(
        a[..3],
        b[..3],
        "ClientHello, HelloVerifyRequest, ClientHello"
    );
    // ...but ring's ECDSA nonces come from the operating system: flight 4 (its
    // ServerKeyExchange signature) differs, and so do the keys (the extended master secret
    // hashes the transcript, signatures included).
    assert_ne!(a[3], b[3]);
    assert_ne!(keys_a, keys_b);
}

#[test]
fn timing_does_not_enter_the_handshake() {
    // The same seeds with retransmissions at different times give the same first flight again.
    let (cc, _) = certs();
    let make = || {
        let mut c = Config::new(cc.clone());
        c.key_randomness = KeyRandomness::Injected;
        Endpoint::client(c, Box::new(TestRng::new(9)))
    };
    let (mut a, mut b) = (make(), make());
    let t = Instant::now();
    a.connect(t);
    b.connect(t + Duration::from_secs(5));
    // The first flight (a ClientHello with the hybrid key share comes in two datagrams).
    let flight = |e: &mut Endpoint| std::iter::from_fn(|| e.poll_transmit()).collect::<Vec<_>>();
    let first = flight(&mut a);
    assert_eq!(first, flight(&mut b));
    a.handle_timeout(a.poll_timeout().unwrap());
    let again = flight(&mut a);
    assert_eq!(again.len(), first.len());
    for (again, first) in again.iter().zip(&first) {
        // The same hello again, in records with the next sequence numbers.
        assert_eq!(again[13..], first[13..], "the same hello again");
    }
}
