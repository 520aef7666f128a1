//! Two peer connections in one process, no sockets, fake clock: negotiate, connect, open a data
//! channel, move text and binary messages byte-exact, send SRTP media, close a channel.

use std::time::Duration;

use sansrtc::codecs::{opus, vp8};
use sansrtc::sdp::Direction;
use sansrtc::sdp::jsep::{MediaKind, Transceiver};
use sansrtc::{ChannelConfig, ConnectionState, Event, SdpType};

mod common;

use common::{Net, connected, messages};

#[test]
fn data_channel_end_to_end() {
    let mut n = Net::new(1);
    let start = n.now;
    n.negotiate();
    // The offer carries our candidate, the fingerprint and the data section.
    n.run_until(Duration::from_secs(10), connected);
    let setup = n.now - start;
    eprintln!(
        "setup {setup:?}, {} datagrams, stats {:?} / {:?}",
        n.delivered,
        n.pcs[0].stats(),
        n.pcs[1].stats()
    );
    assert!(setup < Duration::from_secs(2), "setup took {setup:?}");
    for e in [&n.events[0], &n.events[1]] {
        assert!(e.contains(&Event::ConnectionStateChange(ConnectionState::Connected)));
    }
    let id = n.pcs[0]
        .create_data_channel(n.now, ChannelConfig::reliable("chat"))
        .unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        n.events[1]
            .iter()
            .any(|e| matches!(e, Event::DataChannelOpen { label, .. } if label == "chat"))
            && n.events[0]
                .iter()
                .any(|e| matches!(e, Event::DataChannelOpen { id: i, .. } if *i == id))
    });
    let mut sent = Vec::new();
    for i in 0..100usize {
        let len = 1 + (i * 37) % 1000;
        let binary = i % 2 == 1;
        let data: Vec<u8> = if binary {
            (0..len).map(|k| (k * 7 + i) as u8).collect()
        } else {
            (0..len).map(|k| b'a' + ((k + i) % 26) as u8).collect()
        };
        n.pcs[0]
            .channel(id)
            .unwrap()
            .send_message(
                n.now,
                &data,
                if binary {
                    sansrtc::MessageKind::Binary
                } else {
                    sansrtc::MessageKind::Text
                },
            )
            .unwrap();
        sent.push((data, binary));
    }
    let big: Vec<u8> = (0..64 * 1024).map(|k| (k % 251) as u8).collect();
    n.pcs[0].channel(id).unwrap().send(n.now, &big).unwrap();
    sent.push((big, true));
    n.run_until(Duration::from_secs(10), |n| {
        messages(&n.events[1], id).len() == sent.len()
    });
    assert_eq!(messages(&n.events[1], id), sent);
    // And back the other way.
    n.pcs[1]
        .channel(id)
        .unwrap()
        .send_text(n.now, "pong")
        .unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        !messages(&n.events[0], id).is_empty()
    });
    assert_eq!(messages(&n.events[0], id), vec![(b"pong".to_vec(), false)]);
    assert_eq!(n.pcs[0].channel(id).unwrap().buffered_amount(), 0);
    n.pcs[0].channel(id).unwrap().close(n.now);
    n.run_until(Duration::from_secs(5), |n| {
        n.events
            .iter()
            .all(|e| e.contains(&Event::DataChannelClose(id)))
    });
}

#[test]
fn hostile_datagrams_are_counted_and_the_connection_survives() {
    let mut n = Net::new(7);
    let id = n.connect_with_channel("x");
    let (from, to) = (n.addrs[0], n.addrs[1]);
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0, 1, 0, 8, 0x21, 0x12, 0xA4, 0x42], // truncated STUN
        vec![22, 254, 253, 0, 1, 0, 0, 0, 0, 0, 5, 0, 3, 1, 2, 3], // DTLS record, bad MAC / epoch
        vec![
            23, 254, 253, 0, 1, 0, 0, 0, 0, 0, 9, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
            14, 15, 16, 17, 18, 19, 20,
        ],
        {
            let mut v = vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9];
            v.extend([0xAA; 40]);
            v
        }, // SRTP with a bad tag
        vec![0x81, 200, 0, 1, 0, 0, 0, 9, 1, 2, 3, 4], // SRTCP too short
        vec![255; 1500],
        vec![64; 3],
    ];
    for g in &garbage {
        n.pcs[1].handle_receive(n.now, from, to, g);
    }
    // Datagrams to an address we never registered are dropped too.
    n.pcs[1].handle_receive(n.now, from, "127.0.0.1:9".parse().unwrap(), &[0, 1, 2]);
    let stats = n.pcs[1].stats();
    assert!(
        stats.dropped_unknown + stats.dropped_stun + stats.dropped_srtp >= 5,
        "{stats:?}"
    );
    assert_eq!(n.pcs[1].state(), ConnectionState::Connected);
    n.pcs[0]
        .channel(id[0])
        .unwrap()
        .send_text(n.now, "still alive")
        .unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        !messages(&n.events[1], id[1]).is_empty()
    });
    assert_eq!(
        messages(&n.events[1], id[1]),
        vec![(b"still alive".to_vec(), false)]
    );
}

