//! A WebSocket signaling server with rooms, and the page of a 1:1 video call between two
//! browser tabs (camera, microphone, screen share, text chat on a data channel).
//!
//! ```text
//! cargo run --example signaling_server -- --http 127.0.0.1:8080
//! # then open http://127.0.0.1:8080/?room=demo in two tabs
//! ```
//!
//! Flags: `--http ADDR` (default `127.0.0.1:8080`; port 0 picks one), `--ice-server URL`
//! (repeatable: `stun:127.0.0.1:3478`, `turn:127.0.0.1:3478?transport=udp`, ..., e.g. our
//! `examples/turn_server.rs`), `--ice-username NAME` and `--ice-credential SECRET` (for the TURN
//! URLs), `--relay-only` (the page's `iceTransportPolicy: 'relay'`: every call goes through the
//! TURN server). Without ICE servers the browsers use their host candidates (enough on one
//! machine).
//! The first line printed is `signaling server: http://ADDR/ (WebSocket: /ws)`.
//!
//! Limits (flags, defaults in brackets), checked by `tests/signaling.rs`: `--max-connections`
//! [256] TCP connections at once (more are closed at once); a request head of 16 KiB read
//! within 10 s; WebSocket messages of 64 KiB (a larger one closes the socket);
//! `--max-rooms` [1024] rooms and `--max-room-members` [16] members per room (a join beyond
//! is answered with an `error`); 256 messages or 1 MiB waiting for one member's socket, and 10 s for
//! the socket to take one: a member that does not read is dropped from its room and
//! disconnected.
//!
//! `GET /` is the call page (`?room=NAME`, default `lobby`); `GET /ws` is the WebSocket. Its
//! messages are JSON objects with a `type`:
//!
//! - from a member: `join` (`room`), `leave`, and `offer` / `answer` (`sdp`) and `candidate`
//!   (`candidate`, `sdpMid`, `sdpMLineIndex`), each with `to`: the id of a member of the same
//!   room, to whom the server relays it with `from` added;
//! - from the server: `joined` (`id`: yours, `room`, `peers`: the ids already there),
//!   `peer-joined` and `peer-left` (`id`: presence), and `error` (`message`).
//!
//! The page: a newcomer calls the first member already in the room (offer, with a `chat` data
//! channel); the member answers. Candidates trickle over the WebSocket both ways.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// Messages waiting for one member's WebSocket; a member who lets more pile up is disconnected.
const OUTBOX: usize = 256;
/// Bytes of messages waiting for one member's WebSocket (else 256 relayed messages of 64 KiB
/// would be 16 MiB per member); a member who lets more pile up is disconnected.
const OUTBOX_BYTES: usize = 1024 * 1024;
/// Largest request head and WebSocket message accepted (an SDP is a few KiB).
const MAX_REQUEST: usize = 16 * 1024;
const MAX_MESSAGE: usize = 64 * 1024;
/// How long a client has to send its request head.
const HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a member's socket may take to accept one message before the member is dropped.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Messages waiting for one member's WebSocket: at most [`OUTBOX`] of them and
/// [`OUTBOX_BYTES`] bytes.
#[derive(Clone)]
struct Outbox {
    tx: mpsc::Sender<String>,
    /// Bytes in the queue (added here, taken off by the member's task as it sends).
    queued: Arc<AtomicUsize>,
}

impl Outbox {
    /// A new outbox and the receiving end the member's task sends from.
    fn new() -> (Outbox, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(OUTBOX);
        let queued = Arc::new(AtomicUsize::new(0));
        (Outbox { tx, queued }, rx)
    }

