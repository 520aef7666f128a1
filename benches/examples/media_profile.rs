//! Runs the peer connection's media path in a loop, for a profiler (`perf record`).
use std::time::Instant;

use sansrtc::sdp::Direction;
use sansrtc_benches::peer::{Certs, SansrtcPair};

fn main() {
    let certs = Certs::generate();
    let mut pair = SansrtcPair::new_with(Instant::now(), Some(&certs), |pc| {
        pc.add_transceiver(sansrtc::codecs::video_transceiver(Direction::SendRecv));
    });
    pair.connect();
    let now = pair.now;
    let [mut a, mut b] = pair.into_peers();
    let mid = a.media_mids().next().expect("video");
    let payload = [0x42u8; 1200];
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let t = Instant::now();
    for i in 0..n {
        a.write_rtp(now, mid, sansrtc::RtpWrite::new(96, i * 3000, &payload))
            .unwrap();
        while let Some(t) = a.poll_transmit() {
            b.handle_receive(now, t.source, t.destination, &t.contents);
        }
        while let Some(e) = b.poll_event() {
            std::hint::black_box(e);
        }
    }
    println!("{:?} per packet", t.elapsed() / n);
}
