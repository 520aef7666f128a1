//! Interop: our TURN client over TCP and over TLS (RFC 8656 stream framing, TLS through
//! `rustls`' sans-IO connection) against coturn (Debian `coturn`) on 127.0.0.1, for what the
//! UDP tests in `coturn_turn.rs` cover beyond relaying: refreshes of the permission (through
//! the channel binding), the channel and the allocation with the client's clock moved forward,
//! relaying still working after them, deallocation; 438 stale nonce answered by a retry with the
//! new nonce (`--stale-nonce=1`); and a wrong password refused with 401. Relaying itself over
//! TCP and TLS is in `coturn_turn.rs` and `coturn_turn_tls.rs`. The tests install coturn (and
//! openssl for the test certificates) if missing.

mod common;
use common::tls::{client_config, make_certs};
use common::{Coturn, start_coturn_with};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use sansrtc_ice::SeededRng;
use sansrtc_ice::turn::{TurnClient, TurnConfig, TurnEvent, TurnTransport};
use sansrtc_ice::turn_tls::TlsStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Tls,
}

/// The TCP connection to coturn, with a TLS session on it for `Kind::Tls`.
enum Wire {
    Tcp(TcpStream),
    Tls(TcpStream, Box<TlsStream>),
}

struct Driver {
    client: TurnClient<SeededRng>,
    wire: Wire,
    /// Added to the real clock: lets the test move the client's time forward.
    offset: Duration,
}

/// coturn serving `kind` (with `extra` arguments); returns it, the address to connect to, and
/// the test CA (DER) for TLS.
fn start(kind: Kind, extra: &[&str]) -> (Coturn, SocketAddr, Option<(PathBuf, Vec<u8>)>) {
    match kind {
        Kind::Tcp => {
            let (coturn, plain, _) = start_coturn_with(None, extra);
            (coturn, plain, None)
        }
        Kind::Tls => {
            let (dir, ca) = make_certs();
            let (coturn, _, tls) = start_coturn_with(
                Some((&dir.join("server.pem"), &dir.join("server.key"))),
                extra,
            );
            (coturn, tls.unwrap(), Some((dir, ca)))
        }
    }
}

fn connect_tcp(addr: SocketAddr) -> TcpStream {
    // coturn may take a moment to listen: retry the connection for a bounded time.
    let started = Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => {
                s.set_nodelay(true).unwrap();
                return s;
            }
            Err(_) if started.elapsed() < Duration::from_secs(10) => std::thread::yield_now(),
            Err(e) => panic!("cannot connect to coturn at {addr}: {e}"),
        }
    }
}

impl Driver {
    fn new(kind: Kind, server: SocketAddr, ca: Option<&[u8]>, password: &str, seed: u64) -> Self {
        let stream = connect_tcp(server);
        let wire = match kind {
            Kind::Tcp => Wire::Tcp(stream),
            Kind::Tls => {
                let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
                let tls = TlsStream::new(client_config(ca), name).unwrap();
                Wire::Tls(stream, Box::new(tls))
            }
        };
        let mut config = TurnConfig::new(server, "u", password);
        config.transport = TurnTransport::Tcp;
        Driver {
            client: TurnClient::new(config, SeededRng::new(seed)),
            wire,
            offset: Duration::ZERO,
        }
    }

    fn now(&self) -> Instant {
        Instant::now() + self.offset
    }

    /// Writes what the client has queued to the stream (through TLS when used).
    fn flush(&mut self) {
        let now = self.now();
        self.client.handle_timeout(now);
        while let Some(t) = self.client.poll_transmit() {
            match &mut self.wire {
                Wire::Tcp(s) => s.write_all(&t.contents).unwrap(),
                Wire::Tls(_, tls) => tls.write_plaintext(&t.contents).unwrap(),
            }
        }
        if let Wire::Tls(s, tls) = &mut self.wire {
            let records = tls.poll_tls();
            if !records.is_empty() {
                s.write_all(&records).unwrap();
            }
        }
    }

    /// Drives the client until `want` accepts an event (10 s deadline). Reads are small so
    /// frames arrive split and must be reassembled.
    fn until(&mut self, mut want: impl FnMut(&TurnEvent) -> bool) -> Result<TurnEvent, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 61];
        while Instant::now() < deadline {
            self.flush();
            while let Some(e) = self.client.poll_event() {
                if want(&e) {
                    return Ok(e);
                }
                if matches!(
                    e,
                    TurnEvent::AllocationFailed(_) | TurnEvent::PermissionFailed(..)
                ) {
                    return Err(format!("unexpected {e:?}"));
                }
            }
            let stream = match &mut self.wire {
                Wire::Tcp(s) | Wire::Tls(s, _) => s,
            };
            stream
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let n = match stream.read(&mut buf) {
                Ok(0) => return Err("coturn closed the connection".into()),
                Ok(n) => n,
                Err(_) => continue,
            };
            let plaintext = match &mut self.wire {
                Wire::Tcp(_) => buf[..n].to_vec(),
                Wire::Tls(_, tls) => tls.handle_tls(&buf[..n]).map_err(|e| e.to_string())?,
            };
            let now = self.now();
            assert!(self.client.handle_stream(now, &plaintext));
        }
        Err("timed out".into())
    }
}

fn peer_receive(peer: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = peer
        .recv_from(&mut buf)
        .expect("the relay forwards to the peer");
    (buf[..n].to_vec(), from)
}

