//! A deployable TURN and STUN server: the sans-IO [`TurnServer`] of `sansrtc-ice` driven by std
//! sockets and threads (no async runtime).
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
//! Allocations are logged on stdout as they are created and deleted.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// What the stream threads hand to the server.
enum Input {
    /// A datagram or stream frame from a client.
    Client(SocketAddr, ClientTransport, Vec<u8>),
    /// A TCP/TLS connection opened: how to write to it.
    Connected(SocketAddr, ClientTransport, Writer),
    /// A TCP/TLS connection closed.
    Closed(SocketAddr, ClientTransport),
}

/// How the server writes to a stream client.
enum Writer {
    Tcp(TcpStream),
    Tls(Sender<Vec<u8>>),
}

/// A relayed socket and the flag that stops its reader.
struct Relay {
    socket: UdpSocket,
    stop: Arc<AtomicBool>,
}

/// The server and the sockets it writes to, behind one lock.
struct Shared {
    server: TurnServer<SystemRng>,
    relays: HashMap<SocketAddr, Relay>,
    writers: HashMap<(SocketAddr, ClientTransport), Writer>,
}

/// What every socket thread holds: each input is handled on the thread that read it, under the
/// lock (no hand-over between threads per packet), and what it produced is sent right away.
#[derive(Clone)]
struct Ctx {
    shared: Arc<Mutex<Shared>>,
    udp: Arc<UdpSocket>,
}

impl Ctx {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the server and sends what it produced.
    fn with(&self, f: impl FnOnce(&mut TurnServer<SystemRng>, Instant)) {
        let mut shared = self.lock();
        let now = Instant::now();
        f(&mut shared.server, now);
        self.flush(&mut shared, now);
    }

    /// Handles one input and sends what it produced. (`Result` so reader loops read like
    /// channel senders; it never fails.)
    fn send(&self, input: Input) -> Result<(), ()> {
        let mut shared = self.lock();
        let now = Instant::now();
        handle(&mut shared, now, input);
        self.flush(&mut shared, now);
        Ok(())
    }

    /// Opens and closes relayed sockets, logs, and sends every pending transmit.
    fn flush(&self, shared: &mut Shared, now: Instant) {
        loop {
            let mut idle = true;
            while let Some(e) = shared.server.poll_event() {
                idle = false;
                self.event(shared, now, e);
            }
            while let Some(t) = shared.server.poll_transmit() {
                idle = false;
                match t.source {
                    TransmitSource::Listener(ClientTransport::Udp) => {
                        let _ = self.udp.send_to(&t.contents, t.destination);
                    }
                    TransmitSource::Listener(transport) => {
                        let key = (t.destination, transport);
                        let failed = match shared.writers.get_mut(&key) {
                            Some(Writer::Tcp(s)) => s.write_all(&t.contents).is_err(),
                            Some(Writer::Tls(s)) => s.send(t.contents).is_err(),
                            None => false,
                        };
                        if failed {
                            // A client that does not read is dropped, not waited for.
                            if let Some(Writer::Tcp(s)) = shared.writers.remove(&key) {
                                let _ = s.shutdown(std::net::Shutdown::Both);
                            }
                        }
                    }
                    TransmitSource::Relay(addr) => {
                        if let Some(r) = shared.relays.get(&addr) {
                            let _ = r.socket.send_to(&t.contents, t.destination);
                        }
                    }
                }
            }
            if idle {
                return;
            }
        }
    }