    /// Queues `text`; `false` when the outbox is full (in messages or bytes) or closed.
    fn push(&self, text: String) -> bool {
        let len = text.len();
        if self.queued.load(Ordering::SeqCst) + len > OUTBOX_BYTES {
            return false;
        }
        self.queued.fetch_add(len, Ordering::SeqCst);
        if self.tx.try_send(text).is_err() {
            self.queued.fetch_sub(len, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Takes `text`, received from the queue, off the count.
    fn taken(&self, text: &str) {
        self.queued.fetch_sub(text.len(), Ordering::SeqCst);
    }
}

/// A member's outbox, and how to tell its task that it was dropped (its outbox overflowed).
struct Member {
    outbox: Outbox,
    kicked: Arc<Notify>,
}

/// Every room's members: id -> their outbox.
#[derive(Default)]
struct Rooms {
    next_id: u64,
    rooms: HashMap<String, HashMap<u64, Member>>,
    /// Rooms at once, and members per room.
    max_rooms: usize,
    max_room_members: usize,
}

impl Rooms {
    /// Sends `message` to member `id` of `room`; a full or closed outbox drops the member and
    /// tells its task to disconnect it.
    fn send(&mut self, room: &str, id: u64, message: &Value) -> bool {
        let Some(members) = self.rooms.get_mut(room) else {
            return false;
        };
        let Some(member) = members.get(&id) else {
            return false;
        };
        if member.outbox.push(message.to_string()) {
            return true;
        }
        if let Some(member) = members.remove(&id) {
            member.kicked.notify_one();
        }
        false
    }

    /// Member `id` enters `room`: told who is there; the others are told of it. Refused (the
    /// reason returned) past the room or member caps.
    fn join(&mut self, room: &str, id: u64, member: Member) -> Result<(), &'static str> {
        let peers: Vec<u64> = match self.rooms.get(room) {
            Some(m) if m.len() >= self.max_room_members => return Err("the room is full"),
            Some(m) => m.keys().copied().collect(),
            None if self.rooms.len() >= self.max_rooms => return Err("too many rooms"),
            None => Vec::new(),
        };
        self.rooms
            .entry(room.to_owned())
            .or_default()
            .insert(id, member);
        self.send(
            room,
            id,
            &json!({ "type": "joined", "id": id, "room": room, "peers": peers }),
        );
        for peer in peers {
            self.send(room, peer, &json!({ "type": "peer-joined", "id": id }));
        }
        Ok(())
    }

    /// Member `id` leaves `room`: the others are told.
    fn leave(&mut self, room: &str, id: u64) {
        let Some(members) = self.rooms.get_mut(room) else {
            return;
        };
        members.remove(&id);
        let peers: Vec<u64> = members.keys().copied().collect();
        if peers.is_empty() {
            self.rooms.remove(room);
        }
        for peer in peers {
            self.send(room, peer, &json!({ "type": "peer-left", "id": id }));
        }
    }
}

/// The server's settings, from the command line.
struct Settings {
    http: SocketAddr,
    /// The page's `RTCPeerConnection` `iceServers`, as JSON.
    ice_servers: Value,
    /// `iceTransportPolicy: 'relay'` rather than `'all'`.
    relay_only: bool,
    /// `--max-connections`: TCP connections at once.
    max_connections: usize,
    /// `--max-rooms`: rooms at once.
    max_rooms: usize,
    /// `--max-room-members`: members of one room.
    max_room_members: usize,
}

fn settings() -> Settings {
    let mut http: SocketAddr = "127.0.0.1:8080".parse().expect("address");
    let (mut urls, mut username, mut credential) = (Vec::new(), None, None);
    let mut relay_only = false;
    let (mut max_connections, mut max_rooms, mut max_room_members) = (256, 1024, 16);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--relay-only" {
            relay_only = true;
            continue;
        }
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--http" => http = value().parse().expect("--http 127.0.0.1:PORT"),
            "--ice-server" => urls.push(value()),
            "--ice-username" => username = Some(value()),
            "--ice-credential" => credential = Some(value()),
            "--max-connections" => max_connections = value().parse().expect("a number"),
            "--max-rooms" => max_rooms = value().parse().expect("a number"),
            "--max-room-members" => max_room_members = value().parse().expect("a number"),
            other => panic!(
                "unknown flag {other}; flags: --http ADDR --ice-server URL --ice-username NAME \
                 --ice-credential SECRET --relay-only --max-connections N --max-rooms N \
                 --max-room-members N"
            ),
        }
    }
    let ice_servers: Vec<Value> = urls
        .into_iter()
        .map(|url| {
            let mut server = json!({ "urls": url });
            if url.starts_with("turn") {
                server["username"] = json!(username.clone().unwrap_or_default());
                server["credential"] = json!(credential.clone().unwrap_or_default());
            }
            server
        })
        .collect();
    Settings {
        http,
        ice_servers: Value::Array(ice_servers),
        relay_only,
        max_connections,
        max_rooms,
        max_room_members,
    }
}

