//! Two ICE agents behind simulated NATs (RFC 4787 mapping and filtering behaviours), each
//! gathering a server-reflexive candidate from a STUN server (our responder) and trickling
//! candidates to the other, with a fake clock, delay and loss, over many seeds. A side behind a
//! symmetric NAT can also allocate a relayed candidate with our `TurnClient` on a TURN server
//! simulated here (`SimTurnServer`: long-term credentials, allocations, permissions, Send/Data
//! indications and channels), which is how it reaches a port-restricted or symmetric peer.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use sansrtc_ice::agent::{Agent, AgentConfig, AgentEvent, AgentTransmit, ConnectionState};
use sansrtc_ice::candidate::{Candidate, CandidateKind};
use sansrtc_ice::stun::attribute::{self as attr, Attribute};
use sansrtc_ice::stun::{
    IntegrityKey, MessageBuilder, MessageClass, MessageType, Method, StunMessage, TransactionId,
};
use sansrtc_ice::turn::{ChannelData, TurnClient, TurnConfig, TurnEvent};
use sansrtc_ice::{ResponderConfig, Rng, SeededRng, StunResponder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    EndpointIndependent,
    AddressDependent,
    AddressAndPortDependent,
}
use Behaviour::*;

struct Nat {
    public_ip: IpAddr,
    mapping: Behaviour,
    filtering: Behaviour,
    next_port: u16,
    /// (internal address, mapping key, external port)
    maps: Vec<(SocketAddr, Option<SocketAddr>, u16)>,
    /// (external port, remote address it sent to)
    sent_to: Vec<(u16, SocketAddr)>,
}

impl Nat {
    fn new(public_ip: &str, mapping: Behaviour, filtering: Behaviour) -> Self {
        Nat {
            public_ip: public_ip.parse().unwrap(),
            mapping,
            filtering,
            next_port: 40000,
            maps: vec![],
            sent_to: vec![],
        }
    }

    fn outbound(&mut self, src: SocketAddr, dst: SocketAddr) -> SocketAddr {
        let key = match self.mapping {
            EndpointIndependent => None,
            AddressDependent => Some(SocketAddr::new(dst.ip(), 0)),
            AddressAndPortDependent => Some(dst),
        };
        let port = match self.maps.iter().find(|m| m.0 == src && m.1 == key) {
            Some(m) => m.2,
            None => {
                self.next_port += 1;
                self.maps.push((src, key, self.next_port));
                self.next_port
            }
        };
        if !self.sent_to.contains(&(port, dst)) {
            self.sent_to.push((port, dst));
        }
        SocketAddr::new(self.public_ip, port)
    }

    fn inbound(&self, src: SocketAddr, dst: SocketAddr) -> Option<SocketAddr> {
        let m = self.maps.iter().find(|m| m.2 == dst.port())?;
        let allowed = match self.filtering {
            EndpointIndependent => true,
            AddressDependent => self
                .sent_to
                .iter()
                .any(|(p, r)| *p == m.2 && r.ip() == src.ip()),
            AddressAndPortDependent => self.sent_to.contains(&(m.2, src)),
        };
        allowed.then_some(m.0)
    }
}

const STUN: &str = "198.51.100.1:3478";
/// The simulated TURN server; its relayed addresses share its IP.
const TURN: &str = "198.51.100.2:3478";
const TURN_USER: &str = "sim-user";
const TURN_PASSWORD: &str = "sim-turn-password";
const TURN_REALM: &str = "sim.example";

/// One allocation on the simulated TURN server.
struct Allocation {
    /// The client's transport address as the server sees it (after the client's NAT).
    client: SocketAddr,
    relayed: SocketAddr,
    /// The Allocate transaction that made it: its retransmission is answered again, another
    /// Allocate from the same client gets 437 (RFC 8656 7.2).
    transaction: TransactionId,
    expires: Instant,
    /// (peer IP, expiry)
    permissions: Vec<(IpAddr, Instant)>,
    /// (channel number, peer, expiry)
    channels: Vec<(u16, SocketAddr, Instant)>,
}

impl Allocation {
    fn permits(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions.iter().any(|(p, e)| *p == ip && *e > now)
    }

    fn permit(&mut self, ip: IpAddr, now: Instant) {
        let expires = now + Duration::from_secs(300);
        match self.permissions.iter_mut().find(|(p, _)| *p == ip) {
            Some(p) => p.1 = expires,
            None => self.permissions.push((ip, expires)),
        }
    }
}

/// What the simulated TURN server did.
#[derive(Debug, Default, Clone, Copy)]
struct TurnCounters {
    /// 401 answers (the challenge, or bad credentials).
    challenges: u64,
    allocations: u64,
    /// Refresh requests with a non-zero lifetime.
    refreshes: u64,
    /// CreatePermission requests granted.
    permissions: u64,
    /// ChannelBind requests granted (new or refreshed).
    channel_binds: u64,
    /// Datagrams relayed from a client to a peer (Send indication or ChannelData).
    to_peer: u64,
    /// Datagrams relayed from a peer to a client as Data indications.
    data_indications: u64,
    /// Datagrams relayed from a peer to a client as ChannelData.
    channel_data: u64,
    /// Datagrams dropped at the relay for want of a permission (either direction).
    no_permission: u64,
}

/// A minimal TURN server over UDP (RFC 8656) for the simulation: long-term credentials with a
/// 401 challenge and the MD5 key, Allocate / Refresh / CreatePermission / ChannelBind answered
/// with MESSAGE-INTEGRITY, Send and Data indications, ChannelData, and permissions enforced in
/// both directions. It shares no code with our `TurnClient` beyond the STUN codec.
struct SimTurnServer {
    address: SocketAddr,
    key: IntegrityKey,
    nonce: String,
    next_port: u16,
    next_indication: u64,
    allocations: Vec<Allocation>,
    counters: TurnCounters,
}

