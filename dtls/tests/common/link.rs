//! Two endpoints through a simulated link with a fake clock: loss, duplication and random delay
//! (hence reordering), each draw from a seeded generator, so every seed replays exactly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use sansrtc_dtls::{Config, Endpoint, Event, Rng, TestRng};

/// What the link does to each datagram.
pub struct Link {
    /// Probability that a copy is lost.
    pub loss: f64,
    /// Probability that a datagram is sent twice.
    pub duplicate: f64,
    /// Each copy is delayed 1 ms plus up to this much.
    pub max_delay_ms: u64,
}

/// A link that loses, duplicates and reorders nothing (1 ms per datagram).
pub const PERFECT: Link = Link {
    loss: 0.0,
    duplicate: 0.0,
    max_delay_ms: 0,
};

/// The endpoints after a run, and what they said.
pub struct Outcome {
    pub client: Endpoint,
    pub server: Endpoint,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Simulated time from the start to the end of the run.
    pub elapsed: Duration,
    /// Datagrams the endpoints sent (before loss and duplication).
    pub datagrams: usize,
}

/// (delivery time, tie-breaker, to the client?, datagram).
type InFlight = (Instant, u64, bool, Vec<u8>);

/// Runs a handshake from `client.connect` until both are connected (or one closed) and nothing
/// is in flight; `mitm` may rewrite each client-to-server datagram.
pub fn run(
    seed: u64,
    link: &Link,
    client_cfg: Config,
    server_cfg: Config,
    mitm: &mut dyn FnMut(Vec<u8>) -> Vec<u8>,
) -> Outcome {
    let mut rng = TestRng::new(seed ^ 0x5eed);
    let mut chance = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let start = Instant::now();
    let mut now = start;
    let mut client = Endpoint::client(client_cfg, Box::new(TestRng::new(seed)));
    let mut server = Endpoint::server(server_cfg, Box::new(TestRng::new(seed.wrapping_add(1))));
    let mut queue: BinaryHeap<Reverse<InFlight>> = BinaryHeap::new();
    let (mut counter, mut datagrams) = (0u64, 0usize);
    let (mut client_events, mut server_events) = (Vec::new(), Vec::new());
    client.connect(now);
    for _ in 0..100_000 {
        for (from_client, ep) in [(true, &mut client), (false, &mut server)] {
            while let Some(mut d) = ep.poll_transmit() {
                datagrams += 1;
                if from_client {
                    d = mitm(d);
                }
                let copies = if chance() < link.duplicate { 2 } else { 1 };
                for _ in 0..copies {
                    if chance() < link.loss {
                        continue;
                    }
                    let delay =
                        Duration::from_millis(1 + (chance() * link.max_delay_ms as f64) as u64);
                    counter += 1;
                    queue.push(Reverse((now + delay, counter, !from_client, d.clone())));
                }
            }
        }
        client_events.extend(std::iter::from_fn(|| client.poll_event()));
        server_events.extend(std::iter::from_fn(|| server.poll_event()));
        let done = (client.is_connected() && server.is_connected())
            || client.is_closed()
            || server.is_closed();
        if done && queue.is_empty() {
            break;
        }
        let next_packet = queue.peek().map(|Reverse((t, ..))| *t);
        let next = [next_packet, client.poll_timeout(), server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { break };
        now = now.max(next);
        if next_packet == Some(next) {
            let Reverse((_, _, to_client, d)) = queue.pop().unwrap();
            if to_client {
                client.handle_receive(now, &d)
            } else {
                server.handle_receive(now, &d)
            }
        } else {
            client.handle_timeout(now);
            server.handle_timeout(now);
        }
    }
    Outcome {
        client,
        server,
        client_events,
        server_events,
        elapsed: now - start,
        datagrams,
    }
}
