//! Helpers shared by the interop tests: a third-party peer process whose stdout is read line by
//! line, and the loop moving datagrams between an endpoint and a UDP socket.
#![allow(dead_code, unreachable_pub)]

pub mod link;

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use sansrtc_dtls::{Endpoint, Event};

/// Installs a Debian package when `probe` (a command) does not run.
pub fn ensure_installed(probe: &[&str], package: &str) {
    if Command::new(probe[0]).args(&probe[1..]).output().is_ok() {
        return;
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", package])
            .status()
            .is_ok_and(|s| s.success())
    };
    let ok = install() || (Command::new("apt-get").arg("update").status().is_ok() && install());
    assert!(ok, "could not install {package}");
}

pub fn temp_dir() -> PathBuf {
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
pub struct Peer {
    child: Child,
    pub stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pub seen: Vec<String>,
}

impl Peer {
    pub fn spawn(program: &str, args: &[String]) -> Self {
        let mut child = Command::new(program)
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
    pub fn wait_line(&mut self, needle: &str) -> String {
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
                    "the peer never printed {needle:?}; output so far: {:#?}",
                    self.seen
                ),
            }
        }
    }

    pub fn write_stdin(&mut self, s: &str) {
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
pub fn drive(
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

pub fn connected(events: &[Event]) -> Option<&Event> {
    events.iter().find(|e| matches!(e, Event::Connected { .. }))
}

pub fn keying_material_hex(ep: &Endpoint) -> String {
    ep.export_keying_material("EXTRACTOR-dtls_srtp", 60)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

pub fn app_data(events: &[Event]) -> Vec<u8> {
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

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