/// (source, destination, bytes)
type Datagram = (SocketAddr, SocketAddr, Vec<u8>);

impl SimTurnServer {
    fn new() -> Self {
        SimTurnServer {
            address: addr(TURN),
            key: IntegrityKey::long_term_md5(TURN_USER, TURN_REALM, TURN_PASSWORD),
            nonce: "sim-nonce-1".into(),
            next_port: 50000,
            next_indication: 0,
            allocations: vec![],
            counters: TurnCounters::default(),
        }
    }

    /// Whether `to` is the server or one of its relayed addresses.
    fn owns(&self, to: SocketAddr) -> bool {
        to == self.address || self.allocations.iter().any(|a| a.relayed == to)
    }

    /// Handles a datagram from `from` to `to` (the server or a relayed address) and returns
    /// what the server sends.
    fn handle(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) -> Vec<Datagram> {
        self.allocations.retain(|a| a.expires > now);
        if to != self.address {
            return self
                .relay_from_peer(now, from, to, bytes)
                .into_iter()
                .collect();
        }
        let Some(i) = self.allocations.iter().position(|a| a.client == from) else {
            // Only requests are answered without an allocation.
            return self.stun(now, from, None, bytes).into_iter().collect();
        };
        if let Some(cd) = ChannelData::parse(bytes) {
            let a = &self.allocations[i];
            let peer = a
                .channels
                .iter()
                .find(|(c, _, e)| *c == cd.channel && *e > now)
                .map(|(_, p, _)| *p);
            return match peer {
                Some(peer) => {
                    self.counters.to_peer += 1;
                    vec![(a.relayed, peer, cd.data.to_vec())]
                }
                None => vec![],
            };
        }
        self.stun(now, from, Some(i), bytes).into_iter().collect()
    }

    /// A datagram from a peer to a relayed address: to the client if permitted.
    fn relay_from_peer(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) -> Option<Datagram> {
        let a = self.allocations.iter().find(|a| a.relayed == to)?;
        if !a.permits(from.ip(), now) {
            self.counters.no_permission += 1;
            return None;
        }
        let client = a.client;
        let channel = a
            .channels
            .iter()
            .find(|(_, p, e)| *p == from && *e > now)
            .map(|(c, ..)| *c);
        let message = match channel {
            Some(channel) => {
                self.counters.channel_data += 1;
                let mut out = vec![];
                ChannelData {
                    channel,
                    data: bytes,
                }
                .write(&mut out);
                out
            }
            None => {
                self.counters.data_indications += 1;
                self.next_indication += 1;
                let mut id = [0u8; 12];
                id[..8].copy_from_slice(&self.next_indication.to_be_bytes());
                let mut buf = vec![0u8; bytes.len() + 64];
                let mut b = MessageBuilder::new(
                    &mut buf,
                    MessageType::new(Method::DATA, MessageClass::Indication),
                    TransactionId(id),
                )
                .unwrap();
                b.add(&Attribute::XorPeerAddress(from)).unwrap();
                b.add(&Attribute::Data(bytes)).unwrap();
                let n = b.finish();
                buf.truncate(n);
                buf
            }
        };
        Some((self.address, client, message))
    }

    /// A STUN message from a client (`allocation`: the index of its allocation, if any).
    fn stun(
        &mut self,
        now: Instant,
        from: SocketAddr,
        allocation: Option<usize>,
        bytes: &[u8],
    ) -> Option<Datagram> {
        let m = StunMessage::parse(bytes).ok()?;
        if m.class() == MessageClass::Indication && m.method() == Method::SEND {
            let a = &self.allocations[allocation?];
            let (Some(Ok(Attribute::XorPeerAddress(peer))), Some(Ok(Attribute::Data(data)))) =
                (m.get(attr::XOR_PEER_ADDRESS), m.get(attr::DATA))
            else {
                return None;
            };
            if !a.permits(peer.ip(), now) {
                self.counters.no_permission += 1;
                return None;
            }
            self.counters.to_peer += 1;
            return Some((a.relayed, peer, data.to_vec()));
        }
        if m.class() != MessageClass::Request {
            return None;
        }
        let reply = self.request(now, from, allocation, &m);
        Some((self.address, from, reply))
    }

