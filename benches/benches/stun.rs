//! STUN: decode + MESSAGE-INTEGRITY + FINGERPRINT check of an ICE Binding request shaped like the
//! ones Chrome sends (USERNAME, GOOG-NETWORK-INFO, ICE-CONTROLLING, USE-CANDIDATE, PRIORITY,
//! MESSAGE-INTEGRITY, FINGERPRINT), and building the Binding success response, for sansrtc-ice
//! and crates.io `stun` 0.17 (webrtc-rs) on the same bytes in the same run.

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use sansrtc_ice::stun::attribute::{PRIORITY, USERNAME};
use sansrtc_ice::stun::{
    Attribute, IntegrityKey, MessageBuilder, MessageType, StunMessage, TransactionId,
};

/// ICE password of the receiving side (24 characters, as browsers generate).
const PASSWORD: &str = "Vx4n2FQ9YB0o7Kp3rZtLm8Ws";
const USERNAME_VALUE: &str = "5Ysz:Q2pF";
const GOOG_NETWORK_INFO: u16 = 0xC057;

/// A Binding request with Chrome's attribute order, integrity under `PASSWORD`, and fingerprint.
fn chrome_binding_request() -> Vec<u8> {
    let key = IntegrityKey::short_term(PASSWORD);
    let mut buf = [0u8; 256];
    let tid = TransactionId(*b"\x6a\x4b\x2f\x11\x90\xe2\x35\x0c\x7d\x81\x5e\xa9");
    let mut b = MessageBuilder::new(&mut buf, MessageType::BINDING_REQUEST, tid).unwrap();
    b.add(&Attribute::Username(USERNAME_VALUE)).unwrap();
    b.add_raw(GOOG_NETWORK_INFO, &[0x00, 0x01, 0x00, 0x0a])
        .unwrap(); // network id 1, cost 10
    b.add(&Attribute::IceControlling(0x1f2e_3d4c_5b6a_7988))
        .unwrap();
    b.add(&Attribute::UseCandidate).unwrap();
    b.add(&Attribute::Priority(1_853_824_767)).unwrap();
    b.add_message_integrity(&key).unwrap();
    b.add_fingerprint().unwrap();
    let n = b.finish();
    buf[..n].to_vec()
}

fn ours_check(key: &IntegrityKey, bytes: &[u8]) -> (u32, usize) {
    let m = StunMessage::parse(bytes).unwrap();
    m.verify_fingerprint().unwrap();
    m.verify_message_integrity(key).unwrap();
    let username = m.get_raw(USERNAME).unwrap();
    let p = m.get_raw(PRIORITY).unwrap();
    (u32::from_be_bytes([p[0], p[1], p[2], p[3]]), username.len())
}

fn theirs_check(
    m: &mut stun::message::Message,
    integrity: &stun::integrity::MessageIntegrity,
    bytes: &[u8],
) -> (u32, usize) {
    m.unmarshal_binary(bytes).unwrap();
    stun::fingerprint::FINGERPRINT.check(m).unwrap();
    integrity.check(m).unwrap();
    let username = m.get(stun::attributes::ATTR_USERNAME).unwrap();
    let p = m.get(stun::attributes::ATTR_PRIORITY).unwrap();
    (u32::from_be_bytes([p[0], p[1], p[2], p[3]]), username.len())
}

fn decode_check(c: &mut Criterion) {
    let bytes = chrome_binding_request();
    let key = IntegrityKey::short_term(PASSWORD);
    let integrity = stun::integrity::MessageIntegrity::new_short_term_integrity(PASSWORD.into());
    let mut m = stun::message::Message::new();
    // Both implementations accept the same request and read the same values.
    assert_eq!(
        ours_check(&key, &bytes),
        theirs_check(&mut m, &integrity, &bytes)
    );

    let mut g = c.benchmark_group("stun/decode+integrity+fingerprint (ICE binding request)");
    g.bench_function("sansrtc-ice", |b| {
        b.iter(|| ours_check(&key, black_box(&bytes)))
    });
    g.bench_function("webrtc-rs stun 0.17", |b| {
        b.iter(|| theirs_check(&mut m, &integrity, black_box(&bytes)))
    });
    g.finish();
}

