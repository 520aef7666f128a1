//! Random bytes as datagrams into a fresh DTLS server (stateless cookie path, record parsing):
//! the whole input as one datagram, then the input cut into several datagrams (a length byte
//! before each) into another server, so that fragmented ClientHellos spread over datagrams reach
//! its bounded hello buffer; and into the record parser and AEAD open of every bulk cipher, where
//! opening in place and opening into a new buffer must agree.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use sansrtc_dtls::cipher::{Bulk, RecordCipher};
use sansrtc_dtls::record::parse_datagram;
use sansrtc_dtls::{Certificate, Config, Endpoint, TestRng};

fn cert() -> Arc<Certificate> {
    static C: OnceLock<Arc<Certificate>> = OnceLock::new();
    C.get_or_init(|| Arc::new(Certificate::generate().expect("certificate"))).clone()
}

fuzz_target!(|data: &[u8]| {
    let mut server = Endpoint::server(Config::new(cert()), Box::new(TestRng::new(1)));
    let now = Instant::now();
    server.handle_receive(now, data);
    while server.poll_transmit().is_some() {}
    while server.poll_event().is_some() {}
    let mut server = Endpoint::server(Config::new(cert()), Box::new(TestRng::new(2)));
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let (datagram, tail) = tail.split_at((usize::from(len) * 4).min(tail.len()));
        server.handle_receive(now, datagram);
        while server.poll_transmit().is_some() {}
        rest = tail;
    }
    while server.poll_event().is_some() {}
    let gcm = RecordCipher::new(crypto(), Bulk::Aes128Gcm, &[1; 16], &[2; 4]).expect("key");
    let chacha = RecordCipher::new(crypto(), Bulk::Chacha20Poly1305, &[1; 32], &[2; 12]).expect("key");
    for rec in parse_datagram(data) {
        let Ok(rec) = rec else { break };
        for cipher in [&gcm, &chacha] {
            let mut buf = rec.fragment.to_vec();
            let in_place = cipher.open(&rec.header, &mut buf).map(|p| p.to_vec());
            assert_eq!(in_place, cipher.open_to_vec(&rec.header, rec.fragment));
        }
    }
});

fn crypto() -> &'static dyn sansrtc_dtls::crypto::CryptoProvider {
    sansrtc_dtls::crypto::default_provider()
}
