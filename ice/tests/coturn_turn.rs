//! Interop: our TURN client against coturn (Debian `coturn`) on 127.0.0.1 over UDP: allocation
//! with the 401 challenge and MD5 long-term key, permission, Send/Data indications, channel bind
//! and ChannelData both ways with a second socket as the peer, refreshes of the allocation,
//! permission and channel (the client's clock is moved forward), deallocation, and a wrong
//! password refused. The test installs coturn if missing.

mod common;
use common::{start_coturn, start_coturn_with};

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sansrtc_ice::SeededRng;
use sansrtc_ice::stun::attribute::AddressFamily;
use sansrtc_ice::turn::{TurnClient, TurnConfig, TurnEvent};

struct Driver {
    client: TurnClient<SeededRng>,
    socket: UdpSocket,
    server: SocketAddr,
    /// Added to the real clock: lets the test jump the client's time forward.
    offset: Duration,
    channel_data_received: usize,
}

impl Driver {
    fn now(&self) -> Instant {
        Instant::now() + self.offset
    }

    /// Sends what the client has queued.
    fn flush(&mut self) {
        self.client.handle_timeout(self.now());
        while let Some(t) = self.client.poll_transmit() {
            self.socket.send_to(&t.contents, t.destination).unwrap();
        }
    }

    /// Drives the client until `want` accepts an event (bounded by a 10 s real-time deadline).
    fn until(&mut self, mut want: impl FnMut(&TurnEvent) -> bool) -> TurnEvent {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            let now = self.now();
            self.client.handle_timeout(now);
            while let Some(t) = self.client.poll_transmit() {
                assert_eq!(t.destination, self.server);
                self.socket.send_to(&t.contents, t.destination).unwrap();
            }
            while let Some(e) = self.client.poll_event() {
                if want(&e) {
                    return e;
                }
                assert!(
                    !matches!(
                        e,
                        TurnEvent::AllocationFailed(_) | TurnEvent::PermissionFailed(..)
                    ),
                    "unexpected {e:?}"
                );
            }
            let wait = self
                .client
                .poll_timeout()
                .map(|t| t.saturating_duration_since(self.now()))
                .unwrap_or(Duration::from_millis(20))
                .clamp(Duration::from_millis(1), Duration::from_millis(20));
            self.socket.set_read_timeout(Some(wait)).unwrap();
            if let Ok((n, from)) = self.socket.recv_from(&mut buf) {
                if buf[0] & 0xC0 == 0x40 {
                    self.channel_data_received += 1;
                }
                assert!(self.client.handle_receive(self.now(), from, &buf[..n]));
            }
        }
        panic!("timed out waiting for a TURN event");
    }
}

fn peer_receive(peer: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = peer
        .recv_from(&mut buf)
        .expect("the relay forwards to the peer");
    (buf[..n].to_vec(), from)
}

