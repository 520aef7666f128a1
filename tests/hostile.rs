//! Attacks on a composed connection: an attacker injects datagrams between two peer
//! connections driven by a fake clock (no sockets). Each test names the finding it proves
//! fixed (issue "Secure by composition"); the crates' own tests cover each layer alone.

use std::net::SocketAddr;
use std::time::Duration;

use sansrtc::demux::{Kind, classify};
use sansrtc::dtls;
use sansrtc::ice::stun::{
    Attribute, IntegrityKey, MessageBuilder, MessageType, StunMessage, TransactionId,
};
use sansrtc::sdp::Direction;
use sansrtc::sdp::jsep::{HeaderExtension, MediaKind, Transceiver};
use sansrtc::{ConnectionState, Error, Event, RtpWrite};

mod common;

use common::{ATTACKER, Net, connected, layer_packet, messages};

const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";

/// A video transceiver (VP8 with NACK and RTX) with the mid extension.
fn video() -> Transceiver {
    let mut t = Transceiver::new(
        MediaKind::Video,
        Direction::SendRecv,
        sansrtc::codecs::video_codecs(),
    );
    t.header_extensions = vec![HeaderExtension::new(4, MID_URI)];
    t
}

/// A DTLS ClientHello as any DTLS client would send it.
fn client_hello() -> Vec<u8> {
    client_hello_of(dtls::endpoint::Versions::Dtls12)
}

/// The first datagram of a client offering `versions`.
fn client_hello_of(versions: dtls::endpoint::Versions) -> Vec<u8> {
    let cert = std::sync::Arc::new(dtls::Certificate::generate().unwrap());
    let mut config = dtls::Config::new(cert);
    config.versions = versions;
    let mut c = dtls::Endpoint::client(config, Box::new(dtls::TestRng::new(7)));
    c.connect(std::time::Instant::now());
    c.poll_transmit().expect("a ClientHello")
}

/// A STUN Binding request to peer `to`'s ufrag signed with a password the attacker guessed.
fn forged_check(net: &Net, to: usize) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let mut b = MessageBuilder::new(
        &mut buf,
        MessageType::BINDING_REQUEST,
        TransactionId([9; 12]),
    )
    .unwrap();
    let username = format!("{}:evil", net.pcs[to].local_ufrag());
    b.add(&Attribute::Username(&username)).unwrap();
    b.add(&Attribute::Priority(1)).unwrap();
    b.add_message_integrity(&IntegrityKey::short_term("a-guessed-password-xx"))
        .unwrap();
    b.add_fingerprint().unwrap();
    let n = b.finish();
    buf[..n].to_vec()
}

/// What the peers sent to the attacker, other than STUN.
fn non_stun_to_attacker(net: &Net) -> Vec<Kind> {
    net.to_attacker
        .iter()
        .map(|d| classify(&d.bytes))
        .filter(|k| *k != Kind::Stun)
        .collect()
}

/// Finding 1: a ClientHello from a stranger before ICE connects made the DTLS server answer
/// the stranger (the first DTLS sender became the reply path). Now only a path an
/// authenticated ICE check validated reaches DTLS; the real handshake completes on the real
/// path, and nothing but STUN ever goes to the attacker.
#[test]
fn dtls_from_an_unvalidated_address_never_reaches_dtls() {
    let mut n = Net::new(1201);
    n.negotiate();
    // Peer 1 answered `active`: peer 0 is the DTLS server. The attacker races the real client.
    let hello = client_hello();
    n.inject(0, ATTACKER, &hello);
    n.inject(1, ATTACKER, &hello);
    assert_eq!(n.pcs[0].stats().dropped_unvalidated, 1);
    assert_eq!(n.pcs[0].selected_path(), None, "no path from a stranger");
    n.run_until(Duration::from_secs(10), connected);
    assert_eq!(n.pcs[0].selected_path(), Some((n.addrs[0], n.addrs[1])));
    // Connected, the attacker tries again: DTLS, SRTP-looking and SRTCP-looking datagrams.
    for bytes in [
        hello.clone(),
        vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3, 4],
        vec![0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![23, 0xFE, 0xFD, 0, 1, 0, 0, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4],
    ] {
        n.inject(0, ATTACKER, &bytes);
        n.inject(1, ATTACKER, &bytes);
    }
    for p in &n.pcs {
        assert_eq!(
            p.stats().dropped_srtp,
            0,
            "SRTP never saw the stranger's packets"
        );
        assert!(p.stats().dropped_unvalidated >= 4);
        let d = p.dtls_stats().unwrap();
        let seen = d.bad_mac + d.malformed + d.replayed + d.dropped;
        assert_eq!(seen, 0, "DTLS never saw them: {d:?}");
    }
    assert_eq!(non_stun_to_attacker(&n), []);
    assert!(connected(&n));
    let id = n.open_channel("still fine");
    n.pcs[0]
        .channel(id[0])
        .unwrap()
        .send_text(n.now, "hello")
        .unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        !messages(&n.events[1], id[1]).is_empty()
    });
}

