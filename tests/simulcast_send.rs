//! Simulcast send: our three-layer sender against our own simulcast receiver, two peer
//! connections in one process (no sockets, fake clock). Every layer arrives with its RID on
//! its own SSRC; pausing a layer stops it and resuming restarts it; a lost packet of a layer
//! comes back as RTX on that layer's RTX SSRC named by `repaired-rtp-stream-id`; a PLI on a
//! layer's SSRC reaches the application with that layer's RID; the layer chooser follows a
//! changing estimate; a layer the answer drops is not sent; an answer without simulcast leaves one
//! stream without a RID.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sansrtc::codecs::{video_codecs, video_extensions};
use sansrtc::sdp::Direction;
use sansrtc::sdp::jsep::{HeaderExtension, MediaKind, SendEncoding, Transceiver};
use sansrtc::{
    Error, Event, KeyframeKind, LayerChooser, MediaError, Mid, RtpWrite, SdpType, SendLayer,
};

mod common;

use common::{Net, connected, offer_answer, rtp_received};

const RIDS: [&str; 3] = ["q", "h", "f"];

/// Peer 0 gets a send-only video transceiver in three RID layers, peer 1 a receive-only one
/// offering `recv_extensions`.
fn add_layers(n: &mut Net, recv_extensions: Vec<HeaderExtension>) {
    let mut send = Transceiver::new(MediaKind::Video, Direction::SendOnly, video_codecs());
    send.header_extensions = video_extensions();
    send.send_encodings = RIDS.map(SendEncoding::new).to_vec();
    n.pcs[0].add_transceiver(send);
    let mut recv = Transceiver::new(MediaKind::Video, Direction::RecvOnly, video_codecs());
    recv.header_extensions = recv_extensions;
    n.pcs[1].add_transceiver(recv);
}

/// Peer 0 sends video in three RID layers, peer 1 receives; connected.
fn simulcast_pair(seed: u64) -> (Net, Mid, String, String) {
    let mut n = Net::new(seed);
    add_layers(&mut n, video_extensions());
    let (offer, answer) = n.negotiate_from(0);
    n.run_until(Duration::from_secs(10), connected);
    let mid = n.pcs[0].media_mids().next().expect("a video section");
    let layers: Vec<&str> = n.pcs[0].send_layers(mid).iter().map(|r| &**r).collect();
    assert_eq!(layers, RIDS);
    (n, mid, offer, answer)
}

/// Writes one packet on each of `rids` at frame `i`.
fn send_frame(n: &mut Net, mid: Mid, rids: &[&str], i: u32) -> Vec<Result<(), Error>> {
    rids.iter()
        .map(|rid| {
            let payload = [i as u8; 300];
            let w = RtpWrite::new(96, i * 3000, &payload).marker(true).rid(rid);
            n.pcs[0].write_rtp(n.now, mid, w)
        })
        .collect()
}

/// Media packets (not retransmissions) received per RID.
fn per_rid(n: &Net) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for p in rtp_received(&n.events[1]) {
        if !p.retransmission {
            *m.entry(p.rid.as_deref().unwrap_or("-").to_owned())
                .or_default() += 1;
        }
    }
    m
}

