//! A native peer on the async driver (`sansrtc-tokio`) that takes part in a room of
//! `examples/signaling_server.rs` like a browser tab: it answers a call (or calls the member
//! already there), echoes every chat message back (`echo: ...`) and loops the caller's camera
//! and microphone back to them. Candidates trickle over the WebSocket both ways.
//!
//! ```text
//! cargo run --example signaling_server -- --http 127.0.0.1:8080
//! cargo run --example native_peer -- --server 127.0.0.1:8080 --room demo
//! # then open http://127.0.0.1:8080/?room=demo: you see yourself, looped back by Rust
//! ```
//!
//! Flags: `--server HOST:PORT` (the signaling server, default `127.0.0.1:8080`), `--room NAME`
//! (default `lobby`), `--udp ADDR` (its UDP socket, default `127.0.0.1:0`: a concrete address,
//! it is the host candidate). Once in the room it prints
//! `native peer: member N of room R: http://HOST:PORT/?room=R` (the page to open).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use sansrtc::sdp::Direction;
use sansrtc::{ChannelConfig, Config, Event, PeerConnection, SdpType, codecs};
use sansrtc_tokio::{Connection, DataChannel, Endpoint};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (mut server, mut room, mut udp) = (
        "127.0.0.1:8080".to_owned(),
        "lobby".to_owned(),
        "127.0.0.1:0".to_owned(),
    );
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--server" => server = value,
            "--room" => room = value,
            "--udp" => udp = value,
            other => {
                return Err(format!(
                    "unknown flag {other}; flags: --server HOST:PORT --room NAME --udp ADDR"
                )
                .into());
            }
        }
    }
    let endpoint = Endpoint::bind(udp.as_str()).await?;
    let tcp = TcpStream::connect(server.as_str()).await?;
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{server}/ws"), tcp).await?;
    let (mut sink, mut stream) = ws.split();
    // What the connection tasks signal (candidates), sent by this task.
    let (signal_tx, mut signal_rx) = mpsc::channel::<Value>(64);
    sink.send(Message::Text(
        json!({ "type": "join", "room": room }).to_string(),
    ))
    .await?;
    let mut call: Option<(u64, Arc<Connection>)> = None;
    loop {
        let m = tokio::select! {
            out = signal_rx.recv() => {
                if let Some(m) = out {
                    sink.send(Message::Text(m.to_string())).await?;
                }
                continue;
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => serde_json::from_str::<Value>(&text)?,
                Some(Ok(_)) => continue,
                _ => break,
            },
        };
        let from = m["from"].as_u64();
        match m["type"].as_str().unwrap_or("") {
            "joined" => {
                println!(
                    "native peer: member {} of room {room}: http://{server}/?room={room}",
                    m["id"]
                );
                if let Some(peer) = m["peers"].get(0).and_then(Value::as_u64) {
                    // The newcomer calls, as the page does.
                    let conn = Arc::new(endpoint.add(peer_connection()?).await?);
                    let chat = conn.open_channel(ChannelConfig::reliable("chat")).await?;
                    tokio::spawn(echo_chat(chat));
                    let offer = conn.create_offer().await?;
                    sink.send(Message::Text(
                        json!({ "type": "offer", "to": peer, "sdp": offer }).to_string(),
                    ))
                    .await?;
                    serve(conn.clone(), peer, signal_tx.clone());
                    call = Some((peer, conn));
                }
            }
            "peer-joined" => eprintln!("member {} joined", m["id"]),
            "peer-left" => {
                eprintln!("member {} left", m["id"]);
                if let Some((peer, conn)) = call.take() {
                    if Some(peer) == m["id"].as_u64() {
                        conn.close().await;
                    } else {
                        call = Some((peer, conn));
                    }
                }
            }
            "offer" => {
                let (Some(peer), Some(sdp)) = (from, m["sdp"].as_str()) else {
                    continue;
                };
                if let Some((_, old)) = call.take() {
                    old.close().await;
                }
                let conn = Arc::new(endpoint.add(peer_connection()?).await?);
                conn.set_remote_description(SdpType::Offer, sdp).await?;
                let answer = conn.create_answer().await?;
                sink.send(Message::Text(
                    json!({ "type": "answer", "to": peer, "sdp": answer }).to_string(),
                ))
                .await?;
                let c = conn.clone();
                tokio::spawn(async move {
                    while let Some(chat) = c.accept_channel().await {
                        tokio::spawn(echo_chat(chat));
                    }
                });
                serve(conn.clone(), peer, signal_tx.clone());
                call = Some((peer, conn));
            }
            "answer" => {
                if let (Some((peer, conn)), Some(sdp)) = (&call, m["sdp"].as_str())
                    && from == Some(*peer)
                {
                    conn.set_remote_description(SdpType::Answer, sdp).await?;
                }
            }
            "candidate" => {
                if let (Some((peer, conn)), Some(candidate)) = (&call, m["candidate"].as_str())
                    && from == Some(*peer)
                {
                    // TCP candidates are refused (UDP only): the others do.
                    let _ = conn.add_remote_candidate(candidate).await;
                }
            }
            "error" => eprintln!("server: {}", m["message"]),
            _ => {}
        }
    }
    endpoint.shutdown().await;
    Ok(())
}

