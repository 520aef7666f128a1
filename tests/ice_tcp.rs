//! ICE over TCP (RFC 6544) end to end, in process, with a fake clock: our server peer
//! connection with a UDP and a passive TCP candidate on the same address, and a client peer
//! standing for a browser whose network blocks UDP. The client is a sansrtc peer connection
//! too, with two local addresses: what it sends from [`CLIENT_TCP`] travels as RFC 4571 frames
//! on one TCP stream to the server's passive candidate (split into reads of odd sizes, the way
//! TCP delivers them), what it sends from [`CLIENT_UDP`] is UDP, dropped when UDP is blocked.
//! The server sees a peer with an active TCP candidate; the client sees one more path. Checks:
//! the server's selected pair is TCP, the data channel echoes byte-exact up to 200 KB, consent
//! keeps the connection up for a minute over the stream, TCP and UDP paths stay apart; and with
//! UDP open UDP is selected, whichever side offers (controls).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::offer_answer;
use sansrtc::framing::{Deframer, frame_header};
use sansrtc::{ChannelConfig, Config, ConnectionState, Event, PcRng, PeerConnection, Transport};

const SERVER: &str = "10.0.0.1:4000";
/// The client's end of the TCP connection (its active candidate's real address).
const CLIENT_TCP: &str = "10.0.0.2:51000";
/// The client's UDP socket.
const CLIENT_UDP: &str = "10.0.0.3:6000";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// One direction of the stream: bytes written, read back in pieces of varying size.
struct Stream {
    wire: Vec<u8>,
    deframer: Deframer,
    pieces: [usize; 4],
    next: usize,
}

impl Stream {
    fn new(pieces: [usize; 4]) -> Self {
        Stream {
            wire: Vec::new(),
            deframer: Deframer::new(),
            pieces,
            next: 0,
        }
    }

    fn write(&mut self, packet: &[u8]) {
        self.wire
            .extend_from_slice(&frame_header(packet.len()).unwrap());
        self.wire.extend_from_slice(packet);
    }

    /// Reads everything written so far, in pieces: the frames it holds.
    fn read(&mut self) -> Vec<Vec<u8>> {
        let wire = std::mem::take(&mut self.wire);
        let mut frames = Vec::new();
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let piece = self.pieces[self.next % 4].min(rest.len());
            self.next += 1;
            let mut read = &rest[..piece];
            rest = &rest[piece..];
            while !read.is_empty() {
                let used = self.deframer.push(read);
                read = &read[used..];
                while let Some(f) = self.deframer.next_frame().expect("well framed") {
                    frames.push(f.to_vec());
                }
            }
        }
        frames
    }
}

struct Net {
    now: Instant,
    server: PeerConnection,
    client: PeerConnection,
    server_events: Vec<Event>,
    client_events: Vec<Event>,
    to_server: Stream,
    to_client: Stream,
    udp_open: bool,
    /// Datagrams the server sent over UDP.
    server_udp_sent: u64,
    /// Frames the server received over the stream.
    tcp_frames: u64,
    /// Datagrams the server sent over UDP to the client's TCP address (which has no UDP
    /// socket; the client signals it as a UDP candidate, so connectivity checks go there, but
    /// nothing meant for the selected TCP pair may).
    server_udp_to_tcp_peer: u64,
}

impl Net {
    fn new(udp_open: bool, pieces: [usize; 4]) -> Self {
        let mk = |seed| {
            let mut c = Config::default();
            c.rng = PcRng::Seeded(seed);
            PeerConnection::new(c).unwrap()
        };
        let mut server = mk(1);
        server.add_local_address(sa(SERVER)).unwrap();
        server.add_local_tcp_address(sa(SERVER)).unwrap();
        let mut client = mk(2);
        client.add_local_address(sa(CLIENT_UDP)).unwrap();
        client.add_local_address(sa(CLIENT_TCP)).unwrap();
        Net {
            now: Instant::now(),
            server,
            client,
            server_events: Vec::new(),
            client_events: Vec::new(),
            to_server: Stream::new(pieces),
            to_client: Stream::new([pieces[3], pieces[2], pieces[1], pieces[0]]),
            udp_open,
            server_udp_sent: 0,
            tcp_frames: 0,
            server_udp_to_tcp_peer: 0,
        }
    }