#[test]
fn media_through_srtp_with_reports() {
    let mut n = Net::new(21);
    for p in &mut n.pcs {
        p.add_transceiver(Transceiver::new(
            MediaKind::Audio,
            Direction::SendRecv,
            vec![opus()],
        ));
        p.add_transceiver(Transceiver::new(
            MediaKind::Video,
            Direction::SendRecv,
            vec![vp8()],
        ));
    }
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    assert!(n.pcs[0].srtp_profile().is_some());
    assert_eq!(n.pcs[0].media_mids().count(), 2);
    for seq in 0..50u16 {
        let mut pkt = vec![0x80, 111, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        pkt[4..8].copy_from_slice(&(u32::from(seq) * 960).to_be_bytes());
        pkt.extend(std::iter::repeat_n(seq as u8, 100));
        n.pcs[0].send_rtp(n.now, &pkt).unwrap();
    }
    n.run_until(Duration::from_secs(5), |n| {
        n.events[1]
            .iter()
            .filter(|e| matches!(e, Event::Rtp(_)))
            .count()
            == 50
    });
    let first = n.events[1].iter().find_map(|e| match e {
        Event::Rtp(p) => Some(p.packet().to_vec()),
        _ => None,
    });
    let first = first.unwrap();
    assert_eq!(&first[..2], &[0x80, 111]);
    assert_eq!(first.len(), 112);
    // Reports flow on schedule: after a few seconds both sides received SRTCP.
    let until = n.now + Duration::from_secs(3);
    n.run_until(Duration::from_secs(10), |n| n.now >= until);
    for i in 0..2 {
        assert!(
            n.events[i].iter().any(|e| matches!(e, Event::Rtcp(_))),
            "peer {i} got no RTCP"
        );
    }
    // A PLI sent by the receiver arrives as an RTCP event.
    let pli = [0x81, 206, 0, 2, 0, 0, 0, 1, 0x12, 0x34, 0x56, 0x78];
    let before = n.events[0].len();
    n.pcs[1].send_rtcp(n.now, &pli).unwrap();
    n.run_until(Duration::from_secs(1), |n| {
        n.events[0][before..]
            .iter()
            .any(|e| matches!(e, Event::Rtcp(p) if p[..12] == pli))
    });
    assert_eq!(n.pcs[1].stats().dropped_srtp, 0);
}

#[test]
fn a_certificate_not_matching_the_sdp_fingerprint_fails_dtls() {
    let mut n = Net::new(33);
    let now = n.now;
    let offer = n.pcs[0].create_offer(now).unwrap();
    n.pcs[1]
        .set_remote_description(now, SdpType::Offer, &offer)
        .unwrap();
    let answer = n.pcs[1].create_answer(n.now).unwrap();
    // Replace the answerer's fingerprint with another certificate's.
    let other = sansrtc::dtls::Certificate::generate().unwrap();
    let fp = other
        .fingerprint(sansrtc::dtls::HashAlgorithm::Sha256)
        .to_string();
    let forged: String = answer
        .lines()
        .map(|l| {
            if l.starts_with("a=fingerprint:") {
                format!("a=fingerprint:{fp}\r\n")
            } else {
                format!("{l}\r\n")
            }
        })
        .collect();
    assert_ne!(forged, answer);
    n.pcs[0]
        .set_remote_description(now, SdpType::Answer, &forged)
        .unwrap();
    n.run_until(Duration::from_secs(30), |n| {
        n.pcs[0].state() == ConnectionState::Failed
    });
    assert!(n.events[0].contains(&Event::DtlsStateChange(sansrtc::DtlsState::Failed)));
    assert!(
        n.pcs[0]
            .send_rtp(n.now, &[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
            .is_err()
    );
}

#[test]
fn answerer_as_dtls_server() {
    let mut n = Net::with_setup(44, sansrtc::sdp::Setup::Passive);
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    // The offerer is now DTLS client and SCTP client: its streams are even.
    let id = n.pcs[0]
        .create_data_channel(n.now, ChannelConfig::reliable("p"))
        .unwrap();
    let peer_id = n.pcs[1]
        .create_data_channel(n.now, ChannelConfig::reliable("q"))
        .unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        n.events.iter().all(|e| {
            e.iter()
                .filter(|e| matches!(e, Event::DataChannelOpen { .. }))
                .count()
                == 2
        })
    });
    let stream = |n: &mut Net, i: usize, id| n.pcs[i].channel(id).unwrap().stream_id().unwrap();
    assert_eq!(stream(&mut n, 0, id) % 2, 0);
    assert_eq!(stream(&mut n, 1, peer_id) % 2, 1);
    // Peer 1 knows "p" by its own id.
    let theirs = n.events[1]
        .iter()
        .find_map(|e| match e {
            Event::DataChannelOpen { id, label, .. } if label == "p" => Some(*id),
            _ => None,
        })
        .unwrap();
    n.pcs[1]
        .channel(theirs)
        .unwrap()
        .send(n.now, &[1, 2, 3])
        .unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        !messages(&n.events[0], id).is_empty()
    });
    assert_eq!(messages(&n.events[0], id), vec![(vec![1, 2, 3], true)]);
}

