//! Interop: ICE through a real relay. Agent A has only a relayed candidate, allocated by our TURN
//! client on coturn (Debian `coturn`, 127.0.0.1); agent B has a host candidate. Checks, responses,
//! nomination and then application data all pass through coturn (Send/Data indications).
//! The test installs coturn if missing.

mod common;
use common::start_coturn;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use sansrtc_ice::SeededRng;
use sansrtc_ice::agent::{Agent, AgentConfig, ConnectionState};
use sansrtc_ice::turn::{TurnClient, TurnConfig, TurnEvent};

#[test]
fn ice_over_a_coturn_relay() {
    let (_coturn, server) = start_coturn();
    let turn_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b_addr = b_socket.local_addr().unwrap();
    for s in [&turn_socket, &b_socket] {
        s.set_read_timeout(Some(Duration::from_millis(2))).unwrap();
    }
    let mut config = TurnConfig::new(server, "u", "p");
    config.transactions.initial_rto = Duration::from_millis(100);
    let mut turn = TurnClient::new(config, SeededRng::new(31));
    let mut a = Agent::new(
        AgentConfig::new(true, "aaaa", "password-of-agent-a-xx"),
        SeededRng::new(32),
    );
    let mut b = Agent::new(
        AgentConfig::new(false, "bbbb", "password-of-agent-b-yy"),
        SeededRng::new(33),
    );
    let b_candidate = b.add_host_candidate(b_addr).unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 2048];
    let mut relayed = None;
    let mut permitted = false;
    let mut started = false;
    let mut b_got_data = None;
    turn.allocate(Instant::now()).unwrap();
    while Instant::now() < deadline {
        let now = Instant::now();
        turn.handle_timeout(now);
        a.handle_timeout(now);
        b.handle_timeout(now);
        while let Some(e) = turn.poll_event() {
            match e {
                TurnEvent::Allocated { relayed: r, .. } => {
                    relayed = Some(r);
                    // B's candidate is known from signalling: permit its IP on the relay.
                    turn.create_permission(now, b_addr.ip()).unwrap();
                }
                TurnEvent::PermissionCreated(_) => permitted = true,
                TurnEvent::Data { peer, data } => {
                    assert!(a.handle_receive(now, peer, relayed.unwrap(), &data));
                }
                other => panic!("unexpected TURN event {other:?}"),
            }
        }
        if let (Some(r), true, false) = (relayed, permitted, started) {
            // Signalling: A offers only its relayed candidate.
            let a_candidate = a.add_relayed_candidate(r, server).unwrap();
            a.set_remote_credentials("bbbb", "password-of-agent-b-yy");
            b.set_remote_credentials("aaaa", "password-of-agent-a-xx");
            a.add_remote_candidate(b_candidate.clone()).unwrap();
            b.add_remote_candidate(a_candidate).unwrap();
            a.start(now);
            b.start(now);
            started = true;
        }
        while let Some(t) = a.poll_transmit() {
            assert_eq!(Some(t.source), relayed, "A has only the relayed candidate");
            turn.send_to(now, t.destination, &t.contents).unwrap();
        }
        while let Some(t) = turn.poll_transmit() {
            turn_socket.send_to(&t.contents, t.destination).unwrap();
        }
        while let Some(t) = b.poll_transmit() {
            b_socket.send_to(&t.contents, t.destination).unwrap();
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        if a.state() == ConnectionState::Connected && b.state() == ConnectionState::Connected {
            if b_got_data.is_none() {
                let (_, remote) = a.selected_pair().unwrap();
                turn.send_to(now, remote, b"application data over the relay")
                    .unwrap();
                b_got_data = Some(false);
            }
            if b_got_data == Some(true) {
                break;
            }
        }
        if let Ok((n, from)) = turn_socket.recv_from(&mut buf) {
            assert!(turn.handle_receive(Instant::now(), from, &buf[..n]));
        }
        if let Ok((n, from)) = b_socket.recv_from(&mut buf) {
            if !b.handle_receive(Instant::now(), from, b_addr, &buf[..n]) {
                assert_eq!(&buf[..n], b"application data over the relay");
                assert_eq!(Some(from), relayed);
                b_got_data = Some(true);
            }
        }
    }
    assert_eq!(a.state(), ConnectionState::Connected);
    assert_eq!(b.state(), ConnectionState::Connected);
    let relayed = relayed.unwrap();
    assert_eq!(a.selected_pair(), Some((relayed, b_addr)));
    assert_eq!(b.selected_pair(), Some((b_addr, relayed)));
    assert_eq!(
        b_got_data,
        Some(true),
        "data did not arrive through the relay"
    );
    assert_eq!(turn.stats().integrity_failures, 0);
}
