//! The in-process harness the peer-connection tests share: two peer connections, no sockets, a
//! fake clock, a lossless in-order wire.

#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sansrtc::{Config, ConnectionState, Event, PcRng, PeerConnection, SdpType};

pub struct Net {
    pub now: Instant,
    pub pcs: [PeerConnection; 2],
    pub addrs: [SocketAddr; 2],
    pub events: [Vec<Event>; 2],
    /// In-flight datagrams: (deliver at, to index, from, to, bytes).
    pub wire: VecDeque<(usize, SocketAddr, SocketAddr, Vec<u8>)>,
    /// Extra datagrams to inject into peer 1 (hostile input).
    pub delivered: u64,
}

impl Net {
    pub fn new(seed: u64) -> Self {
        Self::with_setup(seed, sansrtc::sdp::Setup::Active)
    }

    /// `answer_setup` is the answerer's DTLS role choice.
    pub fn with_setup(seed: u64, answer_setup: sansrtc::sdp::Setup) -> Self {
        Self::with_config(seed, |c| c.answer_setup = answer_setup)
    }

    /// Both peers with the default config changed by `change`.
    pub fn with_config(seed: u64, change: impl Fn(&mut Config)) -> Self {
        let addrs: [SocketAddr; 2] = [
            "127.0.0.1:10001".parse().unwrap(),
            "127.0.0.1:10002".parse().unwrap(),
        ];
        let mk = |s: u64| {
            let mut config = Config {
                rng: PcRng::Seeded(s),
                ..Config::default()
            };
            change(&mut config);
            PeerConnection::new(config).unwrap()
        };
        let mut pcs = [mk(seed), mk(seed + 1)];
        pcs[0].add_local_address(addrs[0]);
        pcs[1].add_local_address(addrs[1]);
        Net {
            now: Instant::now(),
            pcs,
            addrs,
            events: [Vec::new(), Vec::new()],
            wire: VecDeque::new(),
            delivered: 0,
        }
    }

    pub fn collect(&mut self) {
        for i in 0..2 {
            while let Some(t) = self.pcs[i].poll_transmit() {
                assert_eq!(t.source, self.addrs[i]);
                let to = self
                    .addrs
                    .iter()
                    .position(|a| *a == t.destination)
                    .expect("known peer");
                self.wire
                    .push_back((to, t.source, t.destination, t.contents));
            }
            while let Some(e) = self.pcs[i].poll_event() {
                self.events[i].push(e);
            }
        }
    }

    /// Runs until `done` holds, delivering datagrams in order and advancing the clock to the next
    /// deadline when the wire is idle. Panics after `limit` of simulated time.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) {
        let end = self.now + limit;
        loop {
            self.collect();
            if done(self) {
                return;
            }
            if let Some((to, from, dst, bytes)) = self.wire.pop_front() {
                self.now += Duration::from_micros(100);
                self.delivered += 1;
                self.pcs[to].handle_receive(self.now, from, dst, &bytes);
                continue;
            }
            let next = self.pcs.iter().filter_map(|p| p.poll_timeout()).min();
            let next = next.expect("someone has a deadline").max(self.now);
            assert!(next < end, "not done within {limit:?}");
            self.now = next;
            for p in &mut self.pcs {
                if p.poll_timeout().is_some_and(|t| t <= self.now) {
                    p.handle_timeout(self.now);
                }
            }
        }
    }

    /// Lets `d` of simulated time pass, delivering datagrams and firing deadlines.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            self.collect();
            if let Some((to, from, dst, bytes)) = self.wire.pop_front() {
                self.now += Duration::from_micros(100);
                self.delivered += 1;
                self.pcs[to].handle_receive(self.now, from, dst, &bytes);
                continue;
            }
            let next = self.pcs.iter().filter_map(|p| p.poll_timeout()).min();
            let next = next.unwrap_or(until).max(self.now);
            if next >= until {
                self.now = until;
                return;
            }
            self.now = next;
            for p in &mut self.pcs {
                if p.poll_timeout().is_some_and(|t| t <= self.now) {
                    p.handle_timeout(self.now);
                }
            }
        }
    }

    pub fn negotiate(&mut self) {
        let now = self.now;
        let offer = self.pcs[0].create_offer(now).unwrap();
        self.pcs[0]
            .set_local_description(SdpType::Offer, &offer)
            .unwrap();
        self.pcs[1]
            .set_remote_description(now, SdpType::Offer, &offer)
            .unwrap();
        let answer = self.pcs[1].create_answer().unwrap();
        self.pcs[1]
            .set_local_description(SdpType::Answer, &answer)
            .unwrap();
        self.pcs[0]
            .set_remote_description(now, SdpType::Answer, &answer)
            .unwrap();
    }
}

pub fn connected(n: &Net) -> bool {
    n.pcs
        .iter()
        .all(|p| p.state() == ConnectionState::Connected)
}

pub fn messages(events: &[Event], id: u16) -> Vec<(Vec<u8>, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::DataChannelMessage {
                id: i,
                data,
                binary,
            } if *i == id => Some((data.clone(), *binary)),
            _ => None,
        })
        .collect()
}
