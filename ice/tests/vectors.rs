//! RFC 5769 test vectors (all four) and the RFC 8489 Appendix B.1 SHA-256 vector (as corrected
//! by verified errata 6268).

use std::net::SocketAddr;

use sansrtc_ice::stun::attribute::{self, Attribute, PasswordAlgorithm};
use sansrtc_ice::stun::{
    IntegrityKey, MessageBuilder, MessageClass, MessageType, Method, StunError, StunMessage,
    TransactionId,
};

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| b.is_ascii_hexdigit())
        .map(|b| (b as char).to_digit(16).unwrap() as u8)
        .collect();
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

/// RFC 5769 2.1: sample request (short-term, password "VOkJxbRl1RmTxUk/WvJxBt").
const REQUEST: &str = "
00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
00 24 00 04 6e 00 01 ff
80 29 00 08 93 2f f9 b1 51 26 3b 36
00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
80 28 00 04 e5 7a 3b cf";

/// RFC 5769 2.2: sample IPv4 response.
const RESPONSE_V4: &str = "
01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
00 20 00 08 00 01 a1 47 e1 12 a6 43
00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
80 28 00 04 c0 7d 4c 96";

/// RFC 5769 2.3: sample IPv6 response.
const RESPONSE_V6: &str = "
01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
80 28 00 04 c8 fb 0b 4c";

/// RFC 5769 2.4: sample request with long-term authentication.
const LONG_TERM: &str = "
00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66";

/// RFC 8489 B.1 with errata 6268: long-term auth with USERHASH, PASSWORD-ALGORITHM SHA-256 and
/// MESSAGE-INTEGRITY-SHA256.
const SHA256_REQUEST: &str = "
00 01 00 90 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
00 1e 00 20 4a 3c f3 8f ef 69 92 bd a9 52 c6 78 04 17 da 0f 24 81 94 15 56 9e 60 b2 05 c4 6e 41 40 7f 17 04
00 15 00 29 6f 62 4d 61 74 4a 6f 73 32 41 41 41 43 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33
            34 6f 4c 39 46 53 54 76 79 36 34 73 41 00 00 00
00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
00 1d 00 04 00 02 00 00
00 1c 00 20 b5 c7 bf 00 5b 6c 52 a2 1c 51 c5 e8 92 f8 19 24 13 62 96 cb 92 7c 43 14 93 09 27 8c c6 51 8e 65";

const SHORT_TERM_PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";
const MATRIX_USER: &str = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";

fn tid(bytes: &[u8]) -> TransactionId {
    TransactionId(bytes[8..20].try_into().unwrap())
}

#[test]
fn rfc5769_sample_request() {
    let bytes = hex(REQUEST);
    let m = StunMessage::parse(&bytes).unwrap();
    assert_eq!(m.message_type(), MessageType::BINDING_REQUEST);
    let attrs: Vec<Attribute<'_>> = m.attributes().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        attrs,
        [
            Attribute::Software("STUN test client"),
            Attribute::Priority(0x6e0001ff),
            Attribute::IceControlled(0x932ff9b151263b36),
            Attribute::Username("evtj:h6vY"),
        ]
    );
    let key = IntegrityKey::short_term(SHORT_TERM_PASSWORD);
    m.verify_message_integrity(&key).unwrap();
    m.verify_fingerprint().unwrap();
    assert_eq!(
        m.verify_message_integrity(&IntegrityKey::short_term("wrong")),
        Err(StunError::IntegrityMismatch)
    );
}

#[test]
fn rfc5769_request_rebuilt_verifies() {
    // A message written by our builder with the same attributes and key verifies, and its
    // MESSAGE-INTEGRITY and FINGERPRINT differ from the vector's only because of padding bytes.
    let bytes = hex(REQUEST);
    let key = IntegrityKey::short_term(SHORT_TERM_PASSWORD);
    let mut buf = [0u8; 256];
    let mut b = MessageBuilder::new(&mut buf, MessageType::BINDING_REQUEST, tid(&bytes)).unwrap();
    b.add(&Attribute::Software("STUN test client")).unwrap();
    b.add(&Attribute::Priority(0x6e0001ff)).unwrap();
    b.add(&Attribute::IceControlled(0x932ff9b151263b36))
        .unwrap();
    b.add(&Attribute::Username("evtj:h6vY")).unwrap();
    b.add_message_integrity(&key).unwrap();
    b.add_fingerprint().unwrap();
    let n = b.finish();
    assert_eq!(n, bytes.len());
    let m = StunMessage::parse(&buf[..n]).unwrap();
    m.verify_message_integrity(&key).unwrap();
    m.verify_fingerprint().unwrap();
    assert_eq!(buf[..n - 36 - 3], bytes[..n - 36 - 3]);
}

fn check_response(text: &str, expect: SocketAddr) {
    let bytes = hex(text);
    let m = StunMessage::parse(&bytes).unwrap();
    assert_eq!(m.message_type(), MessageType::BINDING_SUCCESS);
    assert_eq!(m.class(), MessageClass::SuccessResponse);
    assert_eq!(m.method(), Method::BINDING);
    assert_eq!(m.xor_mapped_address(), Some(expect));
    assert_eq!(
        m.get(attribute::SOFTWARE),
        Some(Ok(Attribute::Software("test vector")))
    );
    let key = IntegrityKey::short_term(SHORT_TERM_PASSWORD);
    m.verify_message_integrity(&key).unwrap();
    m.verify_fingerprint().unwrap();

    // Our builder writes the same message except SOFTWARE's padding byte (0x20 in the vector,
    // zero from us; padding content is arbitrary), so the integrity and fingerprint values differ
    // and verify on their own.
    let mut buf = [0u8; 256];
    let mut b = MessageBuilder::new(&mut buf, MessageType::BINDING_SUCCESS, tid(&bytes)).unwrap();
    b.add(&Attribute::Software("test vector")).unwrap();
    b.add(&Attribute::XorMappedAddress(expect)).unwrap();
    b.add_message_integrity(&key).unwrap();
    b.add_fingerprint().unwrap();
    let n = b.finish();
    assert_eq!(n, bytes.len());
    let pad = 20 + 4 + 11;
    assert_eq!(buf[pad], 0);
    let mi_value = n - 8 - 20;
    let mut patched = buf[..n].to_vec();
    patched[pad] = 0x20;
    assert_eq!(patched[..mi_value], bytes[..mi_value]);
    let rebuilt = StunMessage::parse(&buf[..n]).unwrap();
    rebuilt.verify_message_integrity(&key).unwrap();
    rebuilt.verify_fingerprint().unwrap();
}

