//! aiortc (PyPI; Python, DTLS 1.2 only, OpenSSL underneath) against our echo server over WHIP on
//! 127.0.0.1, in both DTLS roles: with our side offering DTLS 1.3 (`--dtls13`), a peer that
//! speaks only 1.2 still connects (fallback, RFC 9147 / RFC 8446 4.1.3), its data channel
//! messages and its video come back. The test installs aiortc in a virtualenv on first use.

mod common;

use std::process::Command;

use common::example_server::ExampleServer;
use serde_json::Value;

/// Data channel messages aiortc sends (1 B to ~60 KB).
const MESSAGES: u64 = 40;

/// Runs the aiortc WHIP client against an echo server started with `args`; what aiortc saw
/// and the echo server's stats of the ended session.
fn aiortc_against_echo_server(args: &[&str]) -> (Value, Value) {
    let python = common::aiortc_python();
    let server = ExampleServer::start("echo_server", args);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/aiortc_whip.py");
    let out = Command::new(python)
        .arg(script)
        .arg(format!("http://{}/whip", server.http))
        .arg(MESSAGES.to_string())
        .output()
        .expect("aiortc runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "aiortc: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("aiortc prints its result: {stdout}"));
    // aiortc closed the connection after printing: the session is among the ended ones.
    let stats = server.poll_stats(
        std::time::Duration::from_secs(10),
        "the session ends",
        |s| s["ended"].as_array().is_some_and(|e| !e.is_empty()),
    );
    (seen, stats["ended"][0].clone())
}

#[test]
fn aiortc_a_dtls12_only_peer_connects_to_our_dtls13_offer_in_both_roles() {
    for (args, aiortc_role) in [
        (&["--dtls13"][..], "server"),
        (&["--dtls13", "--passive"][..], "client"),
    ] {
        let (seen, session) = aiortc_against_echo_server(args);
        eprintln!("aiortc as DTLS {aiortc_role}: {seen}; our side: {session}");
        assert_eq!(seen["status"], 201, "{seen}");
        assert_eq!(seen["dtls_role"], aiortc_role, "{seen}");
        assert_eq!(seen["dtls_state"], "connected", "{seen}");
        assert_eq!(seen["messages"], MESSAGES, "{seen}");
        assert_eq!(seen["mismatches"], 0, "{seen}");
        // Video sent by aiortc, looped back by the echo server, decoded by aiortc.
        assert!(seen["frames"].as_u64().unwrap_or(0) >= 30, "{seen}");
        assert_eq!(seen["width"], 320, "{seen}");
        // Our side settled for DTLS 1.2 (0xFEFD) with X25519: the 1.2 fallback.
        assert_eq!(session["dtls_version"], 0xFEFD, "{session}");
        assert_eq!(session["dtls_group"], 29, "{session}");
        assert_eq!(session["state"], "Closed", "{session}");
    }
}
