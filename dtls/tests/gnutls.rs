//! Interop with GnuTLS (`gnutls-cli --udp`, a second DTLS 1.2 implementation beside OpenSSL) with us
//! as server: each ECDSA suite and the AES-CM SRTP profiles GnuTLS supports, client certificate,
//! exported keying material compared with GnuTLS's `--keymatexport`, application data both ways,
//! and close_notify.

mod common;

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Peer, app_data, connected, drive, keying_material_hex, temp_dir};
use sansrtc_dtls::{
    Certificate, CipherSuite, Config, Endpoint, Event, HashAlgorithm, SrtpProfile, SystemRng,
};

fn server_against_gnutls_cli(suite: CipherSuite, profile: SrtpProfile, priority_cipher: &str) {
    common::ensure_installed(&["gnutls-cli", "--version"], "gnutls-bin");
    let dir = temp_dir();
    let client_cert = Certificate::generate().unwrap();
    let (cpath, kpath) = (dir.join("client.pem"), dir.join("client.key"));
    std::fs::write(&cpath, client_cert.pem()).unwrap();
    std::fs::write(&kpath, client_cert.key_pem()).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let profile_name = match profile {
        SrtpProfile::Aes128CmHmacSha1_80 => "SRTP_AES128_CM_HMAC_SHA1_80",
        SrtpProfile::Aes128CmHmacSha1_32 => "SRTP_AES128_CM_HMAC_SHA1_32",
        _ => unreachable!("GnuTLS offers the AES-CM profiles"),
    };
    let args: Vec<String> = vec![
        "--udp".into(),
        "--insecure".into(),
        "--port".into(),
        port.to_string(),
        format!("--x509certfile={}", cpath.display()),
        format!("--x509keyfile={}", kpath.display()),
        format!("--srtp-profiles={profile_name}"),
        "--keymatexport=EXTRACTOR-dtls_srtp".into(),
        "--keymatexportsize=60".into(),
        format!("--priority=NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+{priority_cipher}"),
        "127.0.0.1".into(),
    ];
    let mut config = Config::new(Arc::new(Certificate::generate().unwrap()));
    config.remote_fingerprints = vec![client_cert.fingerprint(HashAlgorithm::Sha256)];
    config.srtp_profiles = vec![profile];
    config.cipher_suites = vec![suite];
    let mut ep = Endpoint::server(config, Box::new(SystemRng::default()));
    let mut peer = Peer::spawn("gnutls-cli", &args);

    let mut buf = vec![0u8; 65536];
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (n, from) = sock
        .recv_from(&mut buf)
        .expect("gnutls-cli sends a ClientHello");
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
        panic!("not connected: {events:?}; gnutls said {:#?}", peer.seen);
    };
    assert_eq!(cipher_suite, sansrtc_dtls::Suite::Dtls12(suite));
    assert_eq!(srtp_profile, Some(profile));
    assert_eq!(
        peer_fingerprint,
        client_cert.fingerprint(HashAlgorithm::Sha256)
    );

    let line = peer.wait_line("Key material:");
    assert_eq!(
        line.split_whitespace().last().unwrap().to_ascii_uppercase(),
        keying_material_hex(&ep),
        "{line}"
    );
    let line = peer.wait_line("SRTP profile:");
    assert!(line.contains(profile_name), "{line}");
    peer.wait_line("Simple Client Mode");

    ep.send_application_data(b"hello from sansrtc\n").unwrap();
    drive(&mut ep, &sock, &mut events, None, &mut sent, |_, _| true);
    peer.wait_line("hello from sansrtc");
    peer.write_stdin("hello from gnutls\n");
    drive(&mut ep, &sock, &mut events, None, &mut sent, |_, ev| {
        app_data(ev).ends_with(b"hello from gnutls\n")
    });
    // EOF on stdin makes gnutls-cli send close_notify.
    drop(peer.stdin.take());
    drive(&mut ep, &sock, &mut events, None, &mut sent, |_, ev| {
        ev.contains(&Event::Closed)
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn server_vs_gnutls_cli() {
    server_against_gnutls_cli(
        CipherSuite::EcdheEcdsaAes128GcmSha256,
        SrtpProfile::Aes128CmHmacSha1_80,
        "AES-128-GCM",
    );
    server_against_gnutls_cli(
        CipherSuite::EcdheEcdsaAes256GcmSha384,
        SrtpProfile::Aes128CmHmacSha1_32,
        "AES-256-GCM",
    );
    server_against_gnutls_cli(
        CipherSuite::EcdheEcdsaChacha20Poly1305Sha256,
        SrtpProfile::Aes128CmHmacSha1_80,
        "CHACHA20-POLY1305",
    );
}
