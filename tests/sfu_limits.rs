//! The limits that make `examples/sfu` safe to expose, checked against the built example over
//! real loopback sockets (no browser): hostile WHIP/WHEP requests (oversized, not SDP, too many
//! sections or candidates), floods of sessions never followed by ICE, DELETE and PATCH of
//! resources that are not the caller's, and a publisher that makes up simulcast layers. Each
//! test asserts on what the server counted and kept, and that a legitimate client is served.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use sansrtc::sdp::Direction;
use sansrtc::{ConnectionState, Event, SdpType, codecs};
use serde_json::Value;

mod common;

use common::example_server::{
    ExampleServer as Server, SocketPeer as Peer, never_connecting_offer as offer, response,
};
use common::layer_packet;

fn sessions(stats: &Value) -> usize {
    stats["sessions"].as_array().map_or(0, Vec::len)
}

impl Peer {
    /// Drives both peers until `b` has received `text` on its chat channel.
    fn chat(a: &mut Peer, ca: sansrtc::ChannelId, b: &mut Peer, text: &str) {
        a.pc.channel(ca)
            .unwrap()
            .send_text(Instant::now(), text)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 2048];
        while !b
            .events
            .iter()
            .any(|e| matches!(e, Event::DataChannelMessage { data, .. } if data == text.as_bytes()))
        {
            assert!(Instant::now() < deadline, "{text:?} not relayed");
            a.step(&mut buf);
            b.step(&mut buf);
        }
    }
}

#[test]
fn hostile_whip_requests_are_refused_with_4xx() {
    let server = Server::start("sfu", &["--max-body-bytes", "65536"]);
    let offer = offer();
    // A body above the limit: refused from its Content-Length, and when sent whole.
    let (status, _, _) = server.raw(
        b"POST /whip HTTP/1.1\r\nContent-Type: application/sdp\r\nContent-Length: 65537\r\n\r\n",
    );
    assert_eq!(status, 413);
    assert_eq!(server.request("POST", "/whip", &vec![b'v'; 200_000]).0, 413);
    // Bodies that are not SDP.
    assert_eq!(server.request("POST", "/whip", &[0xFF, 0xFE, 0x00]).0, 400);
    assert_eq!(server.whip("{\"sdp\": \"not an offer\"}").0, 400);
    assert_eq!(server.whip("").0, 400);
    assert_eq!(
        server.request("POST", "/whep", b"hello").0,
        404,
        "no publisher yet"
    );
    // An offer with a thousand media sections (the parser's limit is 256).
    let mut many = offer.clone();
    for _ in 0..1000 {
        many.push_str("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n");
    }
    assert!(many.len() < 65536);
    assert_eq!(server.whip(&many).0, 400);
    // An offer with 1,000 candidates in its section (the limit is 128).
    let mut candidates = offer.clone();
    for i in 0..1000 {
        candidates.push_str(&format!(
            "a=candidate:{i} 1 udp 1 127.0.0.1 {} typ host\r\n",
            10_000 + i
        ));
    }
    assert!(candidates.len() < 65536, "{}", candidates.len());
    assert_eq!(server.whip(&candidates).0, 400);
    // One attribute line of 60 KB, under the body limit (SDP lines are limited to 8 KiB).
    let huge = offer.replacen("a=", &format!("a=x-filler:{}\r\na=", "x".repeat(60_000)), 1);
    assert_eq!(server.whip(&huge).0, 400);
    // A request head beyond 16 KiB.
    let mut big = b"POST /whip HTTP/1.1\r\n".to_vec();
    for i in 0..2000 {
        big.extend_from_slice(format!("X-Filler-{i}: 0123456789\r\n").as_bytes());
    }
    big.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    assert_eq!(server.raw(&big).0, 431);
    // A legitimate offer is still answered.
    assert_eq!(server.whip(&offer).0, 201);
    let stats = server.stats();
    assert_eq!(stats["http_too_large"], 3, "{stats}");
    assert_eq!(sessions(&stats), 1, "{stats}");
}

