//! The peer connection's media API, statistics, renegotiation, ICE restart, glare and clean
//! close, two peer connections in one process (no sockets, fake clock).

use std::time::Duration;

use sansrtc::codecs::{opus, vp8};
use sansrtc::rtp::builder::{ExtensionsBuilder, RtpPacketBuilder};
use sansrtc::sdp::Direction;
use sansrtc::sdp::jsep::{HeaderExtension, MediaKind, Transceiver};
use sansrtc::{
    ChannelConfig, Config, ConnectionState, Error, Event, KeyframeKind, MediaError, PeerConnection,
    RtpWrite, SdpType,
};

mod common;

use common::{Net, connected, messages, rtp_received as rtp_events};

const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";

fn audio(direction: Direction) -> Transceiver {
    let mut t = Transceiver::new(MediaKind::Audio, direction, vec![opus()]);
    t.header_extensions = vec![HeaderExtension::new(4, MID_URI)];
    t
}

fn video(direction: Direction) -> Transceiver {
    let mut t = Transceiver::new(MediaKind::Video, direction, vec![vp8()]);
    t.header_extensions = vec![HeaderExtension::new(4, MID_URI)];
    t
}

/// Both peers with audio (sendrecv) and video (sendrecv), connected.
fn media_pair(seed: u64) -> (Net, sansrtc::Mid, sansrtc::Mid) {
    let mut n = Net::new(seed);
    for p in &mut n.pcs {
        p.add_transceiver(audio(Direction::SendRecv));
        p.add_transceiver(video(Direction::SendRecv));
    }
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    let mids: Vec<sansrtc::Mid> = n.pcs[0].media_mids().collect();
    assert_eq!(mids, n.pcs[1].media_mids().collect::<Vec<_>>());
    (n, mids[0], mids[1])
}

#[test]
fn tracks_send_with_write_rtp_and_arrive_with_their_mid() {
    let (mut n, audio_mid, video_mid) = media_pair(101);
    for i in 0..30u32 {
        let payload = vec![i as u8; 200];
        let w = RtpWrite::new(96, i * 3000, &payload).marker(i % 3 == 2);
        n.pcs[0].write_rtp(n.now, video_mid, w).unwrap();
        let voice = vec![0xA0 | (i as u8 & 0xF); 80];
        n.pcs[0]
            .write_rtp(n.now, audio_mid, RtpWrite::new(111, i * 960, &voice))
            .unwrap();
    }
    n.run_until(Duration::from_secs(5), |n| {
        rtp_events(&n.events[1]).len() == 60
    });
    let got = rtp_events(&n.events[1]);
    let video_packets: Vec<_> = got
        .iter()
        .filter(|p| p.mid.as_deref() == Some(video_mid.as_str()))
        .collect();
    let audio_packets: Vec<_> = got
        .iter()
        .filter(|p| p.mid.as_deref() == Some(audio_mid.as_str()))
        .collect();
    assert_eq!((video_packets.len(), audio_packets.len()), (30, 30));
    for (i, p) in video_packets.iter().enumerate() {
        assert_eq!(p.payload_type, 96);
        assert_eq!(p.payload(), &vec![i as u8; 200][..]);
        assert_eq!(p.timestamp, i as u32 * 3000);
        assert_eq!(p.marker, i % 3 == 2);
        assert_eq!(
            p.sequence_number,
            video_packets[0].sequence_number.wrapping_add(i as u16)
        );
        // The stack wrote the negotiated sdes:mid extension.
        let header = p.header();
        let ext = header.extensions().expect("header extensions written");
        assert_eq!(ext.get(4), Some(video_mid.as_bytes()));
        assert_eq!(n.pcs[1].codec(video_mid, 96).unwrap().name, "VP8");
    }
    // Audio and video went out on different SSRCs, the ones signalled in the offer.
    assert_ne!(audio_packets[0].ssrc, video_packets[0].ssrc);
    assert_eq!(n.pcs[1].media_kind(audio_mid), Some(MediaKind::Audio));

    // Errors say why.
    let p = [0u8; 10];
    assert!(matches!(
        n.pcs[0].write_rtp(n.now, "nope".parse().unwrap(), RtpWrite::new(96, 0, &p)),
        Err(Error::Media(MediaError::UnknownMid(_)))
    ));
    assert!(matches!(
        n.pcs[0].write_rtp(n.now, video_mid, RtpWrite::new(111, 0, &p)),
        Err(Error::Media(MediaError::UnknownPayloadType(111)))
    ));
    assert!(matches!(
        n.pcs[0].write_rtp(n.now, video_mid, RtpWrite::new(96, 0, &p).rid("hi")),
        Err(Error::Media(MediaError::UnknownRid(_)))
    ));
}

