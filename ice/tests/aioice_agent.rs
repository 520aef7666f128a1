//! Interop: our ICE [`Agent`] against aioice (PyPI), a third-party ICE agent, on 127.0.0.1, in both
//! roles: candidates and credentials are exchanged over the script's stdin/stdout, both sides run
//! connectivity checks and nomination, then application data flows both ways over the selected
//! pair. Installs aioice into a virtualenv under the cargo target dir if it is missing.

mod common;
use common::aioice_python;

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sansrtc_ice::SystemRng;
use sansrtc_ice::agent::{Agent, AgentConfig, ConnectionState};
use sansrtc_ice::candidate::{Candidate, CandidateKind};

fn interop(we_control: bool, turn: Option<std::net::SocketAddr>) {
    let python = aioice_python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/aioice_agent.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(if we_control {
            "controlled"
        } else {
            "controlling"
        })
        .args(
            turn.map(|t| [t.ip().to_string(), t.port().to_string()])
                .into_iter()
                .flatten(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, lines) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(40);
    let next_line = |what: &str| {
        lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("aioice script stopped before {what}"))
    };

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let mut agent = Agent::new(
        AgentConfig::new(we_control, "sansrtc", "sansrtc-ice-password-0123"),
        SystemRng::new(),
    );
    let ours = agent.add_host_candidate(local).unwrap();

    // Their credentials and candidates.
    let mut relayed_remote = None;
    let mut remote_ufrag = String::new();
    let mut remote_pwd = String::new();
    loop {
        let line = next_line("its candidates");
        if let Some(u) = line.strip_prefix("ufrag ") {
            remote_ufrag = u.to_owned();
        } else if let Some(p) = line.strip_prefix("pwd ") {
            remote_pwd = p.to_owned();
        } else if let Some(c) = line.strip_prefix("cand ") {
            let c = Candidate::parse(c).unwrap();
            if turn.is_some() {
                assert_eq!(
                    c.kind,
                    CandidateKind::Relayed,
                    "aioice offers only relayed candidates"
                );
                relayed_remote = c.socket_addr();
            }
            agent.add_remote_candidate(c).unwrap();
        } else if line == "end" {
            break;
        }
    }
    agent.set_remote_credentials(&remote_ufrag, &remote_pwd);
    let ours_sdp = ours.to_string();
    writeln!(stdin, "ufrag sansrtc\npwd sansrtc-ice-password-0123").unwrap();
    writeln!(
        stdin,
        "cand {}",
        ours_sdp.strip_prefix("candidate:").unwrap()
    )
    .unwrap();
    writeln!(stdin, "end").unwrap();
    stdin.flush().unwrap();
    agent.start(Instant::now());

    let mut buf = [0u8; 2048];
    let mut got_ping = false;
    let mut sent_pong = false;
    let mut their_output = Vec::new();
    while Instant::now() < deadline {
        agent.handle_timeout(Instant::now());
        while let Some(t) = agent.poll_transmit() {
            assert_eq!(t.source, local);
            socket.send_to(&t.contents, t.destination).unwrap();
        }
        while agent.poll_event().is_some() {}
        if let (Some((_, remote)), false) = (agent.selected_pair(), sent_pong) {
            socket.send_to(b"pong from sansrtc", remote).unwrap();
            sent_pong = true;
        }
        while let Ok(line) = lines.try_recv() {
            their_output.push(line);
        }
        if their_output.iter().any(|l| l == "done") && got_ping {
            break;
        }
        // Wait for a datagram until our next deadline (bounded so the loop also notices the
        // script's output).
        let wait = agent
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(50))
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        socket.set_read_timeout(Some(wait)).unwrap();
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            if !agent.handle_receive(Instant::now(), from, local, &buf[..n]) {
                assert_eq!(&buf[..n], b"ping from aioice");
                if turn.is_some() {
                    assert_eq!(
                        Some(from),
                        relayed_remote,
                        "data must come through the relay"
                    );
                }
                got_ping = true;
            }
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    while let Ok(line) = lines.try_recv() {
        their_output.push(line);
    }
    assert!(
        status.success(),
        "aioice script failed; output {their_output:?}"
    );
    assert_eq!(agent.state(), ConnectionState::Connected);
    assert_eq!(agent.is_controlling(), we_control);
    assert!(
        their_output.iter().any(|l| l == "connected"),
        "{their_output:?}"
    );
    assert!(got_ping, "no data from aioice");
    let expect = format!(
        "received {}",
        b"pong from sansrtc"
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    assert!(their_output.contains(&expect), "{their_output:?}");
    assert!(agent.stats().checks_answered > 0);
    if turn.is_some() {
        assert_eq!(
            agent.selected_pair().map(|p| Some(p.1)),
            Some(relayed_remote)
        );
    }
}

#[test]
fn aioice_controlled_we_control() {
    interop(true, None);
}

#[test]
fn aioice_controlling_we_are_controlled() {
    interop(false, None);
}

/// aioice gathers only a relayed candidate on coturn (Debian `coturn`, installed if missing):
/// every check and all data between it and our agent pass through the relay.
#[test]
fn aioice_through_coturn_relay() {
    let (_coturn, server) = common::start_coturn();
    interop(false, Some(server));
}
