//! Two sansrtc peer connections in one process over real UDP sockets on 127.0.0.1: they negotiate
//! (offer/answer with an audio transceiver and a data channel), run ICE, DTLS and SCTP, open a
//! data channel, move 20 MB through it with bufferedAmount flow control, stream 1000 SRTP audio
//! packets, and print setup time, throughput and packet counts.
//!
//! Run with `cargo run --release --example loopback`.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sansrtc::sdp::Direction;
use sansrtc::{
    ChannelConfig, Config, ConnectionState, Event, PeerConnection, RtpWrite, SdpType, codecs,
};

const TOTAL: usize = 20 * 1024 * 1024;
const CHUNK: usize = 16 * 1024;
const HIGH_WATER: usize = 1024 * 1024;
const RTP_PACKETS: u16 = 1000;

struct Side {
    pc: PeerConnection,
    socket: UdpSocket,
    addr: SocketAddr,
    events: Vec<Event>,
}

impl Side {
    fn new() -> Side {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        socket.set_nonblocking(true).expect("nonblocking");
        let addr = socket.local_addr().expect("local addr");
        let mut pc = PeerConnection::new(Config::default()).expect("peer connection");
        pc.add_local_address(addr).expect("a concrete address");
        pc.add_transceiver(codecs::audio_transceiver(Direction::SendRecv));
        Side {
            pc,
            socket,
            addr,
            events: Vec::new(),
        }
    }