/// Finding 1, the other way round: the first DTLS sender is remembered only when it is a
/// validated path, and a validated path (a peer-reflexive one the peer's checks came from)
/// does reach DTLS.
#[test]
fn a_stranger_cannot_take_the_reply_path_after_the_peer_was_validated() {
    let mut n = Net::new(1202);
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    let before = n.pcs[0].stats().dropped_unvalidated;
    n.inject(0, ATTACKER, &client_hello());
    assert_eq!(n.pcs[0].stats().dropped_unvalidated, before + 1);
    assert_eq!(n.pcs[0].selected_path(), Some((n.addrs[0], n.addrs[1])));
}

/// Finding 9: with `answer_unauthenticated_stun: false` a spoofed check reflects nothing
/// (with the default, the answer is a STUN 401, and nothing else).
#[test]
fn unauthenticated_stun_can_be_dropped_silently() {
    let mut n = Net::new(1203);
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    let check = forged_check(&n, 0);
    n.inject(0, ATTACKER, &check);
    assert_eq!(n.to_attacker.len(), 1);
    let answer = StunMessage::parse(&n.to_attacker[0].bytes).unwrap();
    assert_eq!(answer.error_code().map(|e| e.0), Some(401));

    let mut n = Net::with_config(1204, |c| c.answer_unauthenticated_stun = false);
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    let check = forged_check(&n, 0);
    for _ in 0..100 {
        n.inject(0, ATTACKER, &check);
    }
    assert!(n.to_attacker.is_empty(), "nothing reflected");
    assert_eq!(n.pcs[0].ice_stats().unwrap().auth_failures, 100);
    assert!(connected(&n));
}

