//! A deployable TURN and STUN server: the sans-IO [`TurnServer`] of `sansrtc-ice` driven by one
//! thread, an event loop (`mio`, no async runtime): the UDP listener, the TCP and TLS listeners
//! and their connections, and every relayed UDP socket are non-blocking and registered with one
//! poller; datagrams and stream bytes are read into one shared buffer, and the loop sleeps until
//! the next socket event or the machine's deadline ([`TurnServer::poll_timeout`]). Ready UDP
//! sockets are served round robin, 16 datagrams each per turn. No thread per socket: a relayed
//! socket costs its descriptor and a slot (2.4 KB of RSS per allocation under
//! `scripts/turn-bench`, coturn ~25 KB), and one core relays 85,000-93,500 packets per CPU second
//! there with 0.14-0.47 ms average round trip through the relay (coturn 65,800-75,500 and
//! 0.22-0.65 ms, loaded at the same time; README, 2026-12-07).
//!
//! ```text
//! cargo run --release --example turn_server -- --listen 0.0.0.0:3478 --realm example.org \
//!     --user alice:secret --relay-ip 203.0.113.7 [--auth-secret S] [--max-allocations N]
//!     [--tls-listen 0.0.0.0:5349 --cert cert.pem --key key.pem]
//! ```
//!
//! `--listen` serves UDP and TCP on the same port (`:0` picks a free one; the address is printed
//! as `listening on ADDR`). Options:
//!
//! - `--realm R` (default `sansrtc`), `--user NAME:PASSWORD` (repeatable), `--auth-secret S`
//!   (TURN REST API usernames `expiry:user`, password base64(HMAC-SHA1(S, username)));
//! - `--relay-ip IP` (default: the listening IP; an IPv6 address relays IPv6),
//!   `--min-port P`, `--max-port P` (default 49152-65535);
//! - `--allow-loopback-peers` (tests only), `--allow-private-peers`;
//! - `--max-allocations N`, `--max-allocations-per-user N`, `--max-bps BYTES` (per
//!   allocation, 0 unlimited), `--max-connections N` (TCP and TLS, default 1024);
//! - `--tls-listen ADDR --cert PEM --key PEM`: TURN over TLS (rustls);
//! - `--stats-interval-ms MS` (default 10000): counters printed as a `stats ...` line.
//!
//! Allocations are logged on stdout as they are created and deleted. A TCP or TLS client that
//! stops reading is dropped once 256 KiB wait for it (nobody else waits), and a TLS handshake
//! not finished within 10 s is dropped.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token};

use sansrtc::ice::SystemRng;
use sansrtc::ice::turn::StreamFramer;
use sansrtc::ice::turn_server::{
    ClientTransport, TransmitSource, TurnServer, TurnServerConfig, TurnServerEvent,
};

/// Parsed command line.
struct Args {
    listen: SocketAddr,
    tls: Option<(SocketAddr, String, String)>,
    config: TurnServerConfig,
    max_connections: usize,
    stats_interval: Duration,
}