#[test]
fn keyframe_requests_and_nacks_arrive_typed() {
    let (mut n, _audio_mid, video_mid) = media_pair(102);
    let payload = [7u8; 100];
    for i in 0..5u32 {
        n.pcs[0]
            .write_rtp(n.now, video_mid, RtpWrite::new(96, i * 3000, &payload))
            .unwrap();
    }
    n.run_until(Duration::from_secs(5), |n| {
        rtp_events(&n.events[1]).len() == 5
    });
    let ssrc = rtp_events(&n.events[1])[0].ssrc;
    let seq = rtp_events(&n.events[1])[0].sequence_number;
    n.pcs[1]
        .request_keyframe(n.now, ssrc, KeyframeKind::Pli)
        .unwrap();
    n.pcs[1]
        .request_keyframe(n.now, ssrc, KeyframeKind::Fir)
        .unwrap();
    let lost = [
        seq.wrapping_add(1),
        seq.wrapping_add(2),
        seq.wrapping_add(30),
    ];
    n.pcs[1].send_nack(n.now, ssrc, &lost).unwrap();
    n.run_until(Duration::from_secs(2), |n| {
        n.events[0].iter().any(|e| matches!(e, Event::Nack { .. }))
    });
    let mid = Some(video_mid);
    for kind in [KeyframeKind::Pli, KeyframeKind::Fir] {
        assert!(
            n.events[0].contains(&Event::KeyframeRequest {
                mid,
                ssrc,
                rid: None,
                kind
            }),
            "{kind:?} not received"
        );
    }
    assert!(n.events[0].contains(&Event::Nack {
        mid,
        ssrc,
        lost: lost.to_vec()
    }));
    // Feedback about a stream we never received is refused.
    assert!(matches!(
        n.pcs[1].request_keyframe(n.now, 0xDEAD, KeyframeKind::Pli),
        Err(Error::Media(MediaError::UnknownSsrc(0xDEAD)))
    ));
    let report = n.pcs[0].stats_report();
    let out = report.outbound_rtp.iter().find(|o| o.ssrc == ssrc).unwrap();
    assert_eq!(
        (out.plis_received, out.firs_received, out.nacks_received),
        (1, 1, 1)
    );
    let inbound = n.pcs[1].stats_report();
    let inb = inbound.inbound_rtp.iter().find(|i| i.ssrc == ssrc).unwrap();
    assert_eq!((inb.plis_sent, inb.firs_sent, inb.nacks_sent), (1, 1, 1));
}

#[test]
fn an_unsignalled_ssrc_is_placed_by_its_mid_extension() {
    let (mut n, audio_mid, video_mid) = media_pair(103);
    // A forwarded stream on an SSRC no SDP announced: only the sdes:mid extension says where
    // it belongs (and the payload type would not: both are forwarded as 96 here would be VP8).
    for (i, mid) in [&video_mid, &audio_mid].into_iter().enumerate() {
        let mut ext = ExtensionsBuilder::new();
        ext.push(4, mid.as_bytes()).unwrap();
        let payload = [9u8; 20];
        let pt = if mid == &video_mid { 96 } else { 111 };
        let mut b = RtpPacketBuilder::new(pt, 1000, 0, 0x0BAD_F00D + i as u32);
        b.payload(&payload).extensions(&ext);
        n.pcs[0].send_rtp(n.now, &b.to_vec().unwrap()).unwrap();
    }
    n.run_until(Duration::from_secs(2), |n| {
        rtp_events(&n.events[1]).len() == 2
    });
    let got = rtp_events(&n.events[1]);
    assert_eq!(got[0].mid.as_deref(), Some(video_mid.as_str()));
    assert_eq!(got[1].mid.as_deref(), Some(audio_mid.as_str()));
    // Once learned, the SSRC keeps its section without the extension.
    let payload = [1u8; 20];
    let mut b = RtpPacketBuilder::new(96, 1001, 0, 0x0BAD_F00D);
    b.payload(&payload);
    n.pcs[0].send_rtp(n.now, &b.to_vec().unwrap()).unwrap();
    n.run_until(Duration::from_secs(2), |n| {
        rtp_events(&n.events[1]).len() == 3
    });
    assert_eq!(
        rtp_events(&n.events[1])[2].mid.as_deref(),
        Some(video_mid.as_str())
    );
}

#[test]
fn stats_report_counts_streams_pairs_and_channels() {
    let (mut n, audio_mid, _video_mid) = media_pair(104);
    let id = n.open_channel("stats");
    for i in 0..3 {
        n.pcs[0]
            .channel(id[0])
            .unwrap()
            .send(n.now, &[i; 10])
            .unwrap();
    }
    // 40 audio packets with 4 sequence numbers skipped (lost on the way).
    let voice = [0x55u8; 60];
    let mut sent_seq = Vec::new();
    for i in 0..44u32 {
        let w = RtpWrite::new(111, i * 960, &voice);
        if [10, 11, 20, 30].contains(&i) {
            // Consume a sequence number without delivering the packet.
            n.pcs[0].write_rtp(n.now, audio_mid, w).unwrap();
            n.collect();
            n.drop_newest();
            continue;
        }
        n.pcs[0].write_rtp(n.now, audio_mid, w).unwrap();
        sent_seq.push(i);
    }
    // Reports both ways take a few seconds: SR from the sender, then an RR with its LSR.
    n.run_for(Duration::from_secs(4));
    let rx = n.pcs[1].stats_report();
    let inbound = rx
        .inbound_rtp
        .iter()
        .find(|s| s.mid.as_deref() == Some(audio_mid.as_str()))
        .expect("audio stream reported");
    assert_eq!(inbound.packets_received, 40);
    assert_eq!(inbound.bytes_received, 40 * 60);
    assert_eq!(inbound.packets_lost, 4);
    let tx = n.pcs[0].stats_report();
    let outbound = tx
        .outbound_rtp
        .iter()
        .find(|s| s.ssrc == inbound.ssrc)
        .expect("sent stream reported");
    assert_eq!(outbound.packets_sent, 44);
    assert_eq!(outbound.remote_packets_lost, Some(4));
    let rtt = outbound.round_trip_time.expect("RTT from SR/RR");
    assert!(rtt < Duration::from_millis(50), "{rtt:?}");
    // The selected pair, with an RTT from ICE and the traffic it carried.
    let pair = tx
        .candidate_pairs
        .iter()
        .find(|p| p.selected)
        .expect("a selected pair");
    assert_eq!((pair.local, pair.remote), (n.addrs[0], n.addrs[1]));
    assert!(pair.round_trip_time.is_some());
    assert!(pair.packets_sent >= 44 && pair.packets_received > 0);
    assert_eq!(tx.transport.selected_pair, Some((n.addrs[0], n.addrs[1])));
    assert!(tx.transport.srtp_profile.is_some() && tx.transport.dtls_cipher_suite.is_some());
    assert!(tx.transport.sctp_round_trip_time.is_some());
    let channel = &tx.data_channels[0];
    assert_eq!((channel.id, channel.label.as_str()), (id[0], "stats"));
    assert_eq!((channel.messages_sent, channel.bytes_sent), (3, 30));
    let channel = &rx.data_channels[0];
    assert_eq!((channel.messages_received, channel.bytes_received), (3, 30));
    assert_eq!(channel.state, sansrtc::ChannelState::Open);
}

