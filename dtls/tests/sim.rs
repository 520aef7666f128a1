//! Our client against our server through a simulated link: loss, reordering, duplication and a
//! small MTU, with a fake clock, over many seeds.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

mod common;

use common::link::{Link, Outcome, run};
use sansrtc_dtls::{
    Alert, AlertDescription, Certificate, CipherSuite, Config, DtlsError, Event, HashAlgorithm,
    SrtpProfile,
};

fn certs() -> &'static (Arc<Certificate>, Arc<Certificate>) {
    static C: OnceLock<(Arc<Certificate>, Arc<Certificate>)> = OnceLock::new();
    C.get_or_init(|| {
        (
            Arc::new(Certificate::generate().unwrap()),
            Arc::new(Certificate::generate().unwrap()),
        )
    })
}

fn configs(mtu: usize) -> (Config, Config) {
    let (cc, sc) = certs();
    let mut client = Config::new(cc.clone());
    client.remote_fingerprints = vec![sc.fingerprint(HashAlgorithm::Sha256)];
    client.mtu = mtu;
    let mut server = Config::new(sc.clone());
    server.remote_fingerprints = vec![cc.fingerprint(HashAlgorithm::Sha256)];
    server.mtu = mtu;
    // The DTLS 1.2 handshake over the simulated link (pinned: the default is 1.3 with 1.2
    // fallback; dtls13_endpoint.rs runs 1.3 over a lossy link).
    client.versions = sansrtc_dtls::endpoint::Versions::Dtls12;
    server.versions = sansrtc_dtls::endpoint::Versions::Dtls12;
    (client, server)
}

fn assert_agree(o: &Outcome) {
    assert!(
        o.client.is_connected(),
        "client not connected: {:?}",
        o.client_events
    );
    assert!(
        o.server.is_connected(),
        "server not connected: {:?}",
        o.server_events
    );
    let ck = o
        .client
        .export_keying_material("EXTRACTOR-dtls_srtp", 60)
        .unwrap();
    let sk = o
        .server
        .export_keying_material("EXTRACTOR-dtls_srtp", 60)
        .unwrap();
    assert_eq!(ck, sk);
    let (cc, sc) = certs();
    let Some(Event::Connected {
        peer_fingerprint, ..
    }) = o.client_events.first()
    else {
        panic!()
    };
    assert_eq!(*peer_fingerprint, sc.fingerprint(HashAlgorithm::Sha256));
    let Some(Event::Connected {
        peer_fingerprint, ..
    }) = o.server_events.first()
    else {
        panic!()
    };
    assert_eq!(*peer_fingerprint, cc.fingerprint(HashAlgorithm::Sha256));
}

#[test]
fn clean_link_every_suite_and_profile() {
    let link = Link {
        loss: 0.0,
        duplicate: 0.0,
        max_delay_ms: 5,
    };
    for suite in [
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        CipherSuite::EcdheEcdsaAes256GcmSha384,
        CipherSuite::EcdheEcdsaChacha20Poly1305Sha256,
    ] {
        for profile in SrtpProfile::ALL {
            let (mut c, s) = configs(1200);
            c.cipher_suites = vec![suite];
            c.srtp_profiles = vec![profile];
            let mut o = run(1, &link, c, s, &mut |d| d);
            assert_agree(&o);
            assert_eq!(o.client.cipher_suite(), Some(suite.into()));
            assert_eq!(o.server.srtp_profile(), Some(profile));
            let (p, keys) = o.client.srtp_keying_material().unwrap();
            assert_eq!(p, profile);
            let (k, s) = profile.key_salt_len();
            assert_eq!(keys.len(), 2 * (k + s));
            assert!(
                o.elapsed < Duration::from_millis(100),
                "no retransmission needed: {:?} {:?}",
                o.elapsed,
                o.client.stats()
            );
            // Application data both ways.
            o.client.send_application_data(b"ping").unwrap();
            let d = o.client.poll_transmit().unwrap();
            o.server.handle_receive(Instant::now(), &d);
            assert_eq!(
                o.server.poll_event(),
                Some(Event::ApplicationData(b"ping".to_vec()))
            );
            o.server.send_application_data(b"pong").unwrap();
            let d = o.server.poll_transmit().unwrap();
            // A replay is dropped, a tampered record too, without any state change.
            o.client.handle_receive(Instant::now(), &d);
            o.client.handle_receive(Instant::now(), &d);
            o.server.send_application_data(b"pong2").unwrap();
            let d2 = o.server.poll_transmit().unwrap();
            let mut bad = d2.clone();
            *bad.last_mut().unwrap() ^= 0x80;
            o.client.handle_receive(Instant::now(), &bad);
            o.client.handle_receive(Instant::now(), &d2);
            assert_eq!(
                o.client.poll_event(),
                Some(Event::ApplicationData(b"pong".to_vec()))
            );
            assert_eq!(
                o.client.poll_event(),
                Some(Event::ApplicationData(b"pong2".to_vec()))
            );
            assert_eq!(o.client.poll_event(), None);
            assert_eq!(o.client.stats().replayed, 1);
            assert_eq!(o.client.stats().bad_mac, 1);
            assert!(o.client.is_connected());
            // close_notify.
            o.client.close();
            let d = o.client.poll_transmit().unwrap();
            o.server.handle_receive(Instant::now(), &d);
            let events: Vec<_> = std::iter::from_fn(|| o.server.poll_event()).collect();
            assert!(events.contains(&Event::Closed), "{events:?}");
            assert!(o.server.is_closed());
        }
    }
}

