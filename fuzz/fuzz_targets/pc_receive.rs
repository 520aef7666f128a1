//! Random datagrams (split by a length byte) into a peer connection, from a snapshot cloned per
//! input: the first byte picks a connection whose ICE validated the path and whose DTLS server
//! waits for a ClientHello, or a connected one (DTLS, SRTP, SCTP up); the second whether the
//! datagrams come from the peer's validated address (reaching DTLS, SRTP and SRTCP) or from a
//! stranger (dropped before them). RFC 7983 demux, STUN into the ICE agent, DTLS (fragmented
//! ClientHellos included), SRTP/SRTCP, timeouts. Nothing may panic; a stranger never changes
//! the state, and nothing is ever sent to it but STUN.
#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sansrtc::demux::{Kind, classify};

#[path = "common/pc_pair.rs"]
mod pc_pair;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else { return };
    let mut p = if pick & 1 == 0 { pc_pair::Pair::ice_only() } else { pc_pair::Pair::connected() };
    let stranger: SocketAddr = "127.0.0.1:6666".parse().unwrap();
    let from = if pick & 2 == 0 { p.addrs[1] } else { stranger };
    let local = p.addrs[0];
    let before = seen(&p.pcs[0]);
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (datagram, tail) = tail.split_at(n);
        p.pcs[0].handle_receive(p.now, from, local, datagram);
        p.now += Duration::from_millis(u64::from(len % 8) * 100);
        p.pcs[0].handle_timeout(p.now);
        while let Some(t) = p.pcs[0].poll_transmit() {
            if t.destination == stranger {
                assert_eq!(classify(&t.contents), Kind::Stun, "non-STUN to a stranger");
            }
        }
        while p.pcs[0].poll_event().is_some() {}
        rest = tail;
    }
    if from == stranger {
        // DTLS and SRTP never saw the stranger's datagrams.
        assert_eq!(seen(&p.pcs[0]), before);
    }
});

/// What DTLS and SRTP did with datagrams they were given.
fn seen(pc: &sansrtc::PeerConnection) -> (u64, u64, u64) {
    let d = pc.dtls_stats().unwrap_or_default();
    let s = pc.stats();
    (
        d.bad_mac + d.malformed + d.replayed + d.unauthenticated_alerts + d.unexpected_handshake,
        s.dropped_srtp,
        s.rtp_received + s.rtcp_received,
    )
}