    fn event(&self, shared: &mut Shared, now: Instant, e: TurnServerEvent) {
        match e {
            TurnServerEvent::OpenRelay(addr) => {
                let opened = UdpSocket::bind(addr).and_then(|s| Ok((s.try_clone()?, s)));
                let ok = match opened {
                    Ok((reader, socket)) => {
                        let stop = Arc::new(AtomicBool::new(false));
                        spawn_relay_reader(reader, addr, stop.clone(), self.clone());
                        shared.relays.insert(addr, Relay { socket, stop });
                        true
                    }
                    Err(e) => {
                        println!("relay {addr} not opened: {e}");
                        false
                    }
                };
                shared.server.relay_opened(now, addr, ok);
            }
            TurnServerEvent::CloseRelay(addr) => {
                if let Some(r) = shared.relays.remove(&addr) {
                    r.stop.store(true, Ordering::Relaxed);
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
}

/// Binds UDP and TCP on the same port (a free one when the port is 0).
fn bind_listeners(addr: SocketAddr) -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind(addr).unwrap_or_else(|e| usage(&format!("bind {addr}: {e}")));
        let bound = udp.local_addr().expect("bound socket has an address");
        match TcpListener::bind(bound) {
            Ok(tcp) => return (udp, tcp),
            Err(e) if addr.port() != 0 => usage(&format!("bind tcp {bound}: {e}")),
            Err(_) => continue,
        }
    }
    usage("no port free for both UDP and TCP")
}

fn spawn_udp_reader(socket: UdpSocket, ctx: Ctx) {
    thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        loop {
            if let Ok((n, from)) = socket.recv_from(&mut buf) {
                ctx.with(|server, now| {
                    server.handle_receive(now, from, ClientTransport::Udp, &buf[..n])
                });
            }
        }
    });
}

/// Reads a relayed socket until its allocation closes it.
fn spawn_relay_reader(socket: UdpSocket, relay: SocketAddr, stop: Arc<AtomicBool>, ctx: Ctx) {
    thread::spawn(move || {
        let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
        let mut buf = vec![0u8; 65_536];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, from)) = socket.recv_from(&mut buf) {
                ctx.with(|server, now| server.handle_relayed(now, relay, from, &buf[..n]));
            }
        }
    });
}

/// Reads frames from a stream and hands them over; reports the close.
fn read_frames(mut stream: impl Read, from: SocketAddr, transport: ClientTransport, tx: &Ctx) {
    let mut framer = StreamFramer::new();
    let mut buf = vec![0u8; 16_384];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        framer.push(&buf[..n]);
        loop {
            match framer.next_frame() {
                Ok(Some(f)) => {
                    if tx.send(Input::Client(from, transport, f)).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    let _ = tx.send(Input::Closed(from, transport));
                    return;
                }
            }
        }
    }
    let _ = tx.send(Input::Closed(from, transport));
}

