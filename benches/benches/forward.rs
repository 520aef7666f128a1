//! Forwarding, as a selective forwarding unit does it (issue 17): one publisher's 1200 B video
//! packets reach the server's connection to it (SRTP unprotected once), and the server writes
//! each packet's payload on its connection to every subscriber (`write_rtp`: header from the
//! subscriber's own track, SRTP protected per subscriber, datagram queued and taken). Reported
//! per packet out, N = 1, 10 and 100 subscribers, beside the crypto ceiling: the srtp crate
//! protecting the same 1200 B packet in place with the same profile, nothing else.
//!
//! One case keeps no retransmission history on the subscribers' connections, to show what
//! the per-subscriber copy of each packet into its history costs; the `shared` cases write the
//! received packet's payload shared (`RtpReceived::share`, `RtpWrite::shared`): each
//! history keeps a reference to it instead of a copy; `send_rtp_shared` is the SFU example's
//! path with the payload shared (the header rewritten, the payload a reference).
//!
//! Beside it, in the same run, str0m forwarding the way its `chat` example does (issue 16): the
//! publisher's `Rtc` writes a 1200 B VP8 frame, the server's `Rtc` for it hands it over as
//! `Event::MediaData`, and the server writes it on each subscriber's `Rtc` (`Writer::write`,
//! payload type matched with `match_params`), whose datagrams are taken. str0m's MTU is raised
//! to 1500 so that a 1200 B frame is one packet, as ours is; the packets out per iteration are
//! counted once before measuring and checked to be one per subscriber. str0m's clock moves by
//! 20 us per frame (see `STR0M_TICK`); ours stands still (it needs no time to pass).
//!
//! Run: `cargo bench -p sansrtc-benches --bench forward`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sansrtc::sdp::Direction;
use sansrtc::{Event, Mid, PeerConnection, RtpWrite};
use sansrtc_benches::peer::{ADDRS, Certs, SansrtcPair, Str0mPair};
use str0m::Rtc;
use str0m::format::Codec;
use str0m::media::{MediaKind, MediaTime};
use str0m::net::{Protocol, Receive};

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

/// A connected str0m pair with one video section and a 1500 B MTU: (the far end, the server's
/// end, the section's mid, the clock, the pair's addresses).
fn str0m_video_pair(certs: &Certs) -> (Rtc, Rtc, str0m::media::Mid, Instant) {
    let addrs = ADDRS.map(|a| a.parse().unwrap());
    let mut pair = Str0mPair::new_configured(Instant::now(), Some(certs), None, addrs, |c| {
        c.set_mtu(1500..=usize::MAX)
    });
    pair.media = vec![MediaKind::Video];
    pair.connect();
    let mid = pair.mids[1][0];
    let now = pair.now;
    let Str0mPair {
        rtcs: [client, server],
        ..
    } = pair;
    (client, server, mid, now)
}

/// Drains `rtc`'s output until its timeout: its datagrams, passed to `datagram`, and its
/// events, passed to `event`.
fn drain(
    rtc: &mut Rtc,
    mut datagram: impl FnMut(&str0m::net::Transmit),
    mut event: impl FnMut(str0m::Event),
) {
    loop {
        match rtc.poll_output().unwrap() {
            str0m::Output::Timeout(_) => return,
            str0m::Output::Transmit(t) => datagram(&t),
            str0m::Output::Event(e) => event(e),
        }
    }
}

/// Whether a datagram is SRTP (RFC 7983: first byte 128..=191, second not an RTCP type).
fn is_rtp(d: &[u8]) -> bool {
    d.len() > 12 && (128..=191).contains(&d[0]) && !(200..=206).contains(&d[1])
}