/// Finding 4: after consent expires (no authenticated answer for 30 s) nothing but ICE checks
/// leaves: `write_rtp` fails with `NoConsent`, data channel messages and RTCP reports stay
/// queued, DTLS retransmissions are dropped; the state says `Failed`. An ICE restart brings
/// the connection back, and media flows again.
#[test]
fn nothing_but_stun_is_sent_once_consent_expired() {
    let mut n = Net::new(1205);
    for p in &mut n.pcs {
        p.add_transceiver(video());
    }
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    let id = n.open_channel("c");
    let mid = n.pcs[0].media_mids().next().unwrap();
    let payload = [5u8; 300];
    n.pcs[0]
        .write_rtp(n.now, mid, RtpWrite::new(96, 0, &payload))
        .unwrap();
    // The peer goes silent: no datagram of peer 1 reaches peer 0 any more.
    n.cut[1] = true;
    n.run_for(Duration::from_secs(29));
    assert_eq!(n.pcs[0].state(), ConnectionState::Disconnected);
    // Consent not yet expired: still sending.
    n.pcs[0]
        .write_rtp(n.now, mid, RtpWrite::new(96, 1, &payload))
        .unwrap();
    n.run_for(Duration::from_secs(2));
    assert_eq!(n.pcs[0].state(), ConnectionState::Failed);
    assert!(n.events[0].contains(&Event::ConnectionStateChange(ConnectionState::Failed)));
    assert_eq!(n.pcs[0].selected_path(), None);
    // Now nothing but STUN may leave peer 0, whatever the application does.
    n.sent_log = Some([Vec::new(), Vec::new()]);
    assert!(matches!(
        n.pcs[0].write_rtp(n.now, mid, RtpWrite::new(96, 2, &payload)),
        Err(Error::NotConnected | Error::NoConsent)
    ));
    n.pcs[0]
        .channel(id[0])
        .unwrap()
        .send_text(n.now, "into the void")
        .unwrap();
    n.pcs[0]
        .request_keyframe(n.now, 1234, sansrtc::KeyframeKind::Pli)
        .ok();
    n.run_for(Duration::from_secs(20));
    let sent = &n.sent_log.as_ref().unwrap()[0];
    let kinds: Vec<Kind> = sent.iter().map(|b| classify(b)).collect();
    assert!(
        kinds.iter().all(|k| *k == Kind::Stun),
        "only STUN after consent expired: {kinds:?}"
    );
    assert!(n.pcs[0].stats().dropped_no_consent > 0);
    // Recovery only through ICE: the link comes back, peer 0 restarts ICE.
    n.sent_log = None;
    n.cut[1] = false;
    n.pcs[0].restart_ice();
    n.negotiate();
    n.run_until(Duration::from_secs(10), |n| {
        n.pcs[0].state() == ConnectionState::Connected
    });
    n.pcs[0]
        .write_rtp(n.now, mid, RtpWrite::new(96, 3, &payload))
        .unwrap();
    let mark = n.events[1].len();
    n.run_until(Duration::from_secs(5), |n| {
        n.events[1][mark..]
            .iter()
            .any(|e| matches!(e, Event::Rtp(p) if p.timestamp == 3))
    });
}

/// The hostile address never learns anything: across a whole session with an attacker
/// spraying every kind of datagram, only STUN error answers go its way.
#[test]
fn a_spraying_stranger_gets_nothing_but_stun_errors() {
    let mut n = Net::new(1206);
    for p in &mut n.pcs {
        p.add_transceiver(video());
    }
    n.negotiate();
    let hello = client_hello();
    let check = forged_check(&n, 0);
    let mut spray: Vec<Vec<u8>> = vec![hello, check];
    for first in [0u8, 1, 20, 21, 22, 23, 128, 129, 191, 255] {
        spray.push(vec![first; 64]);
    }
    let end = n.now + Duration::from_secs(10);
    let mut i = 0usize;
    while !connected(&n) {
        assert!(n.now < end, "not connected");
        let bytes = spray[i % spray.len()].clone();
        n.inject(i % 2, ATTACKER, &bytes);
        i += 1;
        n.run_for(Duration::from_millis(5));
    }
    assert_eq!(non_stun_to_attacker(&n), []);
    let _: SocketAddr = ATTACKER;
}

/// Finding 7: one NACK could make us send 256 packets again, every half round trip (a round
/// trip the peer's own reports decide). Now a stream sends again at most as many bytes per
/// second as it sends (at least 16 KiB): a peer NACKing everything every 10 ms at most
/// doubles our traffic.
#[test]
fn a_nack_flood_cannot_multiply_what_we_send() {
    let mut n = Net::new(1207);
    for p in &mut n.pcs {
        p.add_transceiver(video());
    }
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    let mid = n.pcs[0].media_mids().next().unwrap();
    let payload = [9u8; 1000];
    let mut media_packets = 0u32;
    let mut ssrc = None;
    let start = n.now;
    while n.now < start + Duration::from_secs(3) {
        // 100 packets per second of ~1 KB: 800 kbit/s.
        n.pcs[0]
            .write_rtp(n.now, mid, RtpWrite::new(96, media_packets * 900, &payload))
            .unwrap();
        media_packets += 1;
        n.run_for(Duration::from_millis(10));
        ssrc = ssrc.or_else(|| {
            n.events[1].iter().find_map(|e| match e {
                Event::Rtp(p) => Some(p.ssrc),
                _ => None,
            })
        });
        // The hostile receiver asks for everything it may have lost, every 10 ms.
        if let Some(ssrc) = ssrc {
            let newest = n.events[1]
                .iter()
                .rev()
                .find_map(|e| match e {
                    Event::Rtp(p) if p.ssrc == ssrc => Some(p.sequence_number),
                    _ => None,
                })
                .unwrap();
            let all: Vec<u16> = (0..200u16).map(|i| newest.wrapping_sub(i)).collect();
            n.pcs[1].send_nack(n.now, ssrc, &all).unwrap();
        }
    }
    n.run_for(Duration::from_millis(100));
    let stats = n.pcs[0].stats();
    assert!(
        stats.retransmissions_sent <= u64::from(media_packets) + 100,
        "{} packets sent again for {media_packets} sent: {stats:?}",
        stats.retransmissions_sent
    );
    assert!(stats.retransmissions_limited > 10_000, "{stats:?}");
    assert!(
        stats.retransmissions_sent > 100,
        "NACKs are still answered: {stats:?}"
    );
}

