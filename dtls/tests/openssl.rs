//! Interop with OpenSSL's `s_server` / `s_client` (DTLS 1.2) over real UDP sockets on 127.0.0.1:
//! every cipher suite and SRTP profile, mutual certificates, exported SRTP keying material
//! compared with what OpenSSL prints, application data both ways, close_notify, and a
//! retransmission after a dropped flight.

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use sansrtc_dtls::{
    Certificate, CipherSuite, Config, Endpoint, Event, Fingerprint, HashAlgorithm, SrtpProfile,
    SystemRng,
};

const ALL_PROFILES: &str =
    "SRTP_AEAD_AES_128_GCM:SRTP_AEAD_AES_256_GCM:SRTP_AES128_CM_SHA1_80:SRTP_AES128_CM_SHA1_32";

fn ensure_openssl() {
    if Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return;
    }
    let ok = Command::new("apt-get")
        .args(["install", "-y", "openssl"])
        .status()
        .is_ok_and(|s| s.success())
        || (Command::new("apt-get").arg("update").status().is_ok()
            && Command::new("apt-get")
                .args(["install", "-y", "openssl"])
                .status()
                .is_ok_and(|s| s.success()));
    assert!(ok, "could not install openssl");
}

fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "sansrtc-dtls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An OpenSSL process whose stdout lines arrive on a channel; killed by PID on drop.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Peer {
    fn spawn(args: &[String]) -> Self {
        let mut child = Command::new("openssl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn openssl");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (up to 10 s) for a stdout line containing `needle`; returns it.
    fn wait_line(&mut self, needle: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "openssl never printed {needle:?}; output so far: {:#?}",
                    self.seen
                ),
            }
        }
    }

    fn write_stdin(&mut self, s: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(s.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Moves datagrams between the endpoint and the socket until `done` holds (10 s at most).
/// `drop_nth` drops the n-th datagram we send (1-based) to exercise retransmission.
fn drive(
    ep: &mut Endpoint,
    sock: &UdpSocket,
    events: &mut Vec<Event>,
    drop_nth: Option<usize>,
    sent: &mut usize,
    done: impl Fn(&Endpoint, &[Event]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 65536];
    loop {
        while let Some(d) = ep.poll_transmit() {
            *sent += 1;
            if drop_nth != Some(*sent) {
                sock.send(&d).unwrap();
            }
        }
        while let Some(e) = ep.poll_event() {
            events.push(e);
        }
        if done(ep, events) {
            return;
        }
        let now = Instant::now();
        assert!(now < deadline, "timed out; events: {events:?}");
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
}

fn connected(events: &[Event]) -> Option<&Event> {
    events.iter().find(|e| matches!(e, Event::Connected { .. }))
}

fn keying_material_hex(ep: &Endpoint) -> String {
    ep.export_keying_material("EXTRACTOR-dtls_srtp", 60)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

fn app_data(events: &[Event]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::ApplicationData(d) = e {
                Some(d.clone())
            } else {
                None
            }
        })
        .flatten()
        .collect()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    let mut peer = Peer::spawn(&args);
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
    let mut peer = Peer::spawn(&args);

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