#[test]
fn every_layer_arrives_with_its_rid_and_pause_stops_it() {
    let (mut n, mid, offer, answer) = simulcast_pair(801);
    // The offer names three send layers and offers both RID extensions; the answer accepts
    // them as receive layers.
    assert!(offer.contains("a=rid:q send") && offer.contains("a=rid:f send"));
    assert!(offer.contains("a=simulcast:send q;h;f"), "{offer}");
    assert!(offer.contains("urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"));
    assert!(offer.contains("urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"));
    assert!(answer.contains("a=simulcast:recv q;h;f"), "{answer}");
    for i in 0..10 {
        for r in send_frame(&mut n, mid, &RIDS, i) {
            r.unwrap();
        }
        n.run_for(Duration::from_millis(33));
    }
    let got = per_rid(&n);
    assert_eq!(
        got,
        BTreeMap::from([("f".into(), 10), ("h".into(), 10), ("q".into(), 10)])
    );
    // Three SSRCs, three RTX SSRCs, all different.
    let mut ssrcs: Vec<u32> = Vec::new();
    for rid in RIDS {
        let (media, rtx) = n.pcs[0].layer_ssrcs(mid, rid).expect("layer sent");
        ssrcs.push(media);
        ssrcs.push(rtx.expect("an RTX SSRC per layer"));
        assert!(
            rtp_received(&n.events[1])
                .iter()
                .filter(|p| p.rid.as_deref() == Some(rid))
                .all(|p| p.ssrc == media)
        );
    }
    ssrcs.sort();
    ssrcs.dedup();
    assert_eq!(ssrcs.len(), 6);

    // Pausing f: writing on it fails typed, nothing of f arrives; q and h go on.
    n.pcs[0].set_layer_paused(mid, "f", true).unwrap();
    assert!(n.pcs[0].layer_paused(mid, "f"));
    for i in 10..20 {
        let results = send_frame(&mut n, mid, &RIDS, i);
        assert!(matches!(
            results[2],
            Err(Error::Media(MediaError::LayerPaused))
        ));
        n.run_for(Duration::from_millis(33));
    }
    let got = per_rid(&n);
    assert_eq!((got["q"], got["h"], got["f"]), (20, 20, 10));
    // Resumed, it sends again on the same SSRC.
    n.pcs[0].set_layer_paused(mid, "f", false).unwrap();
    for i in 20..25 {
        for r in send_frame(&mut n, mid, &RIDS, i) {
            r.unwrap();
        }
        n.run_for(Duration::from_millis(33));
    }
    let got = per_rid(&n);
    assert_eq!((got["q"], got["h"], got["f"]), (25, 25, 15));
    // A layer that is not negotiated is refused.
    assert!(matches!(
        n.pcs[0].set_layer_paused(mid, "x", true),
        Err(Error::Media(MediaError::UnknownRid(_)))
    ));
    // Every layer reports its own statistics.
    let report = n.pcs[0].stats_report();
    for rid in RIDS {
        let out = report
            .outbound_rtp
            .iter()
            .find(|o| o.rid.as_deref() == Some(rid))
            .expect("a stream per layer");
        assert!(out.packets_sent >= 15);
    }
}

#[test]
fn a_lost_packet_of_a_layer_comes_back_as_that_layers_rtx() {
    let (mut n, mid, _, _) = simulcast_pair(802);
    for i in 0..5 {
        send_frame(&mut n, mid, &RIDS, i);
        n.run_for(Duration::from_millis(33));
    }
    // Frame 5 of layer h is lost on the way.
    let payload = [0xEE; 300];
    n.pcs[0]
        .write_rtp(
            n.now,
            mid,
            RtpWrite::new(96, 5 * 3000, &payload).marker(true).rid("h"),
        )
        .unwrap();
    n.collect();
    n.drop_newest();
    for i in 6..12 {
        send_frame(&mut n, mid, &RIDS, i);
        n.run_for(Duration::from_millis(33));
    }
    n.run_for(Duration::from_millis(200));
    let (h_ssrc, h_rtx) = n.pcs[0].layer_ssrcs(mid, "h").unwrap();
    let repaired: Vec<_> = rtp_received(&n.events[1])
        .into_iter()
        .filter(|p| p.retransmission)
        .collect();
    assert_eq!(repaired.len(), 1, "one retransmission");
    let p = repaired[0];
    assert_eq!(p.rid.as_deref(), Some("h"));
    assert_eq!(p.ssrc, h_ssrc);
    assert_eq!(p.payload(), &payload[..]);
    // The peer asked about layer h only; only h's stream resent.
    let report = n.pcs[0].stats_report();
    for out in &report.outbound_rtp {
        let expect = u64::from(out.rid.as_deref() == Some("h"));
        assert_eq!(out.retransmitted_packets_sent, expect, "{:?}", out.rid);
    }
    assert!(h_rtx.is_some());
}

