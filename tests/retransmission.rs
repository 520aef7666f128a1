//! NACKed packets are sent again from the sender's history (RTX when negotiated, RFC 4588, or
//! the original packet), received RTX comes out as the packet it repairs, and the receiver asks
//! for what it lost by itself: two peer connections in one process, packets dropped on the wire
//! on purpose or by a lossy link.

use std::time::Duration;

use sansrtc::codecs::{rtx, vp8};
use sansrtc::sdp::Direction;
use sansrtc::sdp::jsep::{HeaderExtension, MediaKind, Transceiver};
use sansrtc::{Event, RtpReceived, RtpWrite};

mod common;

use common::{Link, Net, connected, rtp_received as received};

const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";

fn video(with_rtx: bool) -> Transceiver {
    let mut codecs = vec![vp8()];
    if with_rtx {
        codecs.push(rtx(97, 96));
    }
    let mut t = Transceiver::new(MediaKind::Video, Direction::SendRecv, codecs);
    t.header_extensions = vec![HeaderExtension::new(4, MID_URI)];
    t
}

/// Peer 0 writes `count` video packets (payload: the index, 300 times), the 11th lost on the
/// wire.
fn send_with_the_11th_lost(n: &mut Net, mid: sansrtc::Mid, count: u32) {
    for i in 0..count {
        let payload = vec![i as u8; 300];
        n.pcs[0]
            .write_rtp(n.now, mid, RtpWrite::new(96, i * 3000, &payload))
            .unwrap();
        if i == 10 {
            n.collect();
            n.drop_newest();
        }
    }
}

/// Connected peers with one video section each way.
fn video_pair(
    seed: u64,
    with_rtx: bool,
    history: usize,
    nack_requests: bool,
) -> (Net, sansrtc::Mid) {
    let mut n = Net::with_config(seed, |c| {
        c.data_channels = false;
        c.retransmission_history = history;
        c.nack_requests = nack_requests;
    });
    for p in &mut n.pcs {
        p.add_transceiver(video(with_rtx));
    }
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    let mid = n.pcs[0].media_mids().next().unwrap();
    (n, mid)
}

/// Connected peers with one video section; peer 0 sends 20 packets of which the 11th is lost
/// on the wire; the receiver does not NACK by itself. Returns the net, the mid and the lost
/// packet's sequence number.
fn one_packet_lost(seed: u64, with_rtx: bool, history: usize) -> (Net, sansrtc::Mid, u16) {
    let (mut n, mid) = video_pair(seed, with_rtx, history, false);
    send_with_the_11th_lost(&mut n, mid, 20);
    n.run_until(Duration::from_secs(2), |n| {
        received(&n.events[1]).len() == 19
    });
    let got: Vec<u16> = received(&n.events[1])
        .iter()
        .map(|p| p.sequence_number)
        .collect();
    let lost = got[9].wrapping_add(1);
    assert_eq!(got[10], lost.wrapping_add(1), "{got:?}");
    (n, mid, lost)
}

fn nack_and_wait(n: &mut Net, lost: u16) -> Vec<RtpReceived> {
    let ssrc = received(&n.events[1])[0].ssrc;
    let before = received(&n.events[1]).len();
    n.pcs[1].send_nack(n.now, ssrc, &[lost]).unwrap();
    n.run_for(Duration::from_millis(200));
    received(&n.events[1])[before..]
        .iter()
        .map(|p| (*p).clone())
        .collect()
}