#[test]
fn lossy_links_over_many_seeds() {
    let links = [
        Link {
            loss: 0.1,
            duplicate: 0.1,
            max_delay_ms: 30,
        },
        Link {
            loss: 0.3,
            duplicate: 0.2,
            max_delay_ms: 80,
        },
    ];
    let mut max_elapsed = Duration::ZERO;
    for seed in 0..300u64 {
        let link = &links[(seed % 2) as usize];
        let mtu = if seed % 3 == 0 { 576 } else { 1200 };
        let (c, s) = configs(mtu);
        let o = run(seed, link, c, s, &mut |d| d);
        assert_agree(&o);
        max_elapsed = max_elapsed.max(o.elapsed);
    }
    eprintln!("slowest simulated handshake: {max_elapsed:?}");
}

/// The client's ClientHello split into several fragments, as current browsers send theirs: the
/// stateless server joins it in its one bounded buffer under loss, duplication and reordering.
#[test]
fn fragmented_client_hello_over_lossy_links() {
    let links = [
        Link {
            loss: 0.0,
            duplicate: 0.0,
            max_delay_ms: 20,
        },
        Link {
            loss: 0.1,
            duplicate: 0.2,
            max_delay_ms: 40,
        },
        Link {
            loss: 0.3,
            duplicate: 0.2,
            max_delay_ms: 80,
        },
    ];
    let mut max_elapsed = Duration::ZERO;
    for seed in 0..150u64 {
        let link = &links[(seed % 3) as usize];
        // 64, 95 and 136 body bytes per fragment: 2 to 3 fragments per ClientHello.
        let (mut c, s) = configs([89, 120, 161][(seed / 3 % 3) as usize]);
        c.initial_retransmit = Duration::from_millis(100);
        let mut s = s;
        s.mtu = 1200;
        let o = run(seed, link, c, s, &mut |d| d);
        assert_agree(&o);
        if link.loss == 0.0 {
            assert_eq!(
                o.client.stats().retransmissions,
                0,
                "seed {seed}: the reordered fragments were joined, not retransmitted"
            );
        }
        max_elapsed = max_elapsed.max(o.elapsed);
    }
    eprintln!("slowest simulated handshake with a fragmented ClientHello: {max_elapsed:?}");
}

#[test]
fn wrong_fingerprint_fails_with_bad_certificate() {
    let link = Link {
        loss: 0.0,
        duplicate: 0.0,
        max_delay_ms: 5,
    };
    let (mut c, s) = configs(1200);
    let other = Certificate::generate().unwrap();
    c.remote_fingerprints = vec![other.fingerprint(HashAlgorithm::Sha256)];
    let o = run(3, &link, c, s, &mut |d| d);
    assert!(!o.client.is_connected());
    assert!(
        o.client_events
            .contains(&Event::Failed(DtlsError::FingerprintMismatch)),
        "{:?}",
        o.client_events
    );
    // The client's alert is in plaintext (it has no keys yet): the server remembers it but
    // does not act on it, since anyone could have sent it.
    assert!(!o.server.is_connected() && !o.server.is_closed());
    assert_eq!(
        o.server.last_unauthenticated_alert(),
        Some(Alert::fatal(AlertDescription::BAD_CERTIFICATE)),
        "{:?}",
        o.server_events
    );
    // And the other direction: the server rejects the client's certificate.
    let (c, mut s) = configs(1200);
    s.remote_fingerprints = vec![other.fingerprint(HashAlgorithm::Sha384)];
    let o = run(4, &link, c, s, &mut |d| d);
    assert!(
        o.server_events
            .contains(&Event::Failed(DtlsError::FingerprintMismatch))
    );
    assert!(!o.client.is_connected() && !o.client.is_closed());
    assert_eq!(
        o.client.last_unauthenticated_alert(),
        Some(Alert::fatal(AlertDescription::BAD_CERTIFICATE)),
        "{:?}",
        o.client_events
    );
}
