//! Random datagrams into an ICE agent with a pair in progress: every input path (requests with
//! any attributes, responses, indications, garbage) must leave the agent consistent and never
//! panic. Inputs are split into datagrams by a leading length byte; valid-looking checks are
//! built from the fuzz input too, signed with the agent's password, so authenticated paths run.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sansrtc_ice::SeededRng;
use sansrtc_ice::agent::{Agent, AgentConfig};
use sansrtc_ice::candidate::Candidate;
use sansrtc_ice::stun::{Attribute, IntegrityKey, MessageBuilder, MessageType, TransactionId};

fuzz_target!(|data: &[u8]| {
    let local = "10.0.0.1:5000".parse().unwrap();
    let mut agent = Agent::new(
        AgentConfig::new(
            data.first().is_some_and(|b| b & 1 == 1),
            "lfrg",
            "local-password-0123456",
        ),
        SeededRng::new(1),
    );
    agent.add_host_candidate(local).unwrap();
    agent.set_remote_credentials("rfrg", "remote-password-0123456");
    let _ = agent.add_remote_candidate(
        Candidate::parse("candidate:1 1 udp 2130706431 10.0.0.2 6000 typ host").unwrap(),
    );
    let mut now = Instant::now();
    agent.start(now);
    agent.handle_timeout(now);
    let key = IntegrityKey::short_term("local-password-0123456");
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        let (chunk, tail) = tail.split_at(n);
        rest = tail;
        let from = match chunk.first() {
            Some(b) if b & 2 == 0 => "10.0.0.2:6000".parse().unwrap(),
            Some(b) => format!("10.9.{}.{}:{}", b, chunk.len() % 256, 1000 + *b as u16)
                .parse()
                .unwrap(),
            None => "10.0.0.2:6000".parse().unwrap(),
        };
        if len & 0x80 != 0 {
            // An authenticated check carrying fuzz-chosen attributes.
            let mut buf = [0u8; 1024];
            let Ok(mut b) = MessageBuilder::new(
                &mut buf,
                MessageType::BINDING_REQUEST,
                TransactionId([len; 12]),
            ) else {
                continue;
            };
            let _ = b.add(&Attribute::Username("lfrg:rfrg"));
            for (i, pair) in chunk.chunks(10).enumerate() {
                let v = u64::from_le_bytes(
                    <[u8; 8]>::try_from(&[pair, &[0; 8]].concat()[..8]).unwrap(),
                );
                let _ = match i % 5 {
                    0 => b.add(&Attribute::Priority(v as u32)),
                    1 => b.add(&Attribute::IceControlling(v)),
                    2 => b.add(&Attribute::IceControlled(v)),
                    3 => b.add(&Attribute::UseCandidate),
                    _ => b.add_raw((v as u16) & 0x7FFF, pair),
                };
            }
            let _ = b.add_message_integrity(&key);
            let _ = b.add_fingerprint();
            let n = b.finish();
            agent.handle_receive(now, from, local, &buf[..n]);
        } else {
            agent.handle_receive(now, from, local, chunk);
        }
        now += Duration::from_millis(len as u64 * 10);
        agent.handle_timeout(now);
        while agent.poll_transmit().is_some() {}
        while agent.poll_event().is_some() {}
        assert!(agent.checklist().pairs().len() <= 100);
    }
});
