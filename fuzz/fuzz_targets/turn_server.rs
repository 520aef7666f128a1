//! Arbitrary input into the TURN server: client datagrams over UDP and TCP (through the stream
//! framer), signed requests whose attributes are arbitrary (so the authenticated handlers see
//! fuzzed attributes), datagrams from peers on relayed sockets, time moving, relayed sockets
//! failing to open. Nothing may panic.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sansrtc_ice::SeededRng;
use sansrtc_ice::stun::attribute::{self as attr, Attribute};
use sansrtc_ice::stun::{
    IntegrityKey, MessageBuilder, MessageClass, MessageType, Method, StunMessage, TransactionId,
};
use sansrtc_ice::turn::StreamFramer;
use sansrtc_ice::turn_server::{
    ClientTransport, TransmitSource, TurnServer, TurnServerConfig, TurnServerEvent,
};

/// A request from user "u" signed with the current nonce, its attributes raw TLVs read from
/// `spec` (type: 2 bytes, length: 1 byte, value).
fn signed(method: Method, tid: u8, spec: &[u8], nonce: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    let mut b = MessageBuilder::new(
        &mut buf,
        MessageType::new(method, MessageClass::Request),
        TransactionId([tid; 12]),
    )
    .ok()?;
    let mut rest = spec;
    while let [t0, t1, len, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        let t = u16::from_be_bytes([*t0, *t1]);
        if !matches!(
            t,
            attr::MESSAGE_INTEGRITY | attr::MESSAGE_INTEGRITY_SHA256 | attr::FINGERPRINT
        ) {
            b.add_raw(t, &tail[..n]).ok()?;
        }
        rest = &tail[n..];
    }
    b.add(&Attribute::Username("u")).ok()?;
    b.add(&Attribute::Realm("r")).ok()?;
    b.add(&Attribute::Nonce(nonce)).ok()?;
    b.add_message_integrity(&IntegrityKey::long_term_md5("u", "r", "p"))
        .ok()?;
    let n = b.finish();
    buf.truncate(n);
    Some(buf)
}

fuzz_target!(|data: &[u8]| {
    let mut config = TurnServerConfig::new("r", "198.51.100.1".parse().unwrap());
    config.users.push(("u".into(), "p".into()));
    config.auth_secret = Some("s".into());
    config.allow_loopback_peers = true;
    config.relay_ipv6 = Some("2001:db8::1".parse().unwrap());
    config.min_port = 50000;
    config.max_port = 50007;
    let mut server = TurnServer::new(config, SeededRng::new(1));
    let mut now = Instant::now();
    server.set_unix_time(now, 1_700_000_000);
    let client: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut framer = StreamFramer::new();
    let mut nonce = String::new();
    let mut relays: Vec<SocketAddr> = Vec::new();
    // Records: a control byte, a length byte, that many bytes.
    let mut rest = data;
    while let [control, len, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        match control % 8 {
            0 => server.handle_receive(now, client, ClientTransport::Udp, chunk),
            1 => {
                framer.push(chunk);
                while let Ok(Some(f)) = framer.next_frame() {
                    server.handle_receive(now, client, ClientTransport::Tcp, &f);
                }
            }
            2 => {
                let relay = relays
                    .get(*len as usize % relays.len().max(1))
                    .copied()
                    .unwrap_or_else(|| "198.51.100.1:50000".parse().unwrap());
                server.handle_relayed(now, relay, peer, chunk);
            }
            3 => {
                now += Duration::from_secs(*len as u64 * 8);
                server.handle_timeout(now);
            }
            c => {
                let method = [
                    Method::ALLOCATE,
                    Method::REFRESH,
                    Method::CREATE_PERMISSION,
                    Method::CHANNEL_BIND,
                ][(c - 4) as usize];
                if let Some(req) = signed(method, *len, chunk, &nonce) {
                    server.handle_receive(now, client, ClientTransport::Udp, &req);
                }
            }
        }
        while let Some(e) = server.poll_event() {
            if let TurnServerEvent::OpenRelay(r) = e {
                relays.push(r);
                server.relay_opened(now, r, control & 0x80 == 0);
            }
        }
        while let Some(t) = server.poll_transmit() {
            // Keep the latest nonce the server gave, so signed requests get past it.
            if t.source == TransmitSource::Listener(ClientTransport::Udp)
                && let Ok(m) = StunMessage::parse(&t.contents)
                && let Some(Ok(Attribute::Nonce(n))) = m.get(attr::NONCE)
            {
                nonce = n.to_string();
            }
        }
    }
    let _ = server.stats();
});
