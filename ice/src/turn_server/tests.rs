//! The server driven by our own TURN client entirely in memory, and raw requests for the paths
//! the client never takes.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::rng::SeededRng;
use crate::stun::attribute::{self as attr, AddressFamily, Attribute};
use crate::stun::{IntegrityKey, MessageBuilder, MessageClass, MessageType, Method, TransactionId};
use crate::turn::{StreamFramer, TurnClient, TurnConfig, TurnEvent, TurnTransport};

fn server_addr() -> SocketAddr {
    "198.51.100.1:3478".parse().unwrap()
}

fn peer() -> SocketAddr {
    "203.0.113.5:7000".parse().unwrap()
}

fn config() -> TurnServerConfig {
    let mut c = TurnServerConfig::new("example.org", "198.51.100.1".parse().unwrap());
    c.users.push(("alice".into(), "secret".into()));
    c.users.push(("bob".into(), "hunter2".into()));
    c.software = Some("sansrtc".into());
    c
}

/// A server, a fake clock, what reached peers, and which relayed sockets are open.
struct Net {
    server: TurnServer<SeededRng>,
    now: Instant,
    to_peers: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    open: Vec<SocketAddr>,
    fail_opens: bool,
    /// The next this many relayed sockets fail to open.
    failing: usize,
    /// The relayed sockets that failed to open.
    failed: Vec<SocketAddr>,
    server_events: Vec<TurnServerEvent>,
}

impl Net {
    fn new(config: TurnServerConfig) -> Net {
        Net {
            server: TurnServer::new(config, SeededRng::new(9)),
            now: Instant::now(),
            to_peers: Vec::new(),
            open: Vec::new(),
            fail_opens: false,
            failing: 0,
            failed: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// Moves everything between the client and the server until both are quiet; returns the
    /// client's events. TCP clients go through a [`StreamFramer`] both ways, split in pieces.
    fn pump(
        &mut self,
        c: &mut TurnClient<SeededRng>,
        addr: SocketAddr,
        tcp: bool,
    ) -> Vec<TurnEvent> {
        let transport = if tcp {
            ClientTransport::Tcp
        } else {
            ClientTransport::Udp
        };
        let mut events = Vec::new();
        let mut framer = StreamFramer::new();
        loop {
            let mut moved = false;
            while let Some(t) = c.poll_transmit() {
                moved = true;
                assert_eq!(t.destination, server_addr());
                if tcp {
                    for piece in t.contents.chunks(3) {
                        framer.push(piece);
                        while let Some(f) = framer.next_frame().unwrap() {
                            self.server.handle_receive(self.now, addr, transport, &f);
                        }
                    }
                } else {
                    self.server
                        .handle_receive(self.now, addr, transport, &t.contents);
                }
            }
            while let Some(e) = self.server.poll_event() {
                moved = true;
                match e {
                    TurnServerEvent::OpenRelay(r) => {
                        let fail = self.fail_opens || self.failing > 0;
                        self.failing = self.failing.saturating_sub(1);
                        if fail {
                            self.failed.push(r);
                        } else {
                            self.open.push(r);
                        }
                        self.server.relay_opened(self.now, r, !fail);
                    }
                    TurnServerEvent::CloseRelay(r) => self.open.retain(|o| *o != r),
                    other => self.server_events.push(other),
                }
            }
            while let Some(t) = self.server.poll_transmit() {
                moved = true;
                match t.source {
                    TransmitSource::Listener(tr) => {
                        assert_eq!(tr, transport);
                        if t.destination != addr {
                            continue;
                        }
                        if tcp {
                            assert_eq!(t.contents.len() % 4, 0, "stream frames are padded");
                            assert!(c.handle_stream(self.now, &t.contents));
                        } else {
                            c.handle_receive(self.now, server_addr(), &t.contents);
                        }
                    }
                    TransmitSource::Relay(r) => {
                        assert!(self.open.contains(&r), "sent from an open relay");
                        self.to_peers.push((r, t.destination, t.contents));
                    }
                }
            }
            while let Some(e) = c.poll_event() {
                events.push(e);
            }
            if !moved {
                return events;
            }
        }
    }

    /// Advances the clock by `d` in one-second steps, driving both.
    fn advance(
        &mut self,
        d: Duration,
        c: Option<(&mut TurnClient<SeededRng>, SocketAddr)>,
    ) -> Vec<TurnEvent> {
        let end = self.now + d;
        let mut events = Vec::new();
        let mut c = c;
        while self.now < end {
            self.now += Duration::from_secs(1);
            self.server.handle_timeout(self.now);
            if let Some((client, addr)) = c.as_mut() {
                client.handle_timeout(self.now);
                events.extend(self.pump(client, *addr, false));
            } else {
                while let Some(e) = self.server.poll_event() {
                    if let TurnServerEvent::CloseRelay(r) = e {
                        self.open.retain(|o| *o != r);
                    }
                    self.server_events.push(e);
                }
            }
        }
        events
    }
}

fn client(user: &str, pass: &str, seed: u64, tcp: bool) -> TurnClient<SeededRng> {
    let mut c = TurnConfig::new(server_addr(), user, pass);
    if tcp {
        c.transport = TurnTransport::Tcp;
    }
    TurnClient::new(c, SeededRng::new(seed))
}

fn allocated(events: &[TurnEvent]) -> Option<SocketAddr> {
    events.iter().find_map(|e| match e {
        TurnEvent::Allocated { relayed, .. } => Some(*relayed),
        _ => None,
    })
}

fn data(events: &[TurnEvent]) -> Vec<(SocketAddr, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Data { peer, data } => Some((*peer, data.clone())),
            _ => None,
        })
        .collect()
}