#[test]
fn renegotiation_adds_video_and_a_data_channel_later() {
    let mut n = Net::with_config(105, |c| c.data_channels = false);
    for p in &mut n.pcs {
        p.add_transceiver(audio(Direction::SendRecv));
    }
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    assert_eq!(n.pcs[0].media_mids().count(), 1);
    let before = n.events[0].len();
    // The offerer adds video and a data channel (which asks for the data section); the
    // answerer adds a matching video track.
    n.pcs[0].add_transceiver(video(Direction::SendRecv));
    let id = n.pcs[0]
        .create_data_channel(n.now, ChannelConfig::reliable("late"))
        .unwrap();
    assert!(matches!(
        n.pcs[0].channel(id).unwrap().send_text(n.now, "too early"),
        Err(Error::ChannelNotOpen(c)) if c == id
    ));
    n.pcs[1].add_transceiver(video(Direction::SendRecv));
    n.collect();
    assert!(n.events[0][before..].contains(&Event::NegotiationNeeded));
    n.negotiate();
    let mids: Vec<sansrtc::Mid> = n.pcs[0].media_mids().collect();
    assert_eq!(mids.len(), 2);
    assert_eq!(mids, n.pcs[1].media_mids().collect::<Vec<_>>());
    let payload = [3u8; 64];
    n.pcs[1]
        .write_rtp(n.now, mids[1], RtpWrite::new(96, 0, &payload))
        .unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        n.events[1]
            .iter()
            .any(|e| matches!(e, Event::DataChannelOpen { label, .. } if label == "late"))
            && !rtp_events(&n.events[0]).is_empty()
    });
    assert_eq!(
        rtp_events(&n.events[0])[0].mid.as_deref(),
        Some(mids[1].as_str())
    );
    n.pcs[0]
        .channel(id)
        .unwrap()
        .send_text(n.now, "after renegotiation")
        .unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        !messages(&n.events[1], id).is_empty()
    });
    // The connection never left Connected.
    assert!(
        !n.events[0][before..]
            .iter()
            .any(|e| matches!(e, Event::ConnectionStateChange(_))),
        "{:?}",
        &n.events[0][before..]
    );
}

fn ice_restart(offerer: usize, seed: u64) {
    let mut n = Net::new(seed);
    let id = n.connect_with_channel("r");
    let ufrags = [
        n.pcs[0].local_ufrag().to_owned(),
        n.pcs[1].local_ufrag().to_owned(),
    ];
    let marks = [n.events[0].len(), n.events[1].len()];
    let answerer = 1 - offerer;
    n.pcs[offerer].restart_ice();
    let (offer, answer) = n.negotiate_from(offerer);
    // Both sides have new credentials, in the SDP too.
    for (i, old) in ufrags.iter().enumerate() {
        assert_ne!(n.pcs[i].local_ufrag(), old);
    }
    assert!(offer.contains(&format!("a=ice-ufrag:{}", n.pcs[offerer].local_ufrag())));
    assert!(answer.contains(&format!("a=ice-ufrag:{}", n.pcs[answerer].local_ufrag())));
    // Checks run again with the new credentials and select a pair; data keeps flowing.
    n.pcs[0]
        .channel(id[0])
        .unwrap()
        .send_text(n.now, "during restart")
        .unwrap();
    n.run_until(Duration::from_secs(10), |n| {
        n.events[offerer][marks[offerer]..]
            .iter()
            .any(|e| matches!(e, Event::SelectedPairChange { .. }))
            && n.events[answerer][marks[answerer]..]
                .iter()
                .any(|e| matches!(e, Event::SelectedPairChange { .. }))
            && !messages(&n.events[1], id[1]).is_empty()
    });
    for (i, mark) in marks.into_iter().enumerate() {
        assert_eq!(n.pcs[i].state(), ConnectionState::Connected);
        assert!(
            !n.events[i][mark..].iter().any(|e| matches!(
                e,
                Event::ConnectionStateChange(
                    ConnectionState::Failed | ConnectionState::Disconnected
                )
            )),
            "peer {i}: {:?}",
            &n.events[i][mark..]
        );
    }
    // Consent on the new pair uses the new credentials: a minute later all is well.
    n.run_for(Duration::from_secs(60));
    n.pcs[1]
        .channel(id[1])
        .unwrap()
        .send_text(n.now, "a minute later")
        .unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        !messages(&n.events[0], id[0]).is_empty()
    });
    assert!(
        n.pcs
            .iter()
            .all(|p| p.state() == ConnectionState::Connected)
    );
}

#[test]
fn ice_restart_by_the_offerer_keeps_the_connection() {
    ice_restart(0, 106);
}