#[test]
fn turn_client_against_coturn() {
    let (_coturn, server) = start_coturn();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let mut config = TurnConfig::new(server, "u", "p");
    config.transactions.initial_rto = Duration::from_millis(100);
    let mut d = Driver {
        client: TurnClient::new(config, SeededRng::new(21)),
        socket,
        server,
        offset: Duration::ZERO,
        channel_data_received: 0,
    };

    d.client.allocate(d.now()).unwrap();
    let TurnEvent::Allocated {
        relayed,
        mapped,
        lifetime,
    } = d.until(|e| matches!(e, TurnEvent::Allocated { .. }))
    else {
        unreachable!()
    };
    assert_eq!(relayed.ip(), local.ip());
    assert_eq!(mapped, Some(local));
    assert!(lifetime > 60);
    assert_eq!(d.client.relayed_address(), Some(relayed));

    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_addr = peer.local_addr().unwrap();

    // Without a permission nothing can be sent.
    assert!(d.client.send_to(d.now(), peer_addr, b"x").is_err());
    d.client.create_permission(d.now(), peer_addr.ip()).unwrap();
    d.until(|e| *e == TurnEvent::PermissionCreated(peer_addr.ip()));

    // Send indication -> peer; peer -> Data indication.
    d.client
        .send_to(d.now(), peer_addr, b"hello via Send indication")
        .unwrap();
    d.flush();
    let (data, from) = peer_receive(&peer);
    assert_eq!(data, b"hello via Send indication");
    assert_eq!(from, relayed);
    peer.send_to(b"reply via Data indication", relayed).unwrap();
    let e = d.until(|e| matches!(e, TurnEvent::Data { .. }));
    assert_eq!(
        e,
        TurnEvent::Data {
            peer: peer_addr,
            data: b"reply via Data indication".to_vec()
        }
    );
    assert_eq!(d.channel_data_received, 0);

    // Channel: ChannelData both ways.
    let channel = d.client.bind_channel(d.now(), peer_addr).unwrap();
    d.until(|e| {
        *e == TurnEvent::ChannelBound {
            peer: peer_addr,
            channel,
        }
    });
    d.client
        .send_to(d.now(), peer_addr, b"hello via channel")
        .unwrap();
    d.flush();
    let (data, from) = peer_receive(&peer);
    assert_eq!(
        (data.as_slice(), from),
        (&b"hello via channel"[..], relayed)
    );
    peer.send_to(b"reply via channel", relayed).unwrap();
    let e = d.until(|e| matches!(e, TurnEvent::Data { .. }));
    assert_eq!(
        e,
        TurnEvent::Data {
            peer: peer_addr,
            data: b"reply via channel".to_vec()
        }
    );
    assert_eq!(d.channel_data_received, 1);

    // Move the client's clock forward the way real time would: the permission (5 min, refreshed
    // a minute early through the channel binding) at 250 s and 490 s, then the allocation's
    // refresh point a minute before its lifetime ends.
    for at in [250, 490] {
        d.offset = Duration::from_secs(at);
        let e = d.until(|e| matches!(e, TurnEvent::ChannelBound { .. }));
        assert_eq!(
            e,
            TurnEvent::ChannelBound {
                peer: peer_addr,
                channel
            }
        );
    }
    d.offset = Duration::from_secs(lifetime as u64 - 55);
    let e = d.until(|e| matches!(e, TurnEvent::AllocationRefreshed(_)));
    assert!(matches!(e, TurnEvent::AllocationRefreshed(l) if l > 60));
    assert!(d.client.relayed_address().is_some());
    // Still relaying after the refreshes.
    d.client
        .send_to(d.now(), peer_addr, b"after refresh")
        .unwrap();
    d.flush();
    let (data, _) = peer_receive(&peer);
    assert_eq!(data, b"after refresh");
    assert_eq!(d.client.stats().integrity_failures, 0);

    // Deallocate.
    d.client.close(d.now()).unwrap();
    d.until(|e| *e == TurnEvent::Closed);
    assert_eq!(d.client.relayed_address(), None);

    // Wrong password: the allocation is refused after the challenge.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = TurnConfig::new(server, "u", "wrong");
    config.transactions.initial_rto = Duration::from_millis(100);
    let mut bad = Driver {
        client: TurnClient::new(config, SeededRng::new(22)),
        socket,
        server,
        offset: Duration::ZERO,
        channel_data_received: 0,
    };
    bad.client.allocate(bad.now()).unwrap();
    let e = bad.until(|e| matches!(e, TurnEvent::AllocationFailed(_)));
    assert_eq!(e, TurnEvent::AllocationFailed(401));
}