    fn request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        allocation: Option<usize>,
        m: &StunMessage<'_>,
    ) -> Vec<u8> {
        let method = m.method();
        let id = m.transaction_id();
        // Long-term credentials (RFC 8489 9.2): a request without them, or with a wrong user,
        // realm, nonce or key, is challenged with 401, realm and nonce, and changes nothing.
        let authentic = m.username() == Some(TURN_USER)
            && m.get(attr::REALM) == Some(Ok(Attribute::Realm(TURN_REALM)))
            && m.get(attr::NONCE) == Some(Ok(Attribute::Nonce(&self.nonce)))
            && m.verify_message_integrity(&self.key).is_ok();
        if !authentic {
            self.counters.challenges += 1;
            let nonce = self.nonce.clone();
            return self.reply(method, MessageClass::ErrorResponse, id, false, |b| {
                b.add(&Attribute::ErrorCode {
                    code: 401,
                    reason: "Unauthorized",
                })?;
                b.add(&Attribute::Realm(TURN_REALM))?;
                b.add(&Attribute::Nonce(&nonce))?;
                Ok(())
            });
        }
        let lifetime = match m.get(attr::LIFETIME) {
            Some(Ok(Attribute::Lifetime(l))) => l.min(3600),
            _ => 600,
        };
        let peer = match m.get(attr::XOR_PEER_ADDRESS) {
            Some(Ok(Attribute::XorPeerAddress(p))) => Some(p),
            _ => None,
        };
        let result: Result<Vec<Attribute<'static>>, (u16, &'static str)> =
            match (method, allocation) {
                (Method::ALLOCATE, Some(i)) if self.allocations[i].transaction != id => {
                    Err((437, "Allocation Mismatch"))
                }
                (Method::ALLOCATE, existing) => {
                    let i = match existing {
                        // A retransmitted Allocate: the same answer again.
                        Some(i) => Ok(i),
                        None if m.get(attr::REQUESTED_TRANSPORT)
                            == Some(Ok(Attribute::RequestedTransport(17))) =>
                        {
                            self.next_port += 1;
                            self.allocations.push(Allocation {
                                client: from,
                                relayed: SocketAddr::new(self.address.ip(), self.next_port),
                                transaction: id,
                                expires: now + Duration::from_secs(lifetime.into()),
                                permissions: vec![],
                                channels: vec![],
                            });
                            self.counters.allocations += 1;
                            Ok(self.allocations.len() - 1)
                        }
                        None => Err((400, "Bad Request")),
                    };
                    i.map(|i| {
                        let a = &self.allocations[i];
                        vec![
                            Attribute::XorRelayedAddress(a.relayed),
                            Attribute::XorMappedAddress(from),
                            Attribute::Lifetime((a.expires - now).as_secs() as u32),
                        ]
                    })
                }
                (_, None) => Err((437, "Allocation Mismatch")),
                (Method::REFRESH, Some(i)) => {
                    if lifetime == 0 {
                        self.allocations.remove(i);
                    } else {
                        self.counters.refreshes += 1;
                        self.allocations[i].expires = now + Duration::from_secs(lifetime.into());
                    }
                    Ok(vec![Attribute::Lifetime(lifetime)])
                }
                (Method::CREATE_PERMISSION, Some(i)) => match peer {
                    Some(peer) => {
                        self.counters.permissions += 1;
                        self.allocations[i].permit(peer.ip(), now);
                        Ok(vec![])
                    }
                    None => Err((400, "Bad Request")),
                },
                (Method::CHANNEL_BIND, Some(i)) => {
                    let channel = match m.get(attr::CHANNEL_NUMBER) {
                        Some(Ok(Attribute::ChannelNumber(c))) if (0x4000..=0x4FFF).contains(&c) => {
                            Some(c)
                        }
                        _ => None,
                    };
                    let a = &mut self.allocations[i];
                    match (channel, peer) {
                        // A channel is bound to one peer and a peer to one channel (RFC 8656 12.2).
                        (Some(c), Some(peer))
                            if !a.channels.iter().any(|(n, p, _)| (*n == c) != (*p == peer)) =>
                        {
                            a.channels.retain(|(n, ..)| *n != c);
                            a.channels.push((c, peer, now + Duration::from_secs(600)));
                            a.permit(peer.ip(), now);
                            self.counters.channel_binds += 1;
                            Ok(vec![])
                        }
                        _ => Err((400, "Bad Request")),
                    }
                }
                _ => Err((400, "Bad Request")),
            };
        match result {
            Ok(attributes) => self.reply(method, MessageClass::SuccessResponse, id, true, |b| {
                for a in &attributes {
                    b.add(a)?;
                }
                Ok(())
            }),
            Err((code, reason)) => self.reply(method, MessageClass::ErrorResponse, id, true, |b| {
                b.add(&Attribute::ErrorCode { code, reason })?;
                Ok(())
            }),
        }
    }

    fn reply(
        &self,
        method: Method,
        class: MessageClass,
        id: TransactionId,
        integrity: bool,
        build: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), sansrtc_ice::stun::StunError>,
    ) -> Vec<u8> {
        let mut buf = [0u8; 512];
        let mut b = MessageBuilder::new(&mut buf, MessageType::new(method, class), id).unwrap();
        build(&mut b).unwrap();
        if integrity {
            b.add_message_integrity(&self.key).unwrap();
        }
        b.add_fingerprint().unwrap();
        let n = b.finish();
        buf[..n].to_vec()
    }
}

struct Side {
    agent: Agent<SeededRng>,
    nat: Option<Nat>,
    host: SocketAddr,
    events: Vec<AgentEvent>,
    /// A TURN client beside the agent, on the host socket, when this side uses a relay.
    turn: Option<TurnClient<SeededRng>>,
    turn_events: Vec<TurnEvent>,
    /// The relayed address once allocated.
    relayed: Option<SocketAddr>,
    /// IPs of the peer's candidates: each gets a TURN permission.
    remote_ips: Vec<IpAddr>,
    /// The agent finished gathering before the relayed candidate was known: end-of-candidates
    /// is signalled after it (gathering includes the relay, as in a browser).
    end_of_candidates_pending: bool,
    /// Application datagrams received.
    app: Vec<Vec<u8>>,
    /// Agent datagrams from the relayed address the TURN client refused (no permission yet).
    relay_refused: u64,
}

