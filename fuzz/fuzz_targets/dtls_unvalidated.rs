//! Unauthenticated input only: a sequence of arbitrary datagrams (the input cut into pieces, a
//! two-byte length before each) into a stateless DTLS server and into a client that has sent its
//! ClientHello, with the clock moving one second per datagram so that retransmissions and
//! deferred HelloVerifyRequests run too. Nothing may panic. The server has not completed a cookie
//! exchange (the fuzzer cannot forge an HMAC-SHA256 cookie), so it must never fail or close, and
//! it answers at most one HelloVerifyRequest per datagram.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sansrtc_dtls::{Certificate, Config, Endpoint, Event, TestRng};

fn cert() -> Arc<Certificate> {
    static C: OnceLock<Arc<Certificate>> = OnceLock::new();
    C.get_or_init(|| Arc::new(Certificate::generate().expect("certificate"))).clone()
}

/// The client accepts any certificate so that certificates in the input reach the parser.
fn client_config() -> Config {
    let mut c = Config::new(cert());
    c.insecure_accept_any_certificate = true;
    c
}

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut server = Endpoint::server(Config::new(cert()), Box::new(TestRng::new(1)));
    let mut client = Endpoint::client(client_config(), Box::new(TestRng::new(2)));
    client.connect(start);
    while client.poll_transmit().is_some() {}

    let mut rest = data;
    let mut i = 0u64;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (datagram, tail) = rest[2..].split_at(len);
        rest = tail;
        i += 1;
        let now = start + Duration::from_secs(i);

        server.handle_receive(now, datagram);
        server.handle_timeout(now);
        let answers = std::iter::from_fn(|| server.poll_transmit()).count();
        assert!(answers <= 1, "{answers} datagrams sent for one received");
        while let Some(e) = server.poll_event() {
            assert!(
                !matches!(e, Event::Failed(_) | Event::Closed),
                "unauthenticated input ended the server: {e:?}"
            );
        }
        assert!(!server.is_closed() && !server.is_connected());

        client.handle_receive(now, datagram);
        client.handle_timeout(now);
        while client.poll_transmit().is_some() {}
        while client.poll_event().is_some() {}
    }
});