/// Drives a TCP TURN client until `want` accepts an event (bounded by a 10 s deadline). Reads
/// are deliberately small so frames arrive split and must be reassembled.
fn pump_tcp(
    client: &mut TurnClient<SeededRng>,
    stream: &mut std::net::TcpStream,
    mut want: impl FnMut(&TurnEvent) -> bool,
) -> TurnEvent {
    use std::io::Read;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 7];
    while Instant::now() < deadline {
        client.handle_timeout(Instant::now());
        flush_tcp(client, stream);
        while let Some(e) = client.poll_event() {
            if want(&e) {
                return e;
            }
        }
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let n = match stream.read(&mut buf) {
            Ok(0) => panic!("coturn closed the TCP connection"),
            Ok(n) => n,
            Err(_) => continue,
        };
        assert!(client.handle_stream(Instant::now(), &buf[..n]));
    }
    panic!("timed out waiting for a TURN event over TCP");
}

fn flush_tcp(client: &mut TurnClient<SeededRng>, stream: &mut std::net::TcpStream) {
    use std::io::Write;
    while let Some(t) = client.poll_transmit() {
        stream.write_all(&t.contents).unwrap();
    }
}

/// The same relay over a TCP connection to coturn (RFC 8656 stream framing): allocation,
/// permission, Send/Data indications, channel binding and padded ChannelData both ways.
#[test]
fn turn_client_over_tcp_against_coturn() {
    use sansrtc_ice::turn::TurnTransport;
    use std::net::TcpStream;

    let (_coturn, server) = start_coturn();
    // coturn may take a moment to listen: retry the connection for a bounded time.
    let started = Instant::now();
    let mut stream = loop {
        match TcpStream::connect(server) {
            Ok(s) => break s,
            Err(_) if started.elapsed() < Duration::from_secs(10) => std::thread::yield_now(),
            Err(e) => panic!("cannot connect to coturn over TCP: {e}"),
        }
    };
    stream.set_nodelay(true).unwrap();
    let local = stream.local_addr().unwrap();
    let mut config = TurnConfig::new(server, "u", "p");
    config.transport = TurnTransport::Tcp;
    let mut client = TurnClient::new(config, SeededRng::new(23));
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_addr = peer.local_addr().unwrap();

    client.allocate(Instant::now()).unwrap();
    let TurnEvent::Allocated {
        relayed, mapped, ..
    } = pump_tcp(&mut client, &mut stream, |e| {
        matches!(e, TurnEvent::Allocated { .. })
    })
    else {
        unreachable!()
    };
    assert_eq!(mapped, Some(local));
    client
        .create_permission(Instant::now(), peer_addr.ip())
        .unwrap();
    pump_tcp(&mut client, &mut stream, |e| {
        matches!(e, TurnEvent::PermissionCreated(_))
    });

    client
        .send_to(Instant::now(), peer_addr, b"tcp: send indication")
        .unwrap();
    flush_tcp(&mut client, &mut stream);
    let (data, from) = peer_receive(&peer);
    assert_eq!(
        (data.as_slice(), from),
        (&b"tcp: send indication"[..], relayed)
    );
    peer.send_to(b"tcp: data indication", relayed).unwrap();
    let e = pump_tcp(&mut client, &mut stream, |e| {
        matches!(e, TurnEvent::Data { .. })
    });
    assert_eq!(
        e,
        TurnEvent::Data {
            peer: peer_addr,
            data: b"tcp: data indication".to_vec()
        }
    );

    client.bind_channel(Instant::now(), peer_addr).unwrap();
    pump_tcp(&mut client, &mut stream, |e| {
        matches!(e, TurnEvent::ChannelBound { .. })
    });
    // 5 bytes of data: the ChannelData frame is padded to 12 bytes on the stream.
    client.send_to(Instant::now(), peer_addr, b"odd!!").unwrap();
    flush_tcp(&mut client, &mut stream);
    let (data, from) = peer_receive(&peer);
    assert_eq!((data.as_slice(), from), (&b"odd!!"[..], relayed));
    // A 5-byte reply comes back as padded ChannelData and must be unpadded.
    peer.send_to(b"reply", relayed).unwrap();
    let e = pump_tcp(&mut client, &mut stream, |e| {
        matches!(e, TurnEvent::Data { .. })
    });
    assert_eq!(
        e,
        TurnEvent::Data {
            peer: peer_addr,
            data: b"reply".to_vec()
        }
    );
    // And the stream stays in step for the next frame.
    peer.send_to(b"tcp: after padding", relayed).unwrap();
    let e = pump_tcp(&mut client, &mut stream, |e| {
        matches!(e, TurnEvent::Data { .. })
    });
    assert_eq!(
        e,
        TurnEvent::Data {
            peer: peer_addr,
            data: b"tcp: after padding".to_vec()
        }
    );

    client.close(Instant::now()).unwrap();
    pump_tcp(&mut client, &mut stream, |e| *e == TurnEvent::Closed);
}