#[test]
fn a_nacked_packet_comes_again_as_rtx_and_is_unwrapped() {
    let (mut n, mid, lost) = one_packet_lost(300, true, 512);
    let media_ssrc = received(&n.events[1])[0].ssrc;
    let again = nack_and_wait(&mut n, lost);
    assert_eq!(again.len(), 1, "{again:?}");
    let p = &again[0];
    assert!(p.retransmission);
    assert_eq!(
        (p.ssrc, p.sequence_number, p.payload_type, p.timestamp),
        (media_ssrc, lost, 96, 10 * 3000)
    );
    assert_eq!(p.mid.as_deref(), Some(mid.as_str()));
    assert_eq!(p.payload(), &[10u8; 300][..]);
    let sent = n.pcs[0].stats_report();
    let out = sent
        .outbound_rtp
        .iter()
        .find(|o| o.ssrc == media_ssrc)
        .unwrap();
    assert_eq!((out.retransmitted_packets_sent, out.packets_sent), (1, 20));
    assert_eq!(out.retransmitted_bytes_sent, 300);
    let got = n.pcs[1].stats_report();
    let inb = got
        .inbound_rtp
        .iter()
        .find(|i| i.ssrc == media_ssrc)
        .unwrap();
    assert_eq!(inb.retransmitted_packets_received, 1);
    assert_eq!(inb.packets_lost, 0);
    // Asked twice at once: sent once (at most once per round trip).
    let before = n.pcs[0].stats().retransmissions_sent;
    n.pcs[1].send_nack(n.now, media_ssrc, &[lost]).unwrap();
    n.pcs[1].send_nack(n.now, media_ssrc, &[lost]).unwrap();
    n.run_for(Duration::from_millis(200));
    assert_eq!(n.pcs[0].stats().retransmissions_sent, before + 1);
    // Those repeat a packet the receiver has: dropped, not delivered again.
    let delivered = received(&n.events[1]).len();
    assert_eq!(delivered, 20);
    assert_eq!(n.pcs[1].stats().rtx_discarded, 1);
}

#[test]
fn without_rtx_the_original_packet_is_sent_again() {
    let (mut n, _mid, lost) = one_packet_lost(301, false, 512);
    let media_ssrc = received(&n.events[1])[0].ssrc;
    let again = nack_and_wait(&mut n, lost);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(
        (again[0].ssrc, again[0].sequence_number),
        (media_ssrc, lost)
    );
    assert_eq!(again[0].payload(), &[10u8; 300][..]);
    // Packets that arrived are not accepted twice (SRTP replay protection).
    let ssrc = media_ssrc;
    let first = received(&n.events[1])[0].sequence_number;
    let before = received(&n.events[1]).len();
    n.pcs[1].send_nack(n.now, ssrc, &[first]).unwrap();
    n.run_for(Duration::from_millis(200));
    assert_eq!(received(&n.events[1]).len(), before);
    assert!(n.pcs[0].stats().retransmissions_sent >= 2);
}

#[test]
fn no_history_no_retransmission() {
    let (mut n, _mid, lost) = one_packet_lost(302, true, 0);
    assert!(nack_and_wait(&mut n, lost).is_empty());
    // The NACK still reaches the application.
    assert!(
        n.events[0]
            .iter()
            .any(|e| matches!(e, Event::Nack { lost: l, .. } if *l == [lost]))
    );
}

#[test]
fn the_history_forgets_the_oldest_packets() {
    let (mut n, _mid, lost) = one_packet_lost(303, true, 8);
    // 9 packets were sent after the lost one: it is gone from a history of 8.
    assert!(nack_and_wait(&mut n, lost).is_empty());
    assert_eq!(n.pcs[0].stats().retransmissions_sent, 0);
}

#[test]
fn transceivers_with_rtx_signal_an_rtx_ssrc() {
    let mut n = Net::new(304);
    n.pcs[0].add_transceiver(video(true));
    n.pcs[1].add_transceiver(video(false));
    let offer = n.pcs[0].create_offer(n.now).unwrap();
    assert!(offer.contains("a=ssrc-group:FID "), "{offer}");
    n.pcs[0].rollback();
    let offer = n.pcs[1].create_offer(n.now).unwrap();
    assert!(!offer.contains("a=ssrc-group:FID"), "{offer}");
}

