//! The limits that make `examples/echo_server` safe to expose, checked against the built example
//! over real loopback sockets (127.0.0.1 only): the session cap, HTTP size limits and deadlines,
//! unguessable session ids, nothing secret in `/stats`, reclaimed sessions (never connected,
//! idle), spoofed STUN answered by nothing and routed nowhere, and a real sansrtc peer
//! connection echoed through it. The offers come from sansrtc peer connections made here.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use sansrtc::ice::stun::{Attribute, IntegrityKey, MessageBuilder, MessageType, TransactionId};
use sansrtc::{ChannelConfig, ConnectionState, Event, SdpType};
use serde_json::Value;

mod common;

use common::example_exe;
use common::example_server::{
    ExampleServer as Server, SocketPeer as Peer, location, never_connecting_offer as offer,
    response,
};

/// `a=ice-ufrag` of an SDP.
fn ufrag(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .expect("an ICE ufrag")
        .trim()
        .to_string()
}

/// The id of a session location `/whip/<id>` or `/answer/<id>`.
fn id_of(location: &str) -> &str {
    location.rsplit('/').next().unwrap()
}

/// A STUN binding request naming `ufrag` with MESSAGE-INTEGRITY under a wrong password.
fn spoofed_check(ufrag: &str, id: u8) -> Vec<u8> {
    let mut buf = [0u8; 200];
    let mut b = MessageBuilder::new(
        &mut buf,
        MessageType::BINDING_REQUEST,
        TransactionId([id; 12]),
    )
    .unwrap();
    let user = format!("{ufrag}:intruder");
    b.add(&Attribute::Username(&user)).unwrap();
    b.add_message_integrity(&IntegrityKey::short_term("not the password"))
        .unwrap();
    b.add_fingerprint().unwrap();
    let n = b.finish();
    buf[..n].to_vec()
}

#[test]
fn sessions_above_the_cap_are_refused_with_503() {
    let server = Server::start("echo_server", &["--max-sessions", "2"]);
    let offer = offer();
    let (s1, first, _) = server.whip(&offer);
    let (s2, _, _) = server.whip(&offer);
    assert_eq!((s1, s2), (201, 201));
    let (s3, loc3, body) = server.whip(&offer);
    assert_eq!(s3, 503, "{body}");
    assert!(loc3.is_empty());
    // Our own offers count too.
    let (s4, _, _) = server.request("POST", "/offer", b"");
    assert_eq!(s4, 503);
    let stats = server.stats();
    assert_eq!(stats["sessions"].as_array().unwrap().len(), 2, "{stats}");
    assert_eq!(stats["sessions_refused"], 2, "{stats}");
    // A deleted session (never connected: nothing to say goodbye to) makes room at once.
    assert_eq!(server.request("DELETE", &first, b"").0, 200);
    assert_eq!(server.whip(&offer).0, 201);
}