#[test]
fn rfc5769_ipv4_response() {
    check_response(RESPONSE_V4, "192.0.2.1:32853".parse().unwrap());
}

#[test]
fn rfc5769_ipv6_response() {
    check_response(
        RESPONSE_V6,
        "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
            .parse()
            .unwrap(),
    );
}

#[test]
fn rfc5769_long_term_request() {
    let bytes = hex(LONG_TERM);
    let m = StunMessage::parse(&bytes).unwrap();
    assert_eq!(m.username(), Some(MATRIX_USER));
    assert_eq!(
        m.get(attribute::NONCE),
        Some(Ok(Attribute::Nonce("f//499k954d6OL34oL9FSTvy64sA")))
    );
    assert_eq!(
        m.get(attribute::REALM),
        Some(Ok(Attribute::Realm("example.org")))
    );
    // Password "The<U+00AD>M<U+00AA>tr<U+2168>" is "TheMatrIX" after SASLprep.
    let key = IntegrityKey::long_term_md5(MATRIX_USER, "example.org", "TheMatrIX");
    m.verify_message_integrity(&key).unwrap();
    assert!(!m.has_fingerprint());
    assert_eq!(
        m.verify_message_integrity(&IntegrityKey::long_term_md5(
            MATRIX_USER,
            "example.org",
            "x"
        )),
        Err(StunError::IntegrityMismatch)
    );

    // Rebuilt by our builder: identical bytes.
    let mut buf = [0u8; 256];
    let mut b = MessageBuilder::new(&mut buf, MessageType::BINDING_REQUEST, tid(&bytes)).unwrap();
    b.add(&Attribute::Username(MATRIX_USER)).unwrap();
    b.add(&Attribute::Nonce("f//499k954d6OL34oL9FSTvy64sA"))
        .unwrap();
    b.add(&Attribute::Realm("example.org")).unwrap();
    b.add_message_integrity(&key).unwrap();
    let n = b.finish();
    assert_eq!(buf[..n], bytes[..]);
}

#[test]
fn rfc8489_sha256_request() {
    let bytes = hex(SHA256_REQUEST);
    let m = StunMessage::parse(&bytes).unwrap();
    let userhash = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{MATRIX_USER}:example.org").as_bytes(),
    );
    match m.get(attribute::USERHASH) {
        Some(Ok(Attribute::UserHash(h))) => assert_eq!(&h[..], userhash.as_ref()),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        m.get(attribute::PASSWORD_ALGORITHM),
        Some(Ok(Attribute::PasswordAlgorithm(PasswordAlgorithm {
            algorithm: PasswordAlgorithm::SHA256,
            parameters: &[]
        })))
    );
    assert!(m.has_message_integrity_sha256());
    let key = IntegrityKey::long_term_sha256(MATRIX_USER, "example.org", "TheMatrIX");
    m.verify_message_integrity_sha256(&key).unwrap();
    m.verify_integrity(&key).unwrap();
    let md5_key = IntegrityKey::long_term_md5(MATRIX_USER, "example.org", "TheMatrIX");
    assert_eq!(
        m.verify_integrity(&md5_key),
        Err(StunError::IntegrityMismatch)
    );

    // Rebuilt by our builder: identical bytes.
    let mut buf = [0u8; 256];
    let mut b = MessageBuilder::new(&mut buf, MessageType::BINDING_REQUEST, tid(&bytes)).unwrap();
    let uh: &[u8; 32] = userhash.as_ref().try_into().unwrap();
    b.add(&Attribute::UserHash(uh)).unwrap();
    b.add(&Attribute::Nonce(
        "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA",
    ))
    .unwrap();
    b.add(&Attribute::Realm("example.org")).unwrap();
    b.add(&Attribute::PasswordAlgorithm(PasswordAlgorithm {
        algorithm: PasswordAlgorithm::SHA256,
        parameters: &[],
    }))
    .unwrap();
    b.add_message_integrity_sha256(&key).unwrap();
    let n = b.finish();
    assert_eq!(buf[..n], bytes[..]);
}

#[test]
fn any_bit_flip_in_a_vector_is_detected() {
    let bytes = hex(REQUEST);
    let key = IntegrityKey::short_term(SHORT_TERM_PASSWORD);
    // Flip every bit of the message (padding included: integrity covers it); parsing, integrity
    // or fingerprint must fail each time.
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut t = bytes.clone();
            t[i] ^= 1 << bit;
            let Ok(m) = StunMessage::parse(&t) else {
                continue;
            };
            let mi_ok = m.verify_message_integrity(&key).is_ok();
            let fp_ok = m.verify_fingerprint().is_ok();
            assert!(
                !(mi_ok && fp_ok),
                "flip of byte {i} bit {bit} went unnoticed"
            );
        }
    }
}