struct World {
    sides: [Side; 2],
    stun: StunResponder,
    turn_server: SimTurnServer,
    rng: SeededRng,
    /// Percentage of datagrams lost, in every direction (to and from the servers too).
    loss_percent: u64,
    lost: u64,
    in_flight: BTreeMap<(Instant, u64), (SocketAddr, SocketAddr, Vec<u8>)>,
    seq: u64,
    now: Instant,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl World {
    fn new(
        seed: u64,
        a_nat: Option<(Behaviour, Behaviour)>,
        b_nat: Option<(Behaviour, Behaviour)>,
    ) -> Self {
        Self::lossy(seed, a_nat, b_nat, 0, None)
    }

    /// A world with `loss_percent` loss; `relay`: the side (0 or 1) that allocates a relayed
    /// candidate on the TURN server.
    fn lossy(
        seed: u64,
        a_nat: Option<(Behaviour, Behaviour)>,
        b_nat: Option<(Behaviour, Behaviour)>,
        loss_percent: u64,
        relay: Option<usize>,
    ) -> Self {
        let make = |i: u64,
                    host: &str,
                    public: &str,
                    nat: Option<(Behaviour, Behaviour)>,
                    controlling: bool| {
            let (ufrag, pwd) = if i == 0 {
                ("aaaa", "password-of-agent-a-xx")
            } else {
                ("bbbb", "password-of-agent-b-yy")
            };
            let mut config = AgentConfig::new(controlling, ufrag, pwd);
            config.stun_servers = vec![addr(STUN)];
            let mut agent = Agent::new(config, SeededRng::new(seed * 3 + i));
            let host = addr(host);
            agent.add_host_candidate(host).unwrap();
            let turn = (relay == Some(i as usize)).then(|| {
                TurnClient::new(
                    TurnConfig::new(addr(TURN), TURN_USER, TURN_PASSWORD),
                    SeededRng::new(seed * 7 + 100 + i),
                )
            });
            Side {
                agent,
                nat: nat.map(|(m, f)| Nat::new(public, m, f)),
                host,
                events: vec![],
                turn,
                turn_events: vec![],
                relayed: None,
                remote_ips: vec![],
                end_of_candidates_pending: false,
                app: vec![],
                relay_refused: 0,
            }
        };
        let a = make(0, "10.0.0.1:5000", "203.0.113.1", a_nat, true);
        let b = make(1, "10.1.0.1:6000", "203.0.113.2", b_nat, false);
        let mut w = World {
            sides: [a, b],
            stun: StunResponder::new(ResponderConfig::default()),
            turn_server: SimTurnServer::new(),
            rng: SeededRng::new(seed),
            loss_percent,
            lost: 0,
            in_flight: BTreeMap::new(),
            seq: 0,
            now: Instant::now(),
        };
        // Signal credentials and host candidates, then gather and start.
        let creds = [
            ("aaaa", "password-of-agent-a-xx"),
            ("bbbb", "password-of-agent-b-yy"),
        ];
        for i in 0..2 {
            let other = 1 - i;
            w.sides[i]
                .agent
                .set_remote_credentials(creds[other].0, creds[other].1);
        }
        for i in 0..2 {
            let host = w.sides[1 - i].host;
            let c = Candidate::new(
                "h",
                1,
                sansrtc_ice::candidate::priority(126, 65535, 1),
                host,
                CandidateKind::Host,
            );
            w.signal(i, c);
        }
        let now = w.now;
        for s in &mut w.sides {
            s.agent.gather(now);
            s.agent.start(now);
            if let Some(turn) = &mut s.turn {
                turn.allocate(now).unwrap();
            }
        }
        w
    }

    /// Trickles candidate `c` to side `to`; a side with a relay permits the candidate's IP.
    fn signal(&mut self, to: usize, c: Candidate) {
        let now = self.now;
        let side = &mut self.sides[to];
        if let Some(ip) = c.socket_addr().map(|a| a.ip()) {
            if !side.remote_ips.contains(&ip) {
                side.remote_ips.push(ip);
                if let (Some(turn), Some(_)) = (&mut side.turn, side.relayed) {
                    turn.create_permission(now, ip).unwrap();
                }
            }
        }
        let _ = side.agent.add_remote_candidate(c);
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        if self.rng.next_u64() % 100 < self.loss_percent {
            self.lost += 1;
            return;
        }
        let delay = 5 + self.rng.next_u64() % 40;
        self.seq += 1;
        self.in_flight.insert(
            (self.now + Duration::from_millis(delay), self.seq),
            (from, to, bytes),
        );
    }

    /// Sends from side `i`'s host socket, through its NAT.
    fn send_from_host(
        &mut self,
        i: usize,
        source: SocketAddr,
        destination: SocketAddr,
        bytes: Vec<u8>,
    ) {
        let from = match &mut self.sides[i].nat {
            Some(nat) => nat.outbound(source, destination),
            None => source,
        };
        self.send(from, destination, bytes);
    }

    fn transmit(&mut self, i: usize, t: AgentTransmit) {
        let now = self.now;
        let side = &mut self.sides[i];
        if side.relayed.is_some() && side.relayed == Some(t.source) {
            // From the relayed candidate: through the TURN client.
            let turn = side.turn.as_mut().unwrap();
            if turn.send_to(now, t.destination, &t.contents).is_err() {
                side.relay_refused += 1;
            }
            self.flush_turn(i);
            return;
        }
        self.send_from_host(i, t.source, t.destination, t.contents);
    }

    /// Sends what side `i`'s TURN client has queued, from its host socket.
    fn flush_turn(&mut self, i: usize) {
        let host = self.sides[i].host;
        let Some(turn) = &mut self.sides[i].turn else {
            return;
        };
        let out: Vec<_> = std::iter::from_fn(|| turn.poll_transmit()).collect();
        for t in out {
            self.send_from_host(i, host, t.destination, t.contents);
        }
    }

    /// Handles side `i`'s TURN client events.
    fn turn_events(&mut self, i: usize) {
        let now = self.now;
        loop {
            let side = &mut self.sides[i];
            let Some(e) = side.turn.as_mut().and_then(|t| t.poll_event()) else {
                break;
            };
            side.turn_events.push(e.clone());
            match e {
                TurnEvent::Allocated { relayed, .. } => {
                    side.relayed = Some(relayed);
                    let c = side
                        .agent
                        .add_relayed_candidate(relayed, addr(TURN))
                        .unwrap();
                    let turn = side.turn.as_mut().unwrap();
                    for ip in side.remote_ips.clone() {
                        turn.create_permission(now, ip).unwrap();
                    }
                    let pending = std::mem::take(&mut side.end_of_candidates_pending);
                    self.signal(1 - i, c);
                    if pending {
                        self.sides[1 - i].agent.end_of_remote_candidates();
                    }
                }
                TurnEvent::Data { peer, data } => {
                    let relayed = side.relayed.unwrap();
                    if !side.agent.handle_receive(now, peer, relayed, &data) {
                        side.app.push(data);
                    }
                }
                _ => {}
            }
        }
    }

    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        if to == addr(STUN) {
            self.stun.handle_receive(self.now, from, &bytes);
            while let Some(t) = self.stun.poll_transmit() {
                self.send(addr(STUN), t.destination, t.contents);
            }
            return;
        }
        if self.turn_server.owns(to) {
            for (src, dst, bytes) in self.turn_server.handle(self.now, from, to, &bytes) {
                self.send(src, dst, bytes);
            }
            return;
        }
        for i in 0..2 {
            let side = &mut self.sides[i];
            let local = match &side.nat {
                Some(nat) if nat.public_ip == to.ip() => nat.inbound(from, to),
                Some(_) => None,
                None => (side.host == to).then_some(to),
            };
            let Some(local) = local else { continue };
            if let Some(turn) = &mut side.turn {
                if turn.handle_receive(self.now, from, &bytes) {
                    self.turn_events(i);
                    continue;
                }
            }
            if !side.agent.handle_receive(self.now, from, local, &bytes) {
                side.app.push(bytes.clone());
            }
        }
    }