#[tokio::main]
async fn main() -> io::Result<()> {
    let settings = settings();
    let listener = TcpListener::bind(settings.http).await?;
    println!(
        "signaling server: http://{}/ (WebSocket: /ws)",
        listener.local_addr()?
    );
    let page: Arc<str> = PAGE
        .replace("/*ICE_SERVERS*/[]", &settings.ice_servers.to_string())
        .replace(
            "/*ICE_POLICY*/'all'",
            if settings.relay_only {
                "'relay'"
            } else {
                "'all'"
            },
        )
        .into();
    let rooms = Arc::new(Mutex::new(Rooms {
        max_rooms: settings.max_rooms,
        max_room_members: settings.max_room_members,
        ..Rooms::default()
    }));
    let connections = Arc::new(Semaphore::new(settings.max_connections));
    loop {
        let (stream, _) = listener.accept().await?;
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            // At the cap: closed at once (dropped).
            continue;
        };
        let (rooms, page) = (rooms.clone(), page.clone());
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = serve(stream, rooms, page).await {
                eprintln!("connection: {e}");
            }
        });
    }
}

/// One HTTP connection: the page, or a WebSocket.
async fn serve(mut stream: TcpStream, rooms: Arc<Mutex<Rooms>>, page: Arc<str>) -> io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    let deadline = tokio::time::Instant::now() + HEAD_TIMEOUT;
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let Ok(n) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await else {
            // A client too slow to send its head (slow loris) is closed.
            return Ok(());
        };
        let n = n?;
        if n == 0 || head.len() + n > MAX_REQUEST {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    if path == "/ws" && text.contains("upgrade: websocket") {
        // The WebSocket handshake reads the request again: hand it what was read.
        let stream = Replay {
            head,
            at: 0,
            inner: stream,
        };
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
            max_message_size: Some(MAX_MESSAGE),
            max_frame_size: Some(MAX_MESSAGE),
            ..Default::default()
        };
        let ws = tokio::time::timeout(
            HEAD_TIMEOUT,
            tokio_tungstenite::accept_async_with_config(stream, Some(config)),
        )
        .await
        .map_err(io::Error::other)?
        .map_err(io::Error::other)?;
        member(ws, rooms).await;
        return Ok(());
    }
    let (status, kind, body) = match path.split('?').next() {
        Some("/") => ("200 OK", "text/html; charset=utf-8", page.to_string()),
        Some("/favicon.ico") => ("204 No Content", "text/plain", String::new()),
        _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// A member's WebSocket, until it closes: joins, leaves, relays.
async fn member<S>(ws: tokio_tungstenite::WebSocketStream<S>, rooms: Arc<Mutex<Rooms>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = Outbox::new();
    let id = {
        let mut r = rooms.lock().expect("rooms");
        r.next_id += 1;
        r.next_id
    };
    let kicked = Arc::new(Notify::new());
    let mut room: Option<String> = None;
    loop {
        tokio::select! {
            // Dropped from its room for not reading: disconnected.
            () = kicked.notified() => break,
            out = rx.recv() => match out {
                Some(text) => {
                    tx.taken(&text);
                    let sent = tokio::select! {
                        r = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text))) => {
                            matches!(r, Ok(Ok(())))
                        }
                        () = kicked.notified() => false,
                    };
                    if !sent {
                        break;
                    }
                }
                None => break,
            },
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Binary(_))) => continue,
                    _ => break,
                };
                let Ok(mut m) = serde_json::from_str::<Value>(&text) else {
                    let _ = tx.push(json!({ "type": "error", "message": "not JSON" }).to_string());
                    continue;
                };
                let mut r = rooms.lock().expect("rooms");
                match m["type"].as_str() {
                    Some("join") => {
                        let Some(name) = m["room"].as_str().filter(|n| !n.is_empty() && n.len() <= 64)
                        else {
                            let _ = tx.push(json!({ "type": "error", "message": "join needs a room (1 to 64 bytes)" }).to_string());
                            continue;
                        };
                        if let Some(old) = room.take() {
                            r.leave(&old, id);
                        }
                        let member = Member { outbox: tx.clone(), kicked: kicked.clone() };
                        match r.join(name, id, member) {
                            Ok(()) => room = Some(name.to_owned()),
                            Err(why) => {
                                let _ = tx.push(json!({ "type": "error", "message": why }).to_string());
                            }
                        }
                    }
                    Some("leave") => {
                        if let Some(old) = room.take() {
                            r.leave(&old, id);
                        }
                    }
                    Some("offer" | "answer" | "candidate") => {
                        let to = m["to"].as_u64();
                        m["from"] = json!(id);
                        let relayed = match (&room, to) {
                            (Some(room), Some(to)) if to != id => r.send(room, to, &m),
                            _ => false,
                        };
                        if !relayed {
                            let _ = tx.push(json!({ "type": "error", "message": "no such member in your room" }).to_string());
                        }
                    }
                    _ => {
                        let _ = tx.push(json!({ "type": "error", "message": "unknown type" }).to_string());
                    }
                }
            }
        }
    }
    if let Some(old) = room {
        rooms.lock().expect("rooms").leave(&old, id);
    }
}

