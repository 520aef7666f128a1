//! Interop: aioice (PyPI), a third-party Python STUN/ICE implementation, sends Binding requests to
//! our [`StunResponder`] over loopback UDP (IPv4 and IPv6) and checks the answers with its own
//! parser: FINGERPRINT, MESSAGE-INTEGRITY, XOR-MAPPED-ADDRESS, and the 400/401/420 errors.
//! The test installs aioice into a virtualenv under the cargo target dir if it is missing.

mod common;
use common::aioice_python;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sansrtc_ice::responder::ShortTermCredentials;
use sansrtc_ice::{ResponderConfig, StunResponder};

const UFRAG: &str = "sansrtcfrag";
const PASSWORD: &str = "sansrtc-password-0123456789";

/// Serves `socket` with a responder until `stop` is set.
fn serve(socket: UdpSocket, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut config = ResponderConfig::default();
        config.software = Some("sansrtc".into());
        config.credentials = Some(ShortTermCredentials::new(UFRAG, PASSWORD));
        let mut responder = StunResponder::new(config);
        // The read timeout only bounds how long the loop takes to notice `stop`.
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            responder.handle_receive(Instant::now(), from, &buf[..n]);
            while let Some(t) = responder.poll_transmit() {
                socket.send_to(&t.contents, t.destination).unwrap();
            }
        }
    })
}

fn field<'a>(json: &'a str, scenario: &str, key: &str) -> &'a str {
    // The script prints flat JSON objects per scenario; pick `"key": value` inside the scenario.
    let start = json
        .find(&format!("\"{scenario}\": {{"))
        .unwrap_or_else(|| panic!("no {scenario} in {json}"));
    let obj = &json[start..];
    let obj = &obj[..obj.find('}').unwrap()];
    let at = obj
        .find(&format!("\"{key}\": "))
        .unwrap_or_else(|| panic!("no {key} in {obj}"));
    let v = &obj[at + key.len() + 4..];
    let end = v.find([',', '}']).unwrap_or(v.len());
    v[..end].trim()
}

fn interop(bind: &str) {
    let python = aioice_python();
    let socket = UdpSocket::bind(bind).unwrap();
    let addr: SocketAddr = socket.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(socket, stop.clone());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/peers/aioice_stun_client.py"
    );
    let out = Command::new(python)
        .arg(script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .args([UFRAG, PASSWORD])
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "aioice script failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = stdout.trim();

    // Success response: class RESPONSE (0x100), integrity verified by aioice with our password,
    // fingerprint verified by its parser, XOR-MAPPED-ADDRESS equal to aioice's socket address.
    assert_eq!(field(json, "ok", "class"), "256");
    assert_eq!(field(json, "ok", "integrity_ok"), "true");
    assert_eq!(field(json, "ok", "has_fingerprint"), "true");
    assert_eq!(field(json, "ok", "mapped_matches"), "true");
    assert_eq!(field(json, "ok", "tid_matches"), "true");

    for (scenario, code) in [
        ("wrong_password", "401"),
        ("wrong_user", "401"),
        ("no_integrity", "400"),
    ] {
        assert_eq!(field(json, scenario, "class"), "272", "{scenario}");
        assert_eq!(field(json, scenario, "error"), code, "{scenario}");
        assert_eq!(
            field(json, scenario, "has_integrity"),
            "false",
            "{scenario}"
        );
    }
    assert_eq!(field(json, "unknown_attribute", "class"), "272");
    assert_eq!(field(json, "unknown_attribute", "error"), "420");
    assert_eq!(field(json, "unknown_attribute", "integrity_ok"), "true");
    assert!(json.contains("\"unknown\": [32513]"), "{json}");
}

#[test]
fn aioice_client_against_responder_ipv4() {
    interop("127.0.0.1:0");
}

#[test]
fn aioice_client_against_responder_ipv6() {
    interop("[::1]:0");
}
