//! Transport-wide congestion control feedback: packets we write carry transport-wide sequence
//! numbers when the extension is negotiated, and the receiving peer reports every arrival (and
//! every loss) back in transport-cc feedback, with receive deltas that match the link's timing.

use std::time::Duration;

use sansrtc::codecs;
use sansrtc::rtp::extension::{ExtensionKind, ExtensionMap, TransportSequence};
use sansrtc::rtp::rtcp::{CompoundIter, PacketStatus, RtcpPacket};
use sansrtc::sdp::Direction;
use sansrtc::{Event, RtpWrite};

mod common;

use common::{Net, connected};

#[test]
fn every_arrival_and_loss_is_reported_to_the_sender() {
    let mut n = Net::with_config(500, |c| c.data_channels = false);
    for p in &mut n.pcs {
        p.add_transceiver(codecs::video_transceiver(Direction::SendRecv));
    }
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    let mid = n.pcs[0].media_mids().next().unwrap();
    let before = n.events[0].len();
    for i in 0..50u32 {
        n.pcs[0]
            .write_rtp(n.now, mid, RtpWrite::new(96, i * 3000, &[5; 200]))
            .unwrap();
        if i == 20 {
            n.collect();
            n.drop_newest();
        }
        n.run_for(Duration::from_millis(5));
    }
    n.run_for(Duration::from_millis(300));

    // The packets carry consecutive transport-wide sequence numbers.
    let mut map = ExtensionMap::new();
    map.insert(3, ExtensionKind::TransportWideCc);
    let sent: Vec<u16> = n.events[1]
        .iter()
        .filter_map(|e| match e {
            Event::Rtp(p) if !p.retransmission => {
                let ext = p.header().extensions()?;
                map.get::<TransportSequence>(&ext).map(|s| s.0)
            }
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 49, "{sent:?}");
    let first = sent[0];
    let lost = first.wrapping_add(20);
    assert!(!sent.contains(&lost));

    // The feedback the sender got describes each of them once.
    let mut reported = std::collections::BTreeMap::new();
    let mut feedback_messages = 0;
    for e in &n.events[0][before..] {
        let Event::Rtcp(compound) = e else { continue };
        for packet in CompoundIter::new(compound) {
            if let Ok(RtcpPacket::TransportCc(t)) = packet {
                feedback_messages += 1;
                for p in t.packets() {
                    let delta = p.delta;
                    let entry = reported.entry(p.sequence).or_insert((p.status, delta));
                    // A retransmission of the lost packet may come later with its own number.
                    assert!(entry.0 == p.status || p.status == PacketStatus::NotReceived);
                }
            }
        }
    }
    assert!(
        (2..=10).contains(&feedback_messages),
        "{feedback_messages} feedback messages in 550 ms"
    );
    for i in 0..50u16 {
        let s = first.wrapping_add(i);
        let (status, delta) = reported[&s];
        if s == lost {
            // Lost on the wire: reported not received (its NACK and RTX came later).
            assert_eq!(status, PacketStatus::NotReceived, "{s}");
        } else {
            assert_ne!(status, PacketStatus::NotReceived, "{s}");
            assert!(delta.is_some(), "{s}");
        }
    }
    // Sent 5 ms apart over a steady link: deltas of 20 units of 250 us (the first of each
    // message counts from its reference time instead).
    let steady = reported
        .values()
        .filter(|(_, d)| d.is_some_and(|d| (19..=21).contains(&d)))
        .count();
    assert!(steady >= 40, "{steady} steady deltas of 49");
}