#[test]
fn a_keyframe_request_names_the_layer() {
    let (mut n, mid, _, _) = simulcast_pair(803);
    for i in 0..3 {
        send_frame(&mut n, mid, &RIDS, i);
        n.run_for(Duration::from_millis(33));
    }
    for (rid, kind) in [("f", KeyframeKind::Pli), ("q", KeyframeKind::Fir)] {
        let ssrc = rtp_received(&n.events[1])
            .iter()
            .find(|p| p.rid.as_deref() == Some(rid))
            .unwrap()
            .ssrc;
        n.pcs[1].request_keyframe(n.now, ssrc, kind).unwrap();
        n.run_for(Duration::from_millis(50));
        let want = Event::KeyframeRequest {
            mid: Some(mid),
            ssrc,
            rid: Some(Arc::from(rid)),
            kind,
        };
        assert!(n.events[0].contains(&want), "{rid}: {kind:?}");
    }
    let layers: Vec<_> = n.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::KeyframeRequest { rid, .. } => rid.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(layers, [Arc::from("f"), Arc::from("q")]);
}

#[test]
fn the_chooser_follows_a_changing_estimate_and_pauses_the_rest() {
    let (mut n, mid, _, _) = simulcast_pair(804);
    let mut chooser = LayerChooser::new(vec![
        SendLayer::new("q", 150_000),
        SendLayer::new("h", 500_000),
        SendLayer::new("f", 1_500_000),
    ]);
    let t0 = Instant::now();
    // A scripted estimate: low, high, a step down, high again (one value per 100 ms).
    let script: Vec<u64> = [
        (20, 300_000u64),
        (40, 5_000_000),
        (20, 700_000),
        (40, 5_000_000),
    ]
    .iter()
    .flat_map(|&(count, bps)| std::iter::repeat_n(bps, count))
    .collect();
    let mut trace = Vec::new();
    for (step, &bps) in script.iter().enumerate() {
        let now = t0 + Duration::from_millis(100 * step as u64);
        let changed = chooser.update(now, bps);
        if changed || step == 0 {
            for l in chooser.layers() {
                let pause = !chooser.is_active(&l.rid);
                n.pcs[0].set_layer_paused(mid, &l.rid, pause).unwrap();
            }
        }
        trace.push(chooser.active_count());
        for (rid, r) in RIDS.iter().zip(send_frame(&mut n, mid, &RIDS, step as u32)) {
            let sent = !matches!(r, Err(Error::Media(MediaError::LayerPaused)));
            assert_eq!(sent, chooser.is_active(rid), "{rid} at step {step}");
        }
        n.run_for(Duration::from_millis(100));
    }
    // Low: only q; high: h after the hold, f one hold later; the step down drops f at once
    // (h still fits 700 kbit/s); high again: f back.
    assert!(trace[..20].iter().all(|&c| c == 1));
    assert_eq!(trace[29], 1);
    assert_eq!(trace[30], 2);
    assert_eq!(trace[40], 2);
    assert_eq!(trace[41], 3);
    assert!(trace[60..80].iter().all(|&c| c == 2));
    assert_eq!(trace[89], 2);
    assert_eq!(trace[90], 3);
    assert_eq!(trace[119], 3);
    // The receiver got exactly what the chooser let through.
    let got = per_rid(&n);
    let steps_with = |k: usize| trace.iter().filter(|&&c| c >= k).count();
    assert_eq!(
        (got["q"], got["h"], got["f"]),
        (trace.len(), steps_with(2), steps_with(3))
    );
    for rid in RIDS {
        assert!(!n.pcs[0].layer_paused(mid, rid));
    }
}