/// A plaintext (epoch 0) DTLS record of `content_type` with `body`.
fn plaintext_record(content_type: u8, sequence: u64, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 0xFE, 0xFD, 0, 0];
    r.extend_from_slice(&sequence.to_be_bytes()[2..]);
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// Finding 2: one unauthenticated packet failed the handshake: a plaintext fatal alert or
/// close_notify, a ClientHello claiming DTLS 1.0, an out-of-order handshake message. Here a
/// spoofer using each peer's real address (so the datagrams pass ICE validation and reach
/// DTLS) sends all of them every 20 us (between every two handshake datagrams) during the
/// handshake: it completes anyway.
#[test]
fn spoofed_alerts_and_stray_handshake_messages_do_not_fail_the_handshake() {
    // The spoofed ClientHello is a DTLS 1.2 one (the peers negotiate 1.3, the default).
    spoofed_alerts_and_hellos(client_hello());
}

/// The same storm with a spoofed ClientHello offering DTLS 1.3: the server answers each with a
/// HelloRetryRequest to the real client's address. The client takes none of them as the answer:
/// each is only a candidate until a protected record authenticates the real server's
/// ServerHello, and the server's cookie binds the hello it answered (dtls/STATUS.md, "Forged
/// hellos"), so the handshake completes.
#[test]
fn spoofed_dtls13_client_hellos_do_not_fail_the_handshake() {
    spoofed_alerts_and_hellos(client_hello_of(dtls::endpoint::Versions::Dtls13Or12));
}

fn spoofed_alerts_and_hellos(hello: Vec<u8>) {
    let mut n = Net::new(1208);
    n.negotiate();
    let mut hello_1_0 = hello;
    hello_1_0[1..3].copy_from_slice(&[0xFE, 0xFF]);
    // A ServerHelloDone (type 14, empty) out of order, in a handshake record.
    let done = plaintext_record(22, 3, &[14, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0]);
    let end = n.now + Duration::from_secs(10);
    let mut seq = 100u64;
    while !connected(&n) {
        assert!(n.now < end, "not connected: {:?}", n.pcs);
        for to in 0..2 {
            let from = n.addrs[1 - to];
            seq += 1;
            for bytes in [
                plaintext_record(21, seq, &[2, 40]),    // fatal handshake_failure
                plaintext_record(21, seq + 1, &[1, 0]), // close_notify
                hello_1_0.clone(),
                done.clone(),
            ] {
                n.inject(to, from, &bytes);
            }
        }
        n.run_for(Duration::from_micros(20));
    }
    for p in &n.pcs {
        let d = p.dtls_stats().unwrap();
        assert!(d.unauthenticated_alerts > 0, "{d:?}");
    }
    let id = n.open_channel("after the storm");
    n.pcs[1]
        .channel(id[1])
        .unwrap()
        .send_text(n.now, "ok")
        .unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        !messages(&n.events[0], id[0]).is_empty()
    });
}

