//! Random packets (with valid checksums and the right verification tag) into an established pair
//! of associations, interleaved with real traffic: nothing may panic, memory stays bounded.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sansrtc_sctp::packet::finish_packet;
use sansrtc_sctp::{Association, Config, SeededRng, SendOptions};

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut rng = SeededRng::new(1);
    let mut a = Association::new(Config::default(), now, &mut rng);
    let mut b = Association::new(Config::default(), now, &mut rng);
    a.connect(now);
    let mut a_to_b = Vec::new();
    for _ in 0..6 {
        while let Some(p) = a.poll_transmit(now) {
            a_to_b = p.clone();
            b.handle_receive(now, &p);
        }
        while let Some(p) = b.poll_transmit(now) {
            a.handle_receive(now, &p);
        }
    }
    // The header of a genuine packet from a to b: ports and b's verification tag.
    let header: Vec<u8> = a_to_b.get(..12).map(|h| h.to_vec()).unwrap_or_default();
    for (i, piece) in data.split(|&x| x == 0xFF).enumerate() {
        let mut p = header.clone();
        p.extend_from_slice(piece);
        finish_packet(&mut p, false);
        b.handle_receive(now, &p);
        let _ = a.send(now, (i % 4) as u16, 53, vec![i as u8; 1 + i * 300], SendOptions::default());
        for _ in 0..4 {
            while let Some(p) = a.poll_transmit(now) {
                b.handle_receive(now, &p);
            }
            while let Some(p) = b.poll_transmit(now) {
                a.handle_receive(now, &p);
            }
            while b.poll_event().is_some() {}
            while a.poll_event().is_some() {}
        }
        now += Duration::from_millis(50);
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
});
