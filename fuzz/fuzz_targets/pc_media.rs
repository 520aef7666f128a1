//! Two connected peer connections with audio and video tracks and a data channel; the fuzzer's
//! bytes become RTP packets, RTCP compounds and data channel messages that peer A protects and
//! peer B must take apart: section and layer lookup from arbitrary headers and extensions,
//! receive statistics, report blocks, PLI/FIR/NACK parsing, and SCTP. Nothing may panic, and B
//! stays connected.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sansrtc::sdp::Direction;
use sansrtc::{ChannelConfig, Config, ConnectionState, PcRng, PeerConnection, SdpType, codecs};

fn certificate() -> Arc<sansrtc::dtls::Certificate> {
    static C: OnceLock<Arc<sansrtc::dtls::Certificate>> = OnceLock::new();
    C.get_or_init(|| Arc::new(sansrtc::dtls::Certificate::generate().expect("certificate")))
        .clone()
}

struct Pair {
    pcs: [PeerConnection; 2],
    addrs: [SocketAddr; 2],
    now: Instant,
}

impl Pair {
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..2 {
                while let Some(t) = self.pcs[i].poll_transmit() {
                    moved = true;
                    self.now += Duration::from_micros(50);
                    self.pcs[1 - i].handle_receive(self.now, t.source, t.destination, &t.contents);
                }
                while self.pcs[i].poll_event().is_some() {}
            }
            if !moved {
                let next = self.pcs.iter().filter_map(|p| p.poll_timeout()).min();
                match next {
                    Some(t) if t <= self.now + Duration::from_millis(50) => {
                        self.now = self.now.max(t);
                        for p in &mut self.pcs {
                            p.handle_timeout(self.now);
                        }
                    }
                    _ => return,
                }
            }
        }
    }
}

fn connected_pair() -> (Pair, u16, String, String) {
    let mk = |seed| {
        let mut pc = PeerConnection::new(Config {
            certificate: Some(certificate()),
            rng: PcRng::Seeded(seed),
            ..Config::default()
        })
        .expect("peer connection");
        pc.add_transceiver(codecs::audio_transceiver(Direction::SendRecv));
        pc.add_transceiver(codecs::video_transceiver(Direction::SendRecv));
        pc
    };
    let addrs: [SocketAddr; 2] = ["127.0.0.1:1000".parse().unwrap(), "127.0.0.1:2000".parse().unwrap()];
    let mut p = Pair { pcs: [mk(1), mk(2)], addrs, now: Instant::now() };
    p.pcs[0].add_local_address(p.addrs[0]);
    p.pcs[1].add_local_address(p.addrs[1]);
    let now = p.now;
    let offer = p.pcs[0].create_offer(now).expect("offer");
    p.pcs[1].set_remote_description(now, SdpType::Offer, &offer).expect("offer accepted");
    let answer = p.pcs[1].create_answer().expect("answer");
    p.pcs[0].set_remote_description(now, SdpType::Answer, &answer).expect("answer accepted");
    for _ in 0..100 {
        p.pump();
        if p.pcs.iter().all(|pc| pc.state() == ConnectionState::Connected) {
            break;
        }
        p.now += Duration::from_millis(100);
        for pc in &mut p.pcs {
            pc.handle_timeout(p.now);
        }
    }
    let id = p.pcs[0].create_data_channel(p.now, ChannelConfig::reliable("f")).expect("channel");
    p.pump();
    let mids = p.pcs[0].media_mids();
    (p, id, mids[0].clone(), mids[1].clone())
}

fuzz_target!(|data: &[u8]| {
    let (mut p, id, audio, video) = connected_pair();
    assert_eq!(p.pcs[1].state(), ConnectionState::Connected);
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        let Some((&len, tail)) = tail.split_first() else { break };
        let n = usize::from(len).min(tail.len());
        let (bytes, tail) = tail.split_at(n);
        let now = p.now;
        let a = &mut p.pcs[0];
        let _ = match op % 6 {
            0 => a.send_rtp(now, bytes),
            1 => a.send_rtcp(now, bytes),
            2 => a.send_data(now, id, bytes, op & 0x80 != 0),
            3 => {
                let w = sansrtc::RtpWrite::new(111, u32::from(len), bytes);
                a.write_rtp(now, &audio, w)
            }
            4 => {
                let w = sansrtc::RtpWrite::new(96, u32::from(len), bytes).marker(op & 0x40 != 0);
                a.write_rtp(now, &video, w)
            }
            _ => {
                p.now += Duration::from_millis(u64::from(len) * 20);
                for pc in &mut p.pcs {
                    pc.handle_timeout(p.now);
                }
                Ok(())
            }
        };
        p.pump();
        let _ = p.pcs[1].stats_report();
        rest = tail;
    }
    assert_eq!(p.pcs[1].state(), ConnectionState::Connected);
});