    /// Reads every waiting datagram, fires due timers, sends what the machine produced.
    /// Returns whether anything happened.
    fn pump(&mut self, buf: &mut [u8]) -> bool {
        let mut busy = false;
        loop {
            match self.socket.recv_from(buf) {
                Ok((n, from)) => {
                    busy = true;
                    self.pc
                        .handle_receive(Instant::now(), from, self.addr, &buf[..n]);
                    self.flush();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("recv: {e}"),
            }
        }
        let now = Instant::now();
        if self.pc.poll_timeout().is_some_and(|t| t <= now) {
            self.pc.handle_timeout(now);
            busy = true;
        }
        self.flush();
        busy
    }

    fn flush(&mut self) {
        while let Some(t) = self.pc.poll_transmit() {
            // Loopback drops on a full socket buffer are recovered by SCTP and tolerated by RTP.
            let _ = self.socket.send_to(&t.contents, t.destination);
        }
        while let Some(e) = self.pc.poll_event() {
            self.events.push(e);
        }
    }
}

fn run(
    a: &mut Side,
    b: &mut Side,
    limit: Duration,
    mut done: impl FnMut(&mut Side, &mut Side) -> bool,
) {
    let end = Instant::now() + limit;
    let mut buf = vec![0u8; 2048];
    while !done(a, b) {
        assert!(Instant::now() < end, "timed out");
        let busy = a.pump(&mut buf) | b.pump(&mut buf);
        if !busy {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

fn main() {
    let (mut a, mut b) = (Side::new(), Side::new());
    println!("peer A on {}, peer B on {}", a.addr, b.addr);
    let t0 = Instant::now();
    let offer = a.pc.create_offer(t0).expect("offer");
    b.pc.set_remote_description(Instant::now(), SdpType::Offer, &offer)
        .expect("offer accepted");
    let answer = b.pc.create_answer(Instant::now()).expect("answer");
    a.pc.set_remote_description(Instant::now(), SdpType::Answer, &answer)
        .expect("answer accepted");
    b.flush();
    a.flush();
    let t_sdp = t0.elapsed();
    run(&mut a, &mut b, Duration::from_secs(10), |a, b| {
        a.pc.state() == ConnectionState::Connected && b.pc.state() == ConnectionState::Connected
    });
    let t_connected = t0.elapsed();
    let id =
        a.pc.create_data_channel(Instant::now(), ChannelConfig::reliable("bulk"))
            .expect("channel");
    a.flush();
    run(&mut a, &mut b, Duration::from_secs(10), |a, b| {
        a.events
            .iter()
            .any(|e| matches!(e, Event::DataChannelOpen { id: i, .. } if *i == id))
            && b.events
                .iter()
                .any(|e| matches!(e, Event::DataChannelOpen { .. }))
    });
    let t_open = t0.elapsed();
    println!(
        "setup: offer/answer {:.2} ms, ICE+DTLS connected {:.1} ms, data channel open {:.1} ms (SRTP {:?})",
        t_sdp.as_secs_f64() * 1e3,
        t_connected.as_secs_f64() * 1e3,
        t_open.as_secs_f64() * 1e3,
        a.pc.srtp_profile().expect("SRTP keys"),
    );

    // Data: 20 MB, keeping at most HIGH_WATER bytes buffered.
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    let mut sent = 0usize;
    let mut received = 0usize;
    let mut intact = true;
    run(&mut a, &mut b, Duration::from_secs(60), |a, b| {
        while sent < TOTAL && a.pc.channel(id).unwrap().buffered_amount() < HIGH_WATER {
            a.pc.channel(id)
                .unwrap()
                .send(Instant::now(), &chunk)
                .expect("send");
            sent += CHUNK;
        }
        a.flush();
        for e in b.events.drain(..) {
            if let Event::DataChannelMessage { data, .. } = e {
                intact &= data == chunk;
                received += data.len();
            }
        }
        received >= TOTAL
    });
    let secs = start.elapsed().as_secs_f64();
    assert!(intact, "data corrupted");
    println!(
        "data channel: {} MB in {:.2} s = {:.1} MB/s, every message byte-exact",
        TOTAL / (1024 * 1024),
        secs,
        TOTAL as f64 / secs / 1e6
    );

    // Media: 1000 Opus-sized RTP packets on the audio track through SRTP, 1 ms apart.
    let audio_mid = a.pc.media_mids().next().unwrap();
    let start = Instant::now();
    for seq in 0..RTP_PACKETS {
        let payload = [seq as u8; 160];
        let packet = RtpWrite::new(codecs::opus().payload_type, u32::from(seq) * 960, &payload);
        a.pc.write_rtp(Instant::now(), audio_mid, packet)
            .expect("send rtp");
        a.flush();
        let next = start + Duration::from_millis(u64::from(seq) + 1);
        run(&mut a, &mut b, Duration::from_secs(5), |_, _| {
            Instant::now() >= next
        });
    }
    let wait = Instant::now() + Duration::from_millis(1200);
    run(&mut a, &mut b, Duration::from_secs(5), |_, _| {
        Instant::now() >= wait
    });
    let rtp = b
        .events
        .iter()
        .filter(|e| matches!(e, Event::Rtp(_)))
        .count();
    let mid = b.events.iter().find_map(|e| match e {
        Event::Rtp(p) => p.mid.as_deref().map(str::to_owned),
        _ => None,
    });
    let rtcp_a = a
        .events
        .iter()
        .filter(|e| matches!(e, Event::Rtcp(_)))
        .count();
    println!(
        "media: {} of {} SRTP packets received (mid {:?}), {} SRTCP reports back at the sender",
        rtp,
        RTP_PACKETS,
        mid.unwrap_or_default(),
        rtcp_a
    );
    let (sa, sb) = (a.pc.stats(), b.pc.stats());
    println!(
        "datagrams: A sent {} / received {}, B sent {} / received {}; dropped at B: {} unknown, {} stun, {} srtp",
        sa.datagrams_sent,
        sa.datagrams_received,
        sb.datagrams_sent,
        sb.datagrams_received,
        sb.dropped_unknown,
        sb.dropped_stun,
        sb.dropped_srtp
    );
    let report = a.pc.stats_report();
    if let Some(out) = report.outbound_rtp.first() {
        println!(
            "RTCP at the sender: round-trip time {:?}, receiver reports {:?} lost",
            out.round_trip_time.unwrap_or_default(),
            out.remote_packets_lost.unwrap_or_default(),
        );
    }
    if let Some(pair) = report.candidate_pairs.iter().find(|p| p.selected) {
        println!(
            "selected pair {} -> {}: ICE round-trip time {:?}, {} datagrams sent",
            pair.local,
            pair.remote,
            pair.round_trip_time.unwrap_or_default(),
            pair.packets_sent
        );
    }
    a.pc.close(Instant::now());
    a.flush();
    run(&mut a, &mut b, Duration::from_secs(5), |a, b| {
        a.pc.is_closed() && b.pc.state() == ConnectionState::Closed
    });
    println!("closed: A {:?}, B {:?}", a.pc.state(), b.pc.state());
    assert!(rtp as u16 > RTP_PACKETS * 9 / 10, "too much media lost");
}