fn relay_round_trip(tcp: bool) {
    let mut net = Net::new(config());
    let addr: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let mut c = client("alice", "secret", 1, tcp);
    c.allocate(net.now).unwrap();
    let ev = net.pump(&mut c, addr, tcp);
    let relayed = allocated(&ev).expect("allocated");
    assert_eq!(relayed.ip(), "198.51.100.1".parse::<IpAddr>().unwrap());
    assert_eq!(net.open, vec![relayed]);
    assert!(matches!(
        net.server_events[0],
        TurnServerEvent::AllocationCreated { ref username, .. } if username == "alice"
    ));

    // A Send indication needs a permission.
    c.create_permission(net.now, peer().ip()).unwrap();
    let ev = net.pump(&mut c, addr, tcp);
    assert!(ev.contains(&TurnEvent::PermissionCreated(peer().ip())));
    c.send_to(net.now, peer(), b"ping").unwrap();
    net.pump(&mut c, addr, tcp);
    assert_eq!(
        net.to_peers.pop(),
        Some((relayed, peer(), b"ping".to_vec()))
    );
    // Back as a Data indication.
    net.server.handle_relayed(net.now, relayed, peer(), b"pong");
    let ev = net.pump(&mut c, addr, tcp);
    assert_eq!(data(&ev), vec![(peer(), b"pong".to_vec())]);

    // A channel: ChannelData both ways (odd lengths exercise the stream padding).
    let channel = c.bind_channel(net.now, peer()).unwrap();
    let ev = net.pump(&mut c, addr, tcp);
    assert!(ev.contains(&TurnEvent::ChannelBound {
        peer: peer(),
        channel
    }));
    c.send_to(net.now, peer(), b"hello").unwrap();
    net.pump(&mut c, addr, tcp);
    assert_eq!(
        net.to_peers.pop(),
        Some((relayed, peer(), b"hello".to_vec()))
    );
    net.server
        .handle_relayed(net.now, relayed, peer(), b"world");
    let ev = net.pump(&mut c, addr, tcp);
    assert_eq!(data(&ev), vec![(peer(), b"world".to_vec())]);
    // A stranger without a permission is dropped.
    net.server
        .handle_relayed(net.now, relayed, "203.0.113.6:1".parse().unwrap(), b"x");
    assert!(net.pump(&mut c, addr, tcp).is_empty());

    let s = net.server.stats();
    assert_eq!((s.to_peer_packets, s.to_client_packets), (2, 2));
    assert_eq!(s.dropped_no_permission, 1);
    assert_eq!(s.allocations_active, 1);

    // Deletion.
    c.close(net.now).unwrap();
    let ev = net.pump(&mut c, addr, tcp);
    assert!(ev.contains(&TurnEvent::Closed));
    assert!(net.open.is_empty());
    assert_eq!(net.server.stats().allocations_deleted, 1);
    assert_eq!(net.server.stats().allocations_active, 0);
}