#[test]
fn a_flood_of_sessions_never_connected_does_not_lock_out_others() {
    let server = Server::start("sfu", &["--max-sessions", "6", "--max-pending", "3"]);
    // Two legitimate participants, connected, chatting through the SFU.
    let (mut a, ca, a_location) = Peer::whip_chat(&server);
    let (mut b, cb, _) = Peer::whip_chat(&server);
    Peer::chat(&mut a, ca, &mut b, "before the flood");
    // A flood of 100 offers never followed by ICE: each is answered, but they only ever take
    // the pending places, evicting each other.
    let offer = offer();
    for i in 0..100 {
        let (status, _, body) = server.whip(&offer);
        assert_eq!(status, 201, "offer {i}: {body}");
    }
    let stats = server.stats();
    assert_eq!(stats["pending"], 3, "{stats}");
    assert_eq!(sessions(&stats), 5, "{stats}");
    assert_eq!(stats["pending_evicted"], 97, "{stats}");
    assert_eq!(stats["sessions_refused"], 0, "{stats}");
    // The connected ones were never evicted and still chat.
    Peer::chat(&mut b, cb, &mut a, "after the flood");
    assert_eq!(a.pc.state(), ConnectionState::Connected);
    // And a newcomer still gets in and connects (it evicts a flooded session).
    let (mut c, cc, _) = Peer::whip_chat(&server);
    Peer::chat(&mut c, cc, &mut a, "newcomer");
    let stats = server.stats();
    assert_eq!(stats["pending_evicted"], 98, "{stats}");

    // DELETE and PATCH of resources that are not the caller's.
    let a_id = a_location.rsplit('/').next().unwrap().to_string();
    let before = sessions(&server.stats());
    let unknown = "0123456789abcdef0123456789abcdef";
    for (method, path) in [
        ("DELETE", format!("/whip/{unknown}")),
        ("DELETE", format!("/whep/session/{unknown}")),
        // A's id at a subscriber's location, and under no location at all.
        ("DELETE", format!("/whep/session/{a_id}")),
        ("DELETE", format!("/anything/{a_id}")),
        ("DELETE", "/whip/not-hex".to_string()),
        ("DELETE", "/whip/".to_string()),
    ] {
        let (status, _, body) = server.request(method, &path, b"");
        assert_eq!(status, 404, "{method} {path}: {body}");
    }
    for path in [format!("/whip/{a_id}"), format!("/whip/{unknown}")] {
        let (status, _, _) = server.request(
            "PATCH",
            &path,
            b"a=candidate:1 1 udp 1 1.2.3.4 9 typ host\r\n",
        );
        assert_eq!(status, 405, "PATCH {path}");
    }
    // Pinning a layer: only a subscriber's location, only a RID.
    for (path, status) in [
        (format!("/whep/session/{a_id}/layer?rid=h"), 404),
        (format!("/whep/session/{unknown}/layer?rid=h"), 404),
        (format!("/whep/session/{unknown}/layer?rid=%22%7D"), 400),
        (format!("/whep/session/{unknown}/layer?rid=\"}}"), 400),
        (
            format!("/whep/session/{unknown}/layer?rid={}", "h".repeat(17)),
            400,
        ),
    ] {
        assert_eq!(server.request("POST", &path, b"").0, status, "{path}");
    }
    assert_eq!(sessions(&server.stats()), before);
    Peer::chat(&mut a, ca, &mut c, "still here");
    // Its own location deletes it.
    assert_eq!(server.request("DELETE", &a_location, b"").0, 200);
    assert_eq!(server.request("DELETE", &a_location, b"").0, 404);
    assert_eq!(sessions(&server.stats()), before - 1);
}