/// Finding 5: handshake fragments (reachable in every state, Connected included) were kept in
/// an unbounded list of ranges, sorted per fragment. A spoofer floods a connected peer with
/// fragments of a huge ClientHello at scattered offsets: they are bounded and counted, and the
/// connection carries on.
#[test]
fn a_handshake_fragment_flood_leaves_a_connection_working() {
    let mut n = Net::new(1209);
    let id = n.connect_with_channel("c");
    for i in 0..20_000u32 {
        let mut h = vec![1, 0xFF, 0xFF, 0xFF];
        h.extend_from_slice(&((i % 7) as u16).to_be_bytes());
        let offset = i.wrapping_mul(2_654_435_761) % 0xFF_FF00;
        h.extend_from_slice(&offset.to_be_bytes()[1..]);
        h.extend_from_slice(&[0, 0, 64]);
        h.extend_from_slice(&[0xAB; 64]);
        let record = plaintext_record(22, 1000 + u64::from(i), &h);
        n.inject(0, n.addrs[1], &record);
    }
    assert!(connected(&n));
    n.pcs[1]
        .channel(id[1])
        .unwrap()
        .send_text(n.now, "still here")
        .unwrap();
    n.run_until(Duration::from_secs(5), |n| {
        !messages(&n.events[0], id[0]).is_empty()
    });
}

/// Replaces every `a=fingerprint:` line's value of `sdp` with `value`.
fn with_fingerprint(sdp: &str, value: &str) -> String {
    sdp.lines()
        .map(|l| {
            if l.starts_with("a=fingerprint:") {
                format!("a=fingerprint:{value}\r\n")
            } else {
                format!("{l}\r\n")
            }
        })
        .collect()
}

/// Finding 3: a description whose only fingerprint used a hash nobody knows was accepted, and
/// the empty list that remained meant "accept any certificate". Now it is refused with a clear
/// error and changes nothing (the same peer then takes a good offer); the dtls crate fails
/// closed on an empty list too.
#[test]
fn descriptions_without_a_usable_fingerprint_are_refused() {
    use sansrtc::sdp::NegotiationError;
    let mut n = Net::new(1210);
    let offer = n.pcs[0].create_offer(n.now).unwrap();
    for value in [
        "md5 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
        "foo 00:11",
        // sha-256 with 31 bytes.
        "sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE",
    ] {
        let bad = with_fingerprint(&offer, value);
        let e = n.pcs[1]
            .set_remote_description(n.now, sansrtc::SdpType::Offer, &bad)
            .unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Negotiation(f) if matches!(
                    f.0,
                    NegotiationError::NoUsableFingerprint(_) | NegotiationError::MissingFingerprint(_)
                )
            ) || matches!(e, Error::Sdp(_)),
            "{value}: {e}"
        );
    }
    // The refusals changed nothing: the real offer is answered and the peers connect.
    n.pcs[1]
        .set_remote_description(n.now, sansrtc::SdpType::Offer, &offer)
        .unwrap();
    let answer = n.pcs[1].create_answer(n.now).unwrap();
    // An answer with only an unknown hash is refused too, and the real one then accepted.
    let bad = with_fingerprint(
        &answer,
        "md5 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
    );
    assert!(
        n.pcs[0]
            .set_remote_description(n.now, sansrtc::SdpType::Answer, &bad)
            .is_err()
    );
    n.pcs[0]
        .set_remote_description(n.now, sansrtc::SdpType::Answer, &answer)
        .unwrap();
    n.run_until(Duration::from_secs(10), connected);
}