#[test]
fn media_without_a_common_srtp_profile_fails_instead_of_connecting() {
    // The offerer accepts only AES-128-GCM, the answerer only AES-CM-32: DTLS completes without
    // use_srtp, and with media negotiated neither side may report a connection (RFC 5764 4.1.1).
    let mut n = Net::new(31);
    for (i, profile) in [
        sansrtc::dtls::SrtpProfile::AeadAes128Gcm,
        sansrtc::dtls::SrtpProfile::Aes128CmHmacSha1_32,
    ]
    .into_iter()
    .enumerate()
    {
        let mut config = sansrtc::Config::default();
        config.rng = sansrtc::PcRng::Seeded(40 + i as u64);
        config.srtp_profiles = vec![profile];
        n.pcs[i] = sansrtc::PeerConnection::new(config).unwrap();
        n.pcs[i].add_local_address(n.addrs[i]).unwrap();
        n.pcs[i].add_transceiver(Transceiver::new(
            MediaKind::Audio,
            Direction::SendRecv,
            vec![opus()],
        ));
    }
    n.negotiate();
    n.run_until(Duration::from_secs(10), |n| {
        n.pcs.iter().all(|p| p.state() == ConnectionState::Failed)
    });
    for (i, p) in n.pcs.iter().enumerate() {
        assert!(p.srtp_profile().is_none());
        assert!(
            !n.events[i].contains(&Event::ConnectionStateChange(ConnectionState::Connected)),
            "{:?}",
            n.events[i]
        );
    }
}

#[test]
fn srtp_contexts_only_once_media_is_negotiated() {
    // Data channel only: DTLS negotiates an SRTP profile but no contexts are made (they cost
    // ~3.8 KB per connection), so RTP can neither be sent nor received.
    let mut n = Net::new(41);
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    assert!(n.pcs[0].srtp_profile().is_some());
    let rtp = [0x80, 111, 0, 1, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 1, 2, 3];
    assert!(matches!(
        n.pcs[0].send_rtp(n.now, &rtp),
        Err(sansrtc::Error::NotConnected)
    ));
    // A renegotiation adds audio on both sides: the contexts appear and media flows.
    for p in &mut n.pcs {
        p.add_transceiver(Transceiver::new(
            MediaKind::Audio,
            Direction::SendRecv,
            vec![opus()],
        ));
    }
    n.negotiate();
    assert_eq!(n.pcs[0].media_mids().count(), 1);
    n.pcs[0].send_rtp(n.now, &rtp).unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        n.events[1]
            .iter()
            .any(|e| matches!(e, Event::Rtp(p) if p.packet() == rtp))
    });
    assert_eq!(n.pcs[1].stats().dropped_srtp, 0);
}

/// Sends `count` messages from peer 0 on `id[0]` and waits until peer 1 has them all; returns
/// how many peer 1 had before.
fn exchange(n: &mut common::Net, id: [sansrtc::ChannelId; 2], count: usize, tag: u8) {
    let before = messages(&n.events[1], id[1]).len();
    for i in 0..count {
        let data: Vec<u8> = (0..1 + i * 13 % 900).map(|k| (k as u8) ^ tag).collect();
        n.pcs[0].channel(id[0]).unwrap().send(n.now, &data).unwrap();
    }
    n.run_until(Duration::from_secs(10), |n| {
        messages(&n.events[1], id[1]).len() == before + count
    });
    let got = messages(&n.events[1], id[1]);
    for (i, (data, binary)) in got[before..].iter().enumerate() {
        assert!(binary);
        let want: Vec<u8> = (0..1 + i * 13 % 900).map(|k| (k as u8) ^ tag).collect();
        assert_eq!(data, &want, "message {i} of round {tag}");
    }
}

