//! A setup storm: 1,000 connection pairs arrive at once and are set up side by side on one
//! thread (offer -> answer -> ICE -> DTLS -> SCTP -> data channel open on both sides), sansrtc
//! beside str0m 0.25 in the same run. Every pair signals first; then the pairs take turns, one
//! datagram or timer each per round, so 2,000 handshakes are in flight together as on a server
//! when many clients arrive at once. Reported: connections set up per CPU second (one
//! connection is one side of a pair), with certificates shared (made once) and with a fresh
//! certificate per connection (each stack's default, made when the connection is: counted).
//!
//! Run: `cargo bench -p sansrtc-benches --bench setup_storm` (`PAIRS=n` changes the count,
//! `STACK=sansrtc` or `STACK=str0m` runs one stack only, e.g. under a profiler).

use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use sansrtc_benches::peer::{Certs, SansrtcPair, Str0mPair, init_str0m};

/// Makes `n` pairs (connections, certificates unless shared) and sets them up side by side;
/// returns the thread CPU time it took.
fn storm<P>(
    n: usize,
    make: impl Fn() -> P,
    begin: impl Fn(&mut P),
    step: impl Fn(&mut P) -> bool,
) -> Duration {
    let start = ThreadTime::now();
    let mut pairs: Vec<P> = (0..n).map(|_| make()).collect();
    for p in &mut pairs {
        begin(p);
    }
    let mut done = vec![false; pairs.len()];
    let mut left = pairs.len();
    while left > 0 {
        for (p, d) in pairs.iter_mut().zip(done.iter_mut()) {
            if !*d && step(p) {
                *d = true;
                left -= 1;
            }
        }
    }
    let cpu = start.elapsed();
    drop(pairs);
    cpu
}

fn report(name: &str, pairs: usize, cpu: Duration) -> f64 {
    let per_s = (2 * pairs) as f64 / cpu.as_secs_f64();
    println!(
        "{name:<34} {pairs} pairs in {:>7.1} ms CPU: {per_s:>7.0} connections/s per core ({:.0} us each)",
        cpu.as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e6 / (2 * pairs) as f64
    );
    per_s
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let pairs: usize = std::env::var("PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    init_str0m();
    let certs = Certs::generate();
    let now = Instant::now();
    for (label, shared) in [("certificates shared", true), ("fresh certificates", false)] {
        let c = shared.then_some(&certs);
        let only = std::env::var("STACK").unwrap_or_default();
        let ours = storm(
            if only == "str0m" { 0 } else { pairs },
            || SansrtcPair::new(now, c),
            SansrtcPair::begin,
            SansrtcPair::step,
        );
        let theirs = storm(
            if only == "sansrtc" { 0 } else { pairs },
            || Str0mPair::new(now, c, None),
            Str0mPair::begin,
            Str0mPair::step,
        );
        let a = report(&format!("sansrtc, {label}"), pairs, ours);
        let b = report(&format!("str0m, {label}"), pairs, theirs);
        println!("  ratio {:.1}x", a / b);
    }
}