fn usage(msg: &str) -> ! {
    eprintln!("turn_server: {msg}\nsee the doc comment of examples/turn_server.rs for options");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mut listen: SocketAddr = "127.0.0.1:3478".parse().expect("literal address");
    let mut realm = "sansrtc".to_string();
    let mut users = Vec::new();
    let mut secret = None;
    let mut relay_ip: Option<IpAddr> = None;
    let (mut tls_listen, mut cert, mut key) = (None, None, None);
    let mut opts: HashMap<&'static str, u64> = HashMap::new();
    let (mut loopback, mut private) = (false, false);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--listen" => listen = value().parse().unwrap_or_else(|_| usage("bad --listen")),
            "--realm" => realm = value(),
            "--user" => {
                let v = value();
                let (u, p) = v
                    .split_once(':')
                    .unwrap_or_else(|| usage("--user NAME:PASSWORD"));
                users.push((u.to_string(), p.to_string()));
            }
            "--auth-secret" => secret = Some(value()),
            "--relay-ip" => relay_ip = Some(value().parse().unwrap_or_else(|_| usage("bad IP"))),
            "--tls-listen" => {
                tls_listen = Some(
                    value()
                        .parse()
                        .unwrap_or_else(|_| usage("bad --tls-listen")),
                )
            }
            "--cert" => cert = Some(value()),
            "--key" => key = Some(value()),
            "--allow-loopback-peers" => loopback = true,
            "--allow-private-peers" => private = true,
            "--max-allocations"
            | "--max-allocations-per-user"
            | "--max-bps"
            | "--max-connections"
            | "--min-port"
            | "--max-port"
            | "--stats-interval-ms" => {
                let name: &'static str = match a.as_str() {
                    "--max-allocations" => "max-allocations",
                    "--max-allocations-per-user" => "per-user",
                    "--max-bps" => "bps",
                    "--max-connections" => "connections",
                    "--min-port" => "min-port",
                    "--max-port" => "max-port",
                    _ => "stats",
                };
                let v = value()
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("bad {a}")));
                opts.insert(name, v);
            }
            "--help" | "-h" => usage("help"),
            other => usage(&format!("unknown option {other}")),
        }
    }
    let relay_ip = relay_ip.unwrap_or(listen.ip());
    let mut config = match relay_ip {
        IpAddr::V4(v4) => TurnServerConfig::new(&realm, v4),
        IpAddr::V6(v6) => {
            let mut c = TurnServerConfig::new(&realm, std::net::Ipv4Addr::UNSPECIFIED);
            c.relay_ipv4 = None;
            c.relay_ipv6 = Some(v6);
            c
        }
    };
    if users.is_empty() && secret.is_none() {
        usage("give --user NAME:PASSWORD or --auth-secret S");
    }
    config.users = users;
    config.auth_secret = secret;
    config.allow_loopback_peers = loopback;
    config.allow_private_peers = private;
    config.denied_peers.push(listen.ip());
    config.software = Some("sansrtc turn_server".into());
    if let Some(v) = opts.get("max-allocations") {
        config.max_allocations = *v as usize;
    }
    if let Some(v) = opts.get("per-user") {
        config.max_allocations_per_user = *v as usize;
    }
    if let Some(v) = opts.get("bps") {
        config.max_bytes_per_second = *v;
    }
    if let Some(v) = opts.get("min-port") {
        config.min_port = *v as u16;
    }
    if let Some(v) = opts.get("max-port") {
        config.max_port = *v as u16;
    }
    let tls = match (tls_listen, cert, key) {
        (Some(a), Some(c), Some(k)) => Some((a, c, k)),
        (None, None, None) => None,
        _ => usage("--tls-listen needs --cert and --key"),
    };
    Args {
        listen,
        tls,
        config,
        max_connections: opts.get("connections").map_or(1024, |v| *v as usize),
        stats_interval: Duration::from_millis(*opts.get("stats").unwrap_or(&10_000)),
    }
}

/// The UDP listener's token; the TCP and TLS listeners'; the rest are slots of [`Io::slab`].
const UDP: Token = Token(0);
const TCP: Token = Token(1);
const TLS: Token = Token(2);
const FIRST_SLOT: usize = 3;

/// Datagrams read from one UDP socket (the listener or a relayed socket) before the loop turns
/// to the next ready one: a backlog on one socket (the listener, which every client shares)
/// does not hold up the others' packets behind it.
const BATCH: usize = 16;

/// Bytes waiting for a stream client that does not read, beyond which it is dropped.
const MAX_PENDING: usize = 256 * 1024;
/// How long a TLS handshake may take.
const HANDSHAKE_TIME: Duration = Duration::from_secs(10);

/// A client's address and transport.
type ClientKey = (SocketAddr, ClientTransport);

/// What a poller token stands for, besides the listeners.
enum Entry {
    /// A relayed socket bound at the address.
    Relay(UdpSocket, SocketAddr),
    /// A TCP or TLS client connection.
    Conn(Box<Conn>),
}

