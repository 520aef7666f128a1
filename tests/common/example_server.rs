//! An example HTTP server (echo server, SFU) run as a child process by the limit tests: started
//! on loopback with free ports, its output echoed, plain HTTP/1.1 requests with
//! `Connection: close`, killed when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running example server, killed by its PID when dropped.
pub struct ExampleServer {
    child: Child,
    /// Its HTTP address.
    pub http: SocketAddr,
    /// Its UDP address (the last word of its first line).
    pub udp: SocketAddr,
}

impl ExampleServer {
    /// Starts the example `name` on `127.0.0.1:0` for HTTP and UDP with `args`; its first line
    /// of output names its HTTP URL first and its UDP address last.
    pub fn start(name: &'static str, args: &[&str]) -> ExampleServer {
        let mut child = Command::new(super::example_exe(name))
            .args(["--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        // e.g. "echo server: http://127.0.0.1:PORT/ (WHIP: POST /whip), UDP 127.0.0.1:PORT"
        let http = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://"))
            .and_then(|w| w.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("the server prints its URL: {line}"));
        let udp = line
            .split_whitespace()
            .last()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("the server prints its UDP address: {line}"));
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                eprintln!("{name}: {l}");
            }
        });
        ExampleServer { child, http, udp }
    }

    /// Sends `raw` on a new connection; the status, the head and the body of the response.
    pub fn raw(&self, raw: &[u8]) -> (u16, String, String) {
        let mut s = TcpStream::connect(self.http).expect("HTTP connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(raw).unwrap();
        response(&mut s)
    }

    /// One request, `Connection: close`; the status, the head and the body.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String, String) {
        let mut raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.http,
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        self.raw(&raw)
    }

    /// `GET /stats`, parsed.
    pub fn stats(&self) -> Value {
        let (status, _, body) = self.request("GET", "/stats", b"");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    /// `POST /whip` with `offer`: the status, the `Location` and the body.
    pub fn whip(&self, offer: &str) -> (u16, String, String) {
        let (status, head, body) = self.request("POST", "/whip", offer.as_bytes());
        (status, location(&head), body)
    }

    /// Polls `/stats` until `done` holds (every 10 ms, at most `limit`); the last stats.
    pub fn poll_stats(&self, limit: Duration, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let stats = self.stats();
            if done(&stats) {
                return stats;
            }
            assert!(Instant::now() < deadline, "{what}: {stats}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a whole response (the server closes the connection after it): status, head, body.
pub fn response(s: &mut TcpStream) -> (u16, String, String) {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .expect("a response before the read timeout");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status: {text:?}"));
    (status, head.to_string(), body.to_string())
}

/// The `Location` header of a response head ("" without one).
pub fn location(head: &str) -> String {
    head.split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

/// A sansrtc peer connection on its own loopback UDP socket, driven in real time against an
/// example server.
pub struct SocketPeer {
    /// The connection.
    pub pc: sansrtc::PeerConnection,
    /// Its socket.
    pub socket: std::net::UdpSocket,
    /// The socket's address.
    pub addr: SocketAddr,
    /// Every event so far.
    pub events: Vec<sansrtc::Event>,
    /// Incoming datagrams larger than this are lost (0: none): a server's DATA never
    /// arrives, its SACKs and STUN do.
    pub lose_larger_than: usize,
}

impl SocketPeer {
    /// A new connection (default config) on a new socket.
    pub fn new() -> SocketPeer {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let mut pc = sansrtc::PeerConnection::new(sansrtc::Config::default()).unwrap();
        pc.add_local_address(addr).unwrap();
        SocketPeer {
            pc,
            socket,
            addr,
            events: Vec::new(),
            lose_larger_than: 0,
        }
    }

    /// Moves datagrams, timers and events until `done` holds (at most `limit`).
    pub fn drive(&mut self, limit: Duration, mut done: impl FnMut(&mut SocketPeer) -> bool) {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 2048];
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out: {:?}",
                self.pc.state()
            );
            self.step(&mut buf);
        }
    }

    /// One turn: at most one datagram (waiting up to 5 ms), due timers, transmits, events.
    pub fn step(&mut self, buf: &mut [u8]) {
        if let Ok((n, from)) = self.socket.recv_from(buf)
            && (self.lose_larger_than == 0 || n <= self.lose_larger_than)
        {
            self.pc
                .handle_receive(Instant::now(), from, self.addr, &buf[..n]);
        }
        let now = Instant::now();
        if self.pc.poll_timeout().is_some_and(|t| t <= now) {
            self.pc.handle_timeout(now);
        }
        while let Some(t) = self.pc.poll_transmit() {
            let _ = self.socket.send_to(&t.contents, t.destination);
        }
        while let Some(e) = self.pc.poll_event() {
            self.events.push(e);
        }
    }

    /// A WHIP client with a reliable `chat` channel, connected to `server` and its channel
    /// open: the peer, the channel and the session's `Location`.
    pub fn whip_chat(server: &ExampleServer) -> (SocketPeer, sansrtc::ChannelId, String) {
        let mut peer = SocketPeer::new();
        let now = Instant::now();
        let channel = peer
            .pc
            .create_data_channel(now, sansrtc::ChannelConfig::reliable("chat"))
            .unwrap();
        let offer = peer.pc.create_offer(now).unwrap();
        let (status, location, answer) = server.whip(&offer);
        assert_eq!(status, 201, "{answer}");
        peer.pc
            .set_remote_description(Instant::now(), sansrtc::SdpType::Answer, &answer)
            .unwrap();
        peer.drive(Duration::from_secs(20), |p| {
            p.events
                .iter()
                .any(|e| matches!(e, sansrtc::Event::DataChannelOpen { id, .. } if *id == channel))
        });
        (peer, channel, location)
    }
}

/// A browser-like offer from a sansrtc peer connection with a data channel, whose one candidate,
/// the discard port, never answers: a session that never connects.
pub fn never_connecting_offer() -> String {
    let mut pc = sansrtc::PeerConnection::new(sansrtc::Config::default()).expect("peer connection");
    pc.add_local_address("127.0.0.1:9".parse().unwrap())
        .expect("address");
    pc.create_data_channel(Instant::now(), sansrtc::ChannelConfig::reliable("chat"))
        .expect("channel");
    pc.create_offer(Instant::now()).expect("offer")
}
