//! Interop: our ICE [`Agent`] against libnice 0.1 (Debian `gir1.2-nice-0.1`, driven from
//! Python through PyGObject), a second third-party ICE agent, on 127.0.0.1 with libnice
//! controlling: candidates and credentials over the script's stdin/stdout, checks and
//! nomination on both sides, then data both ways over the selected pair. Installs the Debian
//! packages if missing.
//!
//! The other role (we control, libnice controlled) is not tested: libnice's debug log shows it
//! answering our checks, accepting our nomination and selecting the pair, and our data reaches
//! it, but this PyGObject harness (a thread blocked in `nice_agent_recv`, since `attach_recv` is
//! not introspectable) stalls libnice's main loop before it reports READY (see STATUS.md).

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sansrtc_ice::SystemRng;
use sansrtc_ice::agent::{Agent, AgentConfig, ConnectionState};
use sansrtc_ice::candidate::Candidate;

/// Installs libnice's GObject bindings if `import gi; Nice` fails with the system Python.
fn ensure_libnice() {
    let probe = || {
        Command::new("/usr/bin/python3")
            .args([
                "-c",
                "import gi; gi.require_version('Nice', '0.1'); from gi.repository import Nice",
            ])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !probe() {
        let ok = Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "python3",
                "python3-gi",
                "gir1.2-nice-0.1",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok && probe(), "installing libnice's bindings failed");
    }
}

fn interop(we_control: bool) {
    ensure_libnice();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/libnice_agent.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(if we_control {
            "controlled"
        } else {
            "controlling"
        })
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
            .unwrap_or_else(|_| panic!("libnice script stopped before {what}"))
    };

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let mut agent = Agent::new(
        AgentConfig::new(we_control, "sansrtc", "sansrtc-ice-password-0123"),
        SystemRng::new(),
    );
    let ours = agent.add_host_candidate(local).unwrap();

    // Their credentials and candidates.
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
                assert_eq!(&buf[..n], b"ping from libnice");
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
        "libnice script failed; output {their_output:?}"
    );
    assert_eq!(agent.state(), ConnectionState::Connected);
    assert_eq!(agent.is_controlling(), we_control);
    assert!(
        their_output.iter().any(|l| l == "connected"),
        "{their_output:?}"
    );
    assert!(got_ping, "no data from libnice");
    let expect = format!(
        "received {}",
        b"pong from sansrtc"
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    // PyGObject does not hand libnice's receive buffer back, only its length: accept either.
    let expect_len = format!("received-len {}", b"pong from sansrtc".len());
    assert!(
        their_output.contains(&expect) || their_output.contains(&expect_len),
        "{their_output:?}"
    );
    assert!(agent.stats().checks_answered > 0);
}

#[test]
fn libnice_controlling_we_are_controlled() {
    interop(false);
}