/// Finding 8: codec reading scanned every attribute per payload type; a 1 MiB offer cost
/// seconds. Remote descriptions are now checked against limits first and refused, typed.
#[test]
fn a_huge_hostile_offer_is_refused_by_its_limits() {
    use sansrtc::sdp::NegotiationError;
    let mut n = Net::new(1211);
    let offer = n.pcs[0].create_offer(n.now).unwrap();
    // One media section with 4,000 payload types, each with rtpmap, fmtp and rtcp-fb lines.
    let mut hostile = String::new();
    for l in offer.lines() {
        hostile.push_str(l);
        hostile.push_str("\r\n");
        if l.starts_with("t=") {
            let formats: Vec<String> = (0..4000).map(|i| (i % 128).to_string()).collect();
            hostile.push_str(&format!(
                "m=video 9 UDP/TLS/RTP/SAVPF {}\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\n",
                formats.join(" ")
            ));
            for i in 0..4000 {
                hostile.push_str(&format!(
                    "a=rtpmap:{} VP8/90000\r\na=fmtp:{} x={i}\r\na=rtcp-fb:{} nack\r\n",
                    i % 128,
                    i % 128,
                    i % 128
                ));
            }
        }
    }
    assert!(hostile.len() > 100_000);
    let e = n.pcs[1]
        .set_remote_description(n.now, sansrtc::SdpType::Offer, &hostile)
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Negotiation(f) if matches!(f.0, NegotiationError::LimitExceeded { .. })
        ) || matches!(e, Error::Sdp(_)),
        "{e}"
    );
    // Still usable.
    n.pcs[1]
        .set_remote_description(n.now, sansrtc::SdpType::Offer, &offer)
        .unwrap();
}

/// Finding 6: the SCTP send queue was unbounded: a peer that never acknowledges grew our
/// memory at our send rate. Now `send_data` fails with a typed "buffer full" past
/// `Config::max_buffered_amount`, as browsers throw above their limit.
#[test]
fn a_peer_that_never_acknowledges_cannot_grow_our_send_buffer() {
    use sansrtc::sctp::SendError;
    let mut n = Net::with_config(1212, |c| c.max_buffered_amount = 1 << 20);
    let id = n.connect_with_channel("bulk");
    // Peer 1's SACKs (everything it sends) vanish from now on.
    n.cut[1] = true;
    let chunk = vec![7u8; 16 * 1024];
    let mut sent = 0usize;
    let err = loop {
        match n.pcs[0].channel(id[0]).unwrap().send(n.now, &chunk) {
            Ok(()) => sent += chunk.len(),
            Err(e) => break e,
        }
        n.run_for(Duration::from_millis(1));
        assert!(sent <= 2 << 20, "no limit after {sent} bytes");
    };
    match err {
        Error::DataChannel(SendError::BufferFull { buffered, limit }) => {
            assert_eq!(limit, 1 << 20);
            assert!(buffered <= limit);
        }
        e => panic!("{e}"),
    }
    assert!(sent >= (1 << 20) - 2 * chunk.len(), "{sent}");
    assert!(n.pcs[0].channel(id[0]).unwrap().buffered_amount() <= 1 << 20);
}

/// The peer writes the RID of every packet: one that is not a RID (RFC 8851 syntax, at most
/// 16 bytes) is never handed to the application, which may key state or output on it (the
/// SFU example kept a map of layers by RID and wrote RIDs into its JSON).
#[test]
fn a_made_up_rid_is_not_handed_on() {
    let mut n = Net::new(1301);
    for p in &mut n.pcs {
        let mut t = video();
        t.header_extensions.push(HeaderExtension::new(
            10,
            "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        ));
        p.add_transceiver(t);
    }
    n.negotiate();
    n.run_until(Duration::from_secs(10), connected);
    let mid = n.pcs[0].media_mids().next().unwrap().to_string();
    let rids: [&[u8]; 5] = [b"h", b"q\"}\x01", b"bad rid", b"\xC3\xA9", b"low-1"];
    for (seq, rid) in rids.iter().enumerate() {
        let packet = layer_packet(&mid, rid, 0x0BAD_5EED, seq as u16);
        n.pcs[0].send_rtp(n.now, &packet).unwrap();
        n.run_for(Duration::from_millis(20));
    }
    let got: Vec<Option<String>> = common::rtp_received(&n.events[1])
        .iter()
        .map(|p| p.rid.as_deref().map(str::to_owned))
        .collect();
    // A packet without a RID keeps the stream's last one.
    let h = Some("h".to_string());
    assert_eq!(
        got,
        [h.clone(), h.clone(), h.clone(), h, Some("low-1".into())]
    );
}