/// A TCP or TLS client connection.
struct Conn {
    stream: TcpStream,
    key: ClientKey,
    /// The TLS session (TLS clients).
    tls: Option<rustls::ServerConnection>,
    framer: StreamFramer,
    /// Bytes not yet written (plain TCP; rustls buffers its own).
    out: Vec<u8>,
    /// Registered for writability too.
    writing: bool,
    /// When an unfinished TLS handshake is given up.
    handshake_deadline: Option<Instant>,
}

impl Conn {
    /// Writes what is pending, as far as the socket takes it without blocking.
    fn write_pending(&mut self) -> std::io::Result<()> {
        if let Some(tls) = &mut self.tls {
            write_tls(tls, &mut self.stream)?;
        }
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Bytes still waiting for the socket.
    fn pending(&self) -> bool {
        !self.out.is_empty() || self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Queues `bytes` and writes what the socket takes; an error drops the client.
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.tls {
            Some(tls) => {
                if tls.writer().write(bytes)? < bytes.len() {
                    // rustls' buffer limit: the client does not read.
                    return Err(ErrorKind::WouldBlock.into());
                }
            }
            None if self.out.is_empty() => {
                let n = match self.stream.write(bytes) {
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
                    Err(e) => return Err(e),
                };
                self.out.extend_from_slice(&bytes[n..]);
            }
            None => self.out.extend_from_slice(bytes),
        }
        self.write_pending()?;
        if self.out.len() > MAX_PENDING {
            return Err(ErrorKind::WouldBlock.into());
        }
        Ok(())
    }
}

/// The sockets, by poller token and by what the server calls them.
struct Io {
    poll: Poll,
    udp: UdpSocket,
    slab: Vec<Option<Entry>>,
    free: Vec<usize>,
    relays: HashMap<SocketAddr, usize>,
    conns: HashMap<ClientKey, usize>,
    /// Connections to close once the current step is done.
    closing: Vec<usize>,
}

impl Io {
    /// Stores `entry`, registering `source` under its slot's token.
    fn insert(
        &mut self,
        entry: Entry,
        register: impl FnOnce(&mut Entry, &mio::Registry, Token) -> std::io::Result<()>,
    ) -> std::io::Result<usize> {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slab.push(None);
            self.slab.len() - 1
        });
        let mut entry = entry;
        if let Err(e) = register(&mut entry, self.poll.registry(), Token(FIRST_SLOT + slot)) {
            self.free.push(slot);
            return Err(e);
        }
        self.slab[slot] = Some(entry);
        Ok(slot)
    }

    /// Frees a slot, deregistering its socket (closed when dropped).
    fn remove(&mut self, slot: usize) -> Option<Entry> {
        let mut entry = self.slab.get_mut(slot)?.take()?;
        let registry = self.poll.registry();
        let _ = match &mut entry {
            Entry::Relay(s, _) => registry.deregister(s),
            Entry::Conn(c) => registry.deregister(&mut c.stream),
        };
        self.free.push(slot);
        Some(entry)
    }

    fn conn(&mut self, slot: usize) -> Option<&mut Conn> {
        match self.slab.get_mut(slot) {
            Some(Some(Entry::Conn(c))) => Some(c),
            _ => None,
        }
    }

    /// Registers a connection for writability while bytes wait for it, and not otherwise.
    fn update_interest(&mut self, slot: usize) {
        let registry = self.poll.registry();
        let Some(Some(Entry::Conn(c))) = self.slab.get_mut(slot) else {
            return;
        };
        let want = c.pending();
        if want != c.writing {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if registry
                .reregister(&mut c.stream, Token(FIRST_SLOT + slot), interest)
                .is_ok()
            {
                c.writing = want;
            }
        }
    }

    /// Sends one transmit of the server.
    fn transmit(&mut self, source: TransmitSource, destination: SocketAddr, contents: &[u8]) {
        match source {
            TransmitSource::Listener(ClientTransport::Udp) => {
                let _ = self.udp.send_to(contents, destination);
            }
            TransmitSource::Listener(transport) => {
                let Some(&slot) = self.conns.get(&(destination, transport)) else {
                    return;
                };
                let Some(c) = self.conn(slot) else {
                    return;
                };
                if c.send(contents).is_err() {
                    // A client that does not read is dropped, not waited for.
                    self.closing.push(slot);
                } else {
                    self.update_interest(slot);
                }
            }
            TransmitSource::Relay(addr) => {
                if let Some(&slot) = self.relays.get(&addr)
                    && let Some(Some(Entry::Relay(s, _))) = self.slab.get(slot)
                {
                    let _ = s.send_to(contents, destination);
                }
            }
        }
    }
}

