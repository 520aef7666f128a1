//! Peer connections through a real TURN server: coturn (Debian `coturn`, installed when missing)
//! on 127.0.0.1, real UDP sockets. With the relay-only policy a peer signals nothing but its
//! relayed candidate (trickled once the allocation succeeds); ICE checks, DTLS, SCTP and SRTP
//! then all go through the relay, and the data channel and media still work.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sansrtc::sdp::Direction;
use sansrtc::{
    ChannelConfig, Config, ConnectionState, Event, IceTransportPolicy, PeerConnection, RtpWrite,
    SdpType, TurnServer, codecs,
};

mod common;

/// coturn, stopped by its PID when dropped.
struct Coturn(Child);

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_coturn() -> (Coturn, SocketAddr) {
    let installed = Command::new("turnserver")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !installed {
        common::apt_install(&["coturn"]);
    }
    let port = free_udp_port();
    let child = Command::new("turnserver")
        .args(["-n", "--no-cli", "--no-dtls", "--no-tls", "--lt-cred-mech"])
        .args(["--user", "u:p", "--realm", "r"])
        .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
        .args([
            "--allow-loopback-peers",
            "--listening-port",
            &port.to_string(),
        ])
        .args(["--min-port", "49152", "--max-port", "65535"])
        .args(["--log-file", "stdout", "--no-stdout-log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver starts");
    (Coturn(child), SocketAddr::from(([127, 0, 0, 1], port)))
}

struct Side {
    pc: PeerConnection,
    socket: UdpSocket,
    addr: SocketAddr,
    events: Vec<Event>,
}

impl Side {
    fn new(turn: Option<SocketAddr>) -> Side {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let addr = socket.local_addr().unwrap();
        let mut config = Config::default();
        if let Some(server) = turn {
            config.turn_servers = vec![TurnServer::new(server, "u", "p")];
            config.ice_transport_policy = IceTransportPolicy::Relay;
        }
        let mut pc = PeerConnection::new(config).unwrap();
        pc.add_local_address(addr).unwrap();
        pc.add_transceiver(codecs::audio_transceiver(Direction::SendRecv));
        Side {
            pc,
            socket,
            addr,
            events: Vec::new(),
        }
    }

    fn pump(&mut self, buf: &mut [u8]) -> bool {
        let mut busy = false;
        while let Ok((n, from)) = self.socket.recv_from(buf) {
            busy = true;
            self.pc
                .handle_receive(Instant::now(), from, self.addr, &buf[..n]);
        }
        let now = Instant::now();
        if self.pc.poll_timeout().is_some_and(|t| t <= now) {
            self.pc.handle_timeout(now);
        }
        while let Some(t) = self.pc.poll_transmit() {
            busy = true;
            assert_eq!(t.source, self.addr);
            assert!(t.destination.ip().is_loopback(), "{t:?}");
            let _ = self.socket.send_to(&t.contents, t.destination);
        }
        while let Some(e) = self.pc.poll_event() {
            self.events.push(e);
        }
        busy
    }
}

/// Runs both sides, trickling each side's new candidates to the other, until `done`.
fn run(sides: &mut [Side; 2], limit: Duration, mut done: impl FnMut(&[Side; 2]) -> bool) {
    let end = Instant::now() + limit;
    let mut buf = vec![0u8; 2048];
    let mut trickled = [0usize; 2];
    while !done(sides) {
        assert!(
            Instant::now() < end,
            "not done within {limit:?}: {:?}\n{:?}\n{:?}\n{:?}",
            sides[0].events,
            sides[1].events,
            sides[0].pc.stats(),
            sides[1].pc.stats()
        );
        let mut busy = false;
        for s in sides.iter_mut() {
            busy |= s.pump(&mut buf);
        }
        for i in 0..2 {
            let new: Vec<String> = sides[i].events[trickled[i]..]
                .iter()
                .filter_map(|e| match e {
                    Event::LocalCandidate(c) => Some(c.clone()),
                    _ => None,
                })
                .collect();
            trickled[i] = sides[i].events.len();
            for c in new {
                sides[1 - i]
                    .pc
                    .add_remote_candidate(Instant::now(), &c)
                    .unwrap();
            }
        }
        if !busy {
            // Wait for the sockets (nothing to do until a datagram or a deadline).
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn relayed_session(both_relayed: bool) {
    let (_coturn, server) = start_coturn();
    let mut sides = [
        Side::new(Some(server)),
        Side::new(both_relayed.then_some(server)),
    ];
    let now = Instant::now();
    let offer = sides[0].pc.create_offer(now).unwrap();
    // Relay-only: our socket's address is not in the offer.
    assert!(
        !offer.contains(&format!(" {} ", sides[0].addr.port())),
        "{offer}"
    );
    sides[1]
        .pc
        .set_remote_description(now, SdpType::Offer, &offer)
        .unwrap();
    let answer = sides[1].pc.create_answer(Instant::now()).unwrap();
    sides[0]
        .pc
        .set_remote_description(now, SdpType::Answer, &answer)
        .unwrap();
    run(&mut sides, Duration::from_secs(30), |s| {
        s.iter().all(|s| s.pc.state() == ConnectionState::Connected)
    });
    // A's path is its relayed address: a coturn relay port on 127.0.0.1, not its socket.
    let (a_local, _) = sides[0].pc.selected_path().unwrap();
    assert_ne!(a_local, sides[0].addr);
    assert!(a_local.ip().is_loopback() && a_local.port() >= 49152);
    let (_, b_remote) = sides[1].pc.selected_path().unwrap();
    if both_relayed {
        assert!(b_remote.port() >= 49152);
    } else {
        assert_eq!(b_remote, a_local, "B talks to A's relayed address");
    }
    let id = sides[0]
        .pc
        .create_data_channel(Instant::now(), ChannelConfig::reliable("via-turn"))
        .unwrap();
    run(&mut sides, Duration::from_secs(10), |s| {
        s[1].events
            .iter()
            .any(|e| matches!(e, Event::DataChannelOpen { .. }))
    });
    let big: Vec<u8> = (0..100_000).map(|i| (i % 253) as u8).collect();
    sides[0]
        .pc
        .channel(id)
        .unwrap()
        .send(Instant::now(), &big)
        .unwrap();
    let mid = sides[0].pc.media_mids().next().unwrap();
    for i in 0..20u32 {
        let payload = [i as u8; 100];
        sides[0]
            .pc
            .write_rtp(Instant::now(), mid, RtpWrite::new(111, i * 960, &payload))
            .unwrap();
    }
    run(&mut sides, Duration::from_secs(10), |s| {
        s[1].events
            .iter()
            .any(|e| matches!(e, Event::DataChannelMessage { data, .. } if data.len() == 100_000))
            && s[1]
                .events
                .iter()
                .filter(|e| matches!(e, Event::Rtp(_)))
                .count()
                >= 15
    });
    let got = sides[1].events.iter().find_map(|e| match e {
        Event::DataChannelMessage { data, .. } => Some(data.clone()),
        _ => None,
    });
    assert_eq!(got.unwrap(), big);
    let report = sides[0].pc.stats_report();
    assert_eq!(report.transport.counters.relay_failures, 0);
    assert!(
        report
            .candidate_pairs
            .iter()
            .any(|p| p.selected && p.local == a_local && p.packets_sent > 0)
    );
    sides[0].pc.close(Instant::now());
    run(&mut sides, Duration::from_secs(5), |s| s[0].pc.is_closed());
}

#[test]
fn relay_only_peer_connects_through_coturn() {
    relayed_session(false);
}

#[test]
fn both_peers_relayed_through_coturn() {
    relayed_session(true);
}