    /// One side offers, the other answers; the client's description also carries a browser's
    /// active TCP candidate (port 9, accepted and ignored by the server). Returns the server's
    /// TCP candidate line.
    fn negotiate(&mut self, server_offers: bool) -> String {
        let now = self.now;
        let active = "a=candidate:9 1 tcp 1518280447 10.0.0.2 9 typ host tcptype active\r\n";
        let with_active =
            |sdp: String| sdp.replacen("a=ice-ufrag", &format!("{active}a=ice-ufrag"), 1);
        let server_sdp = if server_offers {
            offer_answer(now, &mut self.server, &mut self.client, |o| o, with_active).0
        } else {
            offer_answer(now, &mut self.client, &mut self.server, with_active, |a| a).1
        };
        server_sdp
            .lines()
            .find(|l| l.starts_with("a=candidate:") && l.contains(" tcp "))
            .expect("the server's description carries its passive TCP candidate")
            .to_string()
    }

    /// Moves everything queued until nothing moves.
    fn pump(&mut self) {
        let now = self.now;
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit() {
                moved = true;
                assert_eq!(t.transport, Transport::Udp);
                if t.source == sa(CLIENT_TCP) {
                    // The client's TCP side: frames on its connection to the server.
                    if t.destination == sa(SERVER) {
                        self.to_server.write(&t.contents);
                    }
                } else if self.udp_open {
                    self.server
                        .handle_receive(now, t.source, t.destination, &t.contents);
                }
            }
            for frame in self.to_server.read() {
                self.tcp_frames += 1;
                self.server.handle_receive_on(
                    now,
                    Transport::Tcp,
                    sa(CLIENT_TCP),
                    sa(SERVER),
                    &frame,
                );
            }
            while let Some(t) = self.server.poll_transmit() {
                moved = true;
                match t.transport {
                    Transport::Tcp => {
                        assert_eq!((t.source, t.destination), (sa(SERVER), sa(CLIENT_TCP)));
                        self.to_client.write(&t.contents);
                    }
                    Transport::Udp => {
                        self.server_udp_sent += 1;
                        if t.destination == sa(CLIENT_TCP) {
                            self.server_udp_to_tcp_peer += 1;
                        }
                        // The client's TCP address has no UDP socket behind it (the client
                        // signalled it as a UDP candidate, as it stands for its TCP side).
                        if self.udp_open && t.destination != sa(CLIENT_TCP) {
                            self.client
                                .handle_receive(now, t.source, t.destination, &t.contents);
                        }
                    }
                }
            }
            for frame in self.to_client.read() {
                self.client
                    .handle_receive(now, sa(SERVER), sa(CLIENT_TCP), &frame);
            }
            self.server_events
                .extend(std::iter::from_fn(|| self.server.poll_event()));
            self.client_events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            if !moved {
                return;
            }
        }
    }

    fn step(&mut self, d: Duration) {
        self.now += d;
        let now = self.now;
        if self.server.poll_timeout().is_some_and(|t| t <= now) {
            self.server.handle_timeout(now);
        }
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            self.client.handle_timeout(now);
        }
        self.pump();
    }

    fn run_until(&mut self, limit: Duration, done: impl Fn(&Net) -> bool) {
        let end = self.now + limit;
        self.pump();
        while !done(self) {
            assert!(
                self.now < end,
                "timed out: server {:?} {:?} {:?}, client {:?} {:?}, {} frames",
                self.server,
                self.server.selected_path(),
                self.server.ice_stats(),
                self.client,
                self.client.selected_path(),
                self.tcp_frames
            );
            self.step(Duration::from_millis(5));
        }
    }
}

fn connected(n: &Net) -> bool {
    n.server.state() == ConnectionState::Connected && n.client.state() == ConnectionState::Connected
}

fn opened(events: &[Event], label: &str) -> Option<sansrtc::ChannelId> {
    events.iter().find_map(|e| match e {
        Event::DataChannelOpen { id, label: l, .. } if l == label => Some(*id),
        _ => None,
    })
}

fn messages(events: &[Event]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::DataChannelMessage { data, .. } => Some(data.to_vec()),
            _ => None,
        })
        .collect()
}