#[test]
fn a_relayed_port_that_cannot_be_bound_is_replaced() {
    let mut net = Net::new(config());
    net.failing = 2;
    let mut c = client("alice", "secret", 1, false);
    c.allocate(net.now).unwrap();
    let ev = net.pump(&mut c, "192.0.2.1:1".parse().unwrap(), false);
    let relayed = allocated(&ev).expect("allocated on the third attempt");
    assert_eq!(net.failed.len(), 2);
    assert!(!net.failed.contains(&relayed));
    assert_eq!(net.open, vec![relayed]);
    let stats = net.server.stats();
    assert_eq!(
        (
            stats.relay_open_retries,
            stats.allocations_created,
            stats.capacity_refused
        ),
        (2, 1, 0)
    );
}

#[test]
fn our_client_relays_over_udp() {
    relay_round_trip(false);
}

#[test]
fn our_client_relays_over_tcp_with_padding() {
    relay_round_trip(true);
}

#[test]
fn refresh_keeps_and_silence_expires() {
    let mut net = Net::new(config());
    let addr: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let mut c = client("alice", "secret", 1, false);
    c.allocate(net.now).unwrap();
    let relayed = allocated(&net.pump(&mut c, addr, false)).unwrap();
    c.bind_channel(net.now, peer()).unwrap();
    net.pump(&mut c, addr, false);
    // The client refreshes allocation and channel: after 30 minutes all still works. The nonce
    // (10 minutes) went stale meanwhile and the client retried.
    let ev = net.advance(Duration::from_secs(1800), Some((&mut c, addr)));
    assert!(
        ev.iter()
            .any(|e| matches!(e, TurnEvent::AllocationRefreshed(_)))
    );
    assert!(c.stats().stale_nonce_retries > 0);
    assert!(net.server.stats().stale_nonces > 0);
    c.send_to(net.now, peer(), b"still").unwrap();
    net.pump(&mut c, addr, false);
    assert_eq!(
        net.to_peers.pop(),
        Some((relayed, peer(), b"still".to_vec()))
    );

    // Silence: the channel (600 s) and permission expire, then the allocation.
    net.advance(Duration::from_secs(601), None);
    net.server.handle_relayed(net.now, relayed, peer(), b"late");
    let s = net.server.stats();
    assert_eq!(s.dropped_no_permission + s.dropped_no_allocation, 1);
    net.advance(Duration::from_secs(3600), None);
    let s = net.server.stats();
    assert_eq!((s.allocations_expired, s.allocations_active), (1, 0));
    assert!(net.open.is_empty());
    assert!(net.server_events.iter().any(|e| matches!(
        e,
        TurnServerEvent::AllocationDeleted {
            reason: DeleteReason::Expired,
            ..
        }
    )));
    assert_eq!(net.server.poll_timeout(), None);
}

#[test]
fn rest_api_credentials() {
    let mut cfg = config();
    cfg.auth_secret = Some("north".into());
    let mut net = Net::new(cfg);
    net.server.set_unix_time(net.now, 1_700_000_000);
    let addr: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let user = "1700000600:carol";
    let mut c = client(user, &rest_api_password("north", user), 1, false);
    c.allocate(net.now).unwrap();
    assert!(allocated(&net.pump(&mut c, addr, false)).is_some());
    // Expired, or a wrong password: refused.
    let old = "1699999999:carol";
    let mut c = client(old, &rest_api_password("north", old), 2, false);
    c.allocate(net.now).unwrap();
    let ev = net.pump(&mut c, "192.0.2.8:5000".parse().unwrap(), false);
    assert!(ev.contains(&TurnEvent::AllocationFailed(401)));
    let mut c = client(user, "wrong", 3, false);
    c.allocate(net.now).unwrap();
    let ev = net.pump(&mut c, "192.0.2.9:5000".parse().unwrap(), false);
    assert!(ev.contains(&TurnEvent::AllocationFailed(401)));
    let s = net.server.stats();
    assert_eq!((s.unknown_users, s.integrity_failures), (1, 1));
}