    fn run(&mut self, limit: Duration) {
        let end = self.now + limit;
        // Timer wake-ups in a row at the same instant: a deadline that handling does not
        // clear would make a caller spin, so it fails the test.
        let mut spins = 0;
        loop {
            for i in 0..2 {
                self.turn_events(i);
                self.flush_turn(i);
                while let Some(t) = self.sides[i].agent.poll_transmit() {
                    self.transmit(i, t);
                }
                while let Some(e) = self.sides[i].agent.poll_event() {
                    // Trickle: new local candidates and end-of-candidates go to the peer.
                    match &e {
                        AgentEvent::LocalCandidate(c) => self.signal(1 - i, c.clone()),
                        AgentEvent::GatheringComplete => {
                            let side = &mut self.sides[i];
                            if side.turn.is_some() && side.relayed.is_none() {
                                side.end_of_candidates_pending = true;
                            } else {
                                self.sides[1 - i].agent.end_of_remote_candidates()
                            }
                        }
                        AgentEvent::SelectedPair { local, remote, .. } => {
                            // Relayed traffic to the selected peer moves to a channel.
                            let now = self.now;
                            let side = &mut self.sides[i];
                            if side.relayed == Some(*local) {
                                side.turn
                                    .as_mut()
                                    .unwrap()
                                    .bind_channel(now, *remote)
                                    .unwrap();
                            }
                        }
                        _ => {}
                    }
                    self.sides[i].events.push(e);
                }
                self.flush_turn(i);
            }
            let next_packet = self.in_flight.keys().next().map(|k| k.0);
            let timers = self.sides.iter().flat_map(|s| {
                [
                    s.agent.poll_timeout(),
                    s.turn.as_ref().and_then(|t| t.poll_timeout()),
                ]
            });
            let next = timers.chain([next_packet]).flatten().min();
            let Some(next) = next.filter(|n| *n <= end) else {
                // Nothing more happens before the end: the clock moves on to it.
                self.now = self.now.max(end);
                break;
            };
            if next_packet != Some(next) && next <= self.now {
                spins += 1;
                assert!(spins < 1000, "a deadline in the past does not clear");
            } else {
                spins = 0;
            }
            self.now = self.now.max(next);
            if next_packet == Some(next) {
                let key = *self.in_flight.keys().next().unwrap();
                let (from, to, bytes) = self.in_flight.remove(&key).unwrap();
                self.deliver(from, to, bytes);
            } else {
                for s in &mut self.sides {
                    s.agent.handle_timeout(self.now);
                    if let Some(turn) = &mut s.turn {
                        turn.handle_timeout(self.now);
                    }
                }
            }
        }
    }

    fn state(&self, i: usize) -> ConnectionState {
        self.sides[i].agent.state()
    }

    /// Each side sends `n` application datagrams over its selected pair (through the relay
    /// when that is the local candidate); returns them per sending side.
    fn send_app_data(&mut self, n: usize) -> [Vec<Vec<u8>>; 2] {
        let mut sent: [Vec<Vec<u8>>; 2] = [vec![], vec![]];
        for (i, sent) in sent.iter_mut().enumerate() {
            let (local, remote) = self.sides[i].agent.selected_pair().unwrap();
            for k in 0..n {
                let bytes = format!("app data {k} from side {i}").into_bytes();
                sent.push(bytes.clone());
                self.transmit(
                    i,
                    AgentTransmit {
                        source: local,
                        destination: remote,
                        transport: sansrtc_ice::candidate::CandidateTransport::Udp,
                        contents: bytes,
                    },
                );
            }
        }
        sent
    }
}

fn connects(a: Option<(Behaviour, Behaviour)>, b: Option<(Behaviour, Behaviour)>) {
    for seed in 0..20 {
        check_connects(World::new(seed, a, b), seed, Duration::from_secs(60));
    }
    // 10-20% loss in every direction (agents, STUN server), 100 seeds.
    let mut srflx_missing = 0;
    for seed in 0..100 {
        let loss = 10 + seed % 11;
        srflx_missing += check_connects(
            World::lossy(seed, a, b, loss, None),
            seed,
            Duration::from_secs(120),
        );
    }
    // Gathering sends seven requests: it rarely gives up at 20% loss.
    assert!(srflx_missing <= 5, "{srflx_missing} gatherings failed");
}