/// Connects, opens a channel, echoes messages of every size through the server.
fn echo_over(net: &mut Net, server_offers: bool) {
    let t0 = net.now;
    let tcp_line = net.negotiate(server_offers);
    assert!(tcp_line.ends_with("typ host tcptype passive"), "{tcp_line}");
    net.run_until(Duration::from_secs(10), connected);
    eprintln!(
        "connected after {} ms of simulated time",
        (net.now - t0).as_millis()
    );
    let now = net.now;
    let ours = net
        .client
        .create_data_channel(now, ChannelConfig::reliable("echo"))
        .unwrap();
    net.run_until(Duration::from_secs(5), |n| {
        opened(&n.server_events, "echo").is_some() && opened(&n.client_events, "echo").is_some()
    });
    let theirs = opened(&net.server_events, "echo").unwrap();
    let sizes = [1usize, 100, 1200, 1500, 16_000, 65_000, 200_000];
    for (i, &size) in sizes.iter().enumerate() {
        let msg: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
        let now = net.now;
        net.client.channel(ours).unwrap().send(now, &msg).unwrap();
        net.run_until(Duration::from_secs(10), |n| {
            messages(&n.server_events).len() > i
        });
        let got = messages(&net.server_events)[i].clone();
        assert_eq!(got, msg, "message {i} of {size} bytes");
        let now = net.now;
        net.server.channel(theirs).unwrap().send(now, &got).unwrap();
        net.run_until(Duration::from_secs(10), |n| {
            messages(&n.client_events).len() > i
        });
        assert_eq!(messages(&net.client_events)[i], msg, "echo {i}");
    }
}

#[test]
fn data_channel_over_ice_tcp_only() {
    for (pieces, server_offers) in [
        ([1, 3, 7, 2], false),
        ([1500, 200, 9000, 64], false),
        ([65_536; 4], true),
    ] {
        let mut net = Net::new(false, pieces);
        echo_over(&mut net, server_offers);
        assert_eq!(net.server.selected_transport(), Some(Transport::Tcp));
        assert_eq!(
            net.server.selected_path(),
            Some((sa(SERVER), sa(CLIENT_TCP)))
        );
        assert!(
            net.server
                .is_validated_path_on(Transport::Tcp, sa(SERVER), sa(CLIENT_TCP))
        );
        assert!(!net.server.is_validated_path(sa(SERVER), sa(CLIENT_TCP)));
        assert!(net.server_events.iter().any(|e| matches!(
            e,
            Event::SelectedPairChange {
                transport: Transport::Tcp,
                ..
            }
        )));
        let report = net.server.stats_report();
        let pair = report
            .candidate_pairs
            .iter()
            .find(|p| p.selected)
            .expect("a selected pair");
        assert_eq!(pair.transport, Transport::Tcp);
        assert!(
            pair.bytes_received > 200_000 && pair.bytes_sent > 200_000,
            "{pair:?}"
        );
        // Consent freshness runs over the stream: a minute later still connected.
        let frames = net.tcp_frames;
        for _ in 0..600 {
            net.step(Duration::from_millis(100));
        }
        assert!(connected(&net));
        assert!(net.tcp_frames > frames + 10, "consent checks over TCP");
        let stats = net.server.stats();
        assert_eq!(stats.dropped_unvalidated, 0, "{stats:?}");
        eprintln!(
            "pieces {pieces:?}, server offers: {server_offers}: {} frames from the client over TCP, {} UDP datagrams sent by the server (checks to the client's blocked UDP candidate)",
            net.tcp_frames, net.server_udp_sent
        );
    }
}