/// Accepts TCP clients (at most `max` at once, the counter shared with TLS).
fn spawn_tcp_acceptor(listener: TcpListener, tx: Ctx, active: Arc<AtomicUsize>, max: usize) {
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let Ok(from) = stream.peer_addr() else {
                continue;
            };
            if active.fetch_add(1, Ordering::SeqCst) >= max {
                active.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let Ok(writer) = stream.try_clone() else {
                active.fetch_sub(1, Ordering::SeqCst);
                continue;
            };
            if tx
                .send(Input::Connected(
                    from,
                    ClientTransport::Tcp,
                    Writer::Tcp({
                        // A client that does not read stalls nobody for long.
                        let _ = writer.set_write_timeout(Some(Duration::from_millis(200)));
                        writer
                    }),
                ))
                .is_err()
            {
                return;
            }
            let (tx, active) = (tx.clone(), active.clone());
            thread::spawn(move || {
                read_frames(stream, from, ClientTransport::Tcp, &tx);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
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

/// Accepts TLS clients: one thread per connection owns the rustls session, writing what the
/// server thread queues and reading frames with a short timeout in between.
fn spawn_tls_acceptor(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    tx: Ctx,
    active: Arc<AtomicUsize>,
    max: usize,
) {
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let Ok(from) = stream.peer_addr() else {
                continue;
            };
            if active.fetch_add(1, Ordering::SeqCst) >= max {
                active.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                active.fetch_sub(1, Ordering::SeqCst);
                continue;
            };
            let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>();
            if tx
                .send(Input::Connected(
                    from,
                    ClientTransport::Tls,
                    Writer::Tls(out_tx),
                ))
                .is_err()
            {
                return;
            }
            let (tx, active) = (tx.clone(), active.clone());
            thread::spawn(move || {
                tls_connection(stream, conn, from, out_rx, &tx);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
}

fn tls_connection(
    stream: TcpStream,
    conn: rustls::ServerConnection,
    from: SocketAddr,
    out: Receiver<Vec<u8>>,
    tx: &Ctx,
) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(5)));
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut framer = StreamFramer::new();
    let mut buf = vec![0u8; 16_384];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        while let Ok(bytes) = out.try_recv() {
            if tls.write_all(&bytes).is_err() {
                let _ = tx.send(Input::Closed(from, ClientTransport::Tls));
                return;
            }
        }
        if tls.conn.is_handshaking() && Instant::now() > deadline {
            break;
        }
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                framer.push(&buf[..n]);
                loop {
                    match framer.next_frame() {
                        Ok(Some(f)) => {
                            if tx
                                .send(Input::Client(from, ClientTransport::Tls, f))
                                .is_err()
                            {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            let _ = tx.send(Input::Closed(from, ClientTransport::Tls));
                            return;
                        }
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = tx.send(Input::Closed(from, ClientTransport::Tls));
}

fn main() {
    let args = parse_args();
    let (udp, tcp) = bind_listeners(args.listen);
    let local = udp.local_addr().expect("bound socket has an address");
    let mut server = TurnServer::new(args.config, SystemRng::default());
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    server.set_unix_time(Instant::now(), unix);
    let ctx = Ctx {
        shared: Arc::new(Mutex::new(Shared {
            server,
            relays: HashMap::new(),
            writers: HashMap::new(),
        })),
        udp: Arc::new(udp.try_clone().expect("UDP socket clones")),
    };
    let active = Arc::new(AtomicUsize::new(0));
    spawn_udp_reader(udp, ctx.clone());
    spawn_tcp_acceptor(tcp, ctx.clone(), active.clone(), args.max_connections);
    if let Some((addr, cert, key)) = &args.tls {
        let listener =
            TcpListener::bind(addr).unwrap_or_else(|e| usage(&format!("bind {addr}: {e}")));
        let bound = listener
            .local_addr()
            .expect("bound listener has an address");
        let config = tls_config(cert, key);
        spawn_tls_acceptor(listener, config, ctx.clone(), active, args.max_connections);
        println!("listening tls on {bound}");
    }
    println!("listening on {local}");
    let _ = std::io::stdout().flush();

    // This thread runs the timers and prints the counters.
    let mut next_stats = Instant::now() + args.stats_interval;
    loop {
        let deadline = ctx.lock().server.poll_timeout();
        let now = Instant::now();
        let wake = deadline
            .map_or(next_stats, |d| d.min(next_stats))
            .min(now + Duration::from_secs(1));
        thread::sleep(wake.saturating_duration_since(now));
        let now = Instant::now();
        let mut shared = ctx.lock();
        shared.server.handle_timeout(now);
        ctx.flush(&mut shared, now);
        if now >= next_stats {
            next_stats = now + args.stats_interval;
            println!(
                "stats {:?} relays={} connections={}",
                shared.server.stats(),
                shared.relays.len(),
                shared.writers.len()
            );
            let _ = std::io::stdout().flush();
        }
    }
}

fn handle(shared: &mut Shared, now: Instant, input: Input) {
    let server = &mut shared.server;
    match input {
        Input::Client(from, transport, data) => server.handle_receive(now, from, transport, &data),
        Input::Connected(from, transport, w) => {
            shared.writers.insert((from, transport), w);
        }
        Input::Closed(from, transport) => {
            if let Some(Writer::Tcp(s)) = shared.writers.remove(&(from, transport)) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            server.handle_connection_closed(now, from, transport);
        }
    }
}