#[test]
fn the_receiver_asks_for_a_lost_packet_by_itself() {
    let (mut n, mid) = video_pair(305, true, 512, true);
    send_with_the_11th_lost(&mut n, mid, 20);
    n.run_for(Duration::from_millis(500));
    let got = received(&n.events[1]);
    assert_eq!(got.len(), 20, "{got:?}");
    let again: Vec<_> = got.iter().filter(|p| p.retransmission).collect();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].payload(), &[10u8; 300][..]);
    let inbound = n.pcs[1].stats_report();
    let inb = &inbound.inbound_rtp[0];
    assert_eq!((inb.nacks_sent, inb.retransmitted_packets_received), (1, 1));
    assert!(n.events[0].iter().any(|e| matches!(e, Event::Nack { .. })));
}

#[test]
fn a_reordered_packet_is_not_asked_for() {
    let (mut n, mid) = video_pair(306, true, 512, true);
    // Every packet takes 1-3 ms more or less: reordered, never lost.
    n.link = Link {
        jitter: Duration::from_millis(2),
        ..Link::PERFECT
    };
    for i in 0..100u32 {
        n.pcs[0]
            .write_rtp(n.now, mid, RtpWrite::new(96, i * 3000, &[1; 100]))
            .unwrap();
        n.run_for(Duration::from_micros(300));
    }
    n.run_for(Duration::from_millis(200));
    assert_eq!(received(&n.events[1]).len(), 100);
    assert_eq!(n.pcs[1].stats_report().inbound_rtp[0].nacks_sent, 0);
}

#[test]
fn video_over_a_lossy_link_arrives_whole_many_seeds() {
    // 10% loss each way (media, NACKs and RTX alike) with reordering: every packet arrives,
    // most first time, the rest through NACK and RTX.
    for seed in 0..20u64 {
        let (mut n, mid) = video_pair(400 + 2 * seed, true, 512, true);
        n.link = Link {
            loss: 0.10,
            duplicate: 0.02,
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(3),
        };
        let count = 300u32;
        // A loss shows from the packets around it: 5 more before and after the ones checked
        // (a stream's first packet lost is never missed, its last one not until the next).
        for i in 0..count + 10 {
            let payload = i.to_be_bytes().repeat(50);
            n.pcs[0]
                .write_rtp(n.now, mid, RtpWrite::new(96, i * 3000, &payload))
                .unwrap();
            n.run_for(Duration::from_millis(3));
        }
        n.run_for(Duration::from_secs(3));
        let mut seen = std::collections::BTreeSet::new();
        for p in received(&n.events[1]) {
            let i = u32::from_be_bytes(p.payload()[..4].try_into().unwrap());
            assert_eq!(p.payload(), &i.to_be_bytes().repeat(50)[..], "seed {seed}");
            seen.insert(i);
        }
        seen.retain(|i| (5..count + 5).contains(i));
        if seen.len() != count as usize {
            // What each side counted, to tell a lost NACK from a refused retransmission.
            eprintln!("{:?}", n.pcs[1].stats_report().inbound_rtp);
            eprintln!("{:?}", n.pcs[0].stats_report().outbound_rtp);
        }
        assert_eq!(
            seen.len(),
            count as usize,
            "seed {seed}: missing {:?}",
            (5..count + 5)
                .filter(|i| !seen.contains(i))
                .collect::<Vec<_>>()
        );
        let stats = n.pcs[1].stats_report();
        assert!(
            stats.inbound_rtp[0].retransmitted_packets_received > 0,
            "seed {seed}"
        );
    }
}