/// An ICE restart while the TCP pair is selected (RFC 8445 9, RFC 7675): until the restart
/// selects a pair, the old one carries the data channel and its consent checks, over the stream;
/// nothing meant for it goes out as UDP. The restart then selects TCP again.
#[test]
fn ice_restart_keeps_a_selected_tcp_pair_on_tcp() {
    for server_restarts in [true, false] {
        let mut net = Net::new(false, [700, 90, 1300, 5]);
        echo_over(&mut net, !server_restarts);
        assert_eq!(net.server.selected_transport(), Some(Transport::Tcp));
        let (ours, theirs) = (
            opened(&net.client_events, "echo").unwrap(),
            opened(&net.server_events, "echo").unwrap(),
        );
        // The server's first checks to the client's UDP candidates (which it cannot reach) end
        // with their retransmissions (~40 s).
        for _ in 0..450 {
            net.step(Duration::from_millis(100));
        }
        // The restarting side's offer is made (its agent restarts) but not yet answered: for
        // 40 s, longer than consent lasts without answers (30 s), the old pair is all there is.
        let now = net.now;
        let restarting = if server_restarts {
            &mut net.server
        } else {
            &mut net.client
        };
        restarting.restart_ice();
        let offer = restarting.create_offer(now).unwrap();
        restarting
            .set_local_description(sansrtc::SdpType::Offer, &offer)
            .unwrap();
        let (frames, before) = (net.tcp_frames, messages(&net.client_events).len());
        net.server_udp_to_tcp_peer = 0;
        for i in 0..40u8 {
            let now = net.now;
            net.server
                .channel(theirs)
                .unwrap()
                .send(now, &[i; 500])
                .unwrap();
            for _ in 0..10 {
                net.step(Duration::from_millis(100));
            }
        }
        assert_eq!(net.server_udp_to_tcp_peer, 0, "sent as UDP to the TCP pair");
        assert!(connected(&net), "consent held on the old TCP pair");
        assert_eq!(net.server.selected_transport(), Some(Transport::Tcp));
        assert_eq!(messages(&net.client_events).len(), before + 40);
        assert!(
            net.tcp_frames > frames + 40 + 10,
            "data and consent over the stream"
        );
        // The peer answers; the restart's checks select the TCP pair again.
        let now = net.now;
        let (offerer, answerer) = if server_restarts {
            (&mut net.server, &mut net.client)
        } else {
            (&mut net.client, &mut net.server)
        };
        answerer
            .set_remote_description(now, sansrtc::SdpType::Offer, &offer)
            .unwrap();
        let answer = answerer.create_answer(now).unwrap();
        answerer
            .set_local_description(sansrtc::SdpType::Answer, &answer)
            .unwrap();
        offerer
            .set_remote_description(now, sansrtc::SdpType::Answer, &answer)
            .unwrap();
        let restarted = net.server_events.len();
        net.run_until(Duration::from_secs(10), |n| {
            n.server_events[restarted..]
                .iter()
                .any(|e| matches!(e, Event::SelectedPairChange { .. }))
        });
        for _ in 0..20 {
            net.step(Duration::from_millis(100));
        }
        assert_eq!(net.server.selected_transport(), Some(Transport::Tcp));
        let now = net.now;
        net.client
            .channel(ours)
            .unwrap()
            .send(now, b"after")
            .unwrap();
        let n = messages(&net.server_events).len();
        net.run_until(Duration::from_secs(5), |net| {
            messages(&net.server_events).len() > n
        });
        assert!(connected(&net));
    }
}

#[test]
fn udp_is_selected_when_both_work() {
    for server_offers in [false, true] {
        let mut net = Net::new(true, [500, 500, 500, 500]);
        echo_over(&mut net, server_offers);
        assert_eq!(
            net.server.selected_transport(),
            Some(Transport::Udp),
            "server offers: {server_offers}"
        );
        assert_eq!(
            net.server.selected_path(),
            Some((sa(SERVER), sa(CLIENT_UDP)))
        );
    }
}

#[test]
fn a_stream_lying_about_frame_sizes_is_refused() {
    let mut d = Deframer::with_max_frame_len(1500);
    assert_eq!(d.push(&[0xff, 0xff, 1, 2, 3]), 5);
    assert!(d.next_frame().is_err());
    assert_eq!(d.buffered(), 0);
}

/// The `Router` keys paths by transport too: once the server's connection validated the TCP
/// path, frames from that stream route to it, and UDP datagrams from the same addresses do not.
#[test]
fn the_router_keeps_tcp_and_udp_paths_apart() {
    let mut net = Net::new(false, [100, 100, 100, 100]);
    net.negotiate(false);
    net.run_until(Duration::from_secs(10), connected);
    let mut router = sansrtc::Router::new();
    router.insert(0u32, &net.server).unwrap();
    // A Binding request header (any STUN message may earn a route once the path is valid).
    let mut stun = [0u8; 20];
    stun[..8].copy_from_slice(&[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]);
    let (server, client) = (sa(SERVER), sa(CLIENT_TCP));
    // Over UDP the path is not validated: no route is learned.
    router.learn(0, &net.server, server, client, &stun);
    assert!(router.paths(0).is_empty());
    router.learn_on(0, &net.server, Transport::Tcp, server, client, &stun);
    assert_eq!(router.paths(0), &[(server, client, Transport::Tcp)]);
    let srtp = [0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(
        router.route_on(Transport::Tcp, server, client, &srtp),
        Some(0)
    );
    assert_eq!(router.route(server, client, &srtp), None);
    router.refresh(0, &net.server);
    assert_eq!(router.paths(0).len(), 1, "still validated");
}
