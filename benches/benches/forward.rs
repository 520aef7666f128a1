//! Forwarding, as a selective forwarding unit does it (issue 17): one publisher's 1200 B video
//! packets reach the server's connection to it (SRTP unprotected once), and the server writes
//! each packet's payload on its connection to every subscriber (`write_rtp`: header from the
//! subscriber's own track, SRTP protected per subscriber, datagram queued and taken). Reported
//! per packet out, N = 1, 10 and 100 subscribers, beside the crypto ceiling: the srtp crate
//! protecting the same 1200 B packet in place with the same profile, nothing else.
//!
//! The last case keeps no retransmission history on the subscribers' connections, to show what
//! the per-subscriber copy of each packet into its history costs.
//!
//! Run: `cargo bench -p sansrtc-benches --bench forward`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sansrtc::sdp::Direction;
use sansrtc::{Event, Mid, PeerConnection, RtpWrite};
use sansrtc_benches::peer::{ADDRS, Certs, SansrtcPair};

/// A connected pair with one video section: (the far end, the server's end, its mid). The
/// server's end keeps `history` packets for retransmissions.
fn video_pair(certs: &Certs, history: usize) -> (PeerConnection, PeerConnection, Mid, Instant) {
    let addrs = ADDRS.map(|a| a.parse().unwrap());
    let mut pair = SansrtcPair::new_configured(
        Instant::now(),
        Some(certs),
        addrs,
        |config| config.retransmission_history = history,
        |pc| {
            pc.add_transceiver(sansrtc::codecs::video_transceiver(Direction::SendRecv));
        },
    );
    pair.connect();
    let now = pair.now;
    let [client, server] = pair.into_peers();
    let mid = server.media_mids().next().expect("video negotiated");
    (client, server, mid, now)
}

fn forward(c: &mut Criterion) {
    let certs = Certs::generate();
    let payload = [0x42u8; 1200];
    let mut group = c.benchmark_group("forward_1200B");
    let (mut publisher, mut ingest, pub_mid, now) = video_pair(&certs, 512);
    let profile = ingest.srtp_profile().expect("SRTP up");
    let pt = publisher
        .track(pub_mid)
        .unwrap()
        .codecs()
        .first()
        .expect("a codec")
        .payload_type;
    // The default retransmission history (512 packets per subscriber), and none: what copying
    // each packet into 100 cache-cold histories costs.
    for (n, history) in [(1usize, 512), (10, 512), (100, 512), (100, 0)] {
        let mut subscribers: Vec<(PeerConnection, Mid)> = (0..n)
            .map(|_| {
                let (_client, server, mid, _) = video_pair(&certs, history);
                (server, mid)
            })
            .collect();
        let mut ts = 0u32;
        group.throughput(Throughput::Elements(n as u64));
        let name = match history {
            0 => format!("sansrtc_no_history/{n}_subscribers"),
            _ => format!("sansrtc/{n}_subscribers"),
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                ts = ts.wrapping_add(3000);
                publisher
                    .write_rtp(now, pub_mid, RtpWrite::new(pt, ts, black_box(&payload)))
                    .unwrap();
                while let Some(t) = publisher.poll_transmit() {
                    ingest.handle_receive(now, t.source, t.destination, &t.contents);
                }
                while let Some(e) = ingest.poll_event() {
                    let Event::Rtp(rtp) = e else { continue };
                    for (sub, mid) in &mut subscribers {
                        sub.write_rtp(
                            now,
                            *mid,
                            RtpWrite::new(rtp.payload_type, rtp.timestamp, rtp.payload())
                                .marker(rtp.marker),
                        )
                        .unwrap();
                        while let Some(t) = sub.poll_transmit() {
                            black_box(t.contents.len());
                        }
                    }
                }
            })
        });
    }
    // The ceiling: SRTP protect of the same packet with the negotiated profile, in place.
    let key = [7u8; 32];
    let salt = [9u8; 14];
    let (k, s) = (&key[..profile.key_len()], &salt[..profile.salt_len()]);
    let mut tx = sansrtc::srtp::Context::new(profile, k, s, Default::default()).unwrap();
    let mut packet = vec![0u8; 12 + 1200 + 16];
    let mut seq = 0u16;
    group.throughput(Throughput::Elements(1));
    group.bench_function("srtp_protect_alone", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            packet[..12].copy_from_slice(&[0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            packet[2..4].copy_from_slice(&seq.to_be_bytes());
            packet[12..1212].copy_from_slice(black_box(&payload));
            black_box(tx.protect_rtp_in(&mut packet, 1212).unwrap());
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = forward
}
criterion_main!(benches);