fn build_response(c: &mut Criterion) {
    let key = IntegrityKey::short_term(PASSWORD);
    let peer: SocketAddr = "192.0.2.44:51234".parse().unwrap();
    let tid = [0x42u8; 12];
    let mut g = c.benchmark_group("stun/build binding success (XOR-MAPPED-ADDRESS, MI, FP)");
    g.bench_function("sansrtc-ice", |b| {
        let mut buf = [0u8; 128];
        b.iter(|| {
            let mut m =
                MessageBuilder::new(&mut buf, MessageType::BINDING_SUCCESS, TransactionId(tid))
                    .unwrap();
            m.add(&Attribute::XorMappedAddress(black_box(peer)))
                .unwrap();
            m.add_message_integrity(&key).unwrap();
            m.add_fingerprint().unwrap();
            black_box(m.finish())
        })
    });
    g.bench_function("webrtc-rs stun 0.17", |b| {
        let mut m = stun::message::Message::new();
        let integrity =
            stun::integrity::MessageIntegrity::new_short_term_integrity(PASSWORD.into());
        b.iter(|| {
            m.build(&[
                Box::new(stun::message::BINDING_SUCCESS),
                Box::new(stun::agent::TransactionId(tid)),
                Box::new(stun::xoraddr::XorMappedAddress {
                    ip: black_box(peer).ip(),
                    port: peer.port(),
                }),
                Box::new(integrity.clone()),
                Box::new(stun::fingerprint::FINGERPRINT),
            ])
            .unwrap();
            black_box(m.raw.len())
        })
    });
    g.finish();
}

/// One agent (controlled) with a host candidate and 100 remote candidates answers a batch of 100
/// authenticated connectivity checks, one from each remote candidate: parse, FINGERPRINT and
/// MESSAGE-INTEGRITY check, role check, pair lookup, triggered-check bookkeeping, and the
/// integrity-protected response.
fn agent_checks(c: &mut Criterion) {
    use sansrtc_ice::SeededRng;
    use sansrtc_ice::agent::{Agent, AgentConfig};
    use sansrtc_ice::candidate::{Candidate, CandidateKind, priority};
    use sansrtc_ice::checklist::ChecklistConfig;

    let local: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let mut config = AgentConfig::new(false, "locl", PASSWORD);
    config.checklist = ChecklistConfig::default();
    config.checklist.max_remote_candidates = 100;
    config.checklist.max_pairs = 100;
    let mut agent = Agent::new(config, SeededRng::new(1));
    agent.add_host_candidate(local).unwrap();
    agent.set_remote_credentials("rmte", "remote-password-0123456789");
    let remotes: Vec<SocketAddr> = (0..100u16)
        .map(|i| SocketAddr::from(([10, 1, (i / 200) as u8, (i % 200) as u8 + 1], 40000 + i)))
        .collect();
    for (i, r) in remotes.iter().enumerate() {
        let c = Candidate::new(
            i.to_string(),
            1,
            priority(126, 65535 - i as u16, 1),
            *r,
            CandidateKind::Host,
        );
        agent.add_remote_candidate(c).unwrap();
    }
    assert_eq!(agent.checklist().pairs().len(), 100);
    let key = IntegrityKey::short_term(PASSWORD);
    let requests: Vec<Vec<u8>> = (0..100u8)
        .map(|i| {
            let mut buf = [0u8; 256];
            let mut b = MessageBuilder::new(
                &mut buf,
                MessageType::BINDING_REQUEST,
                TransactionId([i; 12]),
            )
            .unwrap();
            b.add(&Attribute::Username("locl:rmte")).unwrap();
            b.add(&Attribute::IceControlling(0x1234_5678_9abc_def0))
                .unwrap();
            b.add(&Attribute::Priority(1_853_824_767)).unwrap();
            b.add_message_integrity(&key).unwrap();
            b.add_fingerprint().unwrap();
            let n = b.finish();
            buf[..n].to_vec()
        })
        .collect();
    let now = std::time::Instant::now();
    for (r, req) in remotes.iter().zip(&requests) {
        assert!(agent.handle_receive(now, *r, local, req));
        let t = agent.poll_transmit().unwrap();
        let m = StunMessage::parse(&t.contents).unwrap();
        assert_eq!(m.message_type(), MessageType::BINDING_SUCCESS);
    }
    let mut g = c.benchmark_group("ice/connectivity checks answered (100 remote candidates)");
    g.throughput(criterion::Throughput::Elements(100));
    g.bench_function("sansrtc-ice agent", |b| {
        b.iter(|| {
            for (r, req) in remotes.iter().zip(&requests) {
                agent.handle_receive(now, *r, local, black_box(req));
                black_box(agent.poll_transmit());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, decode_check, build_response, agent_checks);
criterion_main!(benches);
