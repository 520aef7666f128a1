//! Data channels end to end: two endpoints over a seeded lossy, reordering, duplicating link
//! with a fake clock; messages delivered exactly once (in order where ordered) whether sent with
//! `send` or through the pooled API, partial reliability, channel lifecycle. The limits a peer
//! meets are in `datachannel_limits.rs`.
#![allow(clippy::needless_range_loop, clippy::type_complexity)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::endpoints::{Sim, lossy_config, payload, soak};
use sansrtc_sctp::association::CloseReason;
use sansrtc_sctp::{ChannelConfig, Config, DataChannelEvent, Reliability, Rng, SeededRng};

/// Reliable ordered and unordered channels opened from both sides, under loss, reordering and
/// duplication: every message arrives exactly once, byte-exact, and in order where ordered.
fn reliable_run(seed: u64, loss: f64, count: usize) {
    // Odd seeds negotiate I-DATA interleaving (RFC 8260), even seeds plain DATA.
    let mut config = lossy_config();
    config.interleaving = seed % 2 == 1;
    let mut s = Sim::new(seed, loss, config);
    // Seeds 2 and 3 modulo 4 drive the endpoints through the pooled API.
    s.pooled = seed % 4 >= 2;
    s.connect();
    let now = s.now;
    let mut chans = Vec::new();
    for side in 0..2 {
        let ordered = s.e[side]
            .open_channel(now, ChannelConfig::reliable(&format!("ordered-{side}")))
            .unwrap();
        let unordered = s.e[side]
            .open_channel(now, {
                let mut cfg = ChannelConfig::default();
                cfg.label = format!("unordered-{side}");
                cfg.ordered = false;
                cfg
            })
            .unwrap();
        chans.push((side, ordered, true));
        chans.push((side, unordered, false));
    }
    let mut expected: HashMap<(usize, u16), Vec<(Vec<u8>, bool)>> = HashMap::new();
    for n in 0..count {
        for &(side, ch, _) in &chans {
            let len = match n % 5 {
                0 => 0,
                1 => 1,
                2 => 1200,
                3 => 5000 + n,
                _ => 100,
            };
            let binary = n % 2 == 0;
            let data = payload(seed * 1_000_000 + n as u64 * 10 + ch as u64, len);
            s.send(side, ch, &data, binary).unwrap();
            expected
                .entry((1 - side, ch))
                .or_default()
                .push((data, binary));
        }
    }
    let done = s.run_until(Duration::from_secs(3600), |s| {
        expected
            .iter()
            .all(|((side, ch), want)| s.messages(*side, *ch).len() >= want.len())
    });
    assert!(done, "seed {seed} loss {loss}: not all delivered");
    for &(side, ch, ordered) in &chans {
        let want = &expected[&(1 - side, ch)];
        let mut got = s.messages(1 - side, ch);
        // Run a while longer: nothing more may arrive (exactly once).
        assert_eq!(got.len(), want.len(), "seed {seed}: count on channel {ch}");
        if ordered {
            assert!(got == *want, "seed {seed}: ordered channel {ch} differs");
        } else {
            let mut w = want.clone();
            w.sort();
            got.sort();
            assert!(got == w, "seed {seed}: unordered channel {ch} differs");
        }
    }
    let label = &s.opened(1)[&chans[0].1];
    assert_eq!(label, "ordered-0");
    s.run_until(Duration::from_secs(30), |_| false);
    for &(side, ch, _) in &chans {
        assert_eq!(
            s.messages(1 - side, ch).len(),
            expected[&(1 - side, ch)].len()
        );
    }
}

#[test]
fn reliable_channels_without_loss() {
    reliable_run(1, 0.0, 40);
}