#[test]
fn ice_restart_by_the_answerer_keeps_the_connection() {
    ice_restart(1, 107);
}

#[test]
fn glare_is_refused_until_the_polite_peer_rolls_back() {
    let mut n = Net::new(108);
    let now = n.now;
    let offer0 = n.pcs[0].create_offer(now).unwrap();
    let _offer1 = n.pcs[1].create_offer(now).unwrap();
    assert!(matches!(
        n.pcs[1].set_remote_description(now, SdpType::Offer, &offer0),
        Err(Error::State(_))
    ));
    n.pcs[1].rollback();
    n.pcs[1]
        .set_remote_description(now, SdpType::Offer, &offer0)
        .unwrap();
    let answer = n.pcs[1].create_answer(n.now).unwrap();
    n.pcs[0]
        .set_remote_description(now, SdpType::Answer, &answer)
        .unwrap();
    n.run_until(Duration::from_secs(10), connected);
}

#[test]
fn close_shuts_sctp_down_then_says_goodbye_in_dtls() {
    let mut n = Net::new(109);
    let id = n.connect_with_channel("bye");
    n.pcs[0]
        .channel(id[0])
        .unwrap()
        .send_text(n.now, "last words")
        .unwrap();
    n.pcs[0].close(n.now);
    assert_eq!(n.pcs[0].state(), ConnectionState::Closed);
    assert!(matches!(
        n.pcs[0]
            .channel(id[0])
            .unwrap()
            .send_text(n.now, "too late"),
        Err(Error::Closed)
    ));
    n.run_until(Duration::from_secs(5), |n| {
        n.pcs[0].is_closed() && n.pcs[1].state() == ConnectionState::Closed
    });
    // The peer got the message queued before close, then its channel closed (SCTP shutdown),
    // then DTLS closed (close_notify), well before the close timer.
    let e = &n.events[1];
    let pos = |f: &dyn Fn(&Event) -> bool| e.iter().position(f).expect("event seen");
    let message = pos(&|e| matches!(e, Event::DataChannelMessage { .. }));
    let channel_closed = pos(&|e| *e == Event::DataChannelClose(id[1]));
    let dtls_closed = pos(&|e| *e == Event::DtlsStateChange(sansrtc::DtlsState::Closed));
    assert!(
        message < channel_closed && channel_closed < dtls_closed,
        "{e:?}"
    );
    assert_eq!(messages(e, id[1]), vec![(b"last words".to_vec(), false)]);
    assert!(n.pcs[0].poll_timeout().is_none());
}

/// Answers a real browser offer (generated by the browser on this machine, from the sdp crate's
/// corpus) with the default transceivers: every video codec the browser offers that we declare
/// is accepted with its RTX format, and the answer parses.
fn answer_browser_offer(file: &str) -> String {
    let offer = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("sdp/tests/corpus")
            .join(file),
    )
    .unwrap();
    let mut config = sansrtc::Config::default();
    config.rng = sansrtc::PcRng::Seeded(9);
    let mut pc = sansrtc::PeerConnection::new(config).unwrap();
    pc.add_local_address("127.0.0.1:4000".parse().unwrap())
        .unwrap();
    pc.add_transceiver(sansrtc::codecs::audio_transceiver(Direction::SendRecv));
    pc.add_transceiver(sansrtc::codecs::video_transceiver(Direction::SendRecv));
    pc.set_remote_description(std::time::Instant::now(), SdpType::Offer, &offer)
        .unwrap();
    let answer = pc.create_answer(std::time::Instant::now()).unwrap();
    sansrtc::sdp::SessionDescription::parse(&answer).unwrap();
    answer
}

#[test]
fn default_codecs_answer_chromium_and_firefox_offers() {
    let chromium = answer_browser_offer("chromium-av-offer.sdp");
    for needle in [
        " opus/48000/2",
        " VP8/90000",
        " VP9/90000",
        " H264/90000",
        " AV1/90000",
        " rtx/90000",
        "a=rtcp-fb:",
        "urn:ietf:params:rtp-hdrext:sdes:mid",
    ] {
        assert!(chromium.contains(needle), "{needle} missing:\n{chromium}");
    }
    let firefox = answer_browser_offer("firefox-av-offer.sdp");
    // Debian's Firefox offers no H.264 (its OpenH264 plugin is downloaded at run time).
    for needle in [" opus/48000/2", " VP8/90000", " VP9/90000", " rtx/90000"] {
        assert!(firefox.contains(needle), "{needle} missing:\n{firefox}");
    }
}

#[test]
fn mdns_candidates_wait_for_the_caller_to_resolve_them() {
    let mut n = Net::new(110);
    let now = n.now;
    let offer = n.pcs[0].create_offer(now).unwrap();
    // The offerer hides its address behind an mDNS name, as browsers do.
    let name = "0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f.local";
    let hidden = offer.replace(
        " 127.0.0.1 10001 typ host",
        &format!(" {name} 10001 typ host"),
    );
    assert_ne!(hidden, offer);
    n.pcs[1]
        .set_remote_description(now, SdpType::Offer, &hidden)
        .unwrap();
    let answer = n.pcs[1].create_answer(n.now).unwrap();
    n.collect();
    assert!(n.events[1].contains(&Event::ResolveMdns(name.to_owned())));
    // Until it is resolved the candidate is not paired.
    assert!(n.pcs[1].stats_report().candidate_pairs.is_empty());
    n.pcs[1].resolve_mdns(now, name, "127.0.0.1".parse().unwrap());
    let pairs = n.pcs[1].stats_report().candidate_pairs;
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].remote, n.addrs[0]);
    n.pcs[0]
        .set_remote_description(now, SdpType::Answer, &answer)
        .unwrap();
    n.run_until(Duration::from_secs(10), connected);
}