/// Runs `w` and checks both sides complete through their NATs; returns how many sides behind a
/// NAT learned no server-reflexive candidate.
fn check_connects(mut w: World, seed: u64, limit: Duration) -> usize {
    let loss = w.loss_percent;
    w.run(limit);
    // Both learn a server-reflexive candidate when behind a NAT. With loss, all seven Binding
    // requests or their answers can be lost; without that candidate a side behind a filtering
    // NAT cannot be reached, and then both sides must end Failed (not hang).
    let mut srflx_missing = 0;
    for s in &w.sides {
        let srflx = s
            .events
            .iter()
            .any(|e| matches!(e, AgentEvent::LocalCandidate(_)));
        assert!(srflx || s.nat.is_none() || loss > 0, "seed {seed}");
        assert!(!srflx || s.nat.is_some());
        srflx_missing += usize::from(!srflx && s.nat.is_some());
        assert!(s.events.contains(&AgentEvent::GatheringComplete));
    }
    let completed = (0..2).all(|i| w.state(i) == ConnectionState::Completed);
    if srflx_missing > 0 && !completed {
        for i in 0..2 {
            assert_eq!(w.state(i), ConnectionState::Failed, "seed {seed} side {i}");
            assert_eq!(
                w.sides[i].agent.poll_timeout(),
                None,
                "seed {seed} side {i}"
            );
        }
        return srflx_missing;
    }
    assert_eq!(
        w.state(0),
        ConnectionState::Completed,
        "seed {seed} loss {loss}% A {:?}",
        w.sides[0].events
    );
    assert_eq!(
        w.state(1),
        ConnectionState::Completed,
        "seed {seed} loss {loss}% B {:?}",
        w.sides[1].events
    );
    assert!(loss == 0 || w.lost > 0);
    let (a_local, a_remote) = w.sides[0].agent.selected_pair().unwrap();
    let (b_local, b_remote) = w.sides[1].agent.selected_pair().unwrap();
    assert_eq!(a_local, w.sides[0].host);
    assert_eq!(b_local, w.sides[1].host);
    // Each side sends to the other's public (NAT-mapped) address.
    if let Some(nat) = &w.sides[1].nat {
        assert_eq!(a_remote.ip(), nat.public_ip);
    }
    if let Some(nat) = &w.sides[0].nat {
        assert_eq!(b_remote.ip(), nat.public_ip);
    }
    // The selected pairs carry application data both ways (loss switched off).
    w.loss_percent = 0;
    let sent = w.send_app_data(3);
    w.run(Duration::from_secs(1));
    assert_eq!(sorted(&w.sides[1].app), sorted(&sent[0]), "seed {seed}");
    assert_eq!(sorted(&w.sides[0].app), sorted(&sent[1]), "seed {seed}");
    srflx_missing
}

fn sorted(v: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut v = v.to_vec();
    v.sort();
    v
}

#[test]
fn full_cone_both_sides() {
    connects(
        Some((EndpointIndependent, EndpointIndependent)),
        Some((EndpointIndependent, EndpointIndependent)),
    );
}

#[test]
fn address_dependent_filtering_both_sides() {
    connects(
        Some((EndpointIndependent, AddressDependent)),
        Some((EndpointIndependent, AddressDependent)),
    );
}

#[test]
fn port_restricted_both_sides() {
    connects(
        Some((EndpointIndependent, AddressAndPortDependent)),
        Some((EndpointIndependent, AddressAndPortDependent)),
    );
}

#[test]
fn symmetric_nat_against_full_cone() {
    connects(
        Some((EndpointIndependent, EndpointIndependent)),
        Some((AddressAndPortDependent, AddressAndPortDependent)),
    );
}

#[test]
fn symmetric_nat_against_public_host() {
    connects(
        None,
        Some((AddressAndPortDependent, AddressAndPortDependent)),
    );
}

const PORT_RESTRICTED: Option<(Behaviour, Behaviour)> =
    Some((EndpointIndependent, AddressAndPortDependent));
const SYMMETRIC: Option<(Behaviour, Behaviour)> =
    Some((AddressAndPortDependent, AddressAndPortDependent));

#[test]
fn symmetric_nat_against_port_restricted_needs_turn() {
    // Without a relay these cannot connect: both sides must end Failed, not hang.
    for seed in 0..40 {
        let loss = if seed < 20 { 0 } else { 10 + seed % 11 };
        let mut w = World::lossy(seed, PORT_RESTRICTED, SYMMETRIC, loss, None);
        w.run(Duration::from_secs(120));
        assert_eq!(
            w.state(0),
            ConnectionState::Failed,
            "seed {seed} A {:?}",
            w.sides[0].events
        );
        assert_eq!(
            w.state(1),
            ConnectionState::Failed,
            "seed {seed} B {:?}",
            w.sides[1].events
        );
    }
}