#[test]
fn reliable_channels_under_loss_hundreds_of_seeds() {
    // SCTP_SEEDS raises the count for longer soak runs.
    let seeds: u64 = std::env::var("SCTP_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let first: u64 = std::env::var("SCTP_FIRST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for seed in first..seeds {
        let loss = (seed % 7) as f64 * 0.05; // 0, 5, ..., 30 %
        if std::env::var_os("SCTP_TRACE").is_some() {
            eprintln!("seed {seed}");
        }
        reliable_run(seed, loss, 12);
    }
}

#[test]
fn partially_reliable_channels_give_up() {
    let (mut rexmit_lost, mut timed_lost, mut abandoned) = (0, 0, 0);
    for seed in 0..soak(20) {
        let mut config = lossy_config();
        config.interleaving = seed % 2 == 1;
        let mut s = Sim::new(seed, 0.25, config);
        s.pooled = seed % 4 >= 2;
        s.connect();
        let now = s.now;
        let rexmit = s.e[0]
            .open_channel(now, {
                let mut cfg = ChannelConfig::default();
                cfg.label = "rexmit".into();
                cfg.ordered = true;
                cfg.reliability = Reliability::MaxRetransmits(1);
                cfg
            })
            .unwrap();
        let timed = s.e[0]
            .open_channel(now, {
                let mut cfg = ChannelConfig::default();
                cfg.label = "timed".into();
                cfg.ordered = false;
                cfg.reliability = Reliability::MaxLifetime(Duration::from_millis(50));
                cfg
            })
            .unwrap();
        let reliable = s.e[0]
            .open_channel(now, ChannelConfig::reliable("reliable"))
            .unwrap();
        // Let the channels open so unordered sending is allowed.
        assert!(s.run_until(Duration::from_secs(60), |s| s.opened(1).len() == 3));
        for n in 0..300u32 {
            let d = n.to_be_bytes().to_vec();
            s.send(0, rexmit, &d, true).unwrap();
            s.send(0, timed, &d, true).unwrap();
            s.send(0, reliable, &d, true).unwrap();
        }
        assert!(
            s.run_until(Duration::from_secs(3600), |s| s.messages(1, reliable).len()
                == 300),
            "seed {seed}: reliable channel incomplete"
        );
        assert!(
            s.run_until(Duration::from_secs(36_000), |s| s.e[0]
                .association()
                .outstanding_chunks()
                == 0),
            "seed {seed}: sender never settled"
        );
        // Abandoned messages release their send-buffer charge too.
        assert_eq!(s.e[0].association().send_buffered(), 0, "seed {seed}");
        s.run_until(Duration::from_secs(10), |_| false);
        let ids = |v: Vec<(Vec<u8>, bool)>| -> Vec<u32> {
            v.iter()
                .map(|(d, _)| u32::from_be_bytes(d[..4].try_into().unwrap()))
                .collect()
        };
        let r = ids(s.messages(1, rexmit));
        let t = ids(s.messages(1, timed));
        assert!(
            r.windows(2).all(|w| w[0] < w[1]),
            "seed {seed}: rexmit out of order or duplicated"
        );
        let mut ts = t.clone();
        ts.sort();
        ts.dedup();
        assert_eq!(
            ts.len(),
            t.len(),
            "seed {seed}: timed channel duplicated a message"
        );
        timed_lost += 300 - t.len();
        assert!(
            r.len() > 30,
            "seed {seed}: too much lost on rexmit: {}",
            r.len()
        );
        rexmit_lost += 300 - r.len();
        assert_eq!(ids(s.messages(1, reliable)), (0..300).collect::<Vec<_>>());
        abandoned += s.e[0].association().stats().messages_abandoned;
    }
    // Which messages are given up depends on the seed; over the seeds both policies must have
    // given some up.
    assert!(rexmit_lost > 0, "max-retransmits never gave up a message");
    assert!(timed_lost > 0, "max-lifetime never gave up a message");
    assert!(abandoned > 0);
}

#[test]
fn one_mebibyte_messages_under_loss() {
    let mut config = Config::default();
    config.max_message_size = 1 << 20;
    config.max_retransmits = None;
    for seed in 0..soak(4) {
        let mut config = config.clone();
        config.interleaving = seed % 2 == 1;
        let mut s = Sim::new(seed, 0.1, config);
        s.pooled = seed >= 2;
        s.connect();
        let ch = s.e[0]
            .open_channel(s.now, ChannelConfig::reliable("big"))
            .unwrap();
        let msgs: Vec<Vec<u8>> = (0..3).map(|n| payload(n + seed * 10, 1 << 20)).collect();
        for m in &msgs {
            s.send(0, ch, m, true).unwrap();
        }
        assert!(s.run_until(Duration::from_secs(3600), |s| s.messages(1, ch).len() == 3));
        let got: Vec<Vec<u8>> = s.messages(1, ch).into_iter().map(|m| m.0).collect();
        assert!(got == msgs, "seed {seed}: large messages differ");
    }
    // Beyond the limit the sender refuses.
    let mut s = Sim::new(1, 0.0, Config::default());
    s.connect();
    let ch = s.e[0]
        .open_channel(s.now, ChannelConfig::reliable("x"))
        .unwrap();
    assert!(s.e[0].send(s.now, ch, vec![0u8; 300 * 1024], true).is_err());
}

#[test]
fn hundred_channels_then_both_sides_close() {
    for seed in 0..soak(6) {
        let mut config = lossy_config();
        config.interleaving = seed % 2 == 1;
        let mut s = Sim::new(seed, 0.1, config);
        s.connect();
        let now = s.now;
        let mut ids = [Vec::new(), Vec::new()];
        for n in 0..50 {
            for side in 0..2 {
                let id = s.e[side]
                    .open_channel(now, ChannelConfig::reliable(&format!("c{side}-{n}")))
                    .unwrap();
                assert_eq!(
                    id % 2,
                    side as u16,
                    "stream id parity follows the DTLS role"
                );
                ids[side].push(id);
            }
        }
        for side in 0..2 {
            for &id in &ids[side] {
                s.e[side]
                    .send(now, id, format!("hello {id}").into_bytes(), false)
                    .unwrap();
            }
        }
        assert!(s.run_until(Duration::from_secs(600), |s| {
            (0..2).all(|side| {
                ids[1 - side]
                    .iter()
                    .all(|id| s.messages(side, *id).len() == 1)
            })
        }));
        assert_eq!(s.opened(0).len(), 100);
        assert_eq!(s.opened(1).len(), 100);
        for side in 0..2 {
            for &id in &ids[side] {
                assert_eq!(
                    s.messages(1 - side, id),
                    vec![(format!("hello {id}").into_bytes(), false)]
                );
            }
        }
        // Each side closes half of its own channels and half of the peer's.
        let now = s.now;
        for side in 0..2 {
            for &id in ids[side]
                .iter()
                .step_by(2)
                .chain(ids[1 - side].iter().skip(1).step_by(2))
            {
                s.e[side].close(now, id);
            }
        }
        assert!(
            s.run_until(Duration::from_secs(600), |s| s.closed(0).len() == 100
                && s.closed(1).len() == 100),
            "seed {seed}: closed {} / {}",
            s.closed(0).len(),
            s.closed(1).len()
        );
        assert_eq!(s.e[0].channel_ids().count(), 0);
        // Stream ids are reusable after the reset.
        let again = s.e[0]
            .open_channel(s.now, ChannelConfig::reliable("again"))
            .unwrap();
        s.e[0].send(s.now, again, b"after".to_vec(), false).unwrap();
        assert!(s.run_until(Duration::from_secs(60), |s| {
            s.messages(1, again).iter().any(|m| m.0 == b"after")
        }));
    }
}

#[test]
fn negotiated_channel_and_close_with_pending_data() {
    let mut s = Sim::new(3, 0.05, lossy_config());
    s.connect();
    let mut cfg = ChannelConfig::reliable("pre");
    cfg.negotiated = Some(7);
    assert_eq!(s.e[0].open_channel(s.now, cfg.clone()).unwrap(), 7);
    assert_eq!(s.e[1].open_channel(s.now, cfg).unwrap(), 7);
    for n in 0..50u32 {
        s.e[0]
            .send(s.now, 7, n.to_be_bytes().to_vec(), true)
            .unwrap();
    }
    // Close right away: everything queued before the close is still delivered.
    s.e[0].close(s.now, 7);
    assert!(s.e[0].send(s.now, 7, vec![1], true).is_err());
    assert!(s.run_until(Duration::from_secs(600), |s| s.closed(0) == [7]
        && s.closed(1) == [7]));
    assert_eq!(s.messages(1, 7).len(), 50);
}

#[test]
fn channel_on_a_chosen_id_of_our_parity() {
    let mut s = Sim::new(5, 0.0, Config::default());
    // The server (odd ids) refuses an even id and a used one; the client the reverse.
    assert!(matches!(
        s.e[1].open_channel_with_id(s.now, 4, ChannelConfig::reliable("x")),
        Err(sansrtc_sctp::SendError::WrongParity(4))
    ));
    assert!(matches!(
        s.e[0].open_channel_with_id(s.now, 9, ChannelConfig::reliable("x")),
        Err(sansrtc_sctp::SendError::WrongParity(9))
    ));
    // Opened before the association is up: the DCEP open waits for it.
    assert_eq!(
        s.e[1]
            .open_channel_with_id(s.now, 9, ChannelConfig::reliable("nine"))
            .unwrap(),
        9
    );
    assert!(matches!(
        s.e[1].open_channel_with_id(s.now, 9, ChannelConfig::reliable("again")),
        Err(sansrtc_sctp::SendError::StreamInUse(9))
    ));
    // The automatic choice skips it.
    assert_eq!(
        s.e[1]
            .open_channel(s.now, ChannelConfig::reliable("a"))
            .unwrap(),
        1
    );
    s.connect();
    assert!(s.run_until(Duration::from_secs(10), |s| {
        s.events[0].iter().any(|e| {
            matches!(e, DataChannelEvent::ChannelOpened { id: 9, label, .. } if label == "nine")
        })
    }));
    s.e[1].send(s.now, 9, b"hi".to_vec(), false).unwrap();
    assert!(s.run_until(Duration::from_secs(10), |s| s.messages(0, 9).len() == 1));
}

#[test]
fn buffered_amount_low_event() {
    let mut s = Sim::new(4, 0.0, Config::default());
    s.connect();
    let ch = s.e[0]
        .open_channel(s.now, ChannelConfig::reliable("b"))
        .unwrap();
    s.e[0].set_buffered_amount_low_threshold(ch, 10_000);
    for _ in 0..100 {
        s.e[0].send(s.now, ch, vec![7u8; 10_000], true).unwrap();
    }
    assert!(s.e[0].buffered_amount(ch) >= 900_000);
    assert!(s.run_until(Duration::from_secs(600), |s| s.messages(1, ch).len() == 100));
    assert_eq!(s.e[0].buffered_amount(ch), 0);
    let lows = s.events[0]
        .iter()
        .filter(|e| **e == DataChannelEvent::BufferedAmountLow(ch))
        .count();
    assert_eq!(lows, 1);
}

#[test]
fn shutdown_closes_everything() {
    let mut s = Sim::new(5, 0.0, Config::default());
    s.connect();
    let ch = s.e[0]
        .open_channel(s.now, ChannelConfig::reliable("b"))
        .unwrap();
    s.e[0].send(s.now, ch, b"last".to_vec(), false).unwrap();
    s.e[0].shutdown(s.now);
    assert!(s.run_until(Duration::from_secs(60), |s| {
        s.events[1].contains(&DataChannelEvent::Disconnected(CloseReason::Shutdown))
    }));
    assert_eq!(s.messages(1, ch), vec![(b"last".to_vec(), false)]);
}

#[test]
fn streams_take_turns() {
    let mut config = Config::default();
    config.max_message_size = 1 << 20;
    let mut s = Sim::new(8, 0.0, config);
    s.connect();
    let big = s.e[0]
        .open_channel(s.now, ChannelConfig::reliable("big"))
        .unwrap();
    let small = s.e[0]
        .open_channel(s.now, ChannelConfig::reliable("small"))
        .unwrap();
    assert!(s.run_until(Duration::from_secs(10), |s| s.opened(1).len() == 2));
    // Four 1 MiB messages queued first, then a small one on another channel: the small one
    // does not wait for all of them.
    for _ in 0..4 {
        s.e[0].send(s.now, big, vec![1u8; 1 << 20], true).unwrap();
    }
    s.e[0].send(s.now, small, b"quick".to_vec(), false).unwrap();
    assert!(s.run_until(Duration::from_secs(600), |s| {
        !s.messages(1, small).is_empty()
    }));
    assert!(
        s.messages(1, big).len() <= 1,
        "the small message waited for the backlog"
    );
    assert!(s.run_until(Duration::from_secs(600), |s| s.messages(1, big).len() == 4));
}

#[test]
fn interleaving_lets_small_messages_pass_a_large_one() {
    let mut config = Config::default();
    config.max_message_size = 1 << 20;
    config.interleaving = true;
    let mut s = Sim::new(9, 0.0, config);
    s.connect();
    let big = s.e[0]
        .open_channel(s.now, ChannelConfig::reliable("big"))
        .unwrap();
    let small = s.e[0]
        .open_channel(s.now, ChannelConfig::reliable("small"))
        .unwrap();
    assert!(s.run_until(Duration::from_secs(10), |s| s.opened(1).len() == 2));
    let big_msg = payload(1, 1 << 20);
    s.e[0].send(s.now, big, big_msg.clone(), true).unwrap();
    // Let the large message start, then queue small ones behind it on another channel.
    for _ in 0..3 {
        s.step();
    }
    for n in 0..5u8 {
        s.e[0].send(s.now, small, vec![n; 10], true).unwrap();
    }
    assert!(
        s.run_until(Duration::from_secs(600), |s| s.messages(1, small).len()
            == 5)
    );
    assert!(
        s.messages(1, big).is_empty(),
        "small messages interleaved with the large one"
    );
    assert!(s.run_until(Duration::from_secs(600), |s| s.messages(1, big).len() == 1));
    assert!(s.messages(1, big)[0].0 == big_msg);
}

/// Random opens, sends and closes from both sides over a lossy link: every message sent on an
/// open reliable channel arrives exactly once on the matching channel generation (ids are reused
/// after a close), in order where ordered, and every channel ends closed on both sides.
#[test]
fn random_operations_soak() {
    use std::collections::BTreeMap;
    for seed in 0..soak(30) {
        let mut config = lossy_config();
        config.interleaving = seed % 2 == 1;
        let mut s = Sim::new(seed, (seed % 4) as f64 * 0.07, config);
        s.pooled = seed % 8 >= 4;
        s.connect();
        let mut r = SeededRng::new(seed ^ 0x5EED);
        // (side, id) -> generation of our currently open channel and whether it is ordered.
        let mut mine: [BTreeMap<u16, (u32, bool)>; 2] = [BTreeMap::new(), BTreeMap::new()];
        let mut generation: [BTreeMap<u16, u32>; 2] = [BTreeMap::new(), BTreeMap::new()];
        // (sender side, id, generation) -> (ordered, messages)
        let mut sent: BTreeMap<(usize, u16, u32), (bool, Vec<Vec<u8>>)> = BTreeMap::new();
        for _ in 0..120 {
            let side = (r.next_u64() % 2) as usize;
            match r.next_u64() % 10 {
                0 | 1 => {
                    let ordered = r.next_u64().is_multiple_of(2);
                    let mut cfg = ChannelConfig::default();
                    cfg.label = "r".into();
                    cfg.ordered = ordered;
                    if let Ok(id) = s.e[side].open_channel(s.now, cfg) {
                        let g = generation[side].entry(id).or_insert(0);
                        *g += 1;
                        mine[side].insert(id, (*g, ordered));
                        sent.insert((side, id, *g), (ordered, Vec::new()));
                    }
                }
                2 => {
                    // Close one of ours, or one the peer opened.
                    let owner = if r.next_u64().is_multiple_of(3) {
                        1 - side
                    } else {
                        side
                    };
                    let ids: Vec<u16> = mine[owner].keys().copied().collect();
                    if !ids.is_empty() {
                        let id = ids[(r.next_u64() as usize) % ids.len()];
                        s.e[side].close(s.now, id);
                        if owner == side {
                            mine[side].remove(&id);
                        }
                    }
                }
                _ => {
                    let ids: Vec<(u16, u32)> = mine[side].iter().map(|(k, v)| (*k, v.0)).collect();
                    if !ids.is_empty() {
                        let (id, g) = ids[(r.next_u64() as usize) % ids.len()];
                        let n = sent[&(side, id, g)].1.len();
                        let len = (r.next_u64() % 3000) as usize;
                        let mut data = format!("{side}/{id}/{g}/{n}/").into_bytes();
                        data.resize(data.len() + len, (n % 251) as u8);
                        if s.send(side, id, &data, true).is_ok() {
                            sent.get_mut(&(side, id, g)).unwrap().1.push(data);
                        } else {
                            // The peer closed it.
                            mine[side].remove(&id);
                        }
                    }
                }
            }
            // Let some time pass between operations.
            let until = s.now + Duration::from_millis(r.next_u64() % 40);
            s.run_until(Duration::from_secs(1), |s| s.now >= until);
        }
        let total: usize = sent.values().map(|v| v.1.len()).sum();
        assert!(
            total > 20 && sent.len() > 5,
            "seed {seed}: the scenario did too little"
        );
        // Close everything still open, then let it all settle.
        for side in 0..2 {
            for id in std::mem::take(&mut mine[side]).into_keys() {
                s.e[side].close(s.now, id);
            }
        }
        let opened_total: usize = generation
            .iter()
            .map(|g| g.values().sum::<u32>() as usize)
            .sum();
        assert!(
            s.run_until(Duration::from_secs(36_000), |s| {
                s.closed(0).len() == opened_total && s.closed(1).len() == opened_total
            }),
            "seed {seed}: closed {} / {} of {opened_total}: still {:?} / {:?}; {:?}",
            s.closed(0).len(),
            s.closed(1).len(),
            s.e[0].channel_ids().collect::<Vec<_>>(),
            s.e[1].channel_ids().collect::<Vec<_>>(),
            s.events[0]
                .iter()
                .filter(|e| !matches!(e, DataChannelEvent::Message { .. }))
                .collect::<Vec<_>>()
        );
        // Split what each side received into channel generations.
        for rx in 0..2 {
            let tx = 1 - rx;
            let mut gen_rx: BTreeMap<u16, u32> = BTreeMap::new();
            let mut got: BTreeMap<(u16, u32), Vec<Vec<u8>>> = BTreeMap::new();
            let mut open_now: BTreeMap<u16, u32> = BTreeMap::new();
            for e in &s.events[rx] {
                match e {
                    DataChannelEvent::ChannelOpened { id, .. } if id % 2 == tx as u16 => {
                        let g = gen_rx.entry(*id).or_insert(0);
                        *g += 1;
                        open_now.insert(*id, *g);
                    }
                    DataChannelEvent::Message { channel, data, .. } => {
                        let g = open_now[channel];
                        got.entry((*channel, g)).or_default().push(data.clone());
                    }
                    DataChannelEvent::ChannelClosed(id) => {
                        open_now.remove(id);
                    }
                    _ => {}
                }
            }
            for ((side, id, g), (ordered, msgs)) in &sent {
                if *side != tx {
                    continue;
                }
                let mut have = got.remove(&(*id, *g)).unwrap_or_default();
                let mut want = msgs.clone();
                if !ordered {
                    have.sort();
                    want.sort();
                }
                assert!(
                    have == want,
                    "seed {seed}: channel {id} generation {g} from side {tx}: {} of {} messages",
                    have.len(),
                    want.len()
                );
            }
            assert!(
                got.values().all(|v| v.is_empty()),
                "seed {seed}: messages on unknown channels"
            );
        }
    }
}
