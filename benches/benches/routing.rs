//! Finding the connection a datagram belongs to when N connections share one server address,
//! sansrtc's `Router` beside str0m 0.25's way (its chat example asks each `Rtc` in turn whether
//! it `accepts` the datagram), in the same run.
//!
//! N connected pairs are built (certificates shared); every answerer sits on one server address,
//! every offerer on its own client address. For sansrtc each answerer is inserted in a `Router`
//! and its validated path learned. Then, cycling over the clients:
//!
//! - `route_rtp/sansrtc/N`: an SRTP-looking datagram from a client, routed by its 5-tuple;
//! - `route_stun/sansrtc/N`: a STUN Binding request naming the connection's ufrag (USERNAME
//!   parsed, then one hash lookup);
//! - `route_rtp/str0m_accepts/N`: the same RTP datagram offered to each `Rtc` until one accepts
//!   it (on average N/2 asks).
//!
//! Run: `cargo bench -p sansrtc-benches --bench routing` (`ROUTING_N=1000,10000` by default for
//! sansrtc; str0m at 1,000 only: its scan is linear).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sansrtc::Router;
use sansrtc::ice::stun::{Attribute, MessageBuilder, MessageType, TransactionId};
use sansrtc_benches::peer::{Certs, SansrtcPair, Str0mPair};
use str0m::net::{Protocol, Receive};

const SERVER: &str = "127.0.0.2:5000";

fn client(i: usize) -> SocketAddr {
    SocketAddr::from((
        [127, 0, 1 + (i / 50_000) as u8, 1],
        10_000 + (i % 50_000) as u16,
    ))
}

/// An RTP header and a little payload (routing looks at the first byte only).
const RTP: [u8; 40] = {
    let mut p = [0u8; 40];
    p[0] = 0x80;
    p[1] = 96;
    p
};

fn stun_request(ufrag: &str) -> Vec<u8> {
    let mut buf = [0u8; 128];
    let mut b = MessageBuilder::new(
        &mut buf,
        MessageType::BINDING_REQUEST,
        TransactionId([3; 12]),
    )
    .unwrap();
    b.add(&Attribute::Username(&format!("{ufrag}:abcd")))
        .unwrap();
    b.add_fingerprint().unwrap();
    let len = b.finish();
    buf[..len].to_vec()
}

fn counts() -> Vec<usize> {
    std::env::var("ROUTING_N")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000])
}

fn sansrtc_routing(c: &mut Criterion) {
    let certs = Certs::generate();
    let server: SocketAddr = SERVER.parse().unwrap();
    let now = Instant::now();
    for n in counts() {
        let mut router = Router::new();
        let mut servers = Vec::with_capacity(n);
        let mut requests = Vec::with_capacity(n);
        for i in 0..n {
            let mut pair = SansrtcPair::new_between(now, Some(&certs), [client(i), server], |_| {});
            pair.connect();
            let [_, pc] = pair.into_peers();
            router.insert(i, &pc).unwrap();
            // The connection validated its path during the handshake; a STUN-looking datagram
            // lets the router learn it.
            router.learn(i, &pc, server, client(i), &[0u8; 20]);
            assert_eq!(router.route(server, client(i), &RTP), Some(i));
            requests.push(stun_request(pc.local_ufrag()));
            servers.push(pc);
        }
        assert_eq!(router.path_count(), n);
        let mut g = c.benchmark_group("route_rtp");
        g.throughput(Throughput::Elements(1));
        let mut i = 0;
        g.bench_function(format!("sansrtc/{n}"), |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                black_box(router.route(server, client(i), black_box(&RTP)))
            })
        });
        g.finish();
        let mut g = c.benchmark_group("route_stun");
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("sansrtc/{n}"), |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                black_box(router.route(server, client(i), black_box(&requests[i])))
            })
        });
        g.finish();
    }
}

fn str0m_accepts(c: &mut Criterion) {
    let certs = Certs::generate();
    let server: SocketAddr = SERVER.parse().unwrap();
    let now = Instant::now();
    let n = 1_000;
    let mut rtcs = Vec::with_capacity(n);
    for i in 0..n {
        let mut pair = Str0mPair::new_between(now, Some(&certs), None, [client(i), server]);
        pair.connect();
        let [_, rtc] = pair.into_peers();
        rtcs.push(rtc);
    }
    let mut g = c.benchmark_group("route_rtp");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function(format!("str0m_accepts/{n}"), |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            let r = Receive::new(Protocol::Udp, client(i), server, black_box(&RTP)).unwrap();
            let input = str0m::Input::Receive(now, r);
            black_box(rtcs.iter().position(|rtc| rtc.accepts(&input)))
        })
    });
    g.finish();
}

criterion_group!(benches, sansrtc_routing, str0m_accepts);
criterion_main!(benches);
