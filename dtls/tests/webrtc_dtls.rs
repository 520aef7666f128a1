//! Interop with crates.io `webrtc-dtls` (the Rust port of pion/dtls, a third DTLS implementation
//! beside OpenSSL and GnuTLS) over real UDP sockets on 127.0.0.1, both roles: mutual certificates,
//! SRTP profile, exported keying material equal on both sides, application data echoed back.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};

use sansrtc_dtls::{
    Certificate, Config, Endpoint, Event, Fingerprint, HashAlgorithm, SrtpProfile, SystemRng,
};
use webrtc_dtls::config::{ClientAuthType, Config as WConfig, ExtendedMasterSecretType};
use webrtc_dtls::conn::DTLSConn;
use webrtc_dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use webrtc_util::{Conn, KeyingMaterialExporter};

/// What the webrtc-dtls side reports: its certificate, exported keys and SRTP profile.
enum Report {
    Certificate(Vec<u8>),
    Keys(Vec<u8>, u16),
}

/// Runs a webrtc-dtls endpoint on its own thread and tokio runtime, connected to `peer`; it
/// echoes one application-data message back and closes.
fn spawn_webrtc(
    is_client: bool,
    ems: bool,
    peer_rx: std::sync::mpsc::Receiver<u16>,
    port_tx: Sender<u16>,
    report: Sender<Report>,
) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            port_tx.send(sock.local_addr().unwrap().port()).unwrap();
            let peer_port = peer_rx.recv().unwrap();
            sock.connect(("127.0.0.1", peer_port)).await.unwrap();
            let cert =
                webrtc_dtls::crypto::Certificate::generate_self_signed(vec!["webrtc".to_owned()])
                    .unwrap();
            report
                .send(Report::Certificate(cert.certificate[0].as_ref().to_vec()))
                .unwrap();
            let config = WConfig {
                certificates: vec![cert],
                insecure_skip_verify: true,
                extended_master_secret: if ems {
                    ExtendedMasterSecretType::Require
                } else {
                    ExtendedMasterSecretType::Disable
                },
                srtp_protection_profiles: vec![
                    SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
                    SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
                ],
                client_auth: ClientAuthType::RequireAnyClientCert,
                ..Default::default()
            };
            let conn: Arc<dyn Conn + Send + Sync> = Arc::new(sock);
            let dtls = DTLSConn::new(conn, config, is_client, None)
                .await
                .expect("webrtc-dtls handshake");
            let keys = dtls
                .connection_state()
                .await
                .export_keying_material("EXTRACTOR-dtls_srtp", &[], 60)
                .await
                .unwrap();
            report
                .send(Report::Keys(
                    keys,
                    dtls.selected_srtpprotection_profile() as u16,
                ))
                .unwrap();
            let mut buf = vec![0u8; 2048];
            let n = dtls
                .read(&mut buf, Some(Duration::from_secs(10)))
                .await
                .unwrap();
            dtls.write(&buf[..n], None).await.unwrap();
            // Let the echo leave before closing.
            let _ = dtls.read(&mut buf, Some(Duration::from_millis(500))).await;
            let _ = dtls.close().await;
        });
    });
}

/// A handshake with webrtc-dtls, with the extended master secret (`ems`) or without it (both
/// sides then derive the RFC 5246 master secret).
fn run(we_are_client: bool, ems: bool) {
    let (port_tx, port_rx) = channel();
    let (peer_tx, peer_rx) = channel();
    let (report_tx, report_rx) = channel();
    spawn_webrtc(!we_are_client, ems, peer_rx, port_tx, report_tx);
    let their_port = port_rx.recv().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(("127.0.0.1", their_port)).unwrap();
    peer_tx.send(sock.local_addr().unwrap().port()).unwrap();
    let Ok(Report::Certificate(their_der)) = report_rx.recv_timeout(Duration::from_secs(10)) else {
        panic!()
    };

    let mut config = Config::new(Arc::new(Certificate::generate().unwrap()));
    config.remote_fingerprints = vec![Fingerprint::of(HashAlgorithm::Sha256, &their_der)];
    config.srtp_profiles = vec![SrtpProfile::AeadAes128Gcm, SrtpProfile::Aes128CmHmacSha1_80];
    config.require_extended_master_secret = ems;
    let rng = Box::new(SystemRng::default());
    let mut ep = if we_are_client {
        Endpoint::client(config, rng)
    } else {
        Endpoint::server(config, rng)
    };
    ep.connect(Instant::now());

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 65536];
    let mut events = Vec::new();
    let mut sent_data = false;
    loop {
        while let Some(d) = ep.poll_transmit() {
            sock.send(&d).unwrap();
        }
        while let Some(e) = ep.poll_event() {
            events.push(e);
        }
        if ep.is_connected() && !sent_data {
            ep.send_application_data(b"echo me").unwrap();
            sent_data = true;
            continue;
        }
        if events.contains(&Event::ApplicationData(b"echo me".to_vec())) || ep.is_closed() {
            break;
        }
        let now = Instant::now();
        assert!(now < deadline, "timed out: {events:?}");
        let wait = ep.poll_timeout().map_or(Duration::from_millis(100), |t| {
            t.saturating_duration_since(now)
        });
        sock.set_read_timeout(Some(
            wait.clamp(Duration::from_millis(1), Duration::from_millis(100)),
        ))
        .unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => ep.handle_receive(Instant::now(), &buf[..n]),
            Err(_) => ep.handle_timeout(Instant::now()),
        }
    }
    assert!(
        events.contains(&Event::ApplicationData(b"echo me".to_vec())),
        "{events:?}"
    );
    let Some(Event::Connected {
        srtp_profile,
        peer_fingerprint,
        ..
    }) = events.first().cloned()
    else {
        panic!("{events:?}")
    };
    assert_eq!(
        peer_fingerprint,
        Fingerprint::of(HashAlgorithm::Sha256, &their_der)
    );
    let Ok(Report::Keys(their_keys, their_profile)) =
        report_rx.recv_timeout(Duration::from_secs(10))
    else {
        panic!()
    };
    assert_eq!(srtp_profile.map(|p| p.id()), Some(their_profile));
    assert_eq!(
        ep.export_keying_material("EXTRACTOR-dtls_srtp", 60)
            .unwrap(),
        their_keys
    );
}

#[test]
fn client_vs_webrtc_dtls_server() {
    run(true, true);
}

#[test]
fn server_vs_webrtc_dtls_client() {
    run(false, true);
}

#[test]
fn without_extended_master_secret_both_ways() {
    run(true, false);
    run(false, false);
}