/// A stream that first yields the bytes already read from it.
struct Replay {
    head: Vec<u8>,
    at: usize,
    inner: TcpStream,
}

impl AsyncRead for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.head.len() {
            let n = buf.remaining().min(self.head.len() - self.at);
            let at = self.at;
            buf.put_slice(&self.head[at..at + n]);
            self.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The call page. `/*ICE_SERVERS*/[]` and `/*ICE_POLICY*/'all'` are replaced by the
/// configured ICE servers and policy.
const PAGE: &str = include_str!("call.html");

#[cfg(test)]
mod tests {
    use super::*;

    /// A member whose socket takes nothing: its outbox holds at most 1 MiB, then the member is
    /// dropped from its room and its task told to disconnect it.
    #[test]
    fn a_member_that_does_not_read_is_dropped_at_its_outbox_bound() {
        let mut rooms = Rooms {
            max_rooms: 4,
            max_room_members: 4,
            ..Rooms::default()
        };
        let (outbox, _rx) = Outbox::new();
        let kicked = Arc::new(Notify::new());
        let member = Member {
            outbox: outbox.clone(),
            kicked: kicked.clone(),
        };
        rooms.join("r", 1, member).unwrap();
        let big = json!({ "type": "offer", "sdp": "x".repeat(60_000) });
        let mut relayed = 0;
        while rooms.send("r", 1, &big) {
            relayed += 1;
            assert!(relayed <= OUTBOX, "no bound");
        }
        // 17 messages of 60 KB fit in 1 MiB (and far fewer than the 256 the count allows).
        assert_eq!(relayed, OUTBOX_BYTES / big.to_string().len());
        assert!(outbox.queued.load(Ordering::SeqCst) <= OUTBOX_BYTES);
        assert!(!rooms.rooms.get("r").is_some_and(|m| m.contains_key(&1)));
        // The task is told (a stored permit: it need not be waiting yet).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), kicked.notified())
                .await
                .expect("told to disconnect");
        });
    }
}
