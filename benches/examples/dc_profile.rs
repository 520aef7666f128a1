//! Moves data channel messages between two connected peer connections in a loop, for a
//! profiler (`perf record`): `dc_profile [rounds of 64 x 16 KiB]`.
use std::time::Instant;

use sansrtc_benches::peer::{Certs, SansrtcPair};

fn main() {
    let certs = Certs::generate();
    let mut pair = SansrtcPair::setup(Instant::now(), Some(&certs));
    let msg = vec![0xA5u8; 16 * 1024];
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000);
    let t = Instant::now();
    for _ in 0..rounds {
        pair.transfer(64, &msg, 16 * 1024);
    }
    let bytes = (rounds * 64 * msg.len()) as f64;
    println!("{:.0} MB/s", bytes / t.elapsed().as_secs_f64() / 1e6);
}
