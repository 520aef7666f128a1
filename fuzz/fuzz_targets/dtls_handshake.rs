//! Random bytes as handshake fragments into a client mid-handshake (after its ClientHello) and
//! into a server after the cookie exchange, plus every handshake message parser.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use sansrtc_dtls::message::{
    CertificateMsg, CertificateRequest, CertificateVerify, ClientHello, ClientKeyExchange, Extensions,
    HelloVerifyRequest, ServerHello, ServerKeyExchange,
};
use sansrtc_dtls::record::{ContentType, DTLS_1_2, RecordHeader};
use sansrtc_dtls::{Certificate, Config, Endpoint, TestRng};

fn cert() -> Arc<Certificate> {
    static C: OnceLock<Arc<Certificate>> = OnceLock::new();
    C.get_or_init(|| Arc::new(Certificate::generate().expect("certificate"))).clone()
}

/// No fingerprint to match: any certificate in the input is parsed (the fuzzer cannot make one
/// that matches a fingerprint).
fn config() -> Config {
    let mut c = Config::new(cert());
    c.insecure_accept_any_certificate = true;
    c
}

fn as_record(data: &[u8], sequence: u64) -> Vec<u8> {
    let mut d = Vec::new();
    let h = RecordHeader { content_type: ContentType::Handshake, version: DTLS_1_2, epoch: 0, sequence };
    h.write(data.len().min(u16::MAX as usize), &mut d);
    d.extend_from_slice(&data[..data.len().min(u16::MAX as usize)]);
    d
}

fuzz_target!(|data: &[u8]| {
    let _ = ClientHello::parse(data);
    let _ = ServerHello::parse(data);
    let _ = HelloVerifyRequest::parse(data);
    let _ = CertificateMsg::parse(data);
    let _ = ServerKeyExchange::parse(data);
    let _ = CertificateRequest::parse(data);
    let _ = ClientKeyExchange::parse(data);
    let _ = CertificateVerify::parse(data);
    let _ = Extensions::parse(data);

    let now = Instant::now();
    let mut client = Endpoint::client(config(), Box::new(TestRng::new(1)));
    client.connect(now);
    while client.poll_transmit().is_some() {}
    client.handle_receive(now, &as_record(data, 0));
    client.handle_receive(now, data);
    while client.poll_transmit().is_some() {}
    while client.poll_event().is_some() {}

    // A server that accepted a cookie and sent flight 4 gets the fuzz input as flight 5.
    let mut server = Endpoint::server(config(), Box::new(TestRng::new(2)));
    let mut c2 = Endpoint::client(config(), Box::new(TestRng::new(3)));
    c2.connect(now);
    for _ in 0..2 {
        while let Some(d) = c2.poll_transmit() {
            server.handle_receive(now, &d);
        }
        while let Some(d) = server.poll_transmit() {
            c2.handle_receive(now, &d);
        }
    }
    server.handle_receive(now, &as_record(data, 5));
    while server.poll_transmit().is_some() {}
    while server.poll_event().is_some() {}
});
