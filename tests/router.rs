//! `Router`: many peer connections behind one server address, each datagram routed to its
//! connection, strangers routed nowhere. Simulated in memory with a fake clock.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sansrtc::{
    ChannelConfig, Config, ConnectionState, Event, MessageKind, PcRng, PeerConnection, Router,
    SdpType,
};

const SERVER: &str = "127.0.0.1:5000";

fn client_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16))
}

/// N clients, each with its own address, and a server holding one peer connection per client
/// on one shared address, routed by a `Router`.
struct Scene {
    now: Instant,
    server: SocketAddr,
    router: Router<usize>,
    servers: HashMap<usize, PeerConnection>,
    clients: Vec<PeerConnection>,
    /// In flight, in order: (from, to, bytes).
    wire: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    server_events: HashMap<usize, Vec<Event>>,
    client_events: Vec<Vec<Event>>,
    /// Clients whose datagrams vanish (a cut link).
    cut: Vec<bool>,
}

fn peer(seed: u64, addr: SocketAddr) -> PeerConnection {
    let mut config = Config::default();
    config.rng = PcRng::Seeded(seed);
    let mut pc = PeerConnection::new(config).unwrap();
    pc.add_local_address(addr).unwrap();
    pc
}

impl Scene {
    /// `n` clients offering a data channel, each answered by its own server connection.
    fn new(n: usize) -> Scene {
        let now = Instant::now();
        let server: SocketAddr = SERVER.parse().unwrap();
        let mut scene = Scene {
            now,
            server,
            router: Router::new(),
            servers: HashMap::new(),
            clients: Vec::new(),
            wire: VecDeque::new(),
            server_events: HashMap::new(),
            client_events: vec![Vec::new(); n],
            cut: vec![false; n],
        };
        for i in 0..n {
            let mut client = peer(1000 + i as u64, client_addr(i));
            let mut srv = peer(5000 + i as u64, server);
            client
                .create_data_channel(now, ChannelConfig::reliable(&format!("c{i}")))
                .unwrap();
            let offer = client.create_offer(now).unwrap();
            client
                .set_local_description(SdpType::Offer, &offer)
                .unwrap();
            srv.set_remote_description(now, SdpType::Offer, &offer)
                .unwrap();
            let answer = srv.create_answer(now).unwrap();
            srv.set_local_description(SdpType::Answer, &answer).unwrap();
            client
                .set_remote_description(now, SdpType::Answer, &answer)
                .unwrap();
            scene.router.insert(i, &srv).unwrap();
            scene.servers.insert(i, srv);
            scene.server_events.insert(i, Vec::new());
            scene.clients.push(client);
        }
        scene
    }

    fn collect(&mut self) {
        for (i, c) in self.clients.iter_mut().enumerate() {
            while let Some(t) = c.poll_transmit() {
                if !self.cut[i] {
                    self.wire
                        .push_back((t.source, t.destination, t.contents.to_vec()));
                }
            }
            while let Some(e) = c.poll_event() {
                self.client_events[i].push(e);
            }
        }
        for (&k, s) in self.servers.iter_mut() {
            while let Some(t) = s.poll_transmit() {
                self.router.sent(k, &t);
                self.wire
                    .push_back((t.source, t.destination, t.contents.to_vec()));
            }
            let events = self.server_events.get_mut(&k).unwrap();
            while let Some(e) = s.poll_event() {
                events.push(e);
            }
        }
    }

    /// What the server does with one datagram arriving on its address: route, handle, learn.
    fn server_receive(&mut self, from: SocketAddr, bytes: &[u8]) -> Option<usize> {
        let key = self.router.route(self.server, from, bytes)?;
        let pc = self.servers.get_mut(&key).expect("routed keys exist");
        pc.handle_receive(self.now, from, self.server, bytes);
        self.router.learn(key, pc, self.server, from, bytes);
        Some(key)
    }

    /// Delivers everything in flight (and what it causes) without advancing time.
    fn deliver(&mut self) {
        self.collect();
        while let Some((from, to, bytes)) = self.wire.pop_front() {
            if to == self.server {
                self.server_receive(from, &bytes);
            } else if let Some(i) = (0..self.clients.len()).find(|&i| client_addr(i) == to) {
                self.clients[i].handle_receive(self.now, from, to, &bytes);
            }
            self.collect();
        }
    }