#[test]
fn an_answer_without_simulcast_leaves_one_stream() {
    // Chromium 156 answers a simulcast offer without a=simulcast or a=rid (found by feeding it
    // its own three-layer offer; it then decodes one stream). Our receiver does the same
    // without the RID extension: no layer is negotiated, one stream is sent without a RID.
    let mut n = Net::new(805);
    add_layers(
        &mut n,
        video_extensions()
            .into_iter()
            .filter(|e| !e.uri.contains("rtp-stream-id"))
            .collect(),
    );
    let (_, answer) = n.negotiate_from(0);
    assert!(!answer.contains("a=simulcast") && !answer.contains("a=rid"));
    n.run_until(Duration::from_secs(10), connected);
    let mid = n.pcs[0].media_mids().next().unwrap();
    assert!(n.pcs[0].send_layers(mid).is_empty());
    let payload = [1u8; 100];
    assert!(matches!(
        n.pcs[0].write_rtp(n.now, mid, RtpWrite::new(96, 0, &payload).rid("q")),
        Err(Error::Media(MediaError::UnknownRid(_)))
    ));
    for i in 0..5 {
        n.pcs[0]
            .write_rtp(n.now, mid, RtpWrite::new(96, i * 3000, &payload))
            .unwrap();
    }
    n.run_for(Duration::from_millis(100));
    let got = rtp_received(&n.events[1]);
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|p| p.rid.is_none()));
}

#[test]
fn a_layer_the_answer_drops_is_not_sent() {
    // The answer accepts q and h only (f removed from its a=rid and a=simulcast lines): f is
    // not a send layer, writing on it is refused, q and h arrive.
    let mut n = Net::new(806);
    add_layers(&mut n, video_extensions());
    let now = n.now;
    let offer = n.pcs[0].create_offer(now).unwrap();
    n.pcs[0]
        .set_local_description(SdpType::Offer, &offer)
        .unwrap();
    n.pcs[1]
        .set_remote_description(now, SdpType::Offer, &offer)
        .unwrap();
    let answer = n.pcs[1].create_answer(now).unwrap();
    n.pcs[1]
        .set_local_description(SdpType::Answer, &answer)
        .unwrap();
    assert!(answer.contains("a=simulcast:recv q;h;f"), "{answer}");
    let munged = answer
        .replace("a=rid:f recv\r\n", "")
        .replace("a=simulcast:recv q;h;f", "a=simulcast:recv q;h");
    n.pcs[0]
        .set_remote_description(now, SdpType::Answer, &munged)
        .unwrap();
    n.run_until(Duration::from_secs(10), connected);
    let mid = n.pcs[0].media_mids().next().unwrap();
    let layers: Vec<&str> = n.pcs[0].send_layers(mid).iter().map(|r| &**r).collect();
    assert_eq!(layers, ["q", "h"]);
    for i in 0..5 {
        let results = send_frame(&mut n, mid, &RIDS, i);
        assert!(results[0].is_ok() && results[1].is_ok());
        assert!(matches!(
            results[2],
            Err(Error::Media(MediaError::UnknownRid(_)))
        ));
        n.run_for(Duration::from_millis(33));
    }
    let got = per_rid(&n);
    assert_eq!(got, BTreeMap::from([("h".into(), 5), ("q".into(), 5)]));
}

