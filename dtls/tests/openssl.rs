//! Interop with OpenSSL's `s_server` / `s_client` (DTLS 1.2) over real UDP sockets on 127.0.0.1:
//! every cipher suite and SRTP profile, mutual certificates, exported SRTP keying material
//! compared with what OpenSSL prints, application data both ways, close_notify, and a
//! retransmission after a dropped flight.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sansrtc_dtls::{
    Certificate, CipherSuite, Config, Endpoint, Event, Fingerprint, HashAlgorithm, SrtpProfile,
    SystemRng,
};

const ALL_PROFILES: &str =
    "SRTP_AEAD_AES_128_GCM:SRTP_AEAD_AES_256_GCM:SRTP_AES128_CM_SHA1_80:SRTP_AES128_CM_SHA1_32";

mod common;

use common::{Peer, app_data, connected, drive, free_udp_port, keying_material_hex, temp_dir};

fn ensure_openssl() {
    common::ensure_installed(&["openssl", "version"], "openssl");
}

/// A server certificate for OpenSSL: ours (ECDSA P-256) or a fresh RSA 2048 one from OpenSSL.
fn server_cert(dir: &std::path::Path, rsa: bool) -> (PathBuf, PathBuf, Vec<u8>) {
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    if rsa {
        let st = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=openssl",
                "-days",
                "2",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    } else {
        let c = Certificate::generate().unwrap();
        std::fs::write(&cert, c.pem()).unwrap();
        std::fs::write(&key, c.key_pem()).unwrap();
    }
    let der_path = dir.join("server.der");
    let st = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&cert)
        .arg("-out")
        .arg(&der_path)
        .status()
        .unwrap();
    assert!(st.success());
    (cert, key, std::fs::read(der_path).unwrap())
}

fn client_against_s_server(
    suite: CipherSuite,
    profile: SrtpProfile,
    extra: &[&str],
    drop_nth: Option<usize>,
) {
    ensure_openssl();
    let dir = temp_dir();
    let (cert, key, der) = server_cert(&dir, !suite.is_ecdsa());
    let port = free_udp_port();
    let mut args: Vec<String> = [
        "s_server",
        "-dtls1_2",
        "-accept",
        &format!("127.0.0.1:{port}"),
        "-naccept",
        "1",
        "-Verify",
        "1",
        "-use_srtp",
        ALL_PROFILES,
        "-keymatexport",
        "EXTRACTOR-dtls_srtp",
        "-keymatexportlen",
        "60",
        "-cipher",
        suite.openssl_name(),
        "-cert",
        cert.to_str().unwrap(),
        "-key",
        key.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut peer = Peer::spawn("openssl", &args);
    peer.wait_line("ACCEPT");

    let mut config = Config::new(Arc::new(Certificate::generate().unwrap()));
    config.remote_fingerprints = vec![Fingerprint::of(HashAlgorithm::Sha512, &der)];
    config.srtp_profiles = vec![profile];
    config.cipher_suites = vec![suite];
    config.initial_retransmit = Duration::from_millis(200);
    let mut ep = Endpoint::client(config, Box::new(SystemRng::default()));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(("127.0.0.1", port)).unwrap();
    ep.connect(Instant::now());
    let mut events = Vec::new();
    let mut sent = 0;
    drive(&mut ep, &sock, &mut events, drop_nth, &mut sent, |ep, _| {
        ep.is_connected() || ep.is_closed()
    });
    let Some(Event::Connected {
        cipher_suite,
        srtp_profile,
        peer_fingerprint,
        ..
    }) = connected(&events).cloned()
    else {
        panic!("not connected: {events:?}; openssl said {:#?}", peer.seen);
    };
    assert_eq!(cipher_suite, suite);
    assert_eq!(srtp_profile, Some(profile));
    assert_eq!(
        peer_fingerprint,
        Fingerprint::of(HashAlgorithm::Sha256, &der)
    );
    if drop_nth.is_some() {
        assert!(ep.stats().retransmissions > 0);
    }
    let expected_group = match extra
        .iter()
        .position(|a| *a == "-groups")
        .map(|i| extra[i + 1])
    {
        Some(g) if g.starts_with("P-256") => 23,
        Some(g) if g.starts_with("P-384") => 24,
        _ => 29, // X25519, first in both lists
    };
    assert_eq!(ep.named_group(), Some(expected_group));

    let line = peer.wait_line("Keying material:");
    assert_eq!(
        line.split_whitespace().last().unwrap(),
        keying_material_hex(&ep)
    );
    let line = peer.wait_line("SRTP Extension negotiated");
    assert!(line.ends_with(profile.openssl_name()), "{line}");

    ep.send_application_data(b"hello from sansrtc\n").unwrap();
    drive(&mut ep, &sock, &mut events, None, &mut sent, |_, _| true);
    peer.wait_line("hello from sansrtc");
    peer.write_stdin("hello from openssl\n");
    drive(&mut ep, &sock, &mut events, None, &mut sent, |_, ev| {
        app_data(ev).ends_with(b"hello from openssl\n")
    });

    ep.close();
    drive(&mut ep, &sock, &mut events, None, &mut sent, |_, _| true);
    peer.wait_line("DONE");
    let _ = std::fs::remove_dir_all(dir);
}

fn server_against_s_client(suite: CipherSuite, profile: SrtpProfile, extra: &[&str]) {
    ensure_openssl();
    let dir = temp_dir();
    let client_cert = Certificate::generate().unwrap();
    let (cpath, kpath) = (dir.join("client.pem"), dir.join("client.key"));
    std::fs::write(&cpath, client_cert.pem()).unwrap();
    std::fs::write(&kpath, client_cert.key_pem()).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut args: Vec<String> = [
        "s_client",
        "-dtls1_2",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-use_srtp",
        ALL_PROFILES,
        "-keymatexport",
        "EXTRACTOR-dtls_srtp",
        "-keymatexportlen",
        "60",
        "-cipher",
        suite.openssl_name(),
        "-cert",
        cpath.to_str().unwrap(),
        "-key",
        kpath.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));

    let mut config = Config::new(Arc::new(Certificate::generate().unwrap()));
    config.remote_fingerprints = vec![client_cert.fingerprint(HashAlgorithm::Sha256)];
    config.srtp_profiles = vec![profile];
    config.cipher_suites = vec![suite];
    let mut ep = Endpoint::server(config, Box::new(SystemRng::default()));
    let mut peer = Peer::spawn("openssl", &args);

    let mut buf = vec![0u8; 65536];
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (n, from) = sock
        .recv_from(&mut buf)
        .expect("s_client sends a ClientHello");
    sock.connect(from).unwrap();
    ep.handle_receive(Instant::now(), &buf[..n]);
    let mut events = Vec::new();
    let mut sent = 0;
    drive(&mut ep, &sock, &mut events, None, &mut sent, |ep, _| {
        ep.is_connected() || ep.is_closed()
    });
    let Some(Event::Connected {
        cipher_suite,
        srtp_profile,
        peer_fingerprint,
        ..
    }) = connected(&events).cloned()
    else {
        panic!("not connected: {events:?}; openssl said {:#?}", peer.seen);
    };
    assert_eq!(cipher_suite, suite);
    assert_eq!(srtp_profile, Some(profile));
    assert_eq!(
        peer_fingerprint,
        client_cert.fingerprint(HashAlgorithm::Sha256)
    );

    let line = peer.wait_line("Keying material:");
    assert_eq!(
        line.split_whitespace().last().unwrap(),
        keying_material_hex(&ep)
    );
    let line = peer.wait_line("SRTP Extension negotiated");
    assert!(line.ends_with(profile.openssl_name()), "{line}");

    ep.send_application_data(b"hello from sansrtc\n").unwrap();
    drive(&mut ep, &sock, &mut events, None, &mut sent, |_, _| true);
    peer.wait_line("hello from sansrtc");
    peer.write_stdin("hello from openssl\n");
    drive(&mut ep, &sock, &mut events, None, &mut sent, |_, ev| {
        app_data(ev).ends_with(b"hello from openssl\n")
    });
    // EOF on s_client's stdin makes it send close_notify.
    drop(peer.stdin.take());
    drive(&mut ep, &sock, &mut events, None, &mut sent, |_, ev| {
        ev.contains(&Event::Closed)
    });
    let _ = std::fs::remove_dir_all(dir);
}

