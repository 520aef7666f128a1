//! Two sansrtc peer connections wired back to back in memory with a fake clock, for the
//! connection-level fuzz targets: built once (deterministic RNG, one certificate), then cloned
//! per input, so each input starts from the same live state at no handshake cost.
#![allow(dead_code, reason = "each target uses the fixtures it needs")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sansrtc::demux::{Kind, classify};
use sansrtc::sdp::Direction;
use sansrtc::{ChannelConfig, Config, ConnectionState, PcRng, PeerConnection, SdpType, codecs};

/// The offerer (0, the DTLS server: it answers `actpass` offers `active`) and the answerer.
#[derive(Clone)]
pub struct Pair {
    pub pcs: [PeerConnection; 2],
    pub addrs: [SocketAddr; 2],
    pub now: Instant,
    /// The data channel (when the pair was built connected).
    pub channel: Option<sansrtc::ChannelId>,
    /// The audio and video mids.
    pub mids: [Option<sansrtc::Mid>; 2],
}

fn certificate() -> Arc<sansrtc::dtls::Certificate> {
    static C: OnceLock<Arc<sansrtc::dtls::Certificate>> = OnceLock::new();
    C.get_or_init(|| Arc::new(sansrtc::dtls::Certificate::generate().expect("certificate")))
        .clone()
}

impl Pair {
    /// Delivers datagrams both ways (those `pass` refuses are lost) and fires deadlines up to
    /// 50 ms ahead, until nothing moves.
    pub fn pump_filtered(&mut self, pass: impl Fn(&[u8]) -> bool) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..2 {
                while let Some(t) = self.pcs[i].poll_transmit() {
                    moved = true;
                    if !pass(&t.contents) {
                        continue;
                    }
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

    /// [`Pair::pump_filtered`] letting everything through.
    pub fn pump(&mut self) {
        self.pump_filtered(|_| true);
    }

    /// Two peers with audio, video and a data channel, negotiated; `connect` says whether
    /// DTLS may run (else only ICE connects, and the DTLS server waits for a ClientHello on a
    /// validated path).
    fn build(connect: bool) -> Pair {
        let mk = |seed| {
            let mut config = Config::default();
            config.certificate = Some(certificate());
            config.rng = PcRng::Seeded(seed);
            let mut pc = PeerConnection::new(config).expect("peer connection");
            pc.add_transceiver(codecs::audio_transceiver(Direction::SendRecv));
            pc.add_transceiver(codecs::video_transceiver(Direction::SendRecv));
            pc
        };
        let addrs: [SocketAddr; 2] =
            ["127.0.0.1:1000".parse().unwrap(), "127.0.0.1:2000".parse().unwrap()];
        let mut p = Pair {
            pcs: [mk(1), mk(2)],
            addrs,
            now: Instant::now(),
            channel: None,
            mids: [None, None],
        };
        p.pcs[0].add_local_address(p.addrs[0]).expect("address");
        p.pcs[1].add_local_address(p.addrs[1]).expect("address");
        let now = p.now;
        let offer = p.pcs[0].create_offer(now).expect("offer");
        p.pcs[1].set_remote_description(now, SdpType::Offer, &offer).expect("offer accepted");
        let answer = p.pcs[1].create_answer(now).expect("answer");
        p.pcs[0].set_remote_description(now, SdpType::Answer, &answer).expect("answer accepted");
        let stun_only = |d: &[u8]| connect || classify(d) == Kind::Stun;
        for _ in 0..100 {
            p.pump_filtered(stun_only);
            let done = if connect {
                p.pcs.iter().all(|pc| pc.state() == ConnectionState::Connected)
            } else {
                p.pcs.iter().all(|pc| pc.selected_path().is_some())
            };
            if done {
                break;
            }
            p.now += Duration::from_millis(100);
            for pc in &mut p.pcs {
                pc.handle_timeout(p.now);
            }
        }
        if connect {
            assert_eq!(p.pcs[1].state(), ConnectionState::Connected);
            p.channel = Some(
                p.pcs[0].create_data_channel(p.now, ChannelConfig::reliable("f")).expect("channel"),
            );
            p.pump();
            let mids: Vec<sansrtc::Mid> = p.pcs[0].media_mids().collect();
            p.mids = [Some(mids[0]), Some(mids[1])];
        } else {
            assert!(p.pcs[0].is_validated_path(p.addrs[0], p.addrs[1]));
            // The ClientHello of the answerer is lost: drop it.
            while p.pcs[1].poll_transmit().is_some() {}
        }
        p
    }

    /// A connected pair (DTLS, SRTP, SCTP and a data channel up), cloned from one built once.
    pub fn connected() -> Pair {
        // A peer connection is Send, not Sync: the snapshot sits behind a lock.
        static P: OnceLock<Mutex<Pair>> = OnceLock::new();
        P.get_or_init(|| Mutex::new(Pair::build(true))).lock().expect("not poisoned").clone()
    }

    /// A pair whose ICE connected and validated the path, with DTLS not started: peer 0 is a
    /// DTLS server waiting for a ClientHello.
    pub fn ice_only() -> Pair {
        static P: OnceLock<Mutex<Pair>> = OnceLock::new();
        P.get_or_init(|| Mutex::new(Pair::build(false))).lock().expect("not poisoned").clone()
    }
}
