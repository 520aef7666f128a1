//! Two data-channel endpoints over a seeded lossy, reordering, duplicating link with a fake
//! clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sansrtc_sctp::{
    Config, DataChannelEndpoint, DataChannelEvent, DtlsRole, EndpointConfig, Rng, SeededRng,
    SendError,
};

use super::Link;

pub struct Sim {
    pub now: Instant,
    pub e: [DataChannelEndpoint; 2],
    pub link: Link,
    pub events: [Vec<DataChannelEvent>; 2],
    /// Drive the endpoints without allocating: `send_from_slice`, `poll_transmit_into`, and
    /// every delivered message's buffer handed back with `recycle` (after keeping a copy).
    pub pooled: bool,
    packet: Vec<u8>,
}

impl Sim {
    pub fn new(seed: u64, loss: f64, sctp: Config) -> Sim {
        let mk = |role| {
            let mut c = EndpointConfig::new(role);
            c.sctp = sctp.clone();
            c
        };
        Sim::with_endpoints(seed, loss, [mk(DtlsRole::Client), mk(DtlsRole::Server)])
    }

    /// Endpoints with their own settings (the first should be the DTLS client).
    pub fn with_endpoints(seed: u64, loss: f64, configs: [EndpointConfig; 2]) -> Sim {
        let now = Instant::now();
        let mut r = SeededRng::new(seed);
        let [c0, c1] = configs;
        let e0 = DataChannelEndpoint::new(c0, now, &mut r);
        let e1 = DataChannelEndpoint::new(c1, now, &mut r);
        Sim {
            now,
            e: [e0, e1],
            link: Link::new(seed, loss),
            events: [Vec::new(), Vec::new()],
            pooled: false,
            packet: Vec::new(),
        }
    }

    pub fn flush(&mut self) {
        for i in 0..2 {
            if self.pooled {
                while self.e[i].poll_transmit_into(self.now, &mut self.packet) {
                    self.link.send(self.now, 1 - i, self.packet.clone());
                }
            } else {
                while let Some(p) = self.e[i].poll_transmit(self.now) {
                    self.link.send(self.now, 1 - i, p);
                }
            }
            while let Some(ev) = self.e[i].poll_event() {
                match ev {
                    DataChannelEvent::Message {
                        channel,
                        data,
                        binary,
                    } if self.pooled => {
                        self.events[i].push(DataChannelEvent::Message {
                            channel,
                            data: data.clone(),
                            binary,
                        });
                        self.e[i].recycle(data);
                    }
                    ev => self.events[i].push(ev),
                }
            }
        }
    }

    /// Sends on `side`'s endpoint: with `send_from_slice` when pooled, else with `send`.
    pub fn send(
        &mut self,
        side: usize,
        channel: u16,
        data: &[u8],
        binary: bool,
    ) -> Result<(), SendError> {
        if self.pooled {
            self.e[side].send_from_slice(self.now, channel, data, binary)
        } else {
            self.e[side].send(self.now, channel, data.to_vec(), binary)
        }
    }

    pub fn step(&mut self) -> bool {
        self.flush();
        let next_packet = self.link.queue.keys().next().map(|k| k.0);
        let next_timer = self.e.iter().filter_map(|a| a.poll_timeout()).min();
        let next = match (next_packet, next_timer) {
            (Some(p), Some(t)) => p.min(t),
            (Some(p), None) => p,
            (None, Some(t)) => t,
            (None, None) => return false,
        };
        self.now = self.now.max(next);
        while let Some(entry) = self.link.queue.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let (to, bytes) = entry.remove();
            self.e[to].handle_receive(self.now, &bytes);
            self.flush();
        }
        for e in &mut self.e {
            if e.poll_timeout().is_some_and(|t| t <= self.now) {
                e.handle_timeout(self.now);
            }
        }
        self.flush();
        true
    }

    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }

    pub fn connect(&mut self) {
        let now = self.now;
        self.e[0].connect(now);
        self.e[1].connect(now);
        assert!(
            self.run_until(Duration::from_secs(300), |s| {
                s.events
                    .iter()
                    .all(|ev| ev.contains(&DataChannelEvent::Connected))
            }),
            "no connection: {:?} {:?} {:?}",
            self.e[0].association(),
            self.e[1].association(),
            self.events
        );
    }

    pub fn messages(&self, side: usize, channel: u16) -> Vec<(Vec<u8>, bool)> {
        self.events[side]
            .iter()
            .filter_map(|e| match e {
                DataChannelEvent::Message {
                    channel: c,
                    data,
                    binary,
                } if *c == channel => Some((data.clone(), *binary)),
                _ => None,
            })
            .collect()
    }

    pub fn opened(&self, side: usize) -> HashMap<u16, String> {
        self.events[side]
            .iter()
            .filter_map(|e| match e {
                DataChannelEvent::ChannelOpened { id, label, .. } => Some((*id, label.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn closed(&self, side: usize) -> Vec<u16> {
        self.events[side]
            .iter()
            .filter_map(|e| match e {
                DataChannelEvent::ChannelClosed(id) => Some(*id),
                _ => None,
            })
            .collect()
    }
}

/// How many seeds a multi-seed test runs: `default`, or SCTP_SOAK_SEEDS for longer soak runs.
pub fn soak(default: u64) -> u64 {
    std::env::var("SCTP_SOAK_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

pub fn payload(tag: u64, len: usize) -> Vec<u8> {
    let mut r = SeededRng::new(tag);
    (0..len).map(|_| r.next_u64() as u8).collect()
}

pub fn lossy_config() -> Config {
    let mut config = Config::default();
    config.max_retransmits = None;
    // At 30% loss each way, 8 INIT attempts fail about once in 400 handshakes.
    config.max_init_retransmits = 30;
    config
}
