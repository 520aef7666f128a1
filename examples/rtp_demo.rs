//! The rtp crate at work over real UDP sockets on 127.0.0.1: a sender streams 90 kHz video RTP
//! packets with header extensions, the network drops and reorders some, the receiver keeps RFC 3550
//! statistics and answers with compound RTCP (receiver report, NACK, transport-wide feedback), and
//! the sender reads that feedback, retransmits what was NACKed and computes the round-trip time.
//!
//! Run with `cargo run --release --example rtp_demo`.

use std::net::UdpSocket;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sansrtc::rtp::builder::ExtensionsBuilder;
use sansrtc::rtp::extension::{AbsSendTime, ExtensionKind, ExtensionMap, Mid, TransportSequence};
use sansrtc::rtp::rtcp::{
    self, CompoundIter, List, Nack, NackPair, ReceiverReport, RtcpPacket, SenderReport,
    TransportCcBuilder,
};
use sansrtc::rtp::seq::SequenceUnwrapper;
use sansrtc::rtp::stats::ReceiveStats;
use sansrtc::rtp::time::{NtpTime, RtpClock, compact_from_duration, round_trip_time};
use sansrtc::rtp::{RtpPacket, RtpPacketBuilder};

const PACKETS: u16 = 2000;
const SSRC: u32 = 0x5A45_0001;
const FIRST_SEQ: u16 = 64_500;
const FEEDBACK_SSRC: u32 = 0x5A45_0002;

