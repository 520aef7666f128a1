//! NACKed packets are sent again from the sender's history (RTX when negotiated, RFC 4588, or
//! the original packet), and received RTX comes out as the packet it repairs: two peer
//! connections in one process, a packet dropped on the wire on purpose.

use std::time::Duration;

use sansrtc::codecs::{rtx, vp8};
use sansrtc::sdp::Direction;
use sansrtc::sdp::jsep::{HeaderExtension, MediaKind, Transceiver};
use sansrtc::{Event, RtpReceived, RtpWrite};

mod common;

use common::{Net, connected};

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

fn received(events: &[Event]) -> Vec<&RtpReceived> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Rtp(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// Connected peers with one video section; peer 0 sends 20 packets of which the 11th is lost
/// on the wire. Returns the net, the mid and the lost packet's sequence number.
fn one_packet_lost(seed: u64, with_rtx: bool, history: usize) -> (Net, String, u16) {
    let mut n = Net::with_config(seed, |c| {
        c.data_channels = false;
        c.retransmission_history = history;
    });
    for p in &mut n.pcs {
        p.add_transceiver(video(with_rtx));
    }
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    let mid = n.pcs[0].media_mids()[0].clone();
    for i in 0..20u32 {
        let payload = vec![i as u8; 300];
        n.pcs[0]
            .write_rtp(n.now, &mid, RtpWrite::new(96, i * 3000, &payload))
            .unwrap();
        if i == 10 {
            n.collect();
            n.drop_newest();
        }
    }
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
