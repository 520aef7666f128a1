//! Two peer connections through a simulated lossy link (loss up to 20%, duplication, delay and
//! reordering), over many seeds and both DTLS roles: setup completes through ICE, DTLS and SCTP
//! retransmissions, every reliable message arrives exactly once and in order, SRTP never
//! delivers a duplicate, and closing finishes.

use std::collections::HashSet;
use std::time::Duration;

use sansrtc::sdp::{Direction, Setup};
use sansrtc::{ChannelConfig, ConnectionState, Event, RtpWrite, codecs};

mod common;

use common::{Link, Net, connected, messages, opened_id};

fn run_seed(seed: u64) {
    let setup = if seed.is_multiple_of(2) {
        Setup::Active
    } else {
        Setup::Passive
    };
    let mut n = Net::with_setup(1000 + seed * 7, setup);
    n.link = Link {
        loss: (seed % 5) as f64 * 0.05,
        duplicate: 0.05,
        delay: Duration::from_millis(5 + seed % 20),
        jitter: Duration::from_millis(seed % 30),
    };
    for p in &mut n.pcs {
        p.add_transceiver(codecs::audio_transceiver(Direction::SendRecv));
    }
    n.negotiate();
    n.run_until(Duration::from_secs(120), connected);
    let reliable = n.pcs[0]
        .create_data_channel(n.now, ChannelConfig::reliable("reliable"))
        .unwrap();
    let mut lossy_config = ChannelConfig::reliable("lossy");
    lossy_config.ordered = false;
    lossy_config.reliability = sansrtc::sctp::Reliability::MaxRetransmits(0);
    let lossy = n.pcs[1].create_data_channel(n.now, lossy_config).unwrap();
    n.run_until(Duration::from_secs(60), |n| {
        n.events.iter().all(|e| {
            e.iter()
                .filter(|e| matches!(e, Event::DataChannelOpen { .. }))
                .count()
                == 2
        })
    });
    let mut sent = Vec::new();
    for i in 0..40usize {
        let len = if i == 20 {
            100 * 1024
        } else {
            1 + (i * 97) % 3000
        };
        let data: Vec<u8> = (0..len).map(|k| (k * 31 + i) as u8).collect();
        n.pcs[0]
            .channel(reliable)
            .unwrap()
            .send_message(
                n.now,
                &data,
                if i % 3 == 0 {
                    sansrtc::MessageKind::Binary
                } else {
                    sansrtc::MessageKind::Text
                },
            )
            .unwrap();
        sent.push((data, i % 3 == 0));
        let _ = n.pcs[1].channel(lossy).unwrap().send(n.now, &[i as u8; 50]);
    }
    let mid = n.pcs[0].media_mids().next().unwrap();
    let payload = [0x42u8; 120];
    for i in 0..100u32 {
        n.pcs[0]
            .write_rtp(n.now, mid, RtpWrite::new(111, i * 960, &payload))
            .unwrap();
    }
    // Each side knows the other's channel by its own id.
    let reliable_rx = opened_id(&n.events[1], "reliable").unwrap();
    let lossy_rx = opened_id(&n.events[0], "lossy").unwrap();
    n.run_until(Duration::from_secs(120), |n| {
        messages(&n.events[1], reliable_rx).len() == sent.len()
    });
    assert_eq!(messages(&n.events[1], reliable_rx), sent, "seed {seed}");
    // Partially reliable, unordered: some may be lost, none duplicated.
    let lossy_got = messages(&n.events[0], lossy_rx);
    let unique: HashSet<_> = lossy_got.iter().map(|(d, _)| d[0]).collect();
    assert_eq!(unique.len(), lossy_got.len(), "seed {seed}: duplicate");
    // SRTP replay protection: duplicated datagrams are never delivered twice.
    let seqs: Vec<u16> = n.events[1]
        .iter()
        .filter_map(|e| match e {
            Event::Rtp(p) => Some(p.sequence_number),
            _ => None,
        })
        .collect();
    let unique: HashSet<_> = seqs.iter().collect();
    assert_eq!(unique.len(), seqs.len(), "seed {seed}: RTP duplicate");
    assert!(
        seqs.len() >= 60,
        "seed {seed}: only {} RTP packets",
        seqs.len()
    );
    n.pcs[0].close(n.now);
    n.run_until(Duration::from_secs(10), |n| n.pcs[0].is_closed());
    assert_eq!(n.pcs[0].state(), ConnectionState::Closed);
}

#[test]
fn lossy_link_over_many_seeds() {
    let seeds: u64 = std::env::var("SANSRTC_LOSSY_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    for seed in 0..seeds {
        run_seed(seed);
    }
}