fn wallclock() -> NtpTime {
    NtpTime::from_unix(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// A tiny deterministic PRNG (xorshift) for the simulated network's losses and reordering.
struct Lossy(u64);

impl Lossy {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() -> std::io::Result<()> {
    let sender = UdpSocket::bind("127.0.0.1:0")?;
    let receiver = UdpSocket::bind("127.0.0.1:0")?;
    receiver.set_read_timeout(Some(Duration::from_millis(200)))?;
    sender.set_read_timeout(Some(Duration::from_millis(200)))?;
    let (to_receiver, to_sender) = (receiver.local_addr()?, sender.local_addr()?);
    println!("sender {to_sender} -> receiver {to_receiver} (loopback UDP)");

    let mut map = ExtensionMap::new();
    map.insert(2, ExtensionKind::AbsSendTime);
    map.insert(3, ExtensionKind::TransportWideCc);
    map.insert(4, ExtensionKind::SdesMid);

    let clock = RtpClock::new(90_000);
    let start = Instant::now();
    let mut net = Lossy(0x5EED);
    let payload = vec![0xA5u8; 1100];
    let mut sent_log: Vec<Vec<u8>> = Vec::with_capacity(PACKETS as usize);
    let mut held_back: Option<Vec<u8>> = None;
    let (mut dropped, mut reordered) = (0, 0);

    // --- receiver state: parse, unwrap, keep statistics, note what is missing
    let mut buf = [0u8; 1500];
    let mut unwrapper = SequenceUnwrapper::new();
    let mut stats: Option<ReceiveStats> = None;
    let mut received = std::collections::BTreeSet::new();
    let mut twcc = std::collections::BTreeMap::new();
    let mut bytes_in = 0usize;
    let mut mids_ok = 0usize;
    receiver.set_nonblocking(true)?;
    let mut receive = |receiver: &UdpSocket| {
        while let Ok((len, _)) = receiver.recv_from(&mut buf) {
            let packet = RtpPacket::parse(&buf[..len]).expect("valid RTP");
            let ext = packet.extensions().expect("extensions present");
            if map.get::<Mid>(&ext) == Some(Mid("video")) {
                mids_ok += 1;
            }
            if let Some(TransportSequence(t)) = map.get::<TransportSequence>(&ext) {
                twcc.insert(
                    t,
                    map.get::<AbsSendTime>(&ext)
                        .map(|a| a.to_micros())
                        .unwrap_or(0),
                );
            }
            let arrival = clock.ticks(start.elapsed());
            stats
                .get_or_insert_with(|| ReceiveStats::new(packet.sequence_number()))
                .update(packet.sequence_number(), packet.timestamp(), arrival);
            received.insert(unwrapper.unwrap(packet.sequence_number()));
            bytes_in += packet.payload().len();
        }
    };

    // --- sender: packetize and send, the network drops ~3% and swaps ~2% of neighbours
    for i in 0..PACKETS {
        let seq = FIRST_SEQ.wrapping_add(i); // wraps around 65535 during the run
        let mut ext = ExtensionsBuilder::new();
        ext.push_value(
            2,
            &AbsSendTime::from_micros(start.elapsed().as_micros() as u64),
        )
        .and_then(|e| e.push_value(3, &TransportSequence(i)))
        .and_then(|e| e.push_value(4, &Mid("video")))
        .expect("extensions fit");
        let mut builder = RtpPacketBuilder::new(
            96,
            seq,
            clock.ticks(Duration::from_millis(33 * (i as u64 / 3))),
            SSRC,
        );
        builder
            .marker(i % 3 == 2)
            .payload(&payload)
            .extensions(&ext);
        let bytes = builder.to_vec().expect("packet fits");
        sent_log.push(bytes.clone());
        match net.next() % 100 {
            0..=2 => dropped += 1,
            3..=4 if held_back.is_none() => {
                held_back = Some(bytes);
                reordered += 1;
            }
            _ => {
                sender.send_to(&bytes, to_receiver)?;
                if let Some(late) = held_back.take() {
                    sender.send_to(&late, to_receiver)?;
                }
            }
        }
        receive(&receiver); // a real receiver reads as packets come: loopback drops bursts
    }
    if let Some(late) = held_back.take() {
        sender.send_to(&late, to_receiver)?;
    }
    std::thread::sleep(Duration::from_millis(20)); // let the last datagrams land
    receive(&receiver);
    let mut buf = [0u8; 1500];

    let first = *received.first().expect("received something");
    let last = *received.last().expect("received something");
    let missing: Vec<u16> = (first..=last)
        .filter(|s| !received.contains(s))
        .map(|s| s as u16)
        .collect();
    let mut stats = stats.expect("received something");

    // --- receiver -> sender: RR + NACK in one compound packet, then transport-wide feedback
    // in reduced-size packets of 250 packets each (every datagram stays under the MTU)
    let sr_ntp = wallclock();
    let lsr = sr_ntp.compact(); // as if the sender's SR had arrived just now
    let report_time = Instant::now();
    let nack_pairs = NackPair::from_lost(missing.iter().copied());
    let mut datagrams: Vec<Vec<u8>> = Vec::new();
    let first_twcc = *twcc.keys().next().expect("received something");
    let last_twcc = *twcc.keys().last().expect("received something");
    let mut previous = None;
    let mut chunks = Vec::new();
    for (count, base) in (first_twcc..=last_twcc).step_by(250).enumerate() {
        let mut cc = TransportCcBuilder::new();
        for t in base..=last_twcc.min(base + 249) {
            match twcc.get(&t) {
                Some(&at) => {
                    let delta = previous.map_or(0, |prev: u64| (at as i64 - prev as i64) / 250);
                    cc.received(delta.clamp(-32768, 32767) as i32)
                        .expect("delta fits");
                    previous = Some(at);
                }
                None => {
                    cc.lost();
                }
            }
        }
        let feedback = cc
            .build(&mut chunks, FEEDBACK_SSRC, SSRC, base, 0, count as u8)
            .expect("feedback fits");
        let mut bytes = Vec::new();
        RtcpPacket::TransportCc(feedback)
            .write_vec(&mut bytes)
            .expect("writes");
        datagrams.push(bytes);
    }
    std::thread::sleep(Duration::from_millis(5)); // time the receiver takes before reporting
    let dlsr = compact_from_duration(report_time.elapsed());
    let blocks = [stats.report_block(SSRC, lsr, dlsr)];
    let packets = [
        RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: FEEDBACK_SSRC,
            reports: List::from_items(&blocks),
            profile_extension: &[],
        }),
        RtcpPacket::Nack(Nack {
            sender_ssrc: FEEDBACK_SSRC,
            media_ssrc: SSRC,
            pairs: List::from_items(&nack_pairs),
        }),
    ];
    let mut rtcp_buf = vec![0u8; rtcp::compound_len(&packets)];
    let rtcp_len = rtcp::write_compound(&packets, &mut rtcp_buf).expect("buffer sized");
    datagrams.insert(0, rtcp_buf[..rtcp_len].to_vec());
    for datagram in &datagrams {
        receiver.send_to(datagram, to_sender)?;
    }
    let rtcp_bytes: usize = datagrams.iter().map(Vec::len).sum();

    // --- sender: read the feedback, retransmit NACKed packets, compute RTT
    let mut retransmitted = 0;
    let mut rtt = None;
    let mut twcc_lost = 0;
    let mut twcc_reported = 0;
    for _ in 0..datagrams.len() {
        let (len, _) = sender.recv_from(&mut buf)?;
        let arrived = wallclock().compact();
        for packet in CompoundIter::new(&buf[..len]) {
            match packet.expect("valid RTCP") {
                RtcpPacket::ReceiverReport(rr) => {
                    for block in &rr.reports {
                        rtt = round_trip_time(
                            arrived,
                            block.last_sender_report,
                            block.delay_since_last_sender_report,
                        );
                        println!(
                            "receiver report: highest seq {} (extended), cumulative lost {}, fraction lost {}/256, jitter {} ticks",
                            block.extended_highest_sequence,
                            block.cumulative_lost,
                            block.fraction_lost,
                            block.jitter
                        );
                    }
                }
                RtcpPacket::Nack(nack) => {
                    for seq in nack.lost() {
                        let index = seq.wrapping_sub(FIRST_SEQ) as usize;
                        sender.send_to(&sent_log[index], to_receiver)?;
                        retransmitted += 1;
                    }
                }
                RtcpPacket::TransportCc(cc) => {
                    twcc_reported += cc.status_count as usize;
                    twcc_lost += cc.packets().filter(|p| p.delta.is_none()).count();
                }
                _ => {}
            }
        }
    }
    receiver.set_nonblocking(false)?;
    let mut repaired = 0;
    while repaired < retransmitted {
        let Ok((len, _)) = receiver.recv_from(&mut buf) else {
            break;
        };
        let packet = RtpPacket::parse(&buf[..len]).expect("valid RTP");
        if received.insert(unwrapper.unwrap(packet.sequence_number())) {
            repaired += 1;
        }
    }
    let sr = SenderReport {
        ssrc: SSRC,
        ntp_timestamp: sr_ntp.0,
        rtp_timestamp: 0,
        packet_count: PACKETS as u32,
        octet_count: (PACKETS as u32) * payload.len() as u32,
        reports: List::empty(),
        profile_extension: &[],
    };
    let sr_len = RtcpPacket::SenderReport(sr).encoded_len();

    let elapsed = start.elapsed();
    println!(
        "sent {PACKETS} RTP packets ({} bytes each), network dropped {dropped} and reordered {reordered}",
        sent_log[0].len()
    );
    println!(
        "received {} packets ({} payload bytes), sdes:mid read from {mids_ok}",
        received.len() - repaired,
        bytes_in
    );
    println!("sequence numbers wrapped 65535 -> 0 and unwrapped to {first}..={last}");
    println!(
        "NACK asked for {} packets in {} entries; transport-cc covered {twcc_reported} packets, {twcc_lost} lost",
        missing.len(),
        nack_pairs.len()
    );
    println!(
        "retransmitted {retransmitted}, repaired {repaired}: {} of {PACKETS} packets now at the receiver",
        received.len()
    );
    println!(
        "RTCP: {rtcp_bytes} bytes in {} datagrams (RR + NACK, then transport-cc); a bare SR is {sr_len} bytes",
        datagrams.len()
    );
    match rtt {
        Some(rtt) => println!(
            "round-trip time from LSR/DLSR (SR sent just before the report): {:.3} ms",
            rtt.as_secs_f64() * 1000.0
        ),
        None => println!("round-trip time: not available"),
    }
    println!("done in {:.1} ms", elapsed.as_secs_f64() * 1000.0);
    assert_eq!(
        received.len(),
        PACKETS as usize,
        "every packet arrives after retransmission"
    );
    Ok(())
}