/// Side B (behind `b_nat`) allocates a relayed candidate on the simulated TURN server; checks
/// that both sides complete over the relay and that data flows through it both ways. With
/// loss, a TURN transaction can time out after all its retransmissions (the allocation or the
/// permission for A's address): then both sides must end Failed, and `false` is returned.
fn connects_through_relay(w: &mut World, seed: u64, limit: Duration) -> bool {
    let loss = w.loss_percent;
    w.run(limit);
    let timed_out = w.sides[1].turn_events.iter().any(|e| {
        matches!(
            e,
            TurnEvent::AllocationFailed(0) | TurnEvent::PermissionFailed(_, 0)
        )
    });
    let completed = (0..2).all(|i| w.state(i) == ConnectionState::Completed);
    if loss > 0 && timed_out && !completed {
        for i in 0..2 {
            assert_eq!(w.state(i), ConnectionState::Failed, "seed {seed} side {i}");
        }
        return false;
    }
    let relayed = w.sides[1].relayed.expect("B allocated a relayed address");
    for i in 0..2 {
        assert_eq!(
            w.state(i),
            ConnectionState::Completed,
            "seed {seed} loss {loss}% side {i}: {:?} {:?}",
            w.sides[i].events,
            w.sides[1].turn_events
        );
    }
    // A sends from its host socket to B's relayed address; B sends from the relayed address
    // (through its TURN client) to A's public mapping.
    let a_public = w.sides[0].nat.as_ref().unwrap().public_ip;
    assert_eq!(
        w.sides[0].agent.selected_pair(),
        Some((w.sides[0].host, relayed)),
        "seed {seed}"
    );
    let (b_local, b_remote) = w.sides[1].agent.selected_pair().unwrap();
    assert_eq!(b_local, relayed, "seed {seed}");
    assert_eq!(b_remote.ip(), a_public, "seed {seed}");
    assert!(
        w.sides[1]
            .agent
            .local_candidates()
            .iter()
            .any(|c| c.kind == CandidateKind::Relayed && c.socket_addr() == Some(relayed))
    );
    let turn_events = &w.sides[1].turn_events;
    assert!(
        !turn_events.iter().any(|e| matches!(
            e,
            TurnEvent::AllocationFailed(_) | TurnEvent::PermissionFailed(..)
        )),
        "seed {seed}: {turn_events:?}"
    );
    assert!(turn_events.contains(&TurnEvent::PermissionCreated(a_public)));
    assert!(turn_events.contains(&TurnEvent::ChannelBound {
        peer: b_remote,
        channel: 0x4000
    }));
    let c = w.turn_server.counters;
    assert_eq!(c.allocations, 1, "seed {seed}: {c:?}");
    assert!(
        c.challenges >= 1 && c.to_peer > 0 && c.data_indications > 0,
        "{c:?}"
    );
    assert_eq!(
        w.sides[1].turn.as_ref().unwrap().stats().integrity_failures,
        0
    );

    // Application data both ways, loss switched off: through the channel now.
    w.loss_percent = 0;
    let before = w.turn_server.counters;
    let sent = w.send_app_data(5);
    w.run(Duration::from_secs(1));
    assert_eq!(sorted(&w.sides[1].app), sorted(&sent[0]), "seed {seed}");
    assert_eq!(sorted(&w.sides[0].app), sorted(&sent[1]), "seed {seed}");
    let after = w.turn_server.counters;
    assert!(after.channel_data >= before.channel_data + 5, "{after:?}");
    assert!(after.to_peer >= before.to_peer + 5, "{after:?}");
    assert_eq!(after.data_indications, before.data_indications);
    true
}

#[test]
fn symmetric_nat_reaches_port_restricted_through_a_turn_relay() {
    for seed in 0..30 {
        let mut w = World::lossy(seed, PORT_RESTRICTED, SYMMETRIC, 0, Some(1));
        assert!(connects_through_relay(
            &mut w,
            seed,
            Duration::from_secs(60)
        ));
    }
}

#[test]
fn turn_relay_path_with_loss_over_many_seeds() {
    let mut connected = 0;
    for seed in 0..100 {
        let loss = 10 + seed % 11;
        let mut w = World::lossy(seed, PORT_RESTRICTED, SYMMETRIC, loss, Some(1));
        connected += usize::from(connects_through_relay(
            &mut w,
            seed,
            Duration::from_secs(120),
        ));
        assert!(w.lost > 0);
    }
    // A TURN transaction gives up after seven requests: rare at 10-20% loss.
    assert!(connected >= 97, "{connected} of 100 connected");
}

#[test]
fn symmetric_nats_on_both_sides_connect_through_one_relay() {
    // A's symmetric NAT maps its checks towards the relay to a new port: B learns that
    // mapping as a peer-reflexive candidate through the relay and answers it.
    let mut failed = 0;
    for seed in 0..50 {
        let loss = if seed < 25 { 0 } else { 10 + seed % 11 };
        let mut w = World::lossy(seed, SYMMETRIC, SYMMETRIC, loss, Some(1));
        if !connects_through_relay(&mut w, seed, Duration::from_secs(120)) {
            failed += 1;
            continue;
        }
        let (_, b_remote) = w.sides[1].agent.selected_pair().unwrap();
        let remote = w.sides[1]
            .agent
            .checklist()
            .remote_candidates()
            .iter()
            .find(|c| c.socket_addr() == Some(b_remote))
            .unwrap();
        assert_eq!(remote.kind, CandidateKind::PeerReflexive, "seed {seed}");
    }
    assert!(failed <= 1, "{failed} of 25 lossy runs failed");
}

#[test]
fn the_relay_is_refreshed_and_keeps_working_for_half_an_hour() {
    // Allocation (600 s, refreshed a minute early), permissions (300 s) and the channel
    // (600 s, refreshed with the permission) all outlive their first lifetime; consent checks
    // keep flowing through the channel.
    for seed in 0..3 {
        let mut w = World::lossy(seed, PORT_RESTRICTED, SYMMETRIC, 0, Some(1));
        assert!(connects_through_relay(
            &mut w,
            seed,
            Duration::from_secs(60)
        ));
        w.run(Duration::from_secs(1800));
        let c = w.turn_server.counters;
        assert!(c.refreshes >= 3, "{c:?}");
        assert!(c.channel_binds >= 6, "{c:?}");
        assert_eq!(w.turn_server.allocations.len(), 1);
        let events = &w.sides[1].turn_events;
        assert!(
            events
                .iter()
                .filter(|e| matches!(e, TurnEvent::AllocationRefreshed(_)))
                .count()
                >= 3
        );
        for i in 0..2 {
            assert_eq!(w.state(i), ConnectionState::Completed, "seed {seed}");
            w.sides[i].app.clear();
        }
        let sent = w.send_app_data(2);
        w.run(Duration::from_secs(1));
        assert_eq!(sorted(&w.sides[1].app), sorted(&sent[0]));
        assert_eq!(sorted(&w.sides[0].app), sorted(&sent[1]));
    }
}