/// A layer paused by the application stays paused through a renegotiation (the new offer
/// writes it `~h`, RFC 8853); a receiver's answer can pause a layer (`~f`) and restrict one
/// (`max-br` on its `a=rid` line: the tighter of both sides' holds).
#[test]
fn paused_layers_and_restrictions_are_renegotiated() {
    let mut n = Net::new(806);
    let mut send = Transceiver::new(MediaKind::Video, Direction::SendOnly, video_codecs());
    send.header_extensions = video_extensions();
    send.send_encodings = vec![
        SendEncoding::new("q")
            .max_bitrate(200_000)
            .max_resolution(320, 180),
        SendEncoding::new("h").max_fps(15),
        SendEncoding::new("f"),
    ];
    n.pcs[0].add_transceiver(send);
    let mut recv = Transceiver::new(MediaKind::Video, Direction::RecvOnly, video_codecs());
    recv.header_extensions = video_extensions();
    n.pcs[1].add_transceiver(recv);
    let (offer, _) = n.negotiate_from(0);
    n.run_until(Duration::from_secs(10), connected);
    assert!(
        offer.contains("a=rid:q send max-width=320;max-height=180;max-br=200000"),
        "{offer}"
    );
    assert!(offer.contains("a=rid:h send max-fps=15") && offer.contains("a=rid:f send\r\n"));
    let mid = n.pcs[0].media_mids().next().unwrap();
    assert_eq!(n.pcs[0].send_encodings(mid)[0].max_bitrate, Some(200_000));

    n.pcs[0].set_layer_paused(mid, "h", true).unwrap();
    let (offer, _) = n.negotiate_from(0);
    assert!(offer.contains("a=simulcast:send q;~h;f"), "{offer}");
    assert!(
        n.pcs[0].layer_paused(mid, "h"),
        "still paused after the renegotiation"
    );
    let results = send_frame(&mut n, mid, &RIDS, 1);
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(matches!(
        results[1],
        Err(Error::Media(MediaError::LayerPaused))
    ));

    // Resumed by us; the receiver's answer pauses f and holds q to 100 kbit/s.
    n.pcs[0].set_layer_paused(mid, "h", false).unwrap();
    let now = n.now;
    let [a, b] = &mut n.pcs;
    let (offer, answer) = offer_answer(
        now,
        a,
        b,
        |o| o,
        |answer| {
            assert!(answer.contains("a=simulcast:recv q;h;f"), "{answer}");
            answer
                .replace("a=simulcast:recv q;h;f", "a=simulcast:recv q;h;~f")
                .replace("a=rid:q recv", "a=rid:q recv max-br=100000")
        },
    );
    assert!(offer.contains("a=simulcast:send q;h;f"), "{offer}");
    assert!(answer.contains("a=rid:q recv"));
    let negotiated = n.pcs[0].send_encodings(mid);
    let paused: Vec<bool> = negotiated.iter().map(|e| e.paused).collect();
    assert_eq!(paused, [false, false, true]);
    assert_eq!(negotiated[0].max_bitrate, Some(100_000), "the tighter");
    assert_eq!(negotiated[0].max_width, Some(320));
    assert_eq!(negotiated[1].max_fps, Some(15));
    assert!(!n.pcs[0].layer_paused(mid, "h") && n.pcs[0].layer_paused(mid, "f"));
    let results = send_frame(&mut n, mid, &RIDS, 2);
    assert!(results[0].is_ok() && results[1].is_ok());
    assert!(matches!(
        results[2],
        Err(Error::Media(MediaError::LayerPaused))
    ));
    // What arrived: q twice, h once (paused the first time), f once (paused the second).
    n.run_for(Duration::from_millis(100));
    let got = per_rid(&n);
    assert_eq!((got["q"], got["h"], got["f"]), (2, 1, 1));
}

/// A simulcast sender probes too (`Config::probing`): with only layers sending (the section's
/// main SSRC never does), the padding goes on a layer's RTX stream, naming the layer; the
/// receiver takes each padding packet as RTX without media, and the estimate grows past
/// three times its start within a second.
#[test]
fn a_simulcast_sender_probes_on_a_layers_rtx_stream() {
    let mut n = Net::with_config(807, |c| c.probing = true);
    add_layers(&mut n, video_extensions());
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    let mid = n.pcs[0].media_mids().next().unwrap();
    let start = n.pcs[0].bandwidth_estimate().unwrap().target_bitrate;
    for i in 0..30 {
        for r in send_frame(&mut n, mid, &RIDS, i) {
            r.unwrap();
        }
        n.run_for(Duration::from_millis(33));
    }
    let padding = n.pcs[0].stats().padding_sent;
    assert!(padding > 0, "probes sent");
    assert_eq!(n.pcs[1].stats().rtx_discarded, padding);
    let estimate = n.pcs[0].bandwidth_estimate().unwrap().target_bitrate;
    assert!(estimate >= 3 * start, "estimate {estimate} from {start}");
    // Nothing but the layers' media was delivered.
    let got = per_rid(&n);
    assert_eq!((got["q"], got["h"], got["f"]), (30, 30, 30));
}