#[test]
fn http_requests_are_bounded() {
    let server = Server::start("echo_server", &["--max-body-bytes", "65536"]);
    let send = |raw: &[u8]| {
        let mut s = TcpStream::connect(server.http).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(raw).unwrap();
        response(&mut s)
    };
    // A body above the limit is refused from its Content-Length, before it is sent.
    let (status, _, _) = send(
        b"POST /whip HTTP/1.1\r\nContent-Type: application/sdp\r\nContent-Length: 65537\r\n\r\n",
    );
    assert_eq!(status, 413);
    // Also when it is sent whole (the server reads the rest away so the client sees the 413).
    assert_eq!(server.request("POST", "/whip", &vec![b'a'; 200_000]).0, 413);
    // A real offer is far below it.
    assert_eq!(server.whip(&offer()).0, 201);
    // Bodies need a Content-Length.
    let (status, _, _) =
        send(b"POST /whip HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(status, 411);
    // Headers are bounded.
    let mut big = b"GET /stats HTTP/1.1\r\n".to_vec();
    for i in 0..2000 {
        big.extend_from_slice(format!("X-Filler-{i}: 0123456789\r\n").as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    assert_eq!(send(&big).0, 431);
    // Malformed requests.
    assert_eq!(send(b"GET /stats HTTP/2.0\r\n\r\n").0, 505);
    assert_eq!(
        send(b"POST /whip HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab").0,
        400
    );
    let stats = server.stats();
    assert_eq!(stats["http_too_large"], 3, "{stats}");
    assert_eq!(stats["http_malformed"], 3, "{stats}");
    assert_eq!(stats["sessions"].as_array().unwrap().len(), 1, "{stats}");
}

#[test]
fn a_slow_client_does_not_hold_the_server() {
    let timeout = Duration::from_millis(3000);
    let server = Server::start("echo_server", &["--http-timeout-ms", "3000"]);
    let t0 = Instant::now();
    // Half a request: its head, and 10 of the 1000 bytes of body it announces.
    let mut slow = TcpStream::connect(server.http).unwrap();
    slow.write_all(b"POST /whip HTTP/1.1\r\nContent-Length: 1000\r\n\r\n0123456789")
        .unwrap();
    // And a connection that sends nothing at all.
    let mut silent = TcpStream::connect(server.http).unwrap();
    // Another client is served meanwhile, well before the slow one's deadline.
    let (status, _, _) = server.request("GET", "/stats", b"");
    assert_eq!(status, 200);
    let served = t0.elapsed();
    assert!(served < timeout, "served after {served:?}");
    // The slow one gets a 408 at its deadline (not before), the silent one a close, no bytes.
    slow.set_read_timeout(Some(timeout * 3)).unwrap();
    let (status, _, _) = response(&mut slow);
    let cut = t0.elapsed();
    assert_eq!(status, 408);
    assert!(
        cut >= timeout - Duration::from_millis(100),
        "cut after {cut:?}"
    );
    assert!(cut < timeout * 3, "cut after {cut:?}");
    silent.set_read_timeout(Some(timeout * 3)).unwrap();
    let mut rest = Vec::new();
    silent.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    let stats = server.stats();
    assert!(stats["http_timeouts"].as_u64().unwrap() >= 2, "{stats}");
    eprintln!("slow client: another served after {served:?}, the slow one cut after {cut:?}");
}

#[test]
fn session_ids_are_128_random_bits() {
    let server = Server::start("echo_server", &[]);
    let (status, whip, _) = server.whip(&offer());
    assert_eq!(status, 201);
    let (status, head, _) = server.request("POST", "/offer", b"");
    assert_eq!(status, 201);
    let answer = location(&head);
    for (loc, prefix) in [(&whip, "/whip/"), (&answer, "/answer/")] {
        let id = loc.strip_prefix(prefix).unwrap_or_else(|| panic!("{loc}"));
        assert_eq!(id.len(), 32, "{loc}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{loc}"
        );
    }
    assert_ne!(id_of(&whip), id_of(&answer));
    // Guesses: another id, a small number (the old ids), a prefix, the other route's prefix.
    let mut other = id_of(&whip).to_string();
    other.replace_range(0..1, if other.starts_with('0') { "1" } else { "0" });
    for guess in [
        format!("/whip/{other}"),
        "/whip/0".to_string(),
        "/whip/1".to_string(),
        whip[..whip.len() - 1].to_string(),
        format!("/answer/{}", "0".repeat(32)),
    ] {
        assert_eq!(server.request("DELETE", &guess, b"").0, 404, "{guess}");
        assert_eq!(
            server
                .request("POST", &guess.replace("/whip/", "/answer/"), b"v=0\r\n")
                .0,
            404,
            "{guess}"
        );
    }
    assert_eq!(server.stats()["sessions"].as_array().unwrap().len(), 2);
    // Either location deletes its session, once.
    assert_eq!(server.request("DELETE", &whip, b"").0, 200);
    assert_eq!(server.request("DELETE", &whip, b"").0, 404);
    assert_eq!(server.request("DELETE", &answer, b"").0, 200);
    assert_eq!(server.stats()["sessions"].as_array().unwrap().len(), 0);
}

#[test]
fn stats_show_no_session_id_and_no_ufrag() {
    let server = Server::start("echo_server", &[]);
    let offer = offer();
    let (_, whip, answer) = server.whip(&offer);
    let (_, head, our_offer) = server.request("POST", "/offer", b"");
    let secrets = [
        id_of(&whip).to_string(),
        id_of(&location(&head)).to_string(),
        ufrag(&answer),
        ufrag(&our_offer),
        ufrag(&offer),
    ];
    let (_, _, body) = server.request("GET", "/stats", b"");
    for secret in &secrets {
        assert!(!body.contains(secret.as_str()), "{secret} in {body}");
    }
    let stats: Value = serde_json::from_str(&body).unwrap();
    let sessions = stats["sessions"].as_array().unwrap();
    // Plain sequence numbers instead, and the counters the browser tests read.
    assert_eq!(sessions[0]["session"], 1, "{body}");
    assert_eq!(sessions[1]["session"], 2, "{body}");
    for field in [
        "state",
        "srtp",
        "rtp_sent",
        "dropped_srtp",
        "dropped_unvalidated",
        "dropped_no_consent",
        "retransmissions_limited",
        "retransmissions_sent",
        "lost_on_purpose",
        "keyframe_requests_forwarded",
        "layers",
        "frames_repacketized",
        "channels",
        "sctp",
    ] {
        assert!(sessions[0].get(field).is_some(), "{field}: {body}");
    }
}

#[test]
fn an_unconnected_session_is_reclaimed() {
    let server = Server::start("echo_server", &["--connect-timeout-ms", "300"]);
    let t0 = Instant::now();
    let (status, whip, _) = server.whip(&offer());
    assert_eq!(status, 201);
    let stats = server.poll_stats(Duration::from_secs(10), "reclaimed", |s| {
        s["sessions"].as_array().is_some_and(|a| a.is_empty())
    });
    let after = t0.elapsed();
    assert!(after >= Duration::from_millis(300), "{after:?}");
    assert_eq!(stats["sessions_reclaimed"], 1, "{stats}");
    assert_eq!(stats["closing"], 0, "{stats}");
    let reason = stats["ended"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("not connected"), "{stats}");
    // Forgotten: its location is gone, and so is its ufrag route (a check naming it is
    // unrouted).
    assert_eq!(server.request("DELETE", &whip, b"").0, 404);
    eprintln!("unconnected session reclaimed after {after:?}: {reason}");
}

#[test]
fn spoofed_stun_gets_no_answer_and_no_route() {
    let server = Server::start("echo_server", &[]);
    let (status, _, answer) = server.whip(&offer());
    assert_eq!(status, 201);
    let ufrag = ufrag(&answer);
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    // A check naming the session (its ufrag is in the answer), with a wrong MESSAGE-INTEGRITY:
    // routed by the ufrag to the session, whose ICE agent refuses it without a word.
    stranger
        .send_to(&spoofed_check(&ufrag, 1), server.udp)
        .unwrap();
    let stats = server.poll_stats(Duration::from_secs(10), "check counted", |s| {
        s["sessions"][0]["ice_auth_failures"] == 1
    });
    assert_eq!(stats["routes"], 0, "{stats}");
    assert_eq!(stats["sessions"][0]["routes"], 0, "{stats}");
    // What the server answered was sent before it counted: nothing is waiting.
    stranger.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1500];
    assert!(
        stranger.recv_from(&mut buf).is_err(),
        "the server answered a spoofed check"
    );
    // No route from the stranger's address: DTLS and SRTP from there reach no session.
    let mut dtls = vec![22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20];
    dtls.extend([0u8; 20]);
    stranger.send_to(&dtls, server.udp).unwrap();
    let mut srtp = vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
    srtp.extend([0u8; 40]);
    stranger.send_to(&srtp, server.udp).unwrap();
    // A STUN answer to a check the server never sent, a check naming no session, garbage.
    let mut fake_answer = spoofed_check(&ufrag, 2);
    fake_answer[..2].copy_from_slice(&0x0101u16.to_be_bytes());
    stranger.send_to(&fake_answer, server.udp).unwrap();
    stranger
        .send_to(&spoofed_check("nobody", 3), server.udp)
        .unwrap();
    stranger.send_to(&[200, 1, 2, 3], server.udp).unwrap();
    let stats = server.poll_stats(Duration::from_secs(10), "unrouted counted", |s| {
        s["unrouted"] == 5
    });
    assert_eq!(stats["unrouted_dtls"], 1, "{stats}");
    assert_eq!(stats["unrouted_rtp"], 1, "{stats}");
    assert_eq!(stats["unrouted_stun"], 2, "{stats}");
    assert_eq!(stats["unrouted_unknown"], 1, "{stats}");
    let session = &stats["sessions"][0];
    assert_eq!(session["ice_auth_failures"], 1, "{stats}");
    assert_eq!(session["datagrams_received"], 1, "{stats}");
    assert_eq!(session["dropped_unvalidated"], 0, "{stats}");
    assert_eq!(stats["routes"], 0, "{stats}");
    assert!(stranger.recv_from(&mut buf).is_err(), "answered");
}

#[test]
fn a_peer_is_echoed_then_reclaimed_when_it_goes_quiet() {
    let server = Server::start("echo_server", &["--idle-timeout-ms", "1000"]);
    let mut peer = Peer::new();
    let now = Instant::now();
    let channel = peer
        .pc
        .create_data_channel(now, ChannelConfig::reliable("chat"))
        .unwrap();
    let offer = peer.pc.create_offer(now).unwrap();
    let (status, _, answer) = server.whip(&offer);
    assert_eq!(status, 201, "{answer}");
    peer.pc
        .set_remote_description(Instant::now(), SdpType::Answer, &answer)
        .unwrap();
    peer.drive(Duration::from_secs(20), |p| {
        p.events
            .iter()
            .any(|e| matches!(e, Event::DataChannelOpen { id, .. } if *id == channel))
    });
    peer.pc
        .channel(channel)
        .unwrap()
        .send_text(Instant::now(), "hello through the limits")
        .unwrap();
    peer.drive(Duration::from_secs(20), |p| {
        p.events.iter().any(|e| {
            matches!(e, Event::DataChannelMessage { data, .. } if data == b"hello through the limits")
        })
    });
    assert_eq!(peer.pc.state(), ConnectionState::Connected);
    // The peer's address earned one route, once its checks were authenticated.
    let stats = server.stats();
    assert_eq!(stats["routes"], 1, "{stats}");
    let session = &stats["sessions"][0];
    assert_eq!(session["state"], "Connected", "{stats}");
    assert_eq!(session["routes"], 1, "{stats}");
    assert_eq!(session["dropped_unvalidated"], 0, "{stats}");
    assert_eq!(stats["unrouted"], 0, "{stats}");
    // The peer goes quiet (no consent answers, nothing): the session goes after the idle
    // timeout, with its route.
    let quiet = Instant::now();
    let stats = server.poll_stats(Duration::from_secs(15), "reclaimed when idle", |s| {
        s["sessions"].as_array().is_some_and(|a| a.is_empty())
    });
    let after = quiet.elapsed();
    assert_eq!(stats["routes"], 0, "{stats}");
    assert_eq!(stats["sessions_reclaimed"], 1, "{stats}");
    let reason = stats["ended"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("no datagram"), "{stats}");
    eprintln!("idle session reclaimed {after:?} after its peer went quiet: {reason}");
}

#[test]
fn a_peer_that_never_takes_its_echo_back_loses_its_channel() {
    // The peer sends as fast as the server acknowledges, but loses every datagram of the
    // server's DATA (it acknowledges none of its echo): the server holds its SCTP send limit
    // (16 MiB) and a 4 MiB backlog, then closes the channel instead of holding more.
    let server = Server::start("echo_server", &[]);
    let mut peer = Peer::new();
    let now = Instant::now();
    let channel = peer
        .pc
        .create_data_channel(now, ChannelConfig::reliable("flood"))
        .unwrap();
    let offer = peer.pc.create_offer(now).unwrap();
    let (status, _, answer) = server.whip(&offer);
    assert_eq!(status, 201, "{answer}");
    peer.pc
        .set_remote_description(Instant::now(), SdpType::Answer, &answer)
        .unwrap();
    peer.drive(Duration::from_secs(20), |p| {
        p.events
            .iter()
            .any(|e| matches!(e, Event::DataChannelOpen { id, .. } if *id == channel))
    });
    peer.lose_larger_than = 400;
    let chunk = vec![7u8; 16 * 1024];
    let mut sent = 0usize;
    let mut next_check = Instant::now();
    let mut closed = Value::Null;
    peer.drive(Duration::from_secs(120), |p| {
        // Up to 32 MiB (more than the server may hold), 1 MiB in flight.
        while sent < 32 << 20
            && p.pc.channel(channel).unwrap().buffered_amount() < 1 << 20
            && p.pc
                .channel(channel)
                .unwrap()
                .send(Instant::now(), &chunk)
                .is_ok()
        {
            sent += chunk.len();
        }
        if Instant::now() < next_check {
            return false;
        }
        next_check = Instant::now() + Duration::from_millis(200);
        let stats = server.stats();
        if stats["sessions"][0]["echo_errors"].as_u64().unwrap_or(0) > 0 {
            closed = stats;
            return true;
        }
        false
    });
    let session = &closed["sessions"][0];
    eprintln!("after {} MiB sent: {session}", sent >> 20);
    assert!(sent > 20 << 20, "{sent}");
    assert!(
        session["echo_backlog"].as_u64().unwrap() <= 4 << 20,
        "{session}"
    );
    // The channel is closed on the server's side; the session lives on.
    assert_eq!(session["state"], "Connected", "{session}");
}

#[test]
fn the_native_whip_client_example_is_echoed() {
    // examples/whip_client: gathers, POSTs its complete offer, connects, sends a chat message
    // and audio, gets them back, DELETEs the session.
    let server = Server::start("echo_server", &[]);
    let out = Command::new(example_exe("whip_client"))
        .args(["--url", &format!("http://{}/whip", server.http)])
        .output()
        .expect("whip_client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(r#"echo received: message "hello over WHIP""#),
        "{stdout}"
    );
    assert!(stdout.contains(": 200"), "DELETE answered: {stdout}");
}

/// The ICE-TCP listener (on the UDP socket's address): the answer signals a passive TCP
/// candidate there; a stream announcing a frame longer than the server accepts is closed at
/// once and counted; a stranger's well-framed check gets no answer (unauthenticated STUN is not
/// answered) and earns no route.
#[test]
fn ice_tcp_streams_are_bounded() {
    let server = Server::start("echo_server", &[]);
    let (status, _, answer) = server.whip(&offer());
    assert_eq!(status, 201, "{answer}");
    let line = answer
        .lines()
        .find(|l| l.contains(" tcp ") && l.ends_with("tcptype passive"))
        .unwrap_or_else(|| panic!("no passive TCP candidate in {answer}"));
    assert!(
        line.ends_with(&format!(
            "{} {} typ host tcptype passive",
            server.udp.ip(),
            server.udp.port()
        )),
        "{line}"
    );
    // A lying length: 65,535 bytes announced, more than the server's 16 KiB frames.
    let mut liar = TcpStream::connect(server.udp).expect("ICE-TCP listener");
    liar.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    liar.write_all(&[0xff, 0xff, 1, 2, 3, 4]).unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(liar.read(&mut buf), Ok(0) | Err(_)),
        "the stream is closed"
    );
    server.poll_stats(Duration::from_secs(5), "the stream dropped", |s| {
        s["tcp_dropped"] == 1 && s["tcp_accepted"] == 1
    });
    // A stranger's check (wrong password) over a well-framed stream: no answer, no route.
    let mut stranger = TcpStream::connect(server.udp).unwrap();
    stranger
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let check = spoofed_check(&ufrag(&answer), 1);
    let mut framed = (check.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&check);
    stranger.write_all(&framed).unwrap();
    assert!(
        stranger.read(&mut buf).is_err(),
        "nothing answered to an unauthenticated check"
    );
    let stats = server.poll_stats(Duration::from_secs(5), "the stream open", |s| {
        s["tcp_streams"] == 1
    });
    assert_eq!(stats["routes"], 0, "{stats}");
}
