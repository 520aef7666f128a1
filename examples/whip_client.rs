//! A native WHIP client (RFC 9725) in one file: it publishes a data channel and an audio track to
//! a WHIP endpoint (such as `examples/echo_server`), sends a chat message and audio packets,
//! prints what comes back, and ends the session with `DELETE`.
//!
//! ```text
//! cargo run --release --example echo_server -- --http 127.0.0.1:8080 --udp 127.0.0.1:0
//! cargo run --release --example whip_client -- --url http://127.0.0.1:8080/whip
//! ```
//!
//! WHIP without trickle: the client gathers first (`Event::GatheringComplete`), then POSTs the
//! complete description (`PeerConnection::local_description`). Exits 0 once the message and at
//! least 10 audio packets came back.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use sansrtc::sdp::Direction;
use sansrtc::{
    ChannelConfig, Config, ConnectionState, Event, PeerConnection, RtpWrite, SdpType, codecs,
};

/// One HTTP/1.1 request; returns the status, the `Location` header and the body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, Option<String>, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let location = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("location")
            .then(|| v.trim().to_owned())
    });
    Ok((status, location, body.to_owned()))
}

/// `http://HOST:PORT/PATH` into the address and the path.
fn parse_url(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    (host.parse().expect("HOST:PORT"), format!("/{path}"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .skip_while(|a| a != "--url")
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080/whip".into());
    let (server, path) = parse_url(&url);

    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let local = socket.local_addr()?;
    let mut pc = PeerConnection::new(Config::default())?;
    pc.add_local_address(local)?;
    let audio = pc.add_transceiver(codecs::audio_transceiver(Direction::SendRecv));
    let chat = pc.create_data_channel(Instant::now(), ChannelConfig::reliable("chat"))?;
    pc.create_offer(Instant::now())?;
    let mid = pc
        .transceiver_mid(audio)
        .expect("the offer gave the track a mid");

    // The driving loop, until `done` says so (or 10 s pass).
    let mut buf = vec![0u8; 2048];
    let mut drive = |pc: &mut PeerConnection,
                     done: &mut dyn FnMut(&mut PeerConnection, Event) -> bool|
     -> Result<(), Box<dyn std::error::Error>> {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            while let Some(t) = pc.poll_transmit() {
                socket.send_to(&t.contents, t.destination)?;
            }
            while let Some(e) = pc.poll_event() {
                if done(pc, e) {
                    return Ok(());
                }
            }
            if Instant::now() > end {
                return Err("timed out".into());
            }
            let wait = pc.poll_timeout().map_or(Duration::from_millis(20), |t| {
                t.saturating_duration_since(Instant::now())
            });
            socket.set_read_timeout(Some(
                wait.clamp(Duration::from_millis(1), Duration::from_millis(20)),
            ))?;
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => pc.handle_receive(Instant::now(), from, local, &buf[..n]),
                Err(_) => pc.handle_timeout(Instant::now()),
            }
        }
    };

    // No trickle: gather, then send the complete description.
    drive(&mut pc, &mut |_, e| e == Event::GatheringComplete)?;
    let offer = pc.local_description().expect("an offer");
    let started = Instant::now();
    let (status, location, answer) = http(server, "POST", &path, &offer)?;
    if status != 201 {
        return Err(format!("WHIP POST: {status} {answer}").into());
    }
    let location = location.ok_or("no Location in the answer")?;
    pc.set_remote_description(Instant::now(), SdpType::Answer, &answer)?;
    println!("session {location}");

    let mut echoed_message = None;
    let mut echoed_audio = 0;
    let mut sent = 0u32;
    drive(&mut pc, &mut |pc, e| {
        match e {
            Event::ConnectionStateChange(ConnectionState::Connected) => {
                println!("connected in {:?}", started.elapsed());
            }
            Event::ConnectionStateChange(
                s @ (ConnectionState::Failed | ConnectionState::Closed),
            ) => {
                println!("connection {s:?}");
                return true;
            }
            Event::DataChannelOpen { id, .. } if id == chat => {
                let _ = pc
                    .channel(chat)
                    .and_then(|mut c| c.send_text(Instant::now(), "hello over WHIP"));
                // Twenty 20 ms Opus-sized packets (silence is fine for an echo).
                for _ in 0..20 {
                    let _ = pc.write_rtp(
                        Instant::now(),
                        mid,
                        RtpWrite::new(111, sent * 960, &[0xF8, 0xFF, 0xFE]),
                    );
                    sent += 1;
                }
            }
            Event::DataChannelMessage { data, .. } => {
                echoed_message = Some(String::from_utf8_lossy(&data).into_owned());
            }
            Event::Rtp(p) if p.mid == Some(mid) => echoed_audio += 1,
            _ => {}
        }
        echoed_message.is_some() && echoed_audio >= 10
    })?;
    println!(
        "echo received: message {:?}, {echoed_audio} audio packets of {sent} sent",
        echoed_message.unwrap_or_default()
    );
    let (status, _, _) = http(server, "DELETE", &location, "")?;
    println!("DELETE {location}: {status}");
    pc.close(Instant::now());
    while let Some(t) = pc.poll_transmit() {
        socket.send_to(&t.contents, t.destination)?;
    }
    Ok(())
}