/// The server, its sockets and the one receive buffer.
struct Server {
    turn: TurnServer<SystemRng>,
    io: Io,
    tcp: TcpListener,
    tls: Option<(TcpListener, Arc<rustls::ServerConfig>)>,
    max_connections: usize,
    buf: Vec<u8>,
}

impl Server {
    /// Opens and closes relayed sockets, logs, sends every pending transmit, and closes the
    /// connections that failed, until the server has nothing more to say.
    fn flush(&mut self, now: Instant) {
        loop {
            let mut idle = true;
            while let Some(e) = self.turn.poll_event() {
                idle = false;
                self.event(now, e);
            }
            while let Some(t) = self.turn.poll_transmit() {
                idle = false;
                self.io.transmit(t.source, t.destination, &t.contents);
            }
            while let Some(slot) = self.io.closing.pop() {
                idle = false;
                self.close(now, slot);
            }
            if idle {
                return;
            }
        }
    }

    fn event(&mut self, now: Instant, e: TurnServerEvent) {
        match e {
            TurnServerEvent::OpenRelay(addr) => {
                let opened = UdpSocket::bind(addr).and_then(|socket| {
                    let slot = self
                        .io
                        .insert(Entry::Relay(socket, addr), |e, r, t| match e {
                            Entry::Relay(s, _) => r.register(s, t, Interest::READABLE),
                            Entry::Conn(_) => unreachable!("a relay was inserted"),
                        })?;
                    self.io.relays.insert(addr, slot);
                    Ok(())
                });
                if let Err(e) = &opened {
                    println!("relay {addr} not opened: {e}");
                }
                self.turn.relay_opened(now, addr, opened.is_ok());
            }
            TurnServerEvent::CloseRelay(addr) => {
                if let Some(slot) = self.io.relays.remove(&addr) {
                    self.io.remove(slot);
                }
            }
            TurnServerEvent::AllocationCreated {
                client,
                transport,
                relayed,
                username,
                lifetime,
            } => println!(
                "allocation created client={client} transport={transport:?} relayed={relayed:?} user={username} lifetime={lifetime}"
            ),
            TurnServerEvent::AllocationDeleted {
                client,
                transport,
                reason,
            } => println!(
                "allocation deleted client={client} transport={transport:?} reason={reason:?}"
            ),
            other => println!("{other:?}"),
        }
    }

    /// Closes a client connection and tells the server.
    fn close(&mut self, now: Instant, slot: usize) {
        if let Some(Entry::Conn(c)) = self.io.remove(slot) {
            if self.io.conns.get(&c.key) == Some(&slot) {
                self.io.conns.remove(&c.key);
            }
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
            self.turn.handle_connection_closed(now, c.key.0, c.key.1);
        }
    }