#[test]
fn the_relay_enforces_permissions_and_credentials() {
    // The simulated server is strict: a wrong password is refused, and without a permission
    // nothing reaches the client through the relay (so the tests above depend on our client
    // creating permissions and binding channels correctly).
    let mut w = World::lossy(1, PORT_RESTRICTED, SYMMETRIC, 0, Some(1));
    let mut bad = TurnClient::new(
        TurnConfig::new(addr(TURN), TURN_USER, "not-the-password"),
        SeededRng::new(5),
    );
    bad.allocate(w.now).unwrap();
    w.sides[1].turn = Some(bad);
    w.run(Duration::from_secs(60));
    assert!(
        w.sides[1]
            .turn_events
            .contains(&TurnEvent::AllocationFailed(401)),
        "{:?}",
        w.sides[1].turn_events
    );
    assert_eq!(w.turn_server.counters.allocations, 0);
    assert!(w.turn_server.counters.challenges >= 2);
    for i in 0..2 {
        assert!(!matches!(
            w.state(i),
            ConnectionState::Connected | ConnectionState::Completed
        ));
    }

    // Our client against the server directly (no network): a peer's datagram to the relayed
    // address is dropped until the client installs a permission for the peer's IP.
    let mut server = SimTurnServer::new();
    let client_addr = addr("203.0.113.9:7000");
    let peer = addr("192.0.2.7:9000");
    let mut client = TurnClient::new(
        TurnConfig::new(addr(TURN), TURN_USER, TURN_PASSWORD),
        SeededRng::new(6),
    );
    let now = Instant::now();
    let pump = |server: &mut SimTurnServer, client: &mut TurnClient<SeededRng>| {
        while let Some(t) = client.poll_transmit() {
            for (src, dst, bytes) in server.handle(now, client_addr, t.destination, &t.contents) {
                assert_eq!(dst, client_addr);
                assert!(client.handle_receive(now, src, &bytes));
            }
        }
    };
    client.allocate(now).unwrap();
    pump(&mut server, &mut client);
    let relayed = client.relayed_address().expect("allocated");
    assert!(server.handle(now, peer, relayed, b"early").is_empty());
    assert_eq!(server.counters.no_permission, 1);
    assert_eq!(
        client.send_to(now, peer, b"x"),
        Err(sansrtc_ice::turn::TurnError::NoPermission(peer.ip()))
    );
    client.create_permission(now, peer.ip()).unwrap();
    pump(&mut server, &mut client);
    let out = server.handle(now, peer, relayed, b"permitted");
    assert_eq!(out.len(), 1);
    assert!(client.handle_receive(now, out[0].0, &out[0].2));
    let events: Vec<_> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(events.contains(&TurnEvent::Data {
        peer,
        data: b"permitted".to_vec()
    }));
    // And the other way, as a Send indication.
    client.send_to(now, peer, b"to the peer").unwrap();
    let t = client.poll_transmit().unwrap();
    assert_eq!(
        server.handle(now, client_addr, t.destination, &t.contents),
        vec![(relayed, peer, b"to the peer".to_vec())]
    );
}

#[test]
fn symmetric_nat_side_learns_a_local_peer_reflexive_candidate() {
    // Behind a symmetric NAT the mapping towards the peer differs from the server-reflexive
    // one: the mapped address of the successful check is a new local peer-reflexive candidate
    // (RFC 8445 7.2.5.3.1), with the priority sent in the check and the host as base, and the
    // valid pair is built from it.
    use sansrtc_ice::candidate::CandidateKind;
    for seed in 0..10 {
        let mut w = World::new(
            seed,
            None,
            Some((AddressAndPortDependent, AddressAndPortDependent)),
        );
        w.run(Duration::from_secs(60));
        assert_eq!(w.state(1), ConnectionState::Completed, "seed {seed}");
        let side = &w.sides[1];
        let prflx: Vec<_> = side
            .agent
            .local_candidates()
            .iter()
            .filter(|c| c.kind == CandidateKind::PeerReflexive)
            .collect();
        assert!(!prflx.is_empty(), "seed {seed}");
        for c in &prflx {
            assert_eq!(c.related, Some(side.host));
            // Not signalled: no LocalCandidate event carries it.
            assert!(
                !side
                    .events
                    .contains(&AgentEvent::LocalCandidate((*c).clone()))
            );
        }
        let (local, remote) = side.agent.selected_pair().unwrap();
        let valid = side
            .agent
            .checklist()
            .valid_list()
            .iter()
            .find(|v| v.base == local && v.remote == remote)
            .expect("the selected pair is valid");
        let learned = prflx
            .iter()
            .find(|c| c.socket_addr() == Some(valid.local))
            .expect("the valid pair's local candidate is the learned peer-reflexive one");
        assert_eq!(valid.local_priority, learned.priority);
        // The public host side sees no NAT: its valid pair's local candidate is its host one.
        let host_valid = &w.sides[0].agent.checklist().valid_list()[0];
        assert_eq!(host_valid.local, w.sides[0].host);
        assert!(
            w.sides[0]
                .agent
                .local_candidates()
                .iter()
                .all(|c| c.kind != CandidateKind::PeerReflexive)
        );
    }
}