/// str0m, as its chat example forwards: one iteration is one frame in, one packet out per
/// subscriber; returns the RTP packets out of the subscribers' `Rtc`s.
fn str0m_step(
    publisher: &mut Rtc,
    ingest: &mut Rtc,
    subscribers: &mut [(Rtc, str0m::media::Mid)],
    (mid, pt, now, ts): (str0m::media::Mid, str0m::media::Pt, Instant, u64),
    payload: &[u8],
) -> usize {
    publisher
        .writer(mid)
        .unwrap()
        .write(pt, now, MediaTime::from_90khz(ts), black_box(payload))
        .unwrap();
    // str0m sends what was written when it is given the time.
    publisher.handle_input(str0m::Input::Timeout(now)).unwrap();
    let mut wire = Vec::new();
    drain(
        publisher,
        |t| wire.push((t.source, t.destination, t.contents.to_vec())),
        |_| {},
    );
    for (source, destination, bytes) in &wire {
        let r = Receive::new(Protocol::Udp, *source, *destination, bytes).unwrap();
        ingest.handle_input(str0m::Input::Receive(now, r)).unwrap();
    }
    let mut frames = Vec::new();
    drain(
        ingest,
        |_| {},
        |e| {
            if let str0m::Event::MediaData(d) = e {
                frames.push(d);
            }
        },
    );
    let mut out = 0;
    for data in &frames {
        for (sub, sub_mid) in subscribers.iter_mut() {
            let writer = sub.writer(*sub_mid).unwrap();
            let pt = writer.match_params(data.params).expect("VP8 on both");
            writer
                .write(pt, data.network_time, data.time, data.data.clone())
                .unwrap();
            sub.handle_input(str0m::Input::Timeout(now)).unwrap();
            drain(
                sub,
                |t| {
                    if is_rtp(&t.contents) {
                        out += 1;
                    }
                    black_box(t.contents.len());
                },
                |_| {},
            );
        }
    }
    out
}

/// The time that passes between two frames in the str0m case. str0m's feedback queues grow
/// while its clock stands still (a minute of a still clock ended in an assertion that an SRTCP
/// packet fits the MTU), so its clock moves by a little per frame: 50,000 frames a second,
/// which keeps the simulated time of a whole run within seconds (no consent expiry).
const STR0M_TICK: std::time::Duration = std::time::Duration::from_micros(20);