    /// At most [`BATCH`] datagrams from clients: `true` if the socket has no more.
    fn udp_readable(&mut self) -> bool {
        for _ in 0..BATCH {
            let (n, from) = match self.io.udp.recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // ICMP errors surface here on Linux; the socket goes on.
                Err(_) => continue,
            };
            let now = Instant::now();
            self.turn
                .handle_receive(now, from, ClientTransport::Udp, &self.buf[..n]);
            self.flush(now);
        }
        false
    }

    /// At most [`BATCH`] datagrams from peers on a relayed socket: `true` if it has no more
    /// (or is gone).
    fn relay_readable(&mut self, slot: usize) -> bool {
        for _ in 0..BATCH {
            let Some(Some(Entry::Relay(socket, relay))) = self.io.slab.get(slot) else {
                return true;
            };
            let relay = *relay;
            let (n, from) = match socket.recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => continue,
            };
            let now = Instant::now();
            self.turn.handle_relayed(now, relay, from, &self.buf[..n]);
            self.flush(now);
        }
        false
    }

    /// Accepts TCP (`tls` false) or TLS clients, at most `--max-connections` at once in all.
    fn accept(&mut self, tls: bool) {
        loop {
            let listener = match (&self.tls, tls) {
                (Some((l, _)), true) => l,
                (None, true) => return,
                (_, false) => &self.tcp,
            };
            let (stream, from) = match listener.accept() {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // Out of descriptors, a connection reset before accept: try again later.
                Err(_) => return,
            };
            if self.io.conns.len() >= self.max_connections {
                continue;
            }
            let _ = stream.set_nodelay(true);
            let (transport, session, deadline) = match &self.tls {
                Some((_, config)) if tls => {
                    let Ok(mut session) = rustls::ServerConnection::new(config.clone()) else {
                        continue;
                    };
                    session.set_buffer_limit(Some(MAX_PENDING));
                    let deadline = Instant::now() + HANDSHAKE_TIME;
                    (ClientTransport::Tls, Some(session), Some(deadline))
                }
                _ => (ClientTransport::Tcp, None, None),
            };
            let key = (from, transport);
            let conn = Conn {
                stream,
                key,
                tls: session,
                framer: StreamFramer::new(),
                out: Vec::new(),
                writing: false,
                handshake_deadline: deadline,
            };
            if let Ok(slot) = self
                .io
                .insert(Entry::Conn(Box::new(conn)), |e, r, t| match e {
                    Entry::Conn(c) => r.register(&mut c.stream, t, Interest::READABLE),
                    Entry::Relay(..) => unreachable!("a connection was inserted"),
                })
            {
                self.io.conns.insert(key, slot);
            }
        }
    }

    /// A connection is readable or writable: reads what it has (through TLS for TLS clients),
    /// hands every complete frame to the server, and writes what waits.
    fn conn_ready(&mut self, slot: usize, readable: bool) {
        let now = Instant::now();
        let mut closed = match self.io.conn(slot) {
            Some(c) => c.write_pending().is_err(),
            None => return,
        };
        while readable && !closed {
            let Some(c) = self.io.conn(slot) else {
                return;
            };
            let more = match &mut c.tls {
                Some(tls) => match tls.read_tls(&mut c.stream) {
                    Ok(0) => Err(()),
                    Ok(_) => {
                        let state = tls.process_new_packets();
                        // Whatever it has to say (handshake, or the alert of a failure).
                        let wrote = write_tls(tls, &mut c.stream);
                        if state.is_err() || wrote.is_err() {
                            Err(())
                        } else {
                            if !tls.is_handshaking() {
                                c.handshake_deadline = None;
                            }
                            read_plaintext(tls, &mut self.buf, &mut c.framer)
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
                    Err(e) if e.kind() == ErrorKind::Interrupted => Ok(true),
                    Err(_) => Err(()),
                },
                None => match c.stream.read(&mut self.buf) {
                    Ok(0) => Err(()),
                    Ok(n) => {
                        c.framer.push(&self.buf[..n]);
                        Ok(true)
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
                    Err(e) if e.kind() == ErrorKind::Interrupted => Ok(true),
                    Err(_) => Err(()),
                },
            };
            // Every complete frame (also those before a close), each handled and answered
            // before the next.
            loop {
                let Some(c) = self.io.conn(slot) else {
                    return;
                };
                let key = c.key;
                match c.framer.next_frame() {
                    Ok(Some(frame)) => {
                        self.turn.handle_receive(now, key.0, key.1, &frame);
                        self.flush(now);
                    }
                    Ok(None) => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            match more {
                Ok(true) => {}
                Ok(false) => break,
                Err(()) => closed = true,
            }
        }
        if closed {
            self.close(now, slot);
            self.flush(now);
        } else {
            self.io.update_interest(slot);
        }
    }

    /// Drops connections whose TLS handshake did not finish in time.
    fn expire_handshakes(&mut self, now: Instant) {
        let late: Vec<usize> = self
            .io
            .slab
            .iter()
            .enumerate()
            .filter_map(|(slot, e)| match e {
                Some(Entry::Conn(c)) if c.handshake_deadline.is_some_and(|d| d <= now) => {
                    Some(slot)
                }
                _ => None,
            })
            .collect();
        for slot in late {
            self.close(now, slot);
        }
        self.flush(now);
    }
}

/// Reads the plaintext rustls has decrypted into the framer: `Ok(true)` to read the socket
/// again, `Err` once the client closed (close_notify).
fn read_plaintext(
    tls: &mut rustls::ServerConnection,
    buf: &mut [u8],
    framer: &mut StreamFramer,
) -> Result<bool, ()> {
    loop {
        match tls.reader().read(buf) {
            Ok(0) => return Err(()),
            Ok(n) => framer.push(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
            Err(_) => return Err(()),
        }
    }
}

/// Writes what rustls has to send, as far as the socket takes it without blocking.
fn write_tls(tls: &mut rustls::ServerConnection, stream: &mut TcpStream) -> std::io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Socket buffers of the UDP listener, which every client's datagrams share (the kernel caps
/// them at `net.core.rmem_max` / `wmem_max`): a burst while the loop is busy elsewhere waits
/// there instead of being dropped (coturn asks for 2 MB on its listeners).
const LISTENER_BUFFER: usize = 4 << 20;

/// Binds UDP and TCP on the same port (a free one when the port is 0).
fn bind_listeners(addr: SocketAddr) -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind(addr).unwrap_or_else(|e| usage(&format!("bind {addr}: {e}")));
        let _ = socket2::SockRef::from(&udp).set_recv_buffer_size(LISTENER_BUFFER);
        let _ = socket2::SockRef::from(&udp).set_send_buffer_size(LISTENER_BUFFER);
        let bound = udp.local_addr().expect("bound socket has an address");
        match TcpListener::bind(bound) {
            Ok(tcp) => return (udp, tcp),
            Err(e) if addr.port() != 0 => usage(&format!("bind tcp {bound}: {e}")),
            Err(_) => continue,
        }
    }
    usage("no port free for both UDP and TCP")
}

fn tls_config(cert: &str, key: &str) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap_or_else(|e| usage(&format!("--cert {cert}: {e}")))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| usage(&format!("--cert {cert}: {e}")));
    let key =
        PrivateKeyDer::from_pem_file(key).unwrap_or_else(|e| usage(&format!("--key {key}: {e}")));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| usage(&format!("TLS: {e}")))
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap_or_else(|e| usage(&format!("TLS certificate: {e}")));
    Arc::new(config)
}