#[test]
fn denied_peers_are_refused_and_counted() {
    let mut net = Net::new(config());
    let addr: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let mut c = client("alice", "secret", 1, false);
    c.allocate(net.now).unwrap();
    net.pump(&mut c, addr, false);
    for ip in [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.0.1",
        "224.0.0.1",
        "198.51.100.1",
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        c.create_permission(net.now, ip).unwrap();
        let ev = net.pump(&mut c, addr, false);
        assert!(ev.contains(&TurnEvent::PermissionFailed(ip, 403)), "{ip}");
    }
    assert_eq!(net.server.stats().peers_denied, 5);
    // Loopback is allowed when switched on.
    let mut cfg = config();
    cfg.allow_loopback_peers = true;
    let mut net = Net::new(cfg);
    let mut c = client("alice", "secret", 1, false);
    c.allocate(net.now).unwrap();
    net.pump(&mut c, addr, false);
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    c.create_permission(net.now, lo).unwrap();
    assert!(
        net.pump(&mut c, addr, false)
            .contains(&TurnEvent::PermissionCreated(lo))
    );
}

#[test]
fn exhaustion_quota_capacity_ports() {
    let mut cfg = config();
    cfg.max_allocations = 2;
    cfg.max_allocations_per_user = 1;
    let mut net = Net::new(cfg);
    let a1: SocketAddr = "192.0.2.1:1".parse().unwrap();
    let mut c1 = client("alice", "secret", 1, false);
    c1.allocate(net.now).unwrap();
    assert!(allocated(&net.pump(&mut c1, a1, false)).is_some());
    let mut c2 = client("alice", "secret", 2, false);
    c2.allocate(net.now).unwrap();
    let ev = net.pump(&mut c2, "192.0.2.2:1".parse().unwrap(), false);
    assert!(ev.contains(&TurnEvent::AllocationFailed(486)));
    let mut c3 = client("bob", "hunter2", 3, false);
    c3.allocate(net.now).unwrap();
    assert!(allocated(&net.pump(&mut c3, "192.0.2.3:1".parse().unwrap(), false)).is_some());
    let mut cfg = config();
    cfg.max_allocations = 2;
    cfg.users.push(("carol".into(), "x".into()));
    let _ = cfg;
    let mut c4 = client("bob", "hunter2", 4, false);
    c4.allocate(net.now).unwrap();
    let ev = net.pump(&mut c4, "192.0.2.4:1".parse().unwrap(), false);
    assert!(ev.contains(&TurnEvent::AllocationFailed(486)));
    let s = net.server.stats();
    assert_eq!((s.quota_refused, s.allocations_active), (2, 2));

    // One relayed port: the second allocation finds none (508); so does one whose socket the
    // caller could not open.
    let mut cfg = config();
    cfg.min_port = 50000;
    cfg.max_port = 50000;
    let mut net = Net::new(cfg);
    let mut c1 = client("alice", "secret", 1, false);
    c1.allocate(net.now).unwrap();
    assert!(allocated(&net.pump(&mut c1, a1, false)).is_some());
    let mut c2 = client("bob", "hunter2", 2, false);
    c2.allocate(net.now).unwrap();
    let ev = net.pump(&mut c2, "192.0.2.2:1".parse().unwrap(), false);
    assert!(ev.contains(&TurnEvent::AllocationFailed(508)));
    let mut net = Net::new(config());
    net.fail_opens = true;
    let mut c1 = client("alice", "secret", 1, false);
    c1.allocate(net.now).unwrap();
    assert!(
        net.pump(&mut c1, a1, false)
            .contains(&TurnEvent::AllocationFailed(508))
    );
    assert_eq!(net.server.stats().allocations_active, 0);
    // Four attempts in all.
    assert_eq!(net.server.stats().relay_open_retries, 3);
    assert_eq!(net.failed.len(), 4);
}

#[test]
fn bandwidth_limit_drops_and_counts() {
    let mut cfg = config();
    cfg.max_bytes_per_second = 1000;
    let mut net = Net::new(cfg);
    let addr: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let mut c = client("alice", "secret", 1, false);
    c.allocate(net.now).unwrap();
    let relayed = allocated(&net.pump(&mut c, addr, false)).unwrap();
    c.bind_channel(net.now, peer()).unwrap();
    net.pump(&mut c, addr, false);
    for _ in 0..5 {
        net.server
            .handle_relayed(net.now, relayed, peer(), &[0; 300]);
    }
    let ev = net.pump(&mut c, addr, false);
    assert_eq!(data(&ev).len(), 3);
    assert_eq!(net.server.stats().dropped_rate_limited, 2);
}