/// DTLS 1.3 KeyUpdate through the peer connection: `update_dtls_keys` between two sansrtc
/// peers (each update answered by the peer's, as `update_requested` asks), data flowing
/// byte-exact across every epoch; the automatic interval (`Config::dtls_key_update_after`);
/// the typed errors before connecting, on a DTLS 1.2 connection and once closed.
#[test]
fn dtls13_key_updates_through_the_peer_connection() {
    let dtls13 = |c: &mut sansrtc::Config| {
        c.dtls_versions = sansrtc::dtls::endpoint::Versions::Dtls13Or12;
    };
    let mut n = common::Net::with_config(11, dtls13);
    assert!(matches!(
        n.pcs[0].update_dtls_keys(n.now),
        Err(sansrtc::Error::NotConnected)
    ));
    let id = n.connect_with_channel("ku");
    assert_eq!(
        n.pcs[0].stats_report().transport.dtls_version,
        Some(sansrtc::dtls::ProtocolVersion::Dtls13)
    );
    for round in 1..=5u8 {
        n.pcs[0].update_dtls_keys(n.now).unwrap();
        exchange(&mut n, id, 20, round);
        // The answering KeyUpdate and the ACKs settle.
        n.run_for(Duration::from_millis(500));
        let ours = n.pcs[0].dtls_stats().unwrap();
        let theirs = n.pcs[1].dtls_stats().unwrap();
        assert_eq!(ours.key_updates_sent, u64::from(round), "{ours:?}");
        assert_eq!(theirs.key_updates_received, u64::from(round), "{theirs:?}");
        // The peer answers update_requested with its own KeyUpdate.
        assert_eq!(theirs.key_updates_sent, u64::from(round), "{theirs:?}");
        assert_eq!(ours.key_updates_received, u64::from(round), "{ours:?}");
    }
    assert_eq!(n.pcs[0].state(), ConnectionState::Connected);

    // Automatically every 10 records (each side, both asking the other).
    let mut n = common::Net::with_config(12, |c| {
        dtls13(c);
        c.dtls_key_update_after = Some(10);
    });
    let id = n.connect_with_channel("auto");
    exchange(&mut n, id, 400, 7);
    n.run_for(Duration::from_millis(500));
    let ours = n.pcs[0].dtls_stats().unwrap();
    let theirs = n.pcs[1].dtls_stats().unwrap();
    eprintln!(
        "every 10 records, 400 messages: sent {} / received {} (peer 0), sent {} / received {} (peer 1)",
        ours.key_updates_sent,
        ours.key_updates_received,
        theirs.key_updates_sent,
        theirs.key_updates_received
    );
    assert!(ours.key_updates_sent >= 3, "{ours:?}");
    assert_eq!(ours.key_updates_sent, theirs.key_updates_received);
    assert_eq!(theirs.key_updates_sent, ours.key_updates_received);
    n.pcs[0].close(n.now);
    assert!(matches!(
        n.pcs[0].update_dtls_keys(n.now),
        Err(sansrtc::Error::Closed)
    ));

    // DTLS 1.2: no KeyUpdate.
    let mut n = common::Net::with_config(13, |c| {
        c.dtls_versions = sansrtc::dtls::endpoint::Versions::Dtls12;
    });
    n.connect_with_channel("v12");
    assert!(matches!(
        n.pcs[0].update_dtls_keys(n.now),
        Err(sansrtc::Error::NotDtls13)
    ));
}

#[test]
fn dtls13_groups_through_the_peer_connection() {
    use sansrtc::dtls::NamedGroup;
    // Both sides with the default groups: the hybrid. One side P-256 only (each side in turn,
    // so in either DTLS role): both end with P-256.
    for (p256_seed, seed, expected) in [
        (None, 31, 0x11EC_u16),
        (Some(33), 33, 0x0017),
        (Some(36), 35, 0x0017),
    ] {
        let mut n = common::Net::with_config(seed, |c| {
            c.dtls_versions = sansrtc::dtls::endpoint::Versions::Dtls13Or12;
            if p256_seed.is_some_and(|s| matches!(c.rng, sansrtc::PcRng::Seeded(r) if r == s)) {
                c.dtls_groups13 = vec![NamedGroup::Secp256r1];
            }
        });
        let id = n.connect_with_channel("groups");
        exchange(&mut n, id, 5, 1);
        for pc in &n.pcs {
            let t = pc.stats_report().transport;
            assert_eq!(
                t.dtls_version,
                Some(sansrtc::dtls::ProtocolVersion::Dtls13),
                "seed {seed}"
            );
            assert_eq!(t.dtls_group.map(|g| g.id()), Some(expected), "seed {seed}");
        }
    }
}