const ECDSA_SUITES: [CipherSuite; 3] = [
    CipherSuite::EcdheEcdsaAes128GcmSha256,
    CipherSuite::EcdheEcdsaAes256GcmSha384,
    CipherSuite::EcdheEcdsaChacha20Poly1305Sha256,
];

#[test]
fn client_vs_openssl_every_profile() {
    for profile in SrtpProfile::ALL {
        client_against_s_server(CipherSuite::EcdheEcdsaAes128GcmSha256, profile, &[], None);
    }
}

#[test]
fn client_vs_openssl_every_suite() {
    for suite in CipherSuite::ALL {
        client_against_s_server(suite, SrtpProfile::Aes128CmHmacSha1_80, &[], None);
    }
}

#[test]
fn client_vs_openssl_small_mtu_and_lost_flight() {
    // OpenSSL fragments its flight to a 300-byte MTU; we drop our flight 5 once (the third
    // datagram we send: ClientHello, ClientHello with cookie, flight 5) and retransmit it.
    client_against_s_server(
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        SrtpProfile::AeadAes128Gcm,
        &["-mtu", "300"],
        Some(3),
    );
}

#[test]
fn client_vs_openssl_p256_and_p384() {
    client_against_s_server(
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        SrtpProfile::Aes128CmHmacSha1_80,
        &["-groups", "P-256"],
        None,
    );
    client_against_s_server(
        CipherSuite::EcdheEcdsaAes256GcmSha384,
        SrtpProfile::AeadAes256Gcm,
        // Our certificate is P-256, which OpenSSL also checks against its group list.
        &["-groups", "P-384:P-256", "-serverpref"],
        None,
    );
}

#[test]
fn server_vs_openssl_p256() {
    server_against_s_client(
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        SrtpProfile::AeadAes128Gcm,
        &["-groups", "P-256"],
    );
}

#[test]
fn server_vs_openssl_every_suite_and_profile() {
    for suite in ECDSA_SUITES {
        server_against_s_client(suite, SrtpProfile::Aes128CmHmacSha1_80, &[]);
    }
    for profile in SrtpProfile::ALL {
        server_against_s_client(CipherSuite::EcdheEcdsaAes128GcmSha256, profile, &[]);
    }
}