#[test]
fn sessions_above_the_cap_are_refused_and_unconnected_ones_expire() {
    let server = Server::start(
        "sfu",
        &["--max-sessions", "2", "--connect-timeout-ms", "1000"],
    );
    let (mut a, ca, _) = Peer::whip_chat(&server);
    let (mut b, _, b_location) = Peer::whip_chat(&server);
    // Both places taken by connected sessions: refused, nothing evicted.
    let offer = offer();
    let (status, location, body) = server.whip(&offer);
    assert_eq!(status, 503, "{body}");
    assert!(location.is_empty());
    let stats = server.stats();
    assert_eq!(stats["sessions_refused"], 1, "{stats}");
    assert_eq!(stats["pending_evicted"], 0, "{stats}");
    assert_eq!(sessions(&stats), 2, "{stats}");
    Peer::chat(&mut a, ca, &mut b, "still served");
    // Once one leaves, offers are answered again; one never followed by ICE is forgotten at
    // its connect timeout, the connected one is not.
    assert_eq!(server.request("DELETE", &b_location, b"").0, 200);
    let (status, _, body) = server.whip(&offer);
    assert_eq!(status, 201, "{body}");
    let stats = server.poll_stats(Duration::from_secs(10), "connect timeout", |s| {
        s["connect_expired"] == 1
    });
    assert_eq!(sessions(&stats), 1, "{stats}");
    assert_eq!(stats["pending"], 0, "{stats}");
    assert_eq!(a.pc.state(), ConnectionState::Connected);
}

#[test]
fn a_publisher_cannot_make_up_simulcast_layers() {
    let server = Server::start("sfu", &[]);
    let mut peer = Peer::new();
    let now = Instant::now();
    peer.pc
        .add_transceiver(codecs::video_transceiver(Direction::SendOnly));
    let offer = peer.pc.create_offer(now).unwrap();
    let (status, _, answer) = server.whip(&offer);
    assert_eq!(status, 201, "{answer}");
    assert!(
        answer.contains("a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid"),
        "{answer}"
    );
    assert!(
        answer.contains("a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"),
        "{answer}"
    );
    peer.pc
        .set_remote_description(Instant::now(), SdpType::Answer, &answer)
        .unwrap();
    peer.drive(Duration::from_secs(20), |p| {
        p.pc.state() == ConnectionState::Connected
    });
    let mid = peer
        .pc
        .media_mids()
        .next()
        .expect("a video section")
        .to_string();
    // 100 well-formed RIDs, one per packet (a RID that is not one never reaches the SFU: the
    // peer connection ignores it, `tests/hostile.rs`).
    let rids: Vec<Vec<u8>> = (0..100).map(|i| format!("r{i}").into_bytes()).collect();
    let mut buf = [0u8; 2048];
    for (i, rid) in rids.iter().enumerate() {
        let packet = layer_packet(&mid, rid, 0x1234_5678, i as u16);
        peer.pc.send_rtp(Instant::now(), &packet).unwrap();
        peer.step(&mut buf);
    }
    let total = rids.len() as u64;
    let stats = server.poll_stats(Duration::from_secs(20), "every packet counted", |s| {
        s["sessions"][0]["rtp_received"].as_u64() == Some(total)
    });
    let publisher = &stats["sessions"][0];
    let layers = publisher["layer_bitrates"].as_object().unwrap();
    assert_eq!(layers.len(), 4, "{stats}");
    assert!(layers.keys().all(|k| k.starts_with('r')), "{stats}");
    assert_eq!(publisher["layers_refused"], total - 4, "{stats}");
}

/// Slow clients (slow loris): each connection has one deadline for its whole request; at the
/// connection cap (64) one more is refused with `503` at once; once the slow ones are cut
/// (`408`), others are served again.
#[test]
fn slow_clients_are_cut_at_their_deadline() {
    let server = Server::start("sfu", &["--http-timeout-ms", "2000"]);
    let mut slow = Vec::new();
    for _ in 0..64 {
        let mut s = TcpStream::connect(server.http).unwrap();
        s.write_all(b"POST /whip HTTP/1.1\r\nContent-Le").unwrap();
        slow.push(s);
    }
    // Connections are taken in order: the 64 slow ones hold every place, one more is
    // answered 503 at once (it sends nothing: a request the server does not read would make
    // its close a reset).
    let mut extra = TcpStream::connect(server.http).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(response(&mut extra).0, 503);
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        assert_eq!(response(s).0, 408);
    }
    drop(slow);
    let stats = server.poll_stats(Duration::from_secs(10), "every slow one counted", |s| {
        s["http_timeouts"] == 64
    });
    assert_eq!(stats["http_refused"], 1, "{stats}");
    assert_eq!(server.whip(&offer()).0, 201);
}
