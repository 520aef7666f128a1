//! Random bytes into the STUN parser: every attribute decoded, integrity and fingerprint checked,
//! the STUN responder fed, and the decoded attributes re-serialized and parsed back identically.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use sansrtc_ice::responder::ShortTermCredentials;
use sansrtc_ice::stun::{Attribute, IntegrityKey, MessageBuilder, StunMessage};
use sansrtc_ice::{ResponderConfig, StunResponder};

fuzz_target!(|data: &[u8]| {
    let mut config = ResponderConfig::default();
    config.credentials = Some(ShortTermCredentials::new("u", "p"));
    let mut responder = StunResponder::new(config);
    responder.handle_receive(Instant::now(), "127.0.0.1:9".parse().unwrap(), data);
    while let Some(t) = responder.poll_transmit() {
        StunMessage::parse(&t.contents).expect("our responses parse");
    }

    let Ok(m) = StunMessage::parse(data) else {
        return;
    };
    let key = IntegrityKey::short_term("p");
    let _ = m.verify_integrity(&key);
    let _ = m.verify_fingerprint();
    let _ = (
        m.username(),
        m.xor_mapped_address(),
        m.error_code(),
        m.unknown_comprehension_required(),
    );
    let decoded: Vec<Attribute<'_>> = m.attributes().filter_map(Result::ok).collect();
    let mut buf = vec![0u8; data.len() + 64];
    let mut b = MessageBuilder::new(&mut buf, m.message_type(), m.transaction_id()).unwrap();
    for a in &decoded {
        b.add(a).expect("a decoded attribute re-encodes");
    }
    b.add_fingerprint().unwrap();
    let n = b.finish();
    let again = StunMessage::parse(&buf[..n]).expect("re-serialized message parses");
    again
        .verify_fingerprint()
        .expect("our fingerprint verifies");
    let redecoded: Vec<Attribute<'_>> = again.attributes().map(|a| a.expect("decodes")).collect();
    assert_eq!(redecoded, decoded);
});