/// Allocation, permission and channel refreshed as the client's clock moves past their refresh
/// points; relaying works after the refreshes; deallocation.
fn refreshes(kind: Kind) {
    let (_coturn, server, certs) = start(kind, &[]);
    let ca = certs.as_ref().map(|(_, ca)| ca.as_slice());
    let mut d = Driver::new(kind, server, ca, "p", 51);
    d.client.allocate(d.now()).unwrap();
    let TurnEvent::Allocated {
        relayed, lifetime, ..
    } = d
        .until(|e| matches!(e, TurnEvent::Allocated { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    assert!(lifetime > 120, "{lifetime}");
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_addr = peer.local_addr().unwrap();
    d.client.create_permission(d.now(), peer_addr.ip()).unwrap();
    d.until(|e| *e == TurnEvent::PermissionCreated(peer_addr.ip()))
        .unwrap();
    let channel = d.client.bind_channel(d.now(), peer_addr).unwrap();
    let bound = TurnEvent::ChannelBound {
        peer: peer_addr,
        channel,
    };
    d.until(|e| *e == bound).unwrap();

    // The permission (5 min) is refreshed a minute early through the channel binding, at
    // 250 s and again at 490 s; then the allocation's refresh point, a minute before its
    // lifetime ends. Each refresh is a request coturn must accept.
    for at in [250, 490] {
        d.offset = Duration::from_secs(at);
        assert_eq!(
            d.until(|e| matches!(e, TurnEvent::ChannelBound { .. })),
            Ok(bound.clone()),
            "{kind:?} at {at} s"
        );
    }
    d.offset = Duration::from_secs(lifetime as u64 - 55);
    let e = d
        .until(|e| matches!(e, TurnEvent::AllocationRefreshed(_)))
        .unwrap();
    assert!(
        matches!(e, TurnEvent::AllocationRefreshed(l) if l > 120),
        "{e:?}"
    );
    assert!(d.client.relayed_address().is_some());

    // Still relaying through the refreshed channel, both ways.
    d.client
        .send_to(d.now(), peer_addr, b"after the refreshes")
        .unwrap();
    d.flush();
    let (data, from) = peer_receive(&peer);
    assert_eq!(
        (data.as_slice(), from),
        (&b"after the refreshes"[..], relayed)
    );
    peer.send_to(b"reply after the refreshes", relayed).unwrap();
    assert_eq!(
        d.until(|e| matches!(e, TurnEvent::Data { .. })),
        Ok(TurnEvent::Data {
            peer: peer_addr,
            data: b"reply after the refreshes".to_vec()
        })
    );
    assert_eq!(d.client.stats().integrity_failures, 0);
    assert_eq!(d.client.stats().stale_nonce_retries, 0);

    d.client.close(d.now()).unwrap();
    d.until(|e| *e == TurnEvent::Closed).unwrap();
    assert_eq!(d.client.relayed_address(), None);
    if let Some((dir, _)) = certs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// coturn's nonces go stale after a second: the next request is answered 438 with a fresh
/// nonce and retried with it, once.
fn stale_nonce(kind: Kind) {
    let (_coturn, server, certs) = start(kind, &["--stale-nonce=1"]);
    let ca = certs.as_ref().map(|(_, ca)| ca.as_slice());
    let mut d = Driver::new(kind, server, ca, "p", 52);
    d.client.allocate(d.now()).unwrap();
    d.until(|e| matches!(e, TurnEvent::Allocated { .. }))
        .unwrap();
    assert_eq!(d.client.stats().stale_nonce_retries, 0);
    // Not synchronization: the server's nonce must age past its one-second lifetime.
    std::thread::sleep(Duration::from_millis(2100));
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    d.client.create_permission(d.now(), peer.ip()).unwrap();
    d.until(|e| *e == TurnEvent::PermissionCreated(peer.ip()))
        .unwrap();
    assert_eq!(d.client.stats().stale_nonce_retries, 1);
    // The new nonce is used from then on: a second request needs no retry.
    d.client
        .create_permission(d.now(), "127.0.0.2".parse().unwrap())
        .unwrap();
    d.until(|e| matches!(e, TurnEvent::PermissionCreated(_)))
        .unwrap();
    assert_eq!(d.client.stats().stale_nonce_retries, 1);
    if let Some((dir, _)) = certs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A wrong password: the authenticated Allocate after the challenge is refused with 401.
fn wrong_password(kind: Kind) {
    let (_coturn, server, certs) = start(kind, &[]);
    let ca = certs.as_ref().map(|(_, ca)| ca.as_slice());
    let mut d = Driver::new(kind, server, ca, "wrong", 53);
    d.client.allocate(d.now()).unwrap();
    let e = d.until(|e| matches!(e, TurnEvent::AllocationFailed(_)));
    assert_eq!(e, Ok(TurnEvent::AllocationFailed(401)), "{kind:?}");
    assert_eq!(d.client.relayed_address(), None);
    if let Some((dir, _)) = certs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn refreshes_over_tcp() {
    refreshes(Kind::Tcp);
}

#[test]
fn refreshes_over_tls() {
    refreshes(Kind::Tls);
}

#[test]
fn stale_nonce_over_tcp() {
    stale_nonce(Kind::Tcp);
}

#[test]
fn stale_nonce_over_tls() {
    stale_nonce(Kind::Tls);
}

#[test]
fn wrong_password_over_tcp() {
    wrong_password(Kind::Tcp);
}

#[test]
fn wrong_password_over_tls() {
    wrong_password(Kind::Tls);
}
