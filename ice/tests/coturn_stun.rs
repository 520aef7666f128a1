//! Interop: our STUN client transactions and message layer against coturn (Debian `coturn`) on
//! 127.0.0.1: Binding, and the long-term credential dance of a TURN Allocate (401 with REALM and
//! NONCE, wrong password refused, MD5 key accepted, response integrity verified, XOR-RELAYED-
//! ADDRESS/LIFETIME decoded), then Refresh with LIFETIME 0. The test installs coturn if missing.

mod common;
use common::start_coturn;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sansrtc_ice::SeededRng;
use sansrtc_ice::stun::attribute::{self, Attribute};
use sansrtc_ice::stun::transaction::{StunClient, TransactionConfig, TransactionEvent};
use sansrtc_ice::stun::{
    IntegrityKey, MessageBuilder, MessageClass, MessageType, Method, StunError, StunMessage,
};

/// Runs one transaction to completion over a real socket; returns the response bytes.
fn transact(
    client: &mut StunClient<SeededRng>,
    socket: &UdpSocket,
    server: SocketAddr,
    message_type: MessageType,
    build: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), StunError>,
) -> Vec<u8> {
    let id = client
        .start_request(Instant::now(), server, message_type, build)
        .unwrap();
    let mut buf = [0u8; 2048];
    loop {
        client.handle_timeout(Instant::now());
        while let Some(t) = client.poll_transmit() {
            socket.send_to(&t.contents, t.destination).unwrap();
        }
        if let Some(event) = client.poll_event() {
            match event {
                TransactionEvent::Response {
                    id: got,
                    source,
                    message,
                } => {
                    assert_eq!(got, id);
                    assert_eq!(source, server);
                    return message;
                }
                TransactionEvent::Timeout { .. } => panic!("coturn did not answer"),
                other => panic!("unexpected {other:?}"),
            }
        }
        let wait = client
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(10))
            .max(Duration::from_millis(1));
        socket.set_read_timeout(Some(wait)).unwrap();
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            client.handle_receive(Instant::now(), from, &buf[..n]);
        }
    }
}

#[test]
fn binding_and_long_term_allocate_against_coturn() {
    let (_coturn, server) = start_coturn();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    // Short RTO: retransmissions also cover the moments before coturn listens.
    let mut config = TransactionConfig::default();
    config.initial_rto = Duration::from_millis(100);
    let mut client = StunClient::new(config, SeededRng::new(5));

    // Binding.
    let resp = transact(
        &mut client,
        &socket,
        server,
        MessageType::BINDING_REQUEST,
        |b| {
            b.add(&Attribute::Software("sansrtc"))?;
            b.add_fingerprint().map(|_| ())
        },
    );
    let m = StunMessage::parse(&resp).unwrap();
    assert_eq!(m.message_type(), MessageType::BINDING_SUCCESS);
    assert_eq!(m.xor_mapped_address(), Some(local));
    if m.has_fingerprint() {
        m.verify_fingerprint().unwrap();
    }

    // Allocate without credentials: 401 with REALM and NONCE.
    let allocate = MessageType::new(Method::ALLOCATE, MessageClass::Request);
    let resp = transact(&mut client, &socket, server, allocate, |b| {
        b.add(&Attribute::RequestedTransport(17)).map(|_| ())
    });
    let m = StunMessage::parse(&resp).unwrap();
    assert_eq!(m.class(), MessageClass::ErrorResponse);
    assert_eq!(m.error_code().map(|e| e.0), Some(401));
    let Some(Ok(Attribute::Realm(realm))) = m.get(attribute::REALM) else {
        panic!("no REALM")
    };
    assert_eq!(realm, "r");
    let Some(Ok(Attribute::Nonce(nonce))) = m.get(attribute::NONCE) else {
        panic!("no NONCE")
    };
    let nonce = nonce.to_owned();

    let allocate_with = |client: &mut StunClient<SeededRng>, key: &IntegrityKey| {
        transact(client, &socket, server, allocate, |b| {
            b.add(&Attribute::RequestedTransport(17))?;
            b.add(&Attribute::Lifetime(600))?;
            b.add(&Attribute::Username("u"))?;
            b.add(&Attribute::Realm("r"))?;
            b.add(&Attribute::Nonce(&nonce))?;
            b.add_message_integrity(key)?;
            b.add_fingerprint().map(|_| ())
        })
    };

    // Wrong password: refused.
    let wrong = IntegrityKey::long_term_md5("u", "r", "not-p");
    let resp = allocate_with(&mut client, &wrong);
    let m = StunMessage::parse(&resp).unwrap();
    assert_eq!(m.class(), MessageClass::ErrorResponse);
    assert_eq!(m.error_code().map(|e| e.0), Some(401));

    // Right password: allocation, integrity-protected with the same MD5 key.
    let key = IntegrityKey::long_term_md5("u", "r", "p");
    let resp = allocate_with(&mut client, &key);
    let m = StunMessage::parse(&resp).unwrap();
    assert_eq!(
        m.class(),
        MessageClass::SuccessResponse,
        "error {:?}",
        m.error_code()
    );
    m.verify_message_integrity(&key).unwrap();
    assert!(m.verify_message_integrity(&wrong).is_err());
    let Some(Ok(Attribute::XorRelayedAddress(relayed))) = m.get(attribute::XOR_RELAYED_ADDRESS)
    else {
        panic!("no XOR-RELAYED-ADDRESS")
    };
    assert_eq!(relayed.ip(), local.ip());
    assert_ne!(relayed.port(), 0);
    assert_eq!(m.xor_mapped_address(), Some(local));
    let Some(Ok(Attribute::Lifetime(lifetime))) = m.get(attribute::LIFETIME) else {
        panic!("no LIFETIME")
    };
    assert!(lifetime > 0 && lifetime <= 3600);

    // Refresh with LIFETIME 0 deletes the allocation.
    let refresh = MessageType::new(Method::REFRESH, MessageClass::Request);
    let resp = transact(&mut client, &socket, server, refresh, |b| {
        b.add(&Attribute::Lifetime(0))?;
        b.add(&Attribute::Username("u"))?;
        b.add(&Attribute::Realm("r"))?;
        b.add(&Attribute::Nonce(&nonce))?;
        b.add_message_integrity(&key)?;
        b.add_fingerprint().map(|_| ())
    });
    let m = StunMessage::parse(&resp).unwrap();
    assert_eq!(
        m.class(),
        MessageClass::SuccessResponse,
        "error {:?}",
        m.error_code()
    );
    m.verify_message_integrity(&key).unwrap();
    assert_eq!(m.get(attribute::LIFETIME), Some(Ok(Attribute::Lifetime(0))));
    assert_eq!(client.outstanding(), 0);
}