fn forward_str0m(c: &mut Criterion) {
    let certs = Certs::generate();
    let payload = [0x42u8; 1200];
    let mut group = c.benchmark_group("forward_1200B");
    let (mut publisher, mut ingest, mid, mut now) = str0m_video_pair(&certs);
    let pt = publisher
        .writer(mid)
        .unwrap()
        .payload_params()
        .find(|p| p.spec().codec == Codec::Vp8)
        .expect("VP8 negotiated")
        .pt();
    let mut ts = 0u64;
    // Every subscriber set is made before any media flows: one clock for every Rtc (each
    // pair's starts later than the one before, and an `Rtc` given an earlier time than it saw
    // sends nothing), which then only moves by STR0M_TICK per frame (a jump of seconds after
    // heavy traffic ends in the same SRTCP assertion).
    let sets: Vec<Vec<(Rtc, str0m::media::Mid)>> = [1usize, 10, 100]
        .into_iter()
        .map(|n| {
            (0..n)
                .map(|_| {
                    let (_client, server, mid, their_now) = str0m_video_pair(&certs);
                    now = now.max(their_now);
                    (server, mid)
                })
                .collect()
        })
        .collect();
    now += std::time::Duration::from_millis(1);
    for mut subscribers in sets {
        let n = subscribers.len();
        // The first frames may open the stream; after that, one packet per subscriber.
        for _ in 0..4 {
            ts += 3000;
            now += STR0M_TICK;
            str0m_step(
                &mut publisher,
                &mut ingest,
                &mut subscribers,
                (mid, pt, now, ts),
                &payload,
            );
        }
        ts += 3000;
        now += STR0M_TICK;
        let out = str0m_step(
            &mut publisher,
            &mut ingest,
            &mut subscribers,
            (mid, pt, now, ts),
            &payload,
        );
        assert_eq!(out, n, "one packet out per subscriber");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("str0m/{n}_subscribers"), |b| {
            b.iter(|| {
                ts += 3000;
                now += STR0M_TICK;
                str0m_step(
                    &mut publisher,
                    &mut ingest,
                    &mut subscribers,
                    (mid, pt, now, ts),
                    &payload,
                )
            })
        });
    }
    group.finish();
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
    // `whole`: forwarded as examples/sfu does, the received packet whole with the subscriber's
    // SSRC and sequence number written in (`send_rtp`), instead of `write_rtp` of its payload.
    #[derive(Clone, Copy, PartialEq)]
    enum How {
        /// `write_rtp` of the payload (copied into each history).
        Write,
        /// `write_rtp` of the payload shared (a reference in each history).
        Shared,
        /// `send_rtp` of the packet whole.
        Whole,
        /// `send_rtp_shared`: the packet's header rewritten, its payload shared.
        WholeShared,
    }
    let cases = [
        (1usize, 512, How::Write),
        (10, 512, How::Write),
        (100, 512, How::Write),
        (100, 0, How::Write),
        (1, 512, How::Shared),
        (10, 512, How::Shared),
        (100, 512, How::Shared),
        (1, 512, How::Whole),
        (10, 512, How::Whole),
        (100, 512, How::Whole),
        (1, 512, How::WholeShared),
        (10, 512, How::WholeShared),
        (100, 512, How::WholeShared),
    ];
    for (n, history, how) in cases {
        let mut subscribers: Vec<(PeerConnection, Mid, u32, u16)> = (0..n)
            .map(|_| {
                let (_client, mut server, mid, _) = video_pair(&certs, history);
                let ssrc = server.track(mid).unwrap().sending_ssrc().expect("our SSRC");
                (server, mid, ssrc, 0)
            })
            .collect();
        let mut ts = 0u32;
        let mut buf = Vec::with_capacity(1500);
        group.throughput(Throughput::Elements(n as u64));
        let name = match (history, how) {
            (0, _) => format!("sansrtc_no_history/{n}_subscribers"),
            (_, How::Whole) => format!("sansrtc_send_rtp/{n}_subscribers"),
            (_, How::Shared) => format!("sansrtc_shared/{n}_subscribers"),
            (_, How::WholeShared) => format!("sansrtc_send_rtp_shared/{n}_subscribers"),
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
                    let Event::Rtp(mut rtp) = e else { continue };
                    let (pt, ts, marker) = (rtp.payload_type, rtp.timestamp, rtp.marker);
                    let shared = matches!(how, How::Shared | How::WholeShared).then(|| rtp.share());
                    let header_len = rtp.header().header_len();
                    for (sub, mid, ssrc, seq) in &mut subscribers {
                        *seq = seq.wrapping_add(1);
                        match (how, &shared) {
                            (How::Shared, Some(shared)) => sub
                                .write_rtp(
                                    now,
                                    *mid,
                                    RtpWrite::shared(pt, ts, shared).marker(marker),
                                )
                                .unwrap(),
                            (How::Whole, _) => {
                                buf.clear();
                                buf.extend_from_slice(rtp.packet());
                                buf[2..4].copy_from_slice(&seq.to_be_bytes());
                                buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
                                sub.send_rtp(now, &buf).unwrap();
                            }
                            (How::WholeShared, Some(shared)) => {
                                buf.clear();
                                buf.extend_from_slice(&rtp.packet()[..header_len]);
                                buf[2..4].copy_from_slice(&seq.to_be_bytes());
                                buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
                                sub.send_rtp_shared(now, &buf, shared).unwrap();
                            }
                            _ => sub
                                .write_rtp(
                                    now,
                                    *mid,
                                    RtpWrite::new(pt, ts, rtp.payload()).marker(marker),
                                )
                                .unwrap(),
                        }
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
    targets = forward, forward_str0m
}
criterion_main!(benches);