#[test]
fn a_gap_too_large_for_nacks_asks_for_a_key_frame() {
    let (mut n, mid) = video_pair(307, true, 512, true);
    for i in 0..700u32 {
        n.pcs[0]
            .write_rtp(n.now, mid, RtpWrite::new(96, i * 3000, &[2; 50]))
            .unwrap();
        if (50..650).contains(&i) {
            n.collect();
            n.drop_newest();
        }
    }
    n.run_for(Duration::from_millis(300));
    eprintln!("{:?}", n.pcs[1].stats_report().inbound_rtp);
    eprintln!("{}", received(&n.events[1]).len());
    assert!(
        n.events[0].iter().any(|e| matches!(
            e,
            Event::KeyframeRequest {
                kind: sansrtc::KeyframeKind::Pli,
                ..
            }
        )),
        "no PLI"
    );
    let stats = n.pcs[1].stats_report();
    assert_eq!(stats.inbound_rtp[0].plis_sent, 1);
    // Only the last gap's packets, at most 500, were asked for.
    assert!(stats.inbound_rtp[0].retransmitted_packets_received <= 500);
    // A sender that keeps jumping gets at most one key frame request per 300 ms.
    for i in 0..50u32 {
        n.pcs[0]
            .write_rtp(n.now, mid, RtpWrite::new(96, i * 3000, &[3; 50]))
            .unwrap();
        for _ in 0..600 {
            n.pcs[0]
                .write_rtp(n.now, mid, RtpWrite::new(96, i * 3000, &[3; 50]))
                .unwrap();
            n.collect();
            n.drop_newest();
        }
        n.run_for(Duration::from_millis(20));
    }
    n.run_for(Duration::from_millis(300));
    let plis = n.pcs[1].stats_report().inbound_rtp[0].plis_sent;
    assert!((3..=6).contains(&plis), "{plis} PLIs in 1.3 s");
}

/// A forwarding server writes received packets on with [`RtpWrite::shared`]: its history keeps
/// a reference to each instead of a copy. A packet lost after it was forwarded comes again
/// whole when NACKed (as RTX and as the original packet), after the application dropped every
/// handle of it.
#[test]
fn forwarded_shared_packets_are_sent_again_from_the_history() {
    for (seed, with_rtx) in [(310, true), (311, false)] {
        let (mut n, mid) = video_pair(seed, with_rtx, 512, false);
        for i in 0..20u32 {
            let payload = vec![i as u8; 300];
            n.pcs[0]
                .write_rtp(n.now, mid, RtpWrite::new(96, i * 3000, &payload))
                .unwrap();
        }
        n.run_until(Duration::from_secs(2), |n| {
            received(&n.events[1]).len() == 20
        });
        let shared: Vec<sansrtc::SharedPacket> = std::mem::take(&mut n.events[1])
            .into_iter()
            .filter_map(|e| match e {
                Event::Rtp(mut p) => Some(p.share()),
                _ => None,
            })
            .collect();
        assert_eq!(shared.len(), 20);
        // Peer 1 forwards them back to peer 0; the 11th is lost on the wire.
        let back = n.pcs[1].media_mids().next().unwrap();
        for (i, p) in shared.iter().enumerate() {
            n.pcs[1]
                .write_rtp(n.now, back, RtpWrite::shared(96, i as u32 * 3000, p))
                .unwrap();
            if i == 10 {
                n.collect();
                n.drop_newest();
            }
        }
        drop(shared);
        n.run_until(Duration::from_secs(2), |n| {
            received(&n.events[0]).len() == 19
        });
        let got = received(&n.events[0]);
        let ssrc = got[0].ssrc;
        let lost = got[9].sequence_number.wrapping_add(1);
        let before = got.len();
        n.pcs[0].send_nack(n.now, ssrc, &[lost]).unwrap();
        n.run_for(Duration::from_millis(200));
        let again: Vec<&RtpReceived> = received(&n.events[0])[before..].to_vec();
        assert_eq!(again.len(), 1, "rtx {with_rtx}: {again:?}");
        let p = again[0];
        assert_eq!(
            (p.ssrc, p.sequence_number, p.timestamp),
            (ssrc, lost, 30_000)
        );
        assert_eq!(p.payload(), &[10u8; 300][..], "rtx {with_rtx}");
        assert_eq!(p.retransmission, with_rtx);
    }
}