/// coturn with nonces that go stale after one second: a request after that is answered 438 with
/// a fresh nonce, and the client retries it with the new nonce.
#[test]
fn stale_nonce_against_coturn() {
    let (_coturn, server, _) = start_coturn_with(None, &["--stale-nonce=1"]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = TurnConfig::new(server, "u", "p");
    config.transactions.initial_rto = Duration::from_millis(100);
    let mut d = Driver {
        client: TurnClient::new(config, SeededRng::new(24)),
        socket,
        server,
        offset: Duration::ZERO,
        channel_data_received: 0,
    };
    d.client.allocate(d.now()).unwrap();
    d.until(|e| matches!(e, TurnEvent::Allocated { .. }));
    assert_eq!(d.client.stats().stale_nonce_retries, 0);
    // Not synchronization: the server's nonce must age past its one-second lifetime.
    std::thread::sleep(Duration::from_millis(2100));
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    d.client.create_permission(d.now(), peer.ip()).unwrap();
    d.until(|e| *e == TurnEvent::PermissionCreated(peer.ip()));
    assert_eq!(d.client.stats().stale_nonce_retries, 1);
}

fn family_driver(server: SocketAddr, family: AddressFamily, seed: u64) -> Driver {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = TurnConfig::new(server, "u", "p");
    config.transactions.initial_rto = Duration::from_millis(100);
    config.requested_family = Some(family);
    Driver {
        client: TurnClient::new(config, SeededRng::new(seed)),
        socket,
        server,
        offset: Duration::ZERO,
        channel_data_received: 0,
    }
}

#[test]
fn requested_address_family_against_coturn() {
    // coturn relaying on IPv4 and IPv6: REQUESTED-ADDRESS-FAMILY picks the relayed family.
    let (_coturn, server, _) = start_coturn_with(None, &["--relay-ip", "::1"]);
    let mut d = family_driver(server, AddressFamily::V6, 25);
    d.client.allocate(d.now()).unwrap();
    let TurnEvent::Allocated { relayed, .. } =
        d.until(|e| matches!(e, TurnEvent::Allocated { .. }))
    else {
        unreachable!()
    };
    assert!(relayed.is_ipv6(), "{relayed}");
    let mut d = family_driver(server, AddressFamily::V4, 26);
    d.client.allocate(d.now()).unwrap();
    let TurnEvent::Allocated { relayed, .. } =
        d.until(|e| matches!(e, TurnEvent::Allocated { .. }))
    else {
        unreachable!()
    };
    assert!(relayed.is_ipv4(), "{relayed}");
}

#[test]
fn unsupported_address_family_is_refused_by_coturn() {
    // coturn relaying on IPv4 only: asking for IPv6 gets 440 Address Family not Supported.
    let (_coturn, server) = start_coturn();
    let mut d = family_driver(server, AddressFamily::V6, 27);
    d.client.allocate(d.now()).unwrap();
    let e = d.until(|e| matches!(e, TurnEvent::AllocationFailed(_)));
    assert_eq!(e, TurnEvent::AllocationFailed(440));
}