// Raw requests, for paths our client does not take.

/// Sends a request and returns the server's answer to `from`.
fn ask(net: &mut Net, from: SocketAddr, req: &[u8]) -> Vec<u8> {
    net.server
        .handle_receive(net.now, from, ClientTransport::Udp, req);
    while let Some(e) = net.server.poll_event() {
        if let TurnServerEvent::OpenRelay(r) = e {
            net.server.relay_opened(net.now, r, true);
        }
    }
    let mut last = None;
    while let Some(t) = net.server.poll_transmit() {
        if t.destination == from {
            last = Some(t.contents);
        }
    }
    last.expect("an answer")
}

fn build(method: Method, tid: u8, attrs: &[Attribute<'_>], key: Option<&IntegrityKey>) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let mut b = MessageBuilder::new(
        &mut buf,
        MessageType::new(method, MessageClass::Request),
        TransactionId([tid; 12]),
    )
    .unwrap();
    for a in attrs {
        b.add(a).unwrap();
    }
    if let Some(k) = key {
        b.add_message_integrity(k).unwrap();
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

fn code(answer: &[u8]) -> Option<u16> {
    StunMessage::parse(answer)
        .unwrap()
        .error_code()
        .map(|e| e.0)
}

/// A nonce for `from` (from a 401 challenge).
fn nonce(net: &mut Net, from: SocketAddr) -> String {
    let a = ask(net, from, &build(Method::ALLOCATE, 0, &[], None));
    let m = StunMessage::parse(&a).unwrap();
    assert_eq!(m.error_code().map(|e| e.0), Some(401));
    match m.get(attr::NONCE) {
        Some(Ok(Attribute::Nonce(n))) => n.to_string(),
        _ => panic!("no nonce"),
    }
}

/// An authenticated request from alice.
fn authed(
    net: &mut Net,
    from: SocketAddr,
    method: Method,
    tid: u8,
    extra: &[Attribute<'_>],
) -> Vec<u8> {
    authed_as(net, from, "alice", "secret", method, tid, extra)
}

fn authed_as(
    net: &mut Net,
    from: SocketAddr,
    user: &str,
    pass: &str,
    method: Method,
    tid: u8,
    extra: &[Attribute<'_>],
) -> Vec<u8> {
    let n = nonce(net, from);
    let key = IntegrityKey::long_term_md5(user, "example.org", pass);
    let mut attrs = extra.to_vec();
    attrs.push(Attribute::Username(user));
    attrs.push(Attribute::Realm("example.org"));
    attrs.push(Attribute::Nonce(&n));
    let answer = ask(net, from, &build(method, tid, &attrs, Some(&key)));
    let m = StunMessage::parse(&answer).unwrap();
    if !matches!(m.error_code(), Some((401 | 400, _))) {
        m.verify_message_integrity(&key)
            .expect("answers are authenticated");
    }
    answer
}

const UDP: Attribute<'static> = Attribute::RequestedTransport(17);

#[test]
fn binding_requests_are_answered() {
    let mut net = Net::new(config());
    let from: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let a = ask(&mut net, from, &build(Method::BINDING, 1, &[], None));
    let m = StunMessage::parse(&a).unwrap();
    assert_eq!(m.message_type(), MessageType::BINDING_SUCCESS);
    assert_eq!(m.xor_mapped_address(), Some(from));
    assert_eq!(net.server.stats().binding_requests, 1);
}

#[test]
fn allocate_error_paths() {
    let mut net = Net::new(config());
    let from: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    // 400 without REQUESTED-TRANSPORT, 442 for TCP.
    assert_eq!(
        code(&authed(&mut net, from, Method::ALLOCATE, 1, &[])),
        Some(400)
    );
    let tcp = Attribute::RequestedTransport(6);
    assert_eq!(
        code(&authed(&mut net, from, Method::ALLOCATE, 2, &[tcp])),
        Some(442)
    );
    // 437: Refresh, CreatePermission, ChannelBind without an allocation.
    for m in [
        Method::REFRESH,
        Method::CREATE_PERMISSION,
        Method::CHANNEL_BIND,
    ] {
        assert_eq!(code(&authed(&mut net, from, m, 3, &[])), Some(437));
    }
    // 440: IPv6 not configured.
    let v6 = Attribute::RequestedAddressFamily(AddressFamily::V6);
    assert_eq!(
        code(&authed(&mut net, from, Method::ALLOCATE, 4, &[UDP, v6])),
        Some(440)
    );
    // Success, its retransmission answered the same, a new Allocate 437.
    let ok = authed(&mut net, from, Method::ALLOCATE, 5, &[UDP]);
    assert_eq!(code(&ok), None);
    assert_eq!(authed(&mut net, from, Method::ALLOCATE, 5, &[UDP]), ok);
    assert_eq!(
        code(&authed(&mut net, from, Method::ALLOCATE, 6, &[UDP])),
        Some(437)
    );
    // 441: another user on this allocation.
    let r = authed_as(&mut net, from, "bob", "hunter2", Method::REFRESH, 7, &[]);
    assert_eq!(code(&r), Some(441));
    // ChannelBind: bad numbers 400.
    let p = Attribute::XorPeerAddress(peer());
    for n in [0x3FFF, 0x8000] {
        let r = authed(
            &mut net,
            from,
            Method::CHANNEL_BIND,
            8,
            &[Attribute::ChannelNumber(n), p],
        );
        assert_eq!(code(&r), Some(400));
    }
    let r = authed(
        &mut net,
        from,
        Method::CHANNEL_BIND,
        9,
        &[Attribute::ChannelNumber(0x4000), p],
    );
    assert_eq!(code(&r), None);
    let other = Attribute::XorPeerAddress("203.0.113.5:1".parse().unwrap());
    let r = authed(
        &mut net,
        from,
        Method::CHANNEL_BIND,
        10,
        &[Attribute::ChannelNumber(0x4000), other],
    );
    assert_eq!(code(&r), Some(400));
    // 420 for an unknown comprehension-required attribute.
    let odd = Attribute::Other {
        attribute: 0x7777,
        value: b"x",
    };
    assert_eq!(
        code(&authed(&mut net, from, Method::REFRESH, 11, &[odd])),
        Some(420)
    );
    // 438 for a forged nonce.
    let key = IntegrityKey::long_term_md5("alice", "example.org", "secret");
    let bad = build(
        Method::REFRESH,
        12,
        &[
            Attribute::Username("alice"),
            Attribute::Realm("example.org"),
            Attribute::Nonce("0000000000000fff00000000000000000000000000000000"),
        ],
        Some(&key),
    );
    assert_eq!(code(&ask(&mut net, from, &bad)), Some(438));
    // Lifetime 0 deletes.
    let r = authed(
        &mut net,
        from,
        Method::REFRESH,
        13,
        &[Attribute::Lifetime(0)],
    );
    assert_eq!(code(&r), None);
    assert_eq!(net.server.stats().allocations_active, 0);
}

#[test]
fn even_port_reservation_and_dual_stack() {
    let mut cfg = config();
    cfg.relay_ipv6 = Some("2001:db8::1".parse().unwrap());
    let mut net = Net::new(cfg);
    let from: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let r = authed(
        &mut net,
        from,
        Method::ALLOCATE,
        1,
        &[UDP, Attribute::EvenPort(true), Attribute::DontFragment],
    );
    let m = StunMessage::parse(&r).unwrap();
    let relayed = match m.get(attr::XOR_RELAYED_ADDRESS) {
        Some(Ok(Attribute::XorRelayedAddress(a))) => a,
        other => panic!("{other:?}"),
    };
    assert_eq!(relayed.port() % 2, 0);
    let token = match m.get(attr::RESERVATION_TOKEN) {
        Some(Ok(Attribute::ReservationToken(t))) => t,
        other => panic!("{other:?}"),
    };
    // Another client claims the reserved port with the token; EVEN-PORT with a token is 400.
    let from2: SocketAddr = "192.0.2.8:5000".parse().unwrap();
    let bad = [
        UDP,
        Attribute::ReservationToken(token),
        Attribute::EvenPort(false),
    ];
    assert_eq!(
        code(&authed_as(
            &mut net,
            from2,
            "bob",
            "hunter2",
            Method::ALLOCATE,
            2,
            &bad
        )),
        Some(400)
    );
    let r = authed_as(
        &mut net,
        from2,
        "bob",
        "hunter2",
        Method::ALLOCATE,
        3,
        &[UDP, Attribute::ReservationToken(token)],
    );
    let m = StunMessage::parse(&r).unwrap();
    assert_eq!(
        m.get(attr::XOR_RELAYED_ADDRESS),
        Some(Ok(Attribute::XorRelayedAddress(SocketAddr::new(
            relayed.ip(),
            relayed.port() + 1
        ))))
    );
    // Dual stack: two relayed addresses.
    let from3: SocketAddr = "192.0.2.9:5000".parse().unwrap();
    let dual = [UDP, Attribute::AdditionalAddressFamily(AddressFamily::V6)];
    let r = authed(&mut net, from3, Method::ALLOCATE, 4, &dual);
    let m = StunMessage::parse(&r).unwrap();
    let relays: Vec<_> = m
        .attributes()
        .filter_map(|a| match a {
            Ok(Attribute::XorRelayedAddress(a)) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(relays.len(), 2);
    assert!(relays[0].is_ipv4() && relays[1].is_ipv6());
    // Peers of either family get permissions; ADDITIONAL-ADDRESS-FAMILY IPv4 is 400.
    let v6peer = Attribute::XorPeerAddress("[2001:db8:1::5]:9".parse().unwrap());
    let r = authed(
        &mut net,
        from3,
        Method::CREATE_PERMISSION,
        5,
        &[v6peer, Attribute::XorPeerAddress(peer())],
    );
    assert_eq!(code(&r), None);
    let from4: SocketAddr = "192.0.2.10:5000".parse().unwrap();
    let bad = [UDP, Attribute::AdditionalAddressFamily(AddressFamily::V4)];
    assert_eq!(
        code(&authed(&mut net, from4, Method::ALLOCATE, 6, &bad)),
        Some(400)
    );
    // An IPv4-only allocation refuses an IPv6 peer (443).
    let r = authed(&mut net, from, Method::CREATE_PERMISSION, 7, &[v6peer]);
    assert_eq!(code(&r), Some(443));
}

#[test]
fn unauthenticated_flood_and_garbage_change_nothing() {
    let mut net = Net::new(config());
    for i in 0..1000u32 {
        let from = SocketAddr::from(([192, 0, 2, (i % 200) as u8], 1000 + i as u16));
        let a = ask(
            &mut net,
            from,
            &build(Method::ALLOCATE, i as u8, &[UDP], None),
        );
        assert_eq!(code(&a), Some(401));
        // Garbage, ChannelData and Send indications without an allocation.
        net.server
            .handle_receive(net.now, from, ClientTransport::Udp, &i.to_be_bytes());
        net.server
            .handle_receive(net.now, from, ClientTransport::Udp, &[0x40, 0, 0, 1, 9]);
        net.server
            .handle_relayed(net.now, "198.51.100.1:50000".parse().unwrap(), from, b"x");
    }
    let s = net.server.stats();
    assert_eq!(s.unauthenticated, 1000);
    assert_eq!(s.malformed, 1000);
    assert_eq!(s.dropped_no_allocation, 2000);
    assert_eq!(s.allocations_active, 0);
    assert!(net.server.poll_transmit().is_none());
    assert_eq!(net.server.poll_timeout(), None);
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut net = Net::new(config());
    let mut rng = SeededRng::new(3);
    let from: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    // A live allocation so the deeper paths are reachable.
    authed(&mut net, from, Method::ALLOCATE, 1, &[UDP]);
    let valid = build(Method::ALLOCATE, 2, &[UDP], None);
    for i in 0..20_000usize {
        let mut d = if i % 2 == 0 {
            valid.clone()
        } else {
            vec![0u8; i % 90]
        };
        for _ in 0..(1 + i % 4) {
            let mut b = [0u8; 4];
            crate::rng::Rng::fill(&mut rng, &mut b);
            if !d.is_empty() {
                let at = u16::from_le_bytes([b[0], b[1]]) as usize % d.len();
                d[at] = b[2];
            }
        }
        let t = if i % 3 == 0 {
            ClientTransport::Tcp
        } else {
            ClientTransport::Udp
        };
        net.server.handle_receive(net.now, from, t, &d);
        while net.server.poll_transmit().is_some() {}
        while net.server.poll_event().is_some() {}
    }
}
