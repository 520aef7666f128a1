//! `examples/turn_server` against clients nobody here wrote: coturn's `turnutils_uclient` with
//! `turnutils_peer` as the far end (Debian `coturn`, installed when missing), over UDP, TCP and
//! TLS with long-term and TURN REST API credentials; aioice's TURN client (PyPI, in a virtualenv
//! made when missing) over UDP and TCP; and hostile input (unauthenticated floods,
//! garbage, denied peers, exhaustion) refused and counted while relaying goes on. Loopback only;
//! readiness is polled with bounded retries.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sansrtc::ice::SeededRng;
use sansrtc::ice::stun::attribute::Attribute;
use sansrtc::ice::stun::{MessageBuilder, MessageClass, MessageType, Method, TransactionId};
use sansrtc::ice::turn::{TurnClient, TurnConfig, TurnEvent};
use sansrtc::ice::turn_server::rest_api_password;

mod common;

use common::{Proc, start_turn_server as start_server, stat};

/// Installs coturn's tools when missing.
fn ensure_coturn() {
    let present = Command::new("turnutils_uclient")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !present {
        common::apt_install(&["coturn"]);
    }
}

/// `turnutils_peer` (an echo server) on a free loopback port, answering before this returns.
fn start_peer() -> (Proc, u16) {
    ensure_coturn();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("turnutils_peer")
        .args(["-p", &port.to_string(), "-L", "127.0.0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnutils_peer starts");
    let proc = Proc(child);
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 64];
    for _ in 0..100 {
        probe.send_to(b"ready?", ("127.0.0.1", port)).unwrap();
        if probe.recv_from(&mut buf).is_ok() {
            return (proc, port);
        }
    }
    panic!("turnutils_peer never echoed");
}

/// What `turnutils_uclient` reported.
#[derive(Debug)]
struct Report {
    sent: u64,
    received: u64,
    lost: u64,
}

