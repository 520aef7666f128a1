//! Random datagrams (split by a length byte) into a peer connection that has answered an offer:
//! RFC 7983 demux, STUN into the ICE agent, DTLS into the server (fragmented ClientHellos included),
//! SRTP/SRTCP, timeouts. Nothing may panic.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sansrtc::{Config, PcRng, PeerConnection, SdpType};

struct Fixture {
    certificate: Arc<sansrtc::dtls::Certificate>,
    offer: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let certificate = Arc::new(sansrtc::dtls::Certificate::generate().expect("certificate"));
        let mut a = PeerConnection::new(Config {
            certificate: Some(certificate.clone()),
            rng: PcRng::Seeded(1),
            ..Config::default()
        })
        .expect("peer connection");
        a.add_local_address("127.0.0.1:1000".parse().unwrap());
        let offer = a.create_offer(Instant::now()).expect("offer");
        Fixture { certificate, offer }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut b = PeerConnection::new(Config {
        certificate: Some(f.certificate.clone()),
        rng: PcRng::Seeded(2),
        ..Config::default()
    })
    .expect("peer connection");
    let local: SocketAddr = "127.0.0.1:2000".parse().unwrap();
    let remote: SocketAddr = "127.0.0.1:1000".parse().unwrap();
    b.add_local_address(local);
    let mut now = Instant::now();
    b.set_remote_description(now, SdpType::Offer, &f.offer).expect("offer accepted");
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (datagram, tail) = tail.split_at(n);
        b.handle_receive(now, remote, local, datagram);
        now += Duration::from_millis(u64::from(len % 8) * 100);
        b.handle_timeout(now);
        while b.poll_transmit().is_some() {}
        while b.poll_event().is_some() {}
        rest = tail;
    }
});