fn main() {
    let args = parse_args();
    let (mut udp, mut tcp) = bind_listeners(args.listen);
    let local = udp.local_addr().expect("bound socket has an address");
    let mut turn = TurnServer::new(args.config, SystemRng::default());
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    turn.set_unix_time(Instant::now(), unix);
    let poll = Poll::new().unwrap_or_else(|e| usage(&format!("poller: {e}")));
    let registry = poll.registry();
    registry
        .register(&mut udp, UDP, Interest::READABLE)
        .expect("register the UDP listener");
    registry
        .register(&mut tcp, TCP, Interest::READABLE)
        .expect("register the TCP listener");
    let tls = args.tls.as_ref().map(|(addr, cert, key)| {
        let mut listener =
            TcpListener::bind(*addr).unwrap_or_else(|e| usage(&format!("bind {addr}: {e}")));
        let bound = listener
            .local_addr()
            .expect("bound listener has an address");
        registry
            .register(&mut listener, TLS, Interest::READABLE)
            .expect("register the TLS listener");
        println!("listening tls on {bound}");
        (listener, tls_config(cert, key))
    });
    println!("listening on {local}");
    let _ = std::io::stdout().flush();

    let mut s = Server {
        turn,
        io: Io {
            poll,
            udp,
            slab: Vec::new(),
            free: Vec::new(),
            relays: HashMap::new(),
            conns: HashMap::new(),
            closing: Vec::new(),
        },
        tcp,
        tls,
        max_connections: args.max_connections,
        buf: vec![0u8; 65_536],
    };
    let mut events = Events::with_capacity(256);
    // UDP sockets (tokens) that were readable and not yet read to `WouldBlock`, served round
    // robin, [`BATCH`] datagrams each per turn. mio's readiness is edge-triggered: a socket left
    // with datagrams stays here until it is drained, as no new event may come for it.
    let mut ready: std::collections::VecDeque<Token> = std::collections::VecDeque::new();
    // Whether a token is in `ready` (by token number), so that none is listed twice.
    let mut listed: Vec<bool> = Vec::new();
    let list =
        |ready: &mut std::collections::VecDeque<Token>, listed: &mut Vec<bool>, token: Token| {
            if listed.len() <= token.0 {
                listed.resize(token.0 + 1, false);
            }
            if !std::mem::replace(&mut listed[token.0], true) {
                ready.push_back(token);
            }
        };
    let mut next_stats = Instant::now() + args.stats_interval;
    // Handshake deadlines are checked once a second.
    let mut next_handshake_check = Instant::now() + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        let wake = s
            .turn
            .poll_timeout()
            .map_or(next_stats, |d| d.min(next_stats))
            .min(next_handshake_check);
        // Datagrams still wait: only look for new events.
        let timeout = if ready.is_empty() {
            wake.saturating_duration_since(now)
        } else {
            Duration::ZERO
        };
        if let Err(e) = s.io.poll.poll(&mut events, Some(timeout))
            && e.kind() != ErrorKind::Interrupted
        {
            usage(&format!("poll: {e}"));
        }
        for event in events.iter() {
            match event.token() {
                UDP => list(&mut ready, &mut listed, UDP),
                TCP => s.accept(false),
                TLS => s.accept(true),
                Token(t) => {
                    let slot = t - FIRST_SLOT;
                    match s.io.slab.get(slot) {
                        Some(Some(Entry::Relay(..))) => {
                            list(&mut ready, &mut listed, event.token())
                        }
                        Some(Some(Entry::Conn(_))) => {
                            let readable =
                                event.is_readable() || event.is_read_closed() || event.is_error();
                            s.conn_ready(slot, readable);
                        }
                        _ => {}
                    }
                }
            }
        }
        // One turn over the sockets ready now.
        for _ in 0..ready.len() {
            let Some(token) = ready.pop_front() else {
                break;
            };
            let drained = match token {
                UDP => s.udp_readable(),
                Token(t) => s.relay_readable(t - FIRST_SLOT),
            };
            if drained {
                listed[token.0] = false;
            } else {
                ready.push_back(token);
            }
        }
        let now = Instant::now();
        if s.turn.poll_timeout().is_some_and(|d| d <= now) {
            s.turn.handle_timeout(now);
            s.flush(now);
        }
        if now >= next_handshake_check {
            next_handshake_check = now + Duration::from_secs(1);
            s.expire_handshakes(now);
        }
        if now >= next_stats {
            next_stats = now + args.stats_interval;
            println!(
                "stats {:?} relays={} connections={}",
                s.turn.stats(),
                s.io.relays.len(),
                s.io.conns.len()
            );
            let _ = std::io::stdout().flush();
        }
    }
}