#[test]
fn messages_over_the_peers_max_message_size_are_refused() {
    let mut n = Net::with_config(111, |c| c.max_message_size = 100_000);
    let id = n.connect_with_channel("limits");
    let too_big = vec![1u8; 100_001];
    assert!(matches!(
        n.pcs[0].channel(id[0]).unwrap().send(n.now, &too_big),
        Err(Error::MessageTooLarge {
            size: 100_001,
            max: 100_000
        })
    ));
    let fits = vec![2u8; 100_000];
    n.pcs[0].channel(id[0]).unwrap().send(n.now, &fits).unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        messages(&n.events[1], id[1]) == vec![(fits.clone(), true)]
    });
}

/// Ids of the channels `side` saw open, with their labels.
fn opened(events: &[Event]) -> Vec<(sansrtc::ChannelId, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::DataChannelOpen { id, label, .. } => Some((*id, label.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn channels_created_before_the_offer_open_with_the_connection() {
    // Like a browser: createDataChannel first, then the offer (with its data section even
    // though the connection was made without one).
    let mut n = Net::with_config(120, |c| c.data_channels = false);
    let now = n.now;
    let chat = n.pcs[0]
        .create_data_channel(now, ChannelConfig::reliable("chat"))
        .unwrap();
    let fixed = n.pcs[0]
        .create_data_channel(now, {
            let mut cfg = ChannelConfig::reliable("fixed");
            cfg.negotiated = Some(4);
            cfg
        })
        .unwrap();
    let lossy = n.pcs[0]
        .create_data_channel(now, {
            let mut cfg = ChannelConfig::reliable("lossy");
            cfg.ordered = false;
            cfg.reliability = sansrtc::sctp::Reliability::MaxRetransmits(0);
            cfg
        })
        .unwrap();
    // Ids are ours, distinct and stable; no SCTP stream yet.
    assert!(chat != fixed && fixed != lossy && chat != lossy);
    assert_eq!(n.pcs[0].channel(chat).unwrap().stream_id(), None);
    assert!(
        n.pcs[0]
            .create_offer(now)
            .unwrap()
            .contains("m=application")
    );
    n.pcs[0].rollback();
    // The answerer pre-agrees the negotiated channel too.
    let offer = n.pcs[0].create_offer(now).unwrap();
    n.pcs[0]
        .set_local_description(SdpType::Offer, &offer)
        .unwrap();
    n.pcs[1]
        .set_remote_description(now, SdpType::Offer, &offer)
        .unwrap();
    n.pcs[1]
        .create_data_channel(now, {
            let mut cfg = ChannelConfig::reliable("fixed");
            cfg.negotiated = Some(4);
            cfg
        })
        .unwrap();
    let answer = n.pcs[1].create_answer(n.now).unwrap();
    n.pcs[0]
        .set_remote_description(now, SdpType::Answer, &answer)
        .unwrap();
    n.run_until(Duration::from_secs(10), |n| {
        connected(n) && opened(&n.events[1]).len() == 3
    });
    let mut seen: Vec<String> = opened(&n.events[1]).into_iter().map(|(_, l)| l).collect();
    seen.sort();
    assert_eq!(seen, ["chat", "fixed", "lossy"]);
    // We offered and the answer said `active`: we are the DTLS server, odd streams; the
    // negotiated one as given.
    let stream = |n: &mut Net, id| n.pcs[0].channel(id).unwrap().stream_id().unwrap();
    assert_eq!(stream(&mut n, fixed), 4);
    assert_eq!(stream(&mut n, chat) % 2, 1);
    assert_eq!(stream(&mut n, lossy) % 2, 1);
    // DCEP is not the application's data: no buffered-amount events for it.
    assert!(
        !n.events
            .iter()
            .flatten()
            .any(|e| matches!(e, Event::BufferedAmountLow(_)))
    );
    for (id, text) in [(chat, "hello"), (fixed, "pre-agreed"), (lossy, "maybe")] {
        n.pcs[0]
            .channel(id)
            .unwrap()
            .send_text(n.now, text)
            .unwrap();
    }
    let theirs: Vec<_> = ["chat", "fixed", "lossy"]
        .iter()
        .map(|l| common::opened_id(&n.events[1], l).unwrap())
        .collect();
    n.run_until(Duration::from_secs(5), |n| {
        theirs
            .iter()
            .all(|id| messages(&n.events[1], *id).len() == 1)
    });
    assert_eq!(messages(&n.events[1], theirs[1])[0].0, b"pre-agreed");
}

#[test]
fn an_early_channel_keeps_its_id_whatever_role_the_answer_gives() {
    // The answerer takes `passive`: the offerer becomes the DTLS client (even streams). The
    // channel it created before the offer keeps its id; only its stream follows the role.
    let mut n = Net::with_setup(121, sansrtc::sdp::Setup::Passive);
    let early = n.pcs[0]
        .create_data_channel(n.now, ChannelConfig::reliable("early"))
        .unwrap();
    // Settings made meanwhile follow the channel.
    n.pcs[0]
        .channel(early)
        .unwrap()
        .set_buffered_amount_low_threshold(1000);
    n.negotiate();
    n.run_until(Duration::from_secs(10), |n| {
        connected(n) && !opened(&n.events[1]).is_empty()
    });
    assert_eq!(n.pcs[0].channel(early).unwrap().stream_id(), Some(0));
    let (theirs, label) = opened(&n.events[1])[0].clone();
    assert_eq!(label, "early");
    assert_eq!(n.pcs[1].channel(theirs).unwrap().stream_id(), Some(0));
    let mut ch = n.pcs[0].channel(early).unwrap();
    ch.send_text(n.now, "moved").unwrap();
    for _ in 0..10 {
        ch.send(n.now, &[9; 10_000]).unwrap();
    }
    assert!(ch.buffered_amount() > 1000);
    n.run_until(Duration::from_secs(5), |n| {
        messages(&n.events[1], theirs).len() == 11
    });
    assert!(n.events[0].contains(&Event::BufferedAmountLow(early)));
    let stats = n.pcs[0].stats_report();
    assert!(
        stats
            .data_channels
            .iter()
            .any(|c| c.id == early && c.label == "early" && c.stream_id == Some(0)),
        "{:?}",
        stats.data_channels
    );
}

#[test]
fn early_channels_of_an_answerer_wait_for_its_own_offer() {
    // The answerer created a channel but the peer's offer has no data section: the channel
    // waits, the answerer is told to negotiate, and its offer brings the channel up.
    let mut n = Net::with_config(122, |c| c.data_channels = false);
    for p in &mut n.pcs {
        p.add_transceiver(audio(Direction::SendRecv));
    }
    let id = n.pcs[1]
        .create_data_channel(n.now, ChannelConfig::reliable("from answerer"))
        .unwrap();
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    assert!(n.events[1].contains(&Event::NegotiationNeeded));
    // Peer 1 offers now.
    let (offer, _) = n.negotiate_from(1);
    assert!(offer.contains("m=application"));
    n.run_until(Duration::from_secs(10), |n| {
        !opened(&n.events[0]).is_empty()
    });
    // Peer 1 answered the first exchange with `active`: DTLS client, even streams.
    let (theirs, label) = opened(&n.events[0])[0].clone();
    assert_eq!(label, "from answerer");
    let stream = n.pcs[1].channel(id).unwrap().stream_id();
    assert_eq!(stream.map(|s| s % 2), Some(0));
    assert_eq!(n.pcs[0].channel(theirs).unwrap().stream_id(), stream);
}

#[test]
fn early_channels_close_when_the_answer_refuses_data() {
    let mut n = Net::new(123);
    for p in &mut n.pcs {
        p.add_transceiver(audio(Direction::SendRecv));
    }
    let id = n.pcs[0]
        .create_data_channel(n.now, ChannelConfig::reliable("refused"))
        .unwrap();
    let cancelled = n.pcs[0]
        .create_data_channel(n.now, ChannelConfig::reliable("cancelled"))
        .unwrap();
    n.pcs[0].channel(cancelled).unwrap().close(n.now);
    let now = n.now;
    let offer = n.pcs[0].create_offer(now).unwrap();
    // The answering side strips the data section as if it did not support data channels:
    // answer an offer without it, then mark the section rejected in the answer.
    n.pcs[1]
        .set_remote_description(now, SdpType::Offer, &offer)
        .unwrap();
    let answer = n.pcs[1].create_answer(n.now).unwrap();
    let answer = reject_application_section(&answer);
    n.pcs[0]
        .set_remote_description(now, SdpType::Answer, &answer)
        .unwrap();
    n.collect();
    let closes: Vec<_> = n.events[0]
        .iter()
        .filter(|e| matches!(e, Event::DataChannelClose(_)))
        .collect();
    assert_eq!(
        closes,
        vec![
            &Event::DataChannelClose(cancelled),
            &Event::DataChannelClose(id)
        ]
    );
    assert!(matches!(
        n.pcs[0].channel(id).unwrap().send_text(n.now, "x"),
        Err(Error::ChannelNotOpen(c)) if c == id
    ));
}

/// The answer with its `m=application` section's port set to 0 (rejected, RFC 8866 5.14).
fn reject_application_section(answer: &str) -> String {
    answer
        .split("\r\n")
        .map(|l| {
            if let Some(rest) = l.strip_prefix("m=application ") {
                let after_port = rest.split_once(' ').map_or("", |(_, r)| r);
                format!("m=application 0 {after_port}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[test]
fn a_connected_pair_cloned_is_a_snapshot_that_works_again() {
    let mut n = Net::new(131);
    let id = n.connect_with_channel("snap");
    let snapshot = [n.pcs[0].clone(), n.pcs[1].clone()];
    for round in 0..3 {
        n.pcs = snapshot.clone();
        n.events = [Vec::new(), Vec::new()];
        let text = format!("round {round}");
        n.pcs[0]
            .channel(id[0])
            .unwrap()
            .send_text(n.now, &text)
            .unwrap();
        n.run_until(Duration::from_secs(5), |n| {
            !messages(&n.events[1], id[1]).is_empty()
        });
        assert_eq!(messages(&n.events[1], id[1]), [(text.into_bytes(), false)]);
        assert!(connected(&n));
    }
}

#[test]
fn unknown_channel_ids_are_errors_not_silent_no_ops() {
    let mut n = Net::new(125);
    let first = n.pcs[0]
        .create_data_channel(n.now, ChannelConfig::reliable("first"))
        .unwrap();
    n.pcs[0].channel(first).unwrap().close(n.now);
    // Closed channels are remembered for a while, then forgotten: the id is then unknown.
    for i in 0..300 {
        let id = n.pcs[0]
            .create_data_channel(n.now, ChannelConfig::reliable(&format!("c{i}")))
            .unwrap();
        n.pcs[0].channel(id).unwrap().close(n.now);
    }
    assert!(matches!(
        n.pcs[0].channel(first),
        Err(Error::UnknownChannel(id)) if id == first
    ));
    // Peer 1 never had a channel: every id is unknown there.
    assert!(matches!(
        n.pcs[1].channel(first),
        Err(Error::UnknownChannel(_))
    ));
}

#[test]
fn a_non_trickle_client_gets_server_reflexive_candidates_in_its_description() {
    // A WHIP client without trickle: the STUN server is asked at create_offer, the
    // server-reflexive candidate arrives before any answer, GatheringComplete says when the
    // description is final, and local_description() has everything.
    use sansrtc::ice::responder::{ResponderConfig, StunResponder};
    let stun: std::net::SocketAddr = "127.0.0.1:3478".parse().unwrap();
    let local: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
    // What a NAT made of our address, as the STUN server sees it.
    let mapped: std::net::SocketAddr = "127.0.0.1:6000".parse().unwrap();
    let mut config = sansrtc::Config::default();
    config.rng = sansrtc::PcRng::Seeded(77);
    config.stun_servers = vec![stun];
    let mut pc = sansrtc::PeerConnection::new(config).unwrap();
    pc.add_local_address(local).unwrap();
    let now = std::time::Instant::now();
    let offer = pc.create_offer(now).unwrap();
    assert!(offer.contains("typ host"));
    assert!(
        !offer.contains("a=end-of-candidates"),
        "gathering is not done yet: {offer}"
    );
    // The binding request left already, before any answer.
    let request = std::iter::from_fn(|| pc.poll_transmit())
        .find(|t| t.destination == stun)
        .expect("a STUN request at create_offer");
    let mut server = StunResponder::new(ResponderConfig::default());
    assert!(server.handle_receive(now, mapped, &request.contents));
    let response = server.poll_transmit().unwrap();
    pc.handle_receive(now, stun, local, &response.contents);
    let events: Vec<Event> = std::iter::from_fn(|| pc.poll_event()).collect();
    let srflx = events
        .iter()
        .position(|e| matches!(e, Event::LocalCandidate(c) if c.contains("typ srflx")))
        .expect("a server-reflexive candidate");
    let complete = events
        .iter()
        .position(|e| *e == Event::GatheringComplete)
        .expect("gathering complete");
    assert!(srflx < complete, "{events:?}");
    let description = pc.local_description().unwrap();
    assert!(description.contains("a=end-of-candidates"), "{description}");
    assert!(
        description.contains("127.0.0.1 6000 typ srflx"),
        "{description}"
    );
    assert!(description.contains("typ host"));
}

#[test]
fn misuse_is_an_error_or_an_event_not_silence() {
    let mut config = sansrtc::Config::default();
    config.rng = sansrtc::PcRng::Seeded(78);
    let mut pc = sansrtc::PeerConnection::new(config).unwrap();
    let now = std::time::Instant::now();
    // No address registered: nothing could ever connect.
    assert!(matches!(pc.create_offer(now), Err(Error::NoCandidates)));
    // 0.0.0.0 and port 0 would be written into the SDP.
    for bad in ["0.0.0.0:5000", "[::]:5000", "127.0.0.1:0"] {
        assert!(matches!(
            pc.add_local_address(bad.parse().unwrap()),
            Err(Error::UnusableLocalAddress(_))
        ));
    }
    let local: std::net::SocketAddr = "127.0.0.1:5001".parse().unwrap();
    pc.add_local_address(local).unwrap();
    let offer = pc.create_offer(now).unwrap();
    // A modified local description is refused; the created one (with or without candidates
    // gathered since) is accepted.
    let munged = offer.replace("a=setup:actpass", "a=setup:active");
    assert!(matches!(
        pc.set_local_description(SdpType::Offer, &munged),
        Err(Error::State(sansrtc::StateError::LocalDescriptionModified))
    ));
    pc.set_local_description(SdpType::Offer, &offer).unwrap();
    assert!(matches!(
        pc.set_local_description(SdpType::Answer, &offer),
        Err(Error::State(sansrtc::StateError::NoSuchLocalDescription))
    ));
    assert!(matches!(
        pc.create_answer(now),
        Err(Error::State(sansrtc::StateError::NoRemoteOffer))
    ));
    // A datagram handed over for an address never registered: reported once.
    let wrong: std::net::SocketAddr = "127.0.0.1:5999".parse().unwrap();
    for _ in 0..3 {
        pc.handle_receive(now, "127.0.0.1:9".parse().unwrap(), wrong, &[0; 20]);
    }
    let reported = std::iter::from_fn(|| pc.poll_event())
        .filter(|e| *e == Event::UnregisteredLocalAddress(wrong))
        .count();
    assert_eq!(reported, 1);
}

#[test]
fn a_track_handle_tells_what_its_section_negotiated_and_writes_on_it() {
    use sansrtc::sdp::jsep::CodecName;
    let (mut n, audio_mid, video_mid) = media_pair(132);
    let mut video = n.pcs[0].track(video_mid).unwrap();
    assert_eq!(video.kind(), MediaKind::Video);
    let vp8 = video.payload_type(&CodecName::Vp8).expect("VP8 negotiated");
    assert!(video.codecs().iter().any(|c| c.payload_type == vp8));
    let ssrc = video.sending_ssrc().expect("signalled");
    video
        .write_rtp(n.now, RtpWrite::new(vp8, 0, &[1, 2, 3]).marker(true))
        .unwrap();
    assert_eq!(
        n.pcs[0]
            .track(audio_mid)
            .unwrap()
            .payload_type(&CodecName::Opus),
        Some(111)
    );
    n.run_until(Duration::from_secs(2), |n| {
        !rtp_events(&n.events[1]).is_empty()
    });
    let got = rtp_events(&n.events[1]);
    assert_eq!((got[0].ssrc, got[0].mid), (ssrc, Some(video_mid)));
    assert!(matches!(
        n.pcs[0].track("nope".parse().unwrap()),
        Err(Error::Media(MediaError::UnknownMid(_)))
    ));
}

/// SCTP zero checksum (RFC 9653) is used when both peers offer it (the default), and not when
/// one of them does not; messages arrive either way, and no packet is refused for its checksum.
#[test]
fn sctp_zero_checksum_is_negotiated_only_when_both_offer_it() {
    for (second_offers, expected) in [(true, true), (false, false)] {
        let mut n = Net::new(140);
        let mut config = Config::default();
        config.rng = sansrtc::PcRng::Seeded(141);
        config.sctp_zero_checksum = second_offers;
        n.pcs[1] = PeerConnection::new(config).unwrap();
        n.pcs[1].add_local_address(n.addrs[1]).unwrap();
        let id = n.connect_with_channel("zero");
        for i in 0..20u8 {
            n.pcs[0]
                .channel(id[0])
                .unwrap()
                .send(n.now, &[i; 3000])
                .unwrap();
        }
        n.run_until(Duration::from_secs(5), |n| {
            messages(&n.events[1], id[1]).len() == 20
        });
        for pc in &n.pcs {
            assert_eq!(pc.stats_report().transport.sctp_zero_checksum, expected);
            let (_, counters) = pc.stats_report().transport.sctp.unwrap();
            assert_eq!(counters.packets_dropped, 0);
            // The side that offered never sent a zero checksum to the side that did not: that
            // side would have dropped it (RFC 9653) and counted it here.
            assert_eq!(counters.zero_checksum_refused, 0);
        }
    }
}

/// What `Event::DtlsConnected` and the stats report say of the DTLS handshake of peer `i`.
fn dtls_negotiated(
    n: &Net,
    i: usize,
) -> (
    Option<(
        sansrtc::dtls::ProtocolVersion,
        sansrtc::dtls::Suite,
        Option<sansrtc::dtls::NamedGroup>,
    )>,
    sansrtc::stats::TransportStats,
) {
    let event = n.events[i].iter().find_map(|e| match e {
        Event::DtlsConnected {
            version,
            cipher_suite,
            group,
            ..
        } => Some((*version, *cipher_suite, *group)),
        _ => None,
    });
    // Reported before the state change to Connected.
    let at = |want: fn(&Event) -> bool| n.events[i].iter().position(want);
    assert!(
        at(|e| matches!(e, Event::DtlsConnected { .. }))
            < at(|e| matches!(e, Event::DtlsStateChange(sansrtc::DtlsState::Connected))),
        "{:?}",
        n.events[i]
    );
    (event, n.pcs[i].stats_report().transport)
}

#[test]
fn dtls13_version_suite_and_group_are_reported_typed() {
    use sansrtc::dtls::endpoint::Versions;
    use sansrtc::dtls::{NamedGroup, ProtocolVersion, Suite, Suite13};
    // Both peers offer DTLS 1.3: 1.3, TLS_AES_128_GCM_SHA256 and X25519MLKEM768 (asked for by
    // the HelloRetryRequest) on both sides, in the event and in the stats.
    let mut n = Net::with_config(105, |c| c.dtls_versions = Versions::Dtls13Or12);
    let id = n.connect_with_channel("v13");
    n.pcs[0].channel(id[0]).unwrap().send(n.now, b"13").unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        !messages(&n.events[1], id[1]).is_empty()
    });
    let want = (
        ProtocolVersion::Dtls13,
        Suite::Dtls13(Suite13::Aes128GcmSha256),
        Some(NamedGroup::X25519Mlkem768),
    );
    for i in 0..2 {
        let (event, t) = dtls_negotiated(&n, i);
        assert_eq!(event, Some(want), "peer {i}");
        assert_eq!(
            (t.dtls_version, t.dtls_cipher_suite, t.dtls_group),
            (Some(want.0), Some(want.1), want.2),
            "peer {i}"
        );
        assert_eq!(
            t.dtls_cipher_suite.unwrap().name(),
            "TLS_AES_128_GCM_SHA256"
        );
    }
    // One side 1.2 only: both fall back to 1.2, whose suite and curve are reported as such.
    let offerer_13 = std::cell::Cell::new(true);
    let mut n = Net::with_config(107, |c| {
        if !offerer_13.replace(false) {
            c.dtls_versions = Versions::Dtls12;
        } else {
            c.dtls_versions = Versions::Dtls13Or12;
        }
    });
    n.connect_with_channel("v12");
    for i in 0..2 {
        let (event, t) = dtls_negotiated(&n, i);
        let (version, suite, group) = event.expect("DtlsConnected");
        assert_eq!(version, ProtocolVersion::Dtls12, "peer {i}");
        assert_eq!(suite.version(), ProtocolVersion::Dtls12, "peer {i}");
        assert!(suite.dtls12().is_some(), "peer {i}");
        assert_eq!(group, Some(NamedGroup::X25519), "peer {i}");
        assert_eq!(t.dtls_version, Some(ProtocolVersion::Dtls12), "peer {i}");
        assert_eq!(t.dtls_cipher_suite, Some(suite), "peer {i}");
    }
}
