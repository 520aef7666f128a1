//! What keeping connections alive costs, sansrtc beside str0m 0.25 (issue 17's idle CPU).
//!
//! 1. **Idle CPU at scale**: `PAIRS` connected pairs per stack (data channel open, certificates
//!    shared), settled by 10 s of simulated idle time, then each pair is run through `IDLE_SECONDS`
//!    (default 30) more simulated seconds with no application traffic: consent checks, SCTP
//!    heartbeats, DTLS and RTCP timers, with every datagram delivered to the other peer. The
//!    benchmark thread's CPU time over all pairs divided by the simulated time is the share of one
//!    core that keeps `2 x PAIRS` connections alive, reported scaled to 10,000 connections.
//! 2. **Cost per timer poll against the number of m-lines**: pairs with 1, 10 and 50 video
//!    sections (and the data channel); the same idle CPU per connection, and the CPU of one
//!    "nothing is due" timer round (`handle_timeout(now)` + `poll_timeout()` for us;
//!    `Input::Timeout(now)` + `poll_output()` until its `Timeout` for str0m), which a driver
//!    makes for every connection whose deadline it reached.
//!
//! The clock is fake and jumps from deadline to deadline, so the CPU measured is protocol work
//! plus the in-memory driver's (the same for both stacks). Run:
//! `cargo bench -p sansrtc-benches --bench idle` (`PAIRS=5000` for 10,000 connections).

use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use sansrtc::sdp::Direction;
use sansrtc_benches::peer::{Certs, SansrtcPair, Str0mPair, init_str0m};
use str0m::media::MediaKind;

/// Idle time every pair gets after its setup, before measuring (handshake leftovers expire).
const SETTLE: Duration = Duration::from_secs(10);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sansrtc_pairs(n: usize, certs: &Certs, start: Instant, video: usize) -> Vec<SansrtcPair> {
    (0..n)
        .map(|_| {
            let mut p = SansrtcPair::new_with(start, Some(certs), |pc| {
                for _ in 0..video {
                    pc.add_transceiver(sansrtc::codecs::video_transceiver(Direction::SendRecv));
                }
            });
            p.connect();
            assert_eq!(p.pcs[1].media_mids().count(), video);
            p.idle(SETTLE);
            p
        })
        .collect()
}

fn str0m_pairs(n: usize, certs: &Certs, start: Instant, video: usize) -> Vec<Str0mPair> {
    (0..n)
        .map(|_| {
            let mut p = Str0mPair::new(start, Some(certs), None);
            p.media = vec![MediaKind::Video; video];
            p.connect();
            p.idle(SETTLE);
            p
        })
        .collect()
}

/// CPU seconds per simulated second for all the pairs (one core = 1.0).
fn idle_share<P>(pairs: &mut [P], d: Duration, idle: impl Fn(&mut P, Duration)) -> f64 {
    let cpu = ThreadTime::now();
    for p in pairs.iter_mut() {
        idle(p, d);
    }
    cpu.elapsed().as_secs_f64() / d.as_secs_f64()
}

/// CPU nanoseconds of one timer round when nothing is due, averaged over the pairs' offerers.
fn timer_round_ns<P>(pairs: &mut [P], round: impl Fn(&mut P)) -> f64 {
    const ROUNDS: usize = 200;
    let cpu = ThreadTime::now();
    for p in pairs.iter_mut() {
        for _ in 0..ROUNDS {
            round(p);
        }
    }
    cpu.elapsed().as_nanos() as f64 / (ROUNDS * pairs.len()) as f64
}

fn sansrtc_round(p: &mut SansrtcPair) {
    let now = p.now;
    let pc = &mut p.pcs[0];
    pc.handle_timeout(now);
    std::hint::black_box(pc.poll_timeout());
}

fn str0m_round(p: &mut Str0mPair) {
    let now = p.now;
    let rtc = &mut p.rtcs[0];
    rtc.handle_input(str0m::Input::Timeout(now)).unwrap();
    loop {
        match rtc.poll_output().unwrap() {
            str0m::Output::Timeout(t) => {
                std::hint::black_box(t);
                return;
            }
            other => {
                std::hint::black_box(other);
            }
        }
    }
}

fn main() {
    let pairs = env_or("PAIRS", 1000) as usize;
    let d = Duration::from_secs(env_or("IDLE_SECONDS", 30));
    init_str0m();
    let certs = Certs::generate();
    let start = Instant::now();

    let conns = 2 * pairs;
    println!(
        "idle: {conns} connections per stack (data channel open), {d:?} of simulated idle time"
    );
    let mut ours = sansrtc_pairs(pairs, &certs, start, 0);
    let our_share = idle_share(&mut ours, d, |p, d| p.idle(d));
    drop(ours);
    let mut theirs = str0m_pairs(pairs, &certs, start, 0);
    let their_share = idle_share(&mut theirs, d, |p, d| p.idle(d));
    drop(theirs);
    let scale = 10_000.0 / conns as f64;
    println!(
        "  sansrtc: {:.3}% of one core ({:.3}% per 10,000 connections)",
        100.0 * our_share,
        100.0 * our_share * scale
    );
    println!(
        "    str0m: {:.3}% of one core ({:.3}% per 10,000 connections), ratio {:.2}x",
        100.0 * their_share,
        100.0 * their_share * scale,
        their_share / our_share
    );

    let few = (pairs / 10).max(10);
    println!("m-lines: {few} pairs per stack and size, video sections + the data channel");
    for video in [1, 10, 50] {
        let mut ours = sansrtc_pairs(few, &certs, start, video);
        let our_share = idle_share(&mut ours, d, |p, d| p.idle(d));
        let our_round = timer_round_ns(&mut ours, sansrtc_round);
        drop(ours);
        let mut theirs = str0m_pairs(few, &certs, start, video);
        let their_share = idle_share(&mut theirs, d, |p, d| p.idle(d));
        let their_round = timer_round_ns(&mut theirs, str0m_round);
        drop(theirs);
        let per_conn = |share: f64| share / (2 * few) as f64 * 1e6;
        println!(
            "  {video:>2} video: sansrtc {:.2} us CPU per connection-second, {:.0} ns per timer \
             round | str0m {:.2} us, {:.0} ns",
            per_conn(our_share),
            our_round,
            per_conn(their_share),
            their_round
        );
    }
}