    /// Runs `d` of simulated time in 10 ms steps.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.deliver();
            self.now += Duration::from_millis(10);
            let now = self.now;
            for pc in self.clients.iter_mut().chain(self.servers.values_mut()) {
                if pc.poll_timeout().is_some_and(|t| t <= now) {
                    pc.handle_timeout(now);
                }
            }
        }
        self.deliver();
        for (&k, s) in &self.servers {
            self.router.refresh(k, s);
        }
    }
}

#[test]
fn forty_connections_behind_one_address_each_get_their_own_datagrams() {
    let n = 40;
    let mut scene = Scene::new(n);
    scene.run_for(Duration::from_secs(3));
    for i in 0..n {
        assert_eq!(scene.clients[i].state(), ConnectionState::Connected, "{i}");
        assert_eq!(scene.servers[&i].state(), ConnectionState::Connected, "{i}");
        // Each server connection saw exactly its own client's channel.
        let labels: Vec<&str> = scene.server_events[&i]
            .iter()
            .filter_map(|e| match e {
                Event::DataChannelOpen { label, .. } => Some(label.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(labels, vec![format!("c{i}")], "{i}");
        assert_eq!(
            scene.router.paths(i),
            &[(scene.server, client_addr(i), sansrtc::Transport::Udp)],
            "{i}"
        );
    }
    // A message from each client reaches its own server connection only.
    for i in 0..n {
        let id = scene.clients[i].channel_ids().next().expect("a channel");
        let now = scene.now;
        scene.clients[i]
            .channel(id)
            .unwrap()
            .send_message(now, format!("from {i}").as_bytes(), MessageKind::Text)
            .unwrap();
    }
    scene.run_for(Duration::from_millis(200));
    for i in 0..n {
        let got: Vec<Vec<u8>> = scene.server_events[&i]
            .iter()
            .filter_map(|e| match e {
                Event::DataChannelMessage { data, .. } => Some(data.to_vec()),
                _ => None,
            })
            .collect();
        assert_eq!(got, vec![format!("from {i}").into_bytes()], "{i}");
    }
    let stats = scene.router.stats();
    assert!(stats.by_ufrag >= n as u64, "{stats:?}");
    assert!(stats.by_path > stats.by_ufrag, "{stats:?}");
    assert_eq!(stats.unrouted, 0, "{stats:?}");
    assert_eq!(scene.router.path_count(), n);
}

#[test]
fn strangers_reach_no_connection_and_forged_checks_earn_no_route() {
    let mut scene = Scene::new(2);
    scene.run_for(Duration::from_secs(3));
    assert!(
        scene
            .servers
            .values()
            .all(|s| s.state() == ConnectionState::Connected)
    );
    let stranger: SocketAddr = "127.0.0.1:6666".parse().unwrap();
    // DTLS, SRTP, SRTCP and garbage from an address no connection validated.
    for bytes in [
        &[22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0][..],
        &[0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3][..],
        &[0x81, 200, 0, 6, 0, 0, 0, 1][..],
        &[0xff; 40][..],
        &[][..],
    ] {
        assert_eq!(scene.router.route(scene.server, stranger, bytes), None);
    }
    // A STUN request naming connection 0's ufrag but signed with the wrong password is routed
    // to it (only it can check the integrity), which refuses it: no route for the stranger.
    let ufrag = scene.servers[&0].local_ufrag().to_string();
    let forged = forged_binding_request(&format!("{ufrag}:evil"));
    assert_eq!(scene.server_receive(stranger, &forged), Some(0));
    scene.collect();
    assert!(!scene.router.paths(0).iter().any(|p| p.1 == stranger));
    assert_eq!(
        scene.router.route(scene.server, stranger, &[0x80, 96]),
        None
    );
    // A STUN answer whose transaction id was never ours, or that comes from elsewhere than
    // where the check went, is routed nowhere.
    let mut answer = forged.clone();
    answer[0..2].copy_from_slice(&0x0101u16.to_be_bytes());
    assert_eq!(scene.router.route(scene.server, stranger, &answer), None);
    // The connection's own datagrams still flow.
    let before = scene.router.stats().by_path;
    scene.run_for(Duration::from_secs(6));
    assert!(scene.router.stats().by_path > before);
    assert!(
        scene
            .servers
            .values()
            .all(|s| s.state() == ConnectionState::Connected)
    );
}

/// A Binding request with USERNAME `username` and a MESSAGE-INTEGRITY made with a password
/// nobody uses.
fn forged_binding_request(username: &str) -> Vec<u8> {
    stun_request([7u8; 12], Some(username))
}

/// A Binding request (with USERNAME and a wrong MESSAGE-INTEGRITY when `username` is given).
fn stun_request(txid: [u8; 12], username: Option<&str>) -> Vec<u8> {
    use sansrtc::ice::stun::{Attribute, IntegrityKey, MessageBuilder, MessageType, TransactionId};
    let mut buf = [0u8; 256];
    let mut b =
        MessageBuilder::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId(txid)).unwrap();
    if let Some(u) = username {
        b.add(&Attribute::Username(u)).unwrap();
        b.add_message_integrity(&IntegrityKey::short_term("not the password"))
            .unwrap();
    }
    b.add_fingerprint().unwrap();
    let len = b.finish();
    buf[..len].to_vec()
}

#[test]
fn removing_a_connection_forgets_all_its_routes() {
    let mut scene = Scene::new(3);
    scene.run_for(Duration::from_secs(3));
    assert_eq!(scene.router.path_count(), 3);
    let c1 = client_addr(1);
    assert_eq!(
        scene.router.route(scene.server, c1, &[0x80, 96, 0, 0]),
        Some(1)
    );
    assert!(scene.router.remove(1));
    assert!(!scene.router.remove(1));
    assert_eq!(
        scene.router.route(scene.server, c1, &[0x80, 96, 0, 0]),
        None
    );
    assert_eq!(scene.router.path_count(), 2);
    assert_eq!(scene.router.len(), 2);
    // The same key can come back with a new connection.
    let fresh = peer(99, scene.server);
    scene.router.insert(1, &fresh).unwrap();
    assert_eq!(
        scene.router.insert(1, &fresh),
        Err(sansrtc::RouteError::KeyTaken)
    );
}

#[test]
fn a_lost_consent_drops_the_route() {
    let mut scene = Scene::new(2);
    scene.run_for(Duration::from_secs(3));
    assert_eq!(scene.router.paths(1).len(), 1);
    // Client 1 goes silent: after RFC 7675's 30 s its server connection forgets the path, and
    // the router with it.
    scene.cut[1] = true;
    scene.run_for(Duration::from_secs(40));
    assert!(scene.router.paths(1).is_empty());
    assert_eq!(
        scene
            .router
            .route(scene.server, client_addr(1), &[0x80, 96, 0, 0]),
        None
    );
    assert_eq!(scene.router.paths(0).len(), 1);
}

#[test]
fn remembered_checks_are_bounded_per_connection() {
    let scene = Scene::new(1);
    let mut router = Router::new();
    router.insert(0usize, &scene.servers[&0]).unwrap();
    let to = client_addr(0);
    for i in 0..1000u32 {
        let mut txid = [0u8; 12];
        txid[..4].copy_from_slice(&i.to_be_bytes());
        router.sent_datagram(0, to, &stun_request(txid, None));
    }
    // The newest checks still route their answers; the oldest were forgotten.
    let answer = |i: u32| {
        let mut txid = [0u8; 12];
        txid[..4].copy_from_slice(&i.to_be_bytes());
        let mut a = stun_request(txid, None);
        a[0..2].copy_from_slice(&0x0101u16.to_be_bytes());
        a
    };
    let server: SocketAddr = SERVER.parse().unwrap();
    assert_eq!(router.route(server, to, &answer(999)), Some(0));
    assert_eq!(router.route(server, to, &answer(0)), None);
    let routed = (0..1000).filter(|&i| router.route(server, to, &answer(i)).is_some());
    assert_eq!(routed.count(), sansrtc::router::MAX_CHECKS);
    // An answer from elsewhere than where the check went is not routed.
    assert_eq!(router.route(server, client_addr(9), &answer(999)), None);
}
