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
    if std::env::args().nth(2).as_deref() == Some("srtp") {
        srtp_alone(a.srtp_profile().expect("SRTP up"), &payload, n);
        return;
    }
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

/// The srtp crate alone on the same packet (protect + unprotect in place), for comparison.
fn srtp_alone(profile: sansrtc::srtp::Profile, payload: &[u8], n: u32) {
    use sansrtc::srtp::Context;
    let (key, salt) = ([7u8; 32], [9u8; 14]);
    let (k, s) = (&key[..profile.key_len()], &salt[..profile.salt_len()]);
    let mut tx = Context::new(profile, k, s, sansrtc::srtp::Config::default()).unwrap();
    let mut rx = Context::new(profile, k, s, sansrtc::srtp::Config::default()).unwrap();
    let mut packet = vec![0u8; 12 + payload.len() + 16];
    let t = Instant::now();
    for i in 0..n {
        packet[..12].copy_from_slice(&[0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        packet[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        packet[12..12 + payload.len()].copy_from_slice(std::hint::black_box(payload));
        let len = tx.protect_rtp_in(&mut packet, 12 + payload.len()).unwrap();
        std::hint::black_box(rx.unprotect_rtp_in(&mut packet[..len]).unwrap());
    }
    println!("{:?} per packet (srtp alone)", t.elapsed() / n);
}