/// Runs `turnutils_uclient` (100 messages of 170 bytes to the peer through the server) and
/// returns what it printed.
fn uclient_output(server_port: u16, peer_port: u16, flags: &[&str]) -> String {
    ensure_coturn();
    let mut child = Command::new("turnutils_uclient")
        .args(["-e", "127.0.0.1", "-r", &peer_port.to_string()])
        .args(["-p", &server_port.to_string(), "-n", "100", "-l", "170"])
        .args(flags)
        .arg("127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("turnutils_uclient starts");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("turnutils_uclient {flags:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// Runs `turnutils_uclient` and parses its totals.
fn uclient(server_port: u16, peer_port: u16, flags: &[&str]) -> Report {
    let text = uclient_output(server_port, peer_port, flags);
    let num = |line: &str, key: &str| -> Option<u64> {
        let at = line.find(key)? + key.len();
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let totals = text
        .lines()
        .rfind(|l| l.contains("tot_send_msgs=") && !l.contains("msz="))
        .unwrap_or_else(|| panic!("no totals from turnutils_uclient {flags:?}:\n{text}"));
    let lost_line = text
        .lines()
        .rfind(|l| l.contains("Total lost packets"))
        .unwrap_or_else(|| panic!("no loss line:\n{text}"));
    Report {
        sent: num(totals, "tot_send_msgs=").unwrap(),
        received: num(totals, "tot_recv_msgs=").unwrap(),
        lost: num(lost_line, "Total lost packets ").unwrap(),
    }
}

fn assert_relays(report: &Report, what: &str) {
    assert!(
        report.received > 0 && report.lost == 0 && report.received == report.sent,
        "{what}: {report:?}"
    );
}

#[test]
fn turnutils_uclient_relays_over_udp_and_tcp_with_long_term_credentials() {
    let (_peer, peer_port) = start_peer();
    let server = start_server(&["--user", "alice:secret", "--allow-loopback-peers"]);
    let port = server.addr.port();
    let creds = ["-u", "alice", "-w", "secret"];
    assert_relays(&uclient(port, peer_port, &creds), "UDP, channels");
    assert_relays(
        &uclient(port, peer_port, &[&creds[..], &["-t"]].concat()),
        "TCP, channels",
    );
    assert_relays(
        &uclient(port, peer_port, &[&creds[..], &["-s"]].concat()),
        "UDP, Send indications",
    );
    let line = server.stats_until("relayed", |l| stat(l, "to_client_packets") >= 600);
    assert!(stat(&line, "channels_bound") > 0 && stat(&line, "allocations_created") >= 6);
    // A wrong password is refused.
    let bad = uclient_output(port, peer_port, &["-u", "alice", "-w", "wrong"]);
    assert!(bad.contains("Cannot complete Allocation"), "{bad}");
    server.stats_until("wrong password counted", |l| {
        stat(l, "integrity_failures") > 0
    });
}

#[test]
fn turnutils_uclient_relays_with_rest_api_credentials() {
    let (_peer, peer_port) = start_peer();
    let server = start_server(&["--auth-secret", "north", "--allow-loopback-peers"]);
    let port = server.addr.port();
    assert_relays(
        &uclient(port, peer_port, &["-u", "bob", "-W", "north"]),
        "UDP, REST",
    );
    assert_relays(
        &uclient(port, peer_port, &["-t", "-u", "bob", "-W", "north"]),
        "TCP, REST",
    );
    // An expired REST username, with the right password, is refused (our client).
    let expired = "1000:bob";
    let events = our_client(
        server.addr,
        expired,
        &rest_api_password("north", expired),
        None,
    );
    assert!(
        events.contains(&TurnEvent::AllocationFailed(401)),
        "{events:?}"
    );
    server.stats_until("expired username counted", |l| stat(l, "unknown_users") > 0);
}

#[test]
fn turnutils_uclient_relays_over_tls() {
    let dir = std::env::temp_dir().join(format!("sansrtc-turn-tls-{}", std::process::id()));
    let (cert, key) = common::self_signed_cert(&dir);
    let (_peer, peer_port) = start_peer();
    let server = start_server(&[
        "--user",
        "alice:secret",
        "--allow-loopback-peers",
        "--tls-listen",
        "127.0.0.1:0",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    let tls = server.tls.expect("TLS listener");
    let r = uclient(
        tls.port(),
        peer_port,
        &["-t", "-S", "-u", "alice", "-w", "secret"],
    );
    assert_relays(&r, "TLS");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Drives our TURN client over UDP against `server`: allocates, then (if given) asks for a
/// permission; returns its events.
fn our_client(
    server: SocketAddr,
    user: &str,
    pass: &str,
    permission: Option<IpAddr>,
) -> Vec<TurnEvent> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut c = TurnClient::new(TurnConfig::new(server, user, pass), SeededRng::new(7));
    c.allocate(Instant::now()).unwrap();
    let mut events = Vec::new();
    let mut asked = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        while let Some(t) = c.poll_transmit() {
            socket.send_to(&t.contents, t.destination).unwrap();
        }
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            c.handle_receive(Instant::now(), from, &buf[..n]);
        }
        c.handle_timeout(Instant::now());
        while let Some(e) = c.poll_event() {
            events.push(e);
        }
        let allocated = events
            .iter()
            .any(|e| matches!(e, TurnEvent::Allocated { .. }));
        let failed = events
            .iter()
            .any(|e| matches!(e, TurnEvent::AllocationFailed(_)));
        match permission {
            _ if failed => return events,
            None if allocated => return events,
            Some(ip) if allocated && !asked => {
                c.create_permission(Instant::now(), ip).unwrap();
                asked = true;
            }
            Some(_)
                if events.iter().any(|e| {
                    matches!(
                        e,
                        TurnEvent::PermissionCreated(_) | TurnEvent::PermissionFailed(..)
                    )
                }) =>
            {
                return events;
            }
            _ => {}
        }
    }
    panic!("our client got no answer: {events:?}");
}

/// An unauthenticated Allocate request.
fn bare_allocate(id: u32) -> Vec<u8> {
    let mut buf = vec![0u8; 64];
    let mut tid = [0u8; 12];
    tid[..4].copy_from_slice(&id.to_be_bytes());
    let mut b = MessageBuilder::new(
        &mut buf,
        MessageType::new(Method::ALLOCATE, MessageClass::Request),
        TransactionId(tid),
    )
    .unwrap();
    b.add(&Attribute::RequestedTransport(17)).unwrap();
    let n = b.finish();
    buf.truncate(n);
    buf
}

#[test]
fn hostile_input_is_refused_and_counted_while_relaying_goes_on() {
    let (_peer, peer_port) = start_peer();
    // Loopback peers denied (the default): a private, link-local, multicast or loopback peer
    // is refused with 403.
    let strict = start_server(&[
        "--user",
        "alice:secret",
        "--max-allocations-per-user",
        "100",
    ]);
    for ip in ["127.0.0.1", "10.0.0.1", "169.254.1.1", "224.0.0.1"] {
        let ip: IpAddr = ip.parse().unwrap();
        let events = our_client(strict.addr, "alice", "secret", Some(ip));
        assert!(
            events.contains(&TurnEvent::PermissionFailed(ip, 403)),
            "{ip}: {events:?}"
        );
        // uclient against a server that denies loopback relays nothing.
    }
    strict.stats_until("denied peers counted", |l| stat(l, "peers_denied") >= 4);
    let r = uclient_output(
        strict.addr.port(),
        peer_port,
        &["-u", "alice", "-w", "secret"],
    );
    assert!(
        r.contains("403"),
        "loopback peer relayed by a strict server: {r}"
    );

    // A flood of unauthenticated Allocates and garbage: each answered 401 or dropped, counted,
    // and a real client relays meanwhile.
    let server = start_server(&["--user", "alice:secret", "--allow-loopback-peers"]);
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    attacker
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    for i in 0..3000u32 {
        attacker.send_to(&bare_allocate(i), server.addr).unwrap();
        attacker
            .send_to(&[0x40, 0x00, 0x00, 0x10, 1, 2, 3], server.addr)
            .unwrap();
        attacker.send_to(&i.to_be_bytes(), server.addr).unwrap();
    }
    let mut answers = 0;
    let mut buf = [0u8; 1500];
    while attacker.recv_from(&mut buf).is_ok() {
        answers += 1;
    }
    assert!(answers > 0, "401 challenges");
    let r = uclient(
        server.addr.port(),
        peer_port,
        &["-u", "alice", "-w", "secret"],
    );
    assert_relays(&r, "UDP during and after a flood");
    let line = server.stats_until("flood counted", |l| {
        stat(l, "unauthenticated") + stat(l, "malformed") + stat(l, "dropped_no_allocation") > 0
            && stat(l, "to_client_packets") >= 200
    });
    eprintln!("after the flood: {line}");
    // Exhaustion: with --max-allocations 1 and one allocation alive, the next is refused 508;
    // with one per user, 486.
    let small = start_server(&["--user", "alice:secret", "--max-allocations", "1"]);
    let first = our_client(small.addr, "alice", "secret", None);
    assert!(
        first
            .iter()
            .any(|e| matches!(e, TurnEvent::Allocated { .. })),
        "{first:?}"
    );
    let second = our_client(small.addr, "alice", "secret", None);
    assert!(
        second.contains(&TurnEvent::AllocationFailed(508)),
        "{second:?}"
    );
    small.stats_until("capacity refusals counted", |l| {
        stat(l, "capacity_refused") > 0
    });
    let quota = start_server(&["--user", "alice:secret", "--max-allocations-per-user", "1"]);
    our_client(quota.addr, "alice", "secret", None);
    let second = our_client(quota.addr, "alice", "secret", None);
    assert!(
        second.contains(&TurnEvent::AllocationFailed(486)),
        "{second:?}"
    );
    quota.stats_until("quota refusals counted", |l| stat(l, "quota_refused") > 0);
}

/// A UDP echo peer on 127.0.0.1 (a thread of this test): echoes every datagram to its source
/// and records (source, length) of each.
struct EchoPeer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<(SocketAddr, usize)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EchoPeer {
    fn start() -> EchoPeer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    seen2.lock().unwrap().push((from, n));
                    let _ = socket.send_to(&buf[..n], from);
                }
            }
        });
        EchoPeer {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EchoPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `tests/peers/aioice_turn_client.py` (aioice's TURN client) against `server` over
/// `transport`, sending `count` datagrams to `peer`; returns its output lines once it printed
/// `done` (within 60 s) and exited successfully.
fn aioice_turn_client(
    server: SocketAddr,
    user: &str,
    pass: &str,
    transport: &str,
    peer: SocketAddr,
    count: usize,
) -> Vec<String> {
    let python = common::aioice_python();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/peers/aioice_turn_client.py"
    );
    let mut child = Command::new(python)
        .arg(script)
        .args([&server.ip().to_string(), &server.port().to_string()])
        .args([user, pass, transport])
        .args([&peer.ip().to_string(), &peer.port().to_string()])
        .arg(count.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python runs");
    let stdout = child.stdout.take().unwrap();
    let mut proc = Proc(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                eprintln!("aioice {transport}: {line}");
                let done = line == "done";
                lines.push(line);
                if done {
                    break;
                }
            }
            Err(e) => panic!("aioice over {transport} did not finish ({e}): {lines:?}"),
        }
    }
    // It exits once it printed "done" (its event loop has nothing left).
    let status = loop {
        if let Some(status) = proc.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "aioice over {transport} did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "aioice over {transport}: {status}, {lines:?}"
    );
    lines
}

/// The `HOST PORT` address after `key ` in aioice's output.
fn aioice_addr(lines: &[String], key: &str) -> SocketAddr {
    let line = lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no {key} address: {lines:?}"));
    let (ip, port) = line.split_once(' ').unwrap();
    SocketAddr::new(ip.parse().unwrap(), port.parse().unwrap())
}

#[test]
fn aioice_turn_client_relays_over_udp_and_tcp() {
    // aioice (PyPI), a TURN client nobody here wrote: it allocates on our server, binds a
    // channel to an echo peer on 127.0.0.1 and sends it 20 datagrams (1..1200 bytes) through
    // the relay, each echoed back byte-exact; then deletes the allocation.
    let server = start_server(&["--user", "alice:secret", "--allow-loopback-peers"]);
    let count = 20;
    for (transport, printed) in [("udp", "Udp"), ("tcp", "Tcp")] {
        let peer = EchoPeer::start();
        let t0 = Instant::now();
        let lines = aioice_turn_client(server.addr, "alice", "secret", transport, peer.addr, count);
        let relayed = aioice_addr(&lines, "relayed");
        let mapped = aioice_addr(&lines, "mapped");
        // What aioice was given is what our server says it allocated, for aioice's address.
        let created = server.line_until("allocation created", "allocation created ", |l| {
            l.contains(&format!("client={mapped} "))
        });
        assert!(
            created.contains(&format!("transport={printed} "))
                && created.contains(&format!("relayed=[{relayed}] "))
                && created.contains(" user=alice "),
            "aioice got {relayed} for {mapped}; the server says: {created}"
        );
        assert!(relayed.ip().is_loopback() && relayed != mapped, "{relayed}");
        // Every datagram came back byte-exact, from the peer's address.
        let echoes: Vec<&String> = lines.iter().filter(|l| l.starts_with("echo ")).collect();
        assert_eq!(echoes.len(), count, "{lines:?}");
        for (i, l) in echoes.iter().enumerate() {
            let size = 1 + (i * 97) % 1200;
            assert_eq!(
                **l,
                format!("echo {size} {} {}", peer.addr.ip(), peer.addr.port())
            );
        }
        assert!(
            !lines
                .iter()
                .any(|l| l.starts_with("mismatch") || l.starts_with("error"))
        );
        // The peer saw each datagram come from the relayed address, not from aioice's socket.
        let seen = peer.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), count, "{seen:?}");
        assert!(seen.iter().all(|(from, _)| *from == relayed), "{seen:?}");
        // aioice deleted its allocation (Refresh with LIFETIME 0).
        let deleted = server.line_until("allocation deleted", "allocation deleted ", |l| {
            l.contains(&format!("client={mapped} "))
        });
        assert!(deleted.contains("reason=Deleted"), "{deleted}");
        eprintln!(
            "aioice over {transport}: allocated {relayed}, {count} datagrams echoed through it, deleted, in {} ms",
            t0.elapsed().as_millis()
        );
    }
    let line = server.stats_until("aioice relayed", |l| {
        stat(l, "to_client_packets") >= 2 * count as u64 && stat(l, "allocations_deleted") >= 2
    });
    assert!(stat(&line, "channels_bound") >= 2, "{line}");
    assert_eq!(stat(&line, "to_peer_packets"), 2 * count as u64, "{line}");
    assert_eq!(stat(&line, "integrity_failures"), 0, "{line}");
}