/// A peer connection with a camera and a microphone section, to send back on.
fn peer_connection() -> Result<PeerConnection, Error> {
    let mut pc = PeerConnection::new(Config::default())?;
    pc.add_transceiver(codecs::audio_transceiver(Direction::SendRecv));
    pc.add_transceiver(codecs::video_transceiver(Direction::SendRecv));
    Ok(pc)
}

/// Echoes every message of `chat` back, `echo: ` before text.
async fn echo_chat(mut chat: DataChannel) {
    while let Some(m) = chat.recv().await {
        let sent = match m.text() {
            Some(text) => chat.send_text(&format!("echo: {text}")).await,
            None => chat.send(&m.data).await,
        };
        if sent.is_err() {
            break;
        }
    }
}

/// Trickles the connection's candidates to `peer`, loops every track it receives back, and
/// passes key frame requests for those tracks on to the browser.
fn serve(conn: Arc<Connection>, peer: u64, signal: mpsc::Sender<Value>) {
    // The SSRC the browser sends on, per track: where its key frame requests go.
    let incoming: Arc<Mutex<HashMap<sansrtc::Mid, u32>>> = Arc::default();
    let (c, ssrcs) = (conn.clone(), incoming.clone());
    tokio::spawn(async move {
        while let Some(mut track) = c.accept_track().await {
            let writer = c.rtp_writer(track.mid());
            let ssrcs = ssrcs.clone();
            tokio::spawn(async move {
                while let Some(p) = track.recv().await {
                    if let Ok(mut s) = ssrcs.lock() {
                        s.insert(track.mid(), p.ssrc);
                    }
                    let _ = writer
                        .write(p.payload_type, p.timestamp, p.marker, p.payload())
                        .await;
                }
            });
        }
    });
    tokio::spawn(async move {
        while let Some(event) = conn.next_event().await {
            match event {
                Event::LocalCandidate(candidate) => {
                    let m = json!({
                        "type": "candidate", "to": peer, "candidate": candidate,
                        "sdpMid": null, "sdpMLineIndex": 0,
                    });
                    if signal.send(m).await.is_err() {
                        break;
                    }
                }
                Event::KeyframeRequest {
                    mid: Some(mid),
                    kind,
                    ..
                } => {
                    if let Some(ssrc) = incoming.lock().ok().and_then(|s| s.get(&mid).copied()) {
                        let _ = conn
                            .with(move |pc| pc.request_keyframe(Instant::now(), ssrc, kind))
                            .await;
                    }
                }
                _ => {}
            }
        }
    });
}
